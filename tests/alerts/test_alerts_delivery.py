"""Delivery against real loopback HTTP receivers: retries, 410, redirects, slow endpoints."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support import wait_until

from analytics.alerts import AlertEngine, AlertsConfig, Condition, Deliverer
from analytics.alerts.config import EndpointConfig
from analytics.alerts.errors import UnsafeURLError
from analytics.alerts.outbox import Outbox
from analytics.alerts.urls import check_url

from .conftest import SECRET

T = datetime(2025, 1, 1, tzinfo=UTC)


def config(*endpoints: tuple[str, str], **kw: Any) -> AlertsConfig:
    kw.setdefault("retry_schedule_s", (0.2, 0.2, 0.2, 0.2, 0.2, 0.2))
    kw.setdefault("jitter", 0.0)
    kw.setdefault("timeout_s", 1.0)
    kw.setdefault("poll_interval_s", 0.1)
    kw.setdefault("allow_loopback", True)
    eps = tuple(EndpointConfig(name, url, (SECRET,)) for name, url in endpoints)
    return AlertsConfig(endpoints=eps, **kw)


def store_alerts(cfg: AlertsConfig, path: Path, n: int, start: int = 0) -> list[int]:
    engine = AlertEngine(cfg, path)
    return [a.id for a in engine.observe(
        [Condition("drift", "kws", "1", f"seg={i}", T, T, True) for i in range(start, start + n)])]


def deliveries(path: Path, endpoint: str) -> list[dict[str, Any]]:
    box = Outbox(path)
    return [d for a in box.list_alerts(limit=10_000) for d in box.show(a["id"])["deliveries"]
            if d["endpoint"] == endpoint]


@contextmanager
def delivering(cfg: AlertsConfig, path: Path) -> Iterator[Deliverer]:
    deliverer = Deliverer(cfg, path)
    stop = threading.Event()
    thread = threading.Thread(target=deliverer.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        yield deliverer
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


def settled(path: Path) -> bool:
    return Outbox(path).counts().get("pending", 0) == 0


def test_flaky_receiver_gets_each_alert_exactly_once(make_receiver, tmp_path: Path) -> None:
    flaky = make_receiver([500, "timeout", "close", ("retry-after", 429, "1"), 503, 500],
                          default=200, hold_s=6.0)
    healthy = make_receiver()
    path = tmp_path / "alerts.sqlite"
    cfg = config(("flaky", flaky.url), ("healthy", healthy.url), concurrency_per_endpoint=1,
                 timeout_s=3.0)  # generous: a busy machine must not add timeouts
    ids = store_alerts(cfg, path, 3)
    with delivering(cfg, path):
        wait_until(lambda: settled(path), timeout=60, what="every delivery settled")
    flaky_rows = deliveries(path, "flaky")
    assert [d["status"] for d in flaky_rows] == ["delivered"] * 3
    expected = {d["webhook_id"] for d in flaky_rows}
    assert flaky.unique_ids() == expected                 # each alert once, after dedupe
    assert set(flaky.ids()) == expected                   # retries reuse the webhook-id
    assert all(r["verified"] for r in flaky.requests)     # standardwebhooks accepts all
    assert len(flaky.requests) == 9                       # 6 failures + 3 successes
    bodies: dict[str, set[bytes]] = {}
    for r in flaky.requests:
        bodies.setdefault(r["headers"]["webhook-id"], set()).add(r["body"])
    assert all(len(b) == 1 for b in bodies.values())      # the same body on every retry
    assert sorted(p["data"]["alert_id"] for p in healthy.payloads()) == ids
    assert len(healthy.requests) == 3
    log = [a for d in flaky_rows for a in Outbox(path).show(d["alert_id"])["deliveries"][0]
           ["attempt_log"]]
    assert sorted(str(a["status_code"]) for a in log if a["outcome"] != "delivered") == sorted(
        ["500", "None", "None", "429", "503", "500"])
    assert [a["outcome"] for a in log].count("delivered") == 3
    # Retry-After: 1 was honoured (the schedule alone would retry after 0.2 s)
    limited = next(r for r in flaky.requests if r["action"] == ("retry-after", 429, "1"))
    retry_after_at = limited["at"]
    later = [r["at"] for r in flaky.requests if r["at"] > retry_after_at
             and r["headers"]["webhook-id"] == limited["headers"]["webhook-id"]]
    assert min(later) - retry_after_at >= 0.9


def test_410_disables_the_endpoint_until_enabled(make_receiver, tmp_path: Path) -> None:
    gone = make_receiver(default=410)
    path = tmp_path / "alerts.sqlite"
    cfg = config(("gone", gone.url), concurrency_per_endpoint=1)
    store_alerts(cfg, path, 2)
    Deliverer(cfg, path).run_once()
    assert len(gone.requests) == 1
    assert [d["status"] for d in deliveries(path, "gone")] == ["disabled", "disabled"]
    store_alerts(cfg, path, 1, start=5)  # new alerts for a disabled endpoint wait too
    Deliverer(cfg, path).run_once()
    assert len(gone.requests) == 1
    assert "gone" in Outbox(path).disabled_endpoints()
    gone.default = 200
    assert Outbox(path).enable_endpoint("gone") == 3
    Deliverer(cfg, path).run_once()
    assert [d["status"] for d in deliveries(path, "gone")] == ["delivered"] * 3


def test_redirect_is_not_followed(make_receiver, tmp_path: Path) -> None:
    target = make_receiver()
    redirector = make_receiver(default=("redirect", target.url))
    path = tmp_path / "alerts.sqlite"
    cfg = config(("r", redirector.url))
    store_alerts(cfg, path, 1)
    Deliverer(cfg, path).run_once()
    (row,) = deliveries(path, "r")
    assert (row["status"], row["attempts"], row["last_status"]) == ("failed", 1, 302)
    assert "not followed" in row["last_error"]
    assert target.requests == []


def test_4xx_fails_at_once_and_exhausted_retries_are_kept_for_redelivery(
        make_receiver, tmp_path: Path) -> None:
    bad = make_receiver(default=400)
    down = make_receiver(default=503)
    path = tmp_path / "alerts.sqlite"
    cfg = config(("bad", bad.url), ("down", down.url), retry_schedule_s=(0.1, 0.1))
    (alert_id,) = store_alerts(cfg, path, 1)
    with delivering(cfg, path):
        wait_until(lambda: settled(path), timeout=30, what="every delivery settled")
    assert len(bad.requests) == 1 and len(down.requests) == 3
    rows = {d["endpoint"]: d for d in Outbox(path).show(alert_id)["deliveries"]}
    assert rows["bad"]["status"] == rows["down"]["status"] == "failed"
    assert "retries exhausted" in rows["down"]["last_error"]
    down.default = 200
    assert Outbox(path).redeliver(alert_id) == 2
    bad.default = 200
    Deliverer(cfg, path).run_once()
    after = {d["endpoint"]: d for d in Outbox(path).show(alert_id)["deliveries"]}
    assert after["down"]["status"] == "delivered"
    assert down.ids()[-1] == rows["down"]["webhook_id"]  # redelivery keeps the id
    assert down.unique_ids() == {rows["down"]["webhook_id"]}


def test_slow_endpoint_does_not_block_the_others(make_receiver, tmp_path: Path) -> None:
    slow = make_receiver(default="block")
    fast = make_receiver()
    path = tmp_path / "alerts.sqlite"
    cfg = config(("slow", slow.url), ("fast", fast.url), timeout_s=60.0,
                 concurrency_per_endpoint=2)
    store_alerts(cfg, path, 20)
    with delivering(cfg, path):
        # every fast delivery lands while the slow endpoint still holds its first requests
        wait_until(lambda: len(fast.unique_ids()) == 20, timeout=30,
                   what="20 deliveries at the fast endpoint")
        assert len(slow.requests) <= 2
        assert all(d["status"] == "pending" for d in deliveries(path, "slow"))
        slow.release.set()
        wait_until(lambda: settled(path), timeout=30, what="every delivery settled")
    assert len(slow.unique_ids()) == 20


def test_private_addresses_are_refused_unless_allowed(make_receiver, tmp_path: Path) -> None:
    receiver = make_receiver()
    path = tmp_path / "alerts.sqlite"
    url = receiver.url.replace("127.0.0.1", "localhost")  # a name resolving to loopback
    cfg = config(("local", url), allow_loopback=False)
    store_alerts(cfg, path, 1)
    Deliverer(cfg, path).run_once()
    (row,) = deliveries(path, "local")
    assert row["status"] == "failed" and "loopback" in row["last_error"]
    assert receiver.requests == []

    def fake(mapping: dict[str, list[str]]) -> Any:
        return lambda host, port: mapping[host]

    cases = {"meta.internal": ["169.254.169.254"], "intra": ["10.0.0.7"],
             "v6": ["fd00::1"], "mixed": ["93.184.216.34", "192.168.1.1"],
             "cgnat": ["100.64.0.1"], "zero": ["0.0.0.0"],
             # IPv6 forms of private IPv4 and the deprecated site-local range
             "sixtofour-metadata": ["2002:a9fe:a9fe::1"], "nat64-private": ["64:ff9b::a00:7"],
             "teredo": ["2001:0:4136:e378:8000:63bf:f5ff:fffe"], "site-local": ["fec0::1"]}
    for host in cases:
        with pytest.raises(UnsafeURLError):
            check_url(f"https://{host}/h", resolver=fake(cases))
        check_url(f"https://{host}/h", resolver=fake(cases), allow_private_networks=True)
    assert check_url("https://example.org/h", resolver=fake({"example.org": ["93.184.216.34"]}))
    public_v6 = {"nat64-public": ["64:ff9b::808:808"], "sixtofour-public": ["2002:808:808::1"]}
    for host in public_v6:
        assert check_url(f"https://{host}/h", resolver=fake(public_v6))
