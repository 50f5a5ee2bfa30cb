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
def built():
    """Reference + spec of tests/analytics' synthetic model, built by the real reference builder.

    Here rather than in tests/analytics/conftest.py: a second top-level ``conftest`` module
    (that folder is no package) clashes with this one under ``--doctest-modules``.
    """
    sys.path.insert(0, str(Path(__file__).parent / "analytics"))
    from analytics_fleet import training_frame

    from analytics.reference_build import build_reference
    return build_reference(training_frame(), "kws", "1.0", prediction="score", latency="latency")
