"""Fixtures for the SDK tests: a real loopback receiver and a Monitor factory that cleans up."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sdk_receiver import DEVICE, KEY, Receiver  # noqa: E402


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running receiver that knows DEVICE's KEY."""
    rx = Receiver({KEY: DEVICE}).start()
    try:
        yield rx
    finally:
        rx.stop()


@pytest.fixture
def make_monitor(tmp_path):
    """Factory: Monitor(model="kws", ...) with test defaults; each is closed at teardown."""
    from edge_sdk import Monitor

    made = []

    def factory(endpoint: str = "http://127.0.0.1:9/v1/telemetry", **kw):
        args = dict(model="kws", version="1.3.0", device_id=DEVICE, endpoint=endpoint, key=KEY,
                    window_s=3600, spool_dir=str(tmp_path / "spool"), start=False,
                    backoff_max_s=0.2, timeout_s=5.0, close_timeout_s=0.0)
        args.update(kw)
        mon = Monitor(**args)
        made.append(mon)
        return mon

    yield factory
    for mon in made:
        mon.close(timeout_s=0)
