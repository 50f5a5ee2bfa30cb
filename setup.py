"""Build hook for the one optional C extension (everything else is in pyproject.toml).

``collector._sinkfast`` is the sink's C fast path (see docs/parquet-schema.md). Its build
is optional: without a C compiler the install still succeeds and the sink uses the
pure-Python path, which writes the same rows. ``EDGEDRIFT_NO_EXT=1`` skips it (a device
that installs the SDK only has no use for it).
"""

import os

from setuptools import Extension, setup

EXTENSIONS = [Extension("collector._sinkfast", ["collector/_sinkfast.c"],
                        extra_compile_args=["-O3"], optional=True)]

setup(ext_modules=[] if os.environ.get("EDGEDRIFT_NO_EXT") else EXTENSIONS)
