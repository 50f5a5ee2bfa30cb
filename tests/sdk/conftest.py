"""Fixtures for the SDK tests: a real gateway (one per module), a fresh device of it per
test, a misbehaving stand-in collector, and a Monitor factory that cleans up."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sdk_gateway import Device, SdkGateway  # noqa: E402
from sdk_receiver import DEVICE, KEY, Receiver  # noqa: E402


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SdkGateway]:
    """A real ``edgedrift gateway`` shared by the module's tests (start-up costs seconds)."""
    gw = SdkGateway(tmp_path_factory.mktemp("gateway")).start()
    try:
        yield gw
    finally:
        gw.close()


@pytest.fixture
def device(gateway: SdkGateway) -> Device:
    """A registered device of ``gateway`` no other test uses; the gateway is running."""
    gateway.ensure_running()
    return gateway.device()


@pytest.fixture
def gw_monitor(gateway: SdkGateway, device: Device, make_monitor):
    """Factory: a Monitor of ``device`` sending to ``gateway`` (``make_monitor``'s defaults)."""
    return lambda **kw: make_monitor(gateway.url, device_id=device.id, key=device.key, **kw)


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
