"""The demo application: ``edgedrift demo`` runs the real pipeline on a simulated fleet.

- :mod:`edgedrift.demo.pipeline`: the command (devices -> gateway -> Parquet ->
  analytics -> alerts -> webhook) and its summary;
- :mod:`edgedrift.demo.fleet`: the simulated fleet (models, devices, drift);
- :mod:`edgedrift.demo.progress`: the progress line.

It lives apart from the glue modules of :mod:`edgedrift` (command dispatch, config,
paths), which hold no logic; like any command module it imports components lazily.
"""
