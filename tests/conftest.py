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


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a real S3-compatible server (moto) for the session."""
    from s3_server import running_s3

    with running_s3() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> str:
    """A dataset location for the durability tests (tests/collector/storage_support.py): a
    local directory, or ``s3://<fresh bucket>/telemetry`` on the session's S3-compatible
    server with the endpoint and credentials in the environment
    (``EDGEDRIFT_STORAGE_ENDPOINT_URL``, ``AWS_*``), so subprocesses use it too."""
    if request.param == "local":
        return str(tmp_path / "telemetry")
    from s3_server import CREDENTIALS, new_bucket

    from collector import storage

    endpoint = request.getfixturevalue("s3_endpoint")
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("EDGEDRIFT_STORAGE_ENDPOINT_URL", endpoint)
    storage.configure(None)          # settings from the environment just set
    return f"s3://{new_bucket(endpoint)}/telemetry"


@pytest.fixture(scope="module")
def compose() -> dict:
    """docker/docker-compose.yml as compose reads it (tests/docker/docker_files.py)."""
    from docker_files import load_compose

    return load_compose()


@pytest.fixture(scope="module")
def toml() -> dict:
    """docker/edgedrift.toml (tests/docker)."""
    import tomllib

    from docker_files import TOML_FILE

    return tomllib.loads(TOML_FILE.read_text())
