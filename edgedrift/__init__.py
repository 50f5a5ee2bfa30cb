"""edgedrift glue: the ``edgedrift`` command and the one TOML config.

Owns: command dispatch (:mod:`edgedrift.cli`), loading the TOML config and
turning its sections into each component's frozen config object
(:mod:`edgedrift.config`), and the data-directory layout
(:mod:`edgedrift.paths`). No logic of its own.

Must not import: any component at import time. Commands import their
component lazily, so ``edgedrift --help`` stays fast and the base (SDK-only)
install can run ``edgedrift --help``.
"""

__version__ = "0.1.0"
