"""Fixtures of the collector tests: ``backend`` (the dataset on local disk and on an
S3-compatible server, see storage_support.py)."""

from storage_support import backend  # noqa: F401 - a fixture
