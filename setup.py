"""Build hook for the one optional C accelerator (everything else is in pyproject.toml).

``collector._sinkfast`` speeds up the sink's numeric feature columns. It is
optional: without a C compiler the install still succeeds and the sink uses the
pure-Python path, which gives the same rows (see collector/arrow_rows.py).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("collector._sinkfast", ["collector/_sinkfast.c"],
                             extra_compile_args=["-O3"], optional=True)])
