"""``edgedrift gateway --kafka`` with an unreachable broker: /readyz answers 503 with a
reason naming the broker and the log says "not ready" (never "gateway ready") until a
real broker (Tansu) comes up on that address; then both say ready.

``[gateway] produce_timeout_s`` (also the Kafka clients' bootstrap timeout) is 3 s rather
than 10 s: each failed connection attempt, and the 503 while the broker is down, come sooner.
"""

from __future__ import annotations

import httpx
import pytest
from gateway_harness import GatewayProcess, KeyPool, envelope, signed_post
from kafka_broker import Broker
from support import free_port, wait_until

pytestmark = pytest.mark.kafka


def _readyz(gw: GatewayProcess) -> httpx.Response:
    with gw.client(timeout=10) as c:
        return c.get("/readyz")


def test_an_unreachable_broker_is_not_ready_until_it_comes_up(tmp_path):
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    pool = KeyPool(tmp_path, count=1)
    device, key = pool.take()
    config = tmp_path / "gateway.toml"
    config.write_text("[gateway]\nproduce_timeout_s = 3.0\n")
    gw = GatewayProcess(tmp_path, kafka=bootstrap, config=str(config))
    broker = Broker(port=port)
    try:
        gw.start(ready=False)
        r = _readyz(gw)
        assert r.status_code == 503
        assert r.json()["ready"] is False and r.json()["checks"]["backend"] is False
        assert bootstrap in r.json()["reason"] and "not reachable" in r.json()["reason"]
        wait_until(lambda: "not ready" in gw.log_tail(), timeout=15, what="a not-ready line")
        log = gw.log_tail()
        assert f"gateway not ready: Kafka at {bootstrap} not reachable" in log
        assert "gateway ready" not in log
        with gw.client() as c:   # nothing is acknowledged meanwhile
            assert signed_post(c, key, device, envelope(key, device, 0)).status_code == 503
        broker.start()
        wait_until(lambda: _readyz(gw).status_code == 200, timeout=60, what="ready")
        assert "reason" not in _readyz(gw).json()
        wait_until(lambda: "gateway ready" in gw.log_tail(), timeout=10, what="a ready line")
        with gw.client() as c:
            assert signed_post(c, key, device, envelope(key, device, 1)).status_code == 202
    finally:
        gw.__exit__(None, None, None)
        broker.stop()
