"""Alert delivery: healthy endpoints are not delayed by failing ones; throughput; latency.

1,000 alerts fan out to 10 loopback endpoints: 7 healthy, 2 answering 500 and
1 that never answers within the timeout (2 s). Reported: the p95 of
(delivered_at - alert created_at) over the healthy endpoints, against the same
run with the failing endpoints removed (peer), deliveries/s, and the time from
``AlertEngine.observe`` to the webhook arriving with a running deliverer
(1 s poll). ``EDGEDRIFT_BENCH_ALERTS`` overrides the alert count.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from analytics.alerts import AlertEngine, AlertsConfig, Condition, Deliverer
from analytics.alerts.config import EndpointConfig
from analytics.alerts.outbox import Outbox

from .figures import Figure

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a fixed test secret


def _server(mode: str, arrivals: list[float] | None = None) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            if arrivals is not None:
                arrivals.append(time.time())
            if mode == "hang":
                time.sleep(3)
                self.close_connection = True
                return
            self.send_response(500 if mode == "500" else 204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _fanout(n_alerts: int, modes: list[str]) -> tuple[float, float, int]:
    """Return (p95 latency of healthy deliveries in s, deliveries/s, delivered count)."""
    servers = [_server(m) for m in modes]
    try:
        eps = tuple(EndpointConfig(f"ep{i}", f"http://127.0.0.1:{s.server_address[1]}/h",
                                   (SECRET,)) for i, s in enumerate(servers))
        cfg = AlertsConfig(endpoints=eps, allow_loopback=True, timeout_s=2.0,
                           poll_interval_s=0.2, cooldown_s=0)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "alerts.sqlite"
            t = datetime(2025, 1, 1, tzinfo=UTC)
            AlertEngine(cfg, path).observe(
                Condition("drift", "kws", "1", f"seg={i}", t, t, True) for i in range(n_alerts))
            healthy = {f"ep{i}" for i, m in enumerate(modes) if m == "ok"}
            stop = threading.Event()
            started = time.time()
            worker = threading.Thread(target=Deliverer(cfg, path).run_forever, args=(stop,))
            worker.start()
            box = Outbox(path)
            query = ("SELECT COUNT(*) FROM deliveries WHERE status = 'delivered' AND endpoint IN"
                     f" ({','.join('?' * len(healthy))})")
            target = n_alerts * len(healthy)
            deadline = time.time() + 600
            while box._conn().execute(query, sorted(healthy)).fetchone()[0] < target:
                if time.time() > deadline:
                    break
                time.sleep(0.2)
            elapsed = time.time() - started
            stop.set()
            worker.join()
            rows = box._conn().execute(
                "SELECT d.delivered_at - d.created_at FROM deliveries d"
                f" WHERE d.status = 'delivered' AND d.endpoint IN ({','.join('?' * len(healthy))})",
                sorted(healthy)).fetchall()
            lat = sorted(r[0] for r in rows)
            p95 = lat[int(0.95 * (len(lat) - 1))] if lat else float("nan")
            return p95, len(lat) / elapsed, len(lat)
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


def _observe_to_received() -> float:
    arrivals: list[float] = []
    srv = _server("ok", arrivals)
    try:
        ep = EndpointConfig("ep", f"http://127.0.0.1:{srv.server_address[1]}/h", (SECRET,))
        cfg = AlertsConfig(endpoints=(ep,), allow_loopback=True, poll_interval_s=1.0,
                           cooldown_s=0)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "alerts.sqlite"
            engine = AlertEngine(cfg, path)
            stop = threading.Event()
            worker = threading.Thread(target=Deliverer(cfg, path).run_forever, args=(stop,))
            worker.start()
            samples = []
            t = datetime(2025, 1, 1, tzinfo=UTC)
            for i in range(5):
                time.sleep(0.37)  # land at different points of the poll cycle
                before = time.time()
                engine.observe([Condition("drift", "kws", "1", f"s{i}", t, t, True)])
                while len(arrivals) <= i and time.time() - before < 30:
                    time.sleep(0.005)
                samples.append(arrivals[i] - before)
            stop.set()
            worker.join()
            return statistics.median(samples)
    finally:
        srv.shutdown()
        srv.server_close()


def run() -> list[Figure]:
    n = int(os.environ.get("EDGEDRIFT_BENCH_ALERTS", "1000"))
    modes = ["ok"] * 7 + ["500", "500", "hang"]
    p95_mixed, rate, delivered = _fanout(n, modes)
    p95_alone, _, _ = _fanout(n, ["ok"] * 7)
    return [
        Figure(f"healthy endpoints p95 delivery latency, {n} alerts x 10 endpoints, 3 failing",
               "not delayed by failing endpoints", p95_mixed, "s", peer=p95_alone,
               peer_name="same 7 endpoints, no failing ones"),
        Figure("webhook deliveries/s to healthy endpoints (receivers in-process, 2 shared cores)",
               "", rate, "/s", lower_is_better=False, note=f"({delivered} delivered)"),
        Figure("AlertEngine.observe -> webhook received (median, 1 s poll)", "<= 2 min",
               _observe_to_received(), "s"),
    ]
