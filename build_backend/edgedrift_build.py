"""PEP 517 build backend of the ``edgedrift`` (server) distribution: setuptools, told which
kind of build it is running.

This repository builds two distributions (see README, "On a device"):

- ``edgedrift-sdk`` from ``sdk/pyproject.toml``: the ``edge_sdk`` package and msgpack only;
- ``edgedrift`` from the root: the server packages (collector, analytics, dashboard and the
  ``edgedrift`` command), depending on ``edgedrift-sdk`` of the same version.

A wheel or sdist of ``edgedrift`` is built as that second distribution. An *editable* install
of a checkout (the README's ``pip install -e '.[dev]'``) instead covers all five packages,
``edge_sdk`` included, and depends on msgpack directly: a clean clone installs with no index
serving ``edgedrift-sdk``, and edits to ``edge_sdk`` take effect without a reinstall.
``setup.py`` reads the ``EDGEDRIFT_BUILD_EDITABLE`` variable set here.
"""

from __future__ import annotations

import os
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import (  # noqa: F401  (the hooks a wheel or sdist build uses)
    build_sdist,
    build_wheel,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_wheel,
)

EDITABLE_ENV = "EDGEDRIFT_BUILD_EDITABLE"


def _editable() -> None:
    os.environ[EDITABLE_ENV] = "1"


def get_requires_for_build_editable(config_settings: dict[str, Any] | None = None) -> list[str]:
    """setuptools' requirements for an editable build of the whole checkout."""
    _editable()
    return _setuptools.get_requires_for_build_editable(config_settings)


def prepare_metadata_for_build_editable(metadata_directory: str,
                                        config_settings: dict[str, Any] | None = None) -> str:
    """Metadata of the editable install: all five packages, msgpack instead of edgedrift-sdk."""
    _editable()
    return _setuptools.prepare_metadata_for_build_editable(metadata_directory, config_settings)


def build_editable(wheel_directory: str, config_settings: dict[str, Any] | None = None,
                   metadata_directory: str | None = None) -> str:
    """The editable wheel of the whole checkout (``pip install -e .``)."""
    _editable()
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
