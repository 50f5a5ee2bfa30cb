"""Delivery to a collector that misbehaves in ways the real gateway cannot be made to:
503 on demand (the embedded sink only fails when its disk does), a per-item 503 inside a
batch, Retry-After of 30 s or as an HTTP date, redirects and 403, captive portals and
hostile answers. These talk to the stand-in of tests/sdk/sdk_receiver.py; what the real
gateway can do is tested against it (test_sdk_delivery.py, test_sdk_delivery_limits.py)."""

from __future__ import annotations

import time

import pytest
from sdk_gateway import drain, seal


def test_503_keeps_windows_until_the_collector_recovers(receiver, make_monitor):
    mon = make_monitor(receiver.url)
    seqs = seal(mon, 3)
    receiver.state.request_rule = lambda envs: (503, {"error": {"reason": "kafka"}},
                                                {"Retry-After": "0"})
    for _ in range(5):
        assert mon.sender.send_once() is False
    assert mon.spool.backlog()[0] == 3
    receiver.state.request_rule = None
    assert drain(mon)
    assert receiver.accepted_seqs() == seqs


def test_429_sets_next_attempt_from_retry_after(receiver, make_monitor):
    receiver.state.request_rule = lambda envs: (429, {}, {"Retry-After": "30"})
    mon = make_monitor(receiver.url, backoff_max_s=300.0)  # first backoff alone: <= 1 s
    seal(mon, 1)
    before = time.monotonic()
    assert mon.sender.send_once() is False
    assert mon.sender._next_attempt - before >= 29.0
    assert mon.spool.backlog()[0] == 1               # kept for later


def test_retry_after_as_http_date(receiver, make_monitor):
    from email.utils import formatdate

    receiver.state.request_rule = lambda envs: (
        429, {}, {"Retry-After": formatdate(time.time() + 60, usegmt=True)})
    mon = make_monitor(receiver.url, backoff_max_s=300.0)
    seal(mon, 1)
    before = time.monotonic()
    assert mon.sender.send_once() is False
    assert mon.sender._next_attempt - before >= 55.0


def test_batch_per_item_503_is_retried_and_4xx_dropped(receiver, make_monitor):
    mon = make_monitor(receiver.url, batch_size=50)
    seqs = seal(mon, 5)
    retry_once, reject = seqs[1], seqs[3]
    seen = set()

    def rule(d, m, s, w):
        if s == reject:
            return 422, "rejected", {"field": "w.d", "expected": "the envelope's d"}, None
        if s == retry_once and s not in seen:
            seen.add(s)
            return 503, "retry", {"reason": "kafka_unavailable"}, None
        return None

    receiver.state.rule = rule
    assert drain(mon)
    first = receiver.state.requests[0]
    assert first[1] == 5                             # one batch request with all five
    assert receiver.accepted_seqs() == [s for s in seqs if s != reject]
    assert receiver.posts_of(retry_once) == 2
    assert receiver.posts_of(reject) == 1
    assert mon.spool.counters()["rejected"] == 1


def test_misconfiguration_keeps_every_window_until_it_is_fixed(receiver, make_monitor):
    """A wrong path (404), a moved endpoint (301, 307), a wrong or revoked key (401, 403):
    nothing is dropped, flush() says False, status() says why; once the collector answers
    again every window arrives exactly once."""
    mon = make_monitor(receiver.url, backoff_max_s=0.05)
    phases = [(404, {"error": {"reason": "not_found"}}, {}),
              (301, {}, {"Location": "https://elsewhere.example/v1/telemetry"}),
              (307, {}, {"Location": "https://elsewhere.example/v1/telemetry"}),
              (401, {"error": {"reason": "unknown_device"}}, {}),
              (401, {"error": {"reason": "revoked"}}, {}),
              (403, {"error": {"reason": "forbidden"}}, {})]
    seqs = []
    for status, payload, headers in phases:
        receiver.state.request_rule = lambda envs, a=(status, payload, headers): a
        seqs += seal(mon, 2)
        assert not drain(mon, rounds=5)
        assert mon.flush(timeout_s=0.3) is False
        seqs.append(seqs[-1] + 1)                           # flush() sealed one more
        st = mon.status()
        assert st["last_status"] == status and st["backlog_windows"] == len(seqs)
        assert st["rejected"] == 0 and st["dropped"] == 0 and st["last_success"] is None
        assert str(status) in st["last_error"]
    receiver.state.request_rule = None
    assert drain(mon, rounds=500)
    assert receiver.accepted_seqs() == seqs
    st = mon.status()
    assert st["backlog_windows"] == 0 and st["rejected"] == 0 and st["last_success"]


HOSTILE = [
    (200, {"results": [{"code": "abc"}, {"code": None}]}, {}),
    (200, {"results": "nope"}, {}),
    (200, {"results": [["not", "a", "map"]] * 2}, {}),
    (202, {"server_time_ms": float("inf")}, {}),
    (202, {"server_time_ms": float("nan")}, {}),
    (202, {"server_time_ms": "yesterday"}, {}),
    (429, {}, {"Retry-After": "1e400"}),
    (429, {}, {"Retry-After": "nan"}),
    (429, {}, {"Retry-After": "-5"}),
    (503, {"error": "not a map"}, {}),
    (401, {"error": {"reason": ["timestamp_skew"]}}, {}),
]


@pytest.mark.parametrize("status,body,headers", HOSTILE)
def test_hostile_collector_answers_never_raise(receiver, make_monitor, status, body, headers):
    receiver.state.request_rule = lambda envs: (status, body, headers)
    mon = make_monitor(receiver.url)
    seal(mon, 2)
    for _ in range(3):
        mon.sender.send_once()                       # must not raise
    mon.flush(timeout_s=0.3)                         # must not raise either
    assert isinstance(mon.sender.clock_skew_ms, int)
    assert abs(mon.seal_window()["hl"]["sk"]) < 10**12
    receiver.state.request_rule = None
    mon.sender.backoff.reset()
    mon.sender._next_attempt = 0.0
    assert drain(mon)                                # and it recovers


@pytest.mark.parametrize("status,body", [
    (200, b"<html><body>Welcome to Hotel WiFi, please log in</body></html>"),
    (200, b""),
    (200, {"hello": "proxy"}),
])
def test_a_200_that_is_not_the_collector_is_not_a_delivery(receiver, make_monitor, status, body):
    """Captive portals and misconfigured proxies answer 200 to anything: windows must stay
    spooled until the collector itself acknowledges them (202/"accepted", 200/"duplicate"
    or per-item results)."""
    receiver.state.request_rule = lambda envs: (status, body, {})
    mon = make_monitor(receiver.url)
    seqs = seal(mon, 3)
    mon.sender.send_once()
    seal(mon, 1)
    mon.sender.send_once()                           # a single envelope too
    assert mon.spool.backlog()[0] == 4
    receiver.state.request_rule = None
    mon.sender._next_attempt = 0.0
    assert drain(mon)
    assert set(seqs) <= set(receiver.accepted_seqs())
