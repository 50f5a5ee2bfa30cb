"""Connection-level defences, with real sockets against a real ``edgedrift gateway``:
idle, half-sent and slow connections are closed, a client address cannot hold more than
its cap, and a flood of idle connections does not take the room that signed posts need.

Attackers bind to other loopback addresses (127.0.0.2, ...) as real attackers would come
from other hosts; the legitimate client is 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from gateway_harness import (
    ROOT,
    GatewayProcess,
    KeyPool,
    envelope,
    metrics,
    post,
)
from support import free_port, wait_until

from edge_sdk.wire import CONTENT_TYPE, encode_request


def _open(port: int, source: str = "127.0.0.1") -> socket.socket:
    s = socket.socket()
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def _closed_by_server(s: socket.socket, timeout: float) -> bool:
    """True if the server closes the connection (EOF or reset) within ``timeout``."""
    s.settimeout(timeout)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def _dropped(gw: GatewayProcess, reason: str) -> float:
    with gw.client() as c:
        return metrics(c).get(f'edgedrift_gateway_connections_dropped_total{{reason="{reason}"}}',
                              0.0)


@contextlib.contextmanager
def _sockets() -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    try:
        yield socks
    finally:
        for s in socks:
            s.close()


def test_silent_and_half_head_connections_are_closed_at_the_head_deadline(tmp_path):
    env = {"EDGEDRIFT_GATEWAY_HEAD_TIMEOUT_S": "1"}
    with GatewayProcess(tmp_path, env=env) as gw, _sockets() as socks:
        silent = _open(gw.port)
        half = _open(gw.port)
        half.sendall(b"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Ty")
        socks += [silent, half]
        assert _closed_by_server(silent, 15)
        assert _closed_by_server(half, 15)
        assert _dropped(gw, "head_timeout") >= 2


def test_a_body_that_stops_arriving_is_dropped_at_the_body_deadline(tmp_path):
    env = {"EDGEDRIFT_GATEWAY_BODY_TIMEOUT_S": "1"}
    with GatewayProcess(tmp_path, env=env) as gw, _sockets() as socks:
        s = _open(gw.port)
        socks.append(s)
        s.sendall(b"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: " +
                  CONTENT_TYPE.encode() + b"\r\nContent-Length: 1000\r\n\r\n" + b"\x00" * 10)
        assert _closed_by_server(s, 15)
        assert _dropped(gw, "body_timeout") == 1


def test_an_oversized_request_head_is_refused(tmp_path):
    with GatewayProcess(tmp_path, env={"EDGEDRIFT_GATEWAY_MAX_HEAD_BYTES": "2048"}) as gw, \
            _sockets() as socks:
        s = _open(gw.port)
        socks.append(s)
        s.sendall(b"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\n" +
                  b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 100) for i in range(40)))
        assert _closed_by_server(s, 15)
        assert _dropped(gw, "head_too_large") == 1


def test_one_client_address_cannot_hold_more_than_its_cap(tmp_path):
    pool = KeyPool(tmp_path, count=1)
    device, key = pool.take()
    env = {"EDGEDRIFT_GATEWAY_MAX_CONNECTIONS_PER_CLIENT": "5"}
    with GatewayProcess(tmp_path, env=env) as gw, _sockets() as socks:
        socks += [_open(gw.port, "127.0.0.2") for _ in range(8)]
        refused = [s for s in socks if _closed_by_server(s, 0.5)]
        assert len(refused) == 3
        assert _dropped(gw, "per_client_cap") == 3
        with gw.client() as c:   # another address is served
            assert post(c, envelope(key, device, 0)).status_code == 202
        next(s for s in socks if s not in refused).close()   # a slot of 127.0.0.2 frees up
        time.sleep(0.2)
        again = _open(gw.port, "127.0.0.2")
        socks.append(again)
        assert not _closed_by_server(again, 0.5)


def test_devices_behind_one_address_rotate_their_idle_connections(tmp_path):
    """Many devices behind one NAT address: past the cap a new connection closes that
    address's oldest idle kept-alive connection instead of being refused."""
    import http.client

    pool = KeyPool(tmp_path, count=1)
    device, key = pool.take()
    env = {"EDGEDRIFT_GATEWAY_MAX_CONNECTIONS_PER_CLIENT": "3"}
    conns = []
    with GatewayProcess(tmp_path, env=env) as gw:
        try:
            for _ in range(6):          # each answered, then kept alive (idle)
                conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5,
                                                  source_address=("127.0.0.2", 0))
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 200
                conns.append(conn)
            assert _dropped(gw, "evicted") == 3
            assert _dropped(gw, "per_client_cap") == 0
        finally:
            for conn in conns:
                conn.close()


