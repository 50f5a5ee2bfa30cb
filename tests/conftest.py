"""Suite-wide fixtures.

``kafka_bootstrap`` (session): "127.0.0.1:PORT" of a real Kafka-protocol broker,
a Tansu process started for the session unless ``EDGEDRIFT_TEST_KAFKA=HOST:PORT``
names another one. Start/stop logic lives in ``tests/kafka_broker.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kafka_broker import running_broker  # noqa: E402


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real broker for the whole test session."""
    with running_broker() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a real S3-compatible server (moto) for the session."""
    from s3_server import running_s3

    with running_s3() as endpoint:
        yield endpoint
