"""Build hook: the package list and dependencies of the ``edgedrift`` distribution, and the one
optional C extension (everything else is in pyproject.toml).

A wheel or sdist holds the server packages and depends on ``edgedrift-sdk`` of the same
version (the device SDK is its own distribution, built from ``sdk/``); an editable install of
the checkout (``build_backend/edgedrift_build.py`` sets ``EDGEDRIFT_BUILD_EDITABLE=1``) holds
``edge_sdk`` too and depends on msgpack directly.

``collector._sinkfast`` is the sink's C fast path (see docs/parquet-schema.md). Its build
is optional: without a C compiler the install still succeeds and the sink uses the
pure-Python path, which writes the same rows. ``EDGEDRIFT_NO_EXT=1`` skips it.
"""

import os
import tomllib
from pathlib import Path

from setuptools import Extension, find_packages, setup

HERE = Path(__file__).resolve().parent
VERSION = tomllib.loads((HERE / "pyproject.toml").read_text())["project"]["version"]
SERVER_PACKAGES = ("collector", "analytics", "dashboard", "edgedrift")
EDITABLE = os.environ.get("EDGEDRIFT_BUILD_EDITABLE") == "1"
PACKAGES = ("edge_sdk", *SERVER_PACKAGES) if EDITABLE else SERVER_PACKAGES

EXTENSIONS = [Extension("collector._sinkfast",
                        ["collector/_sinkfast.c", "collector/_sinkfast_sums.c"],
                        depends=["collector/_sinkfast_sums.h"],
                        extra_compile_args=["-O3"], optional=True)]

setup(
    packages=find_packages(include=[f"{p}{tail}" for p in PACKAGES for tail in ("", ".*")]),
    install_requires=["msgpack>=1.0"] if EDITABLE else [f"edgedrift-sdk=={VERSION}"],
    ext_modules=[] if os.environ.get("EDGEDRIFT_NO_EXT") else EXTENSIONS,
)