def test_an_idle_flood_larger_than_the_table_leaves_room_for_signed_posts(tmp_path):
    """More idle connections than ``max_connections`` (from 8 addresses, under the
    per-client cap, never timing out during the test): fresh connections that send a
    request evict the oldest idle ones and are served; nothing is answered 503."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    pool = KeyPool(tmp_path, count=1)
    device, key = pool.take()
    env = {"EDGEDRIFT_GATEWAY_MAX_CONNECTIONS": "300",
           "EDGEDRIFT_GATEWAY_HEAD_TIMEOUT_S": "120"}
    with GatewayProcess(tmp_path, env=env) as gw, _sockets() as socks:
        for i in range(600):
            s = _open(gw.port, f"127.0.0.{2 + i % 8}")
            if i % 2:
                s.sendall(b"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        wait_until(lambda: _dropped(gw, "evicted") >= 300, timeout=20, what="evictions")
        codes = []
        for seq in range(40):   # a new connection per post, as after an eviction
            with gw.client() as c:
                codes.append(post(c, envelope(key, device, seq)).status_code)
        assert codes == [202] * 40
        with gw.client() as c:
            assert metrics(c)["edgedrift_gateway_connections_open"] <= 300


@pytest.mark.parametrize("field,value", [("max_connections_per_client", "-1"),
                                         ("head_timeout_s", "0"),
                                         ("max_head_bytes", "10")])
def test_a_bad_connection_setting_is_refused_naming_the_field(tmp_path, field, value):
    out = subprocess.run([sys.executable, "-m", "edgedrift", "gateway", "--data-dir",
                          str(tmp_path), "--port", str(free_port())], capture_output=True,
                         text=True, timeout=60, cwd=str(ROOT),
                         env={**os.environ, "PYTHONPATH": str(ROOT),
                              f"EDGEDRIFT_GATEWAY_{field.upper()}": value})
    assert out.returncode != 0
    assert f"{field}: got" in out.stderr + out.stdout


def test_a_kept_alive_connection_serves_many_requests(tmp_path):
    """The deadlines re-arm per request: one connection, many posts, all accepted."""
    pool = KeyPool(tmp_path, count=1)
    device, key = pool.take()
    env = {"EDGEDRIFT_GATEWAY_HEAD_TIMEOUT_S": "1", "EDGEDRIFT_GATEWAY_KEEP_ALIVE_S": "5"}
    with GatewayProcess(tmp_path, env=env) as gw, gw.client() as c:
        codes = []
        for seq in range(6):
            codes.append(post(c, encode_request([envelope(key, device, seq)])).status_code)
            time.sleep(0.3)   # idle between requests: well inside keep_alive_s
        assert codes == [202] * 6
        assert _dropped(gw, "head_timeout") == 0


def test_requests_past_max_in_flight_get_503_while_idle_connections_do_not_count(tmp_path):
    """A request whose body has not arrived holds an in-flight slot; with max_in_flight=1
    the next request is answered 503 until that slot frees. Open connections that sent
    nothing hold no slot."""
    pool = KeyPool(tmp_path, count=1)
    device, key = pool.take()
    env = {"EDGEDRIFT_GATEWAY_MAX_IN_FLIGHT": "1"}
    with GatewayProcess(tmp_path, env=env) as gw, _sockets() as socks, gw.client() as c:
        socks += [_open(gw.port, "127.0.0.3") for _ in range(20)]   # idle: no slot
        assert post(c, envelope(key, device, 0)).status_code == 202
        head = (b"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: " +
                CONTENT_TYPE.encode() + b"\r\nContent-Length: 100\r\n\r\n")

        def hold_the_slot() -> socket.socket | None:
            """A request that never sends its body (None if it found the slot taken by
            the previous request's task, still finishing)."""
            s = _open(gw.port)
            socks.append(s)
            s.sendall(head)
            return None if _closed_by_server(s, 0.5) else s

        slow = wait_until(hold_the_slot, timeout=10, what="a request holding the slot")
        assert post(c, envelope(key, device, 1)).status_code == 503
        slow.close()
        wait_until(lambda: post(c, envelope(key, device, 2)).status_code == 202, timeout=10,
                   what="the slot to free")
