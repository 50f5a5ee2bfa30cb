"""Gateway metrics in the Prometheus text exposition format (written by hand, no dependency).

>>> m = GatewayMetrics()
>>> m.reject("replay"); m.reject("replay"); m.observe_request(202, 0.004, 1200)
>>> text = m.render()
>>> 'edgedrift_gateway_rejected_total{reason="replay"} 2' in text
True
>>> 'edgedrift_gateway_request_seconds_bucket{le="0.005"} 1' in text
True
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PREFIX = "edgedrift_gateway"


class GatewayMetrics:
    """Counters and one latency histogram; safe to update from several threads.

    >>> m = GatewayMetrics(); m.accept(3)
    >>> "edgedrift_gateway_windows_accepted_total 3" in m.render()
    True
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[int] = Counter()          # by HTTP status
        self.rejected: Counter[str] = Counter()          # windows/requests by reason
        self.accepted = 0                                 # windows made durable
        self.duplicates = 0                               # windows answered "duplicate"
        self.bytes_received = 0                           # request body bytes (as sent)
        self.kafka_errors: Counter[str] = Counter()      # by error class
        self.sink_errors = 0
        self.key_reloads = 0
        self.signed: Counter[str] = Counter()            # requests by how they were signed
        self.connections: Any = None   # a collector.conn_guard.ConnectionGuard, when serving
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0
        self._latency_count = 0

    def reject(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.rejected[reason] += n

    def signed_request(self, mode: str) -> None:
        """A request authenticated by its headers ("request") or only per envelope."""
        with self._lock:
            self.signed[mode] += 1

    def accept(self, n: int = 1) -> None:
        with self._lock:
            self.accepted += n

    def duplicate(self, n: int = 1) -> None:
        with self._lock:
            self.duplicates += n

    def kafka_error(self, kind: str) -> None:
        with self._lock:
            self.kafka_errors[kind] += 1

    def sink_error(self) -> None:
        with self._lock:
            self.sink_errors += 1

    def observe_request(self, status: int, seconds: float, nbytes: int) -> None:
        with self._lock:
            self.requests[status] += 1
            self.bytes_received += nbytes
            self._latency_sum += seconds
            self._latency_count += 1
            for i, le in enumerate(LATENCY_BUCKETS):
                if seconds <= le:
                    self._buckets[i] += 1
                    break
            else:
                self._buckets[-1] += 1

    def render(self) -> str:
        """The exposition text (``text/plain; version=0.0.4``)."""
        p = PREFIX
        with self._lock:
            lines = [
                f"# HELP {p}_windows_accepted_total Windows made durable (Kafka ack or Parquet).",
                f"# TYPE {p}_windows_accepted_total counter",
                f"{p}_windows_accepted_total {self.accepted}",
                f"# HELP {p}_windows_duplicate_total Windows answered as already accepted.",
                f"# TYPE {p}_windows_duplicate_total counter",
                f"{p}_windows_duplicate_total {self.duplicates}",
                f"# HELP {p}_rejected_total Rejected windows or requests by reason.",
                f"# TYPE {p}_rejected_total counter",
            ]
            lines += [f'{p}_rejected_total{{reason="{_esc(r)}"}} {n}'
                      for r, n in sorted(self.rejected.items())]
            lines += [f"# HELP {p}_requests_total HTTP requests to /v1/telemetry by status.",
                      f"# TYPE {p}_requests_total counter"]
            lines += [f'{p}_requests_total{{code="{c}"}} {n}'
                      for c, n in sorted(self.requests.items())]
            lines += [f"# HELP {p}_requests_signed_total Requests by signature: "
                      "request (X-Edgedrift-* headers) or envelope (older SDKs).",
                      f"# TYPE {p}_requests_signed_total counter"]
            lines += [f'{p}_requests_signed_total{{mode="{m}"}} {n}'
                      for m, n in sorted(self.signed.items())]
            lines += [f"# HELP {p}_received_bytes_total Request body bytes received.",
                      f"# TYPE {p}_received_bytes_total counter",
                      f"{p}_received_bytes_total {self.bytes_received}",
                      f"# HELP {p}_kafka_errors_total Failed produce attempts by error.",
                      f"# TYPE {p}_kafka_errors_total counter"]
            lines += [f'{p}_kafka_errors_total{{error="{_esc(k)}"}} {n}'
                      for k, n in sorted(self.kafka_errors.items())]
            lines += [f"# HELP {p}_sink_errors_total Failed embedded Parquet writes.",
                      f"# TYPE {p}_sink_errors_total counter",
                      f"{p}_sink_errors_total {self.sink_errors}",
                      f"# HELP {p}_request_seconds Latency of /v1/telemetry requests.",
                      f"# TYPE {p}_request_seconds histogram"]
            cumulative = 0
            for le, n in zip(LATENCY_BUCKETS, self._buckets, strict=False):
                cumulative += n
                lines.append(f'{p}_request_seconds_bucket{{le="{le:g}"}} {cumulative}')
            lines.append(f'{p}_request_seconds_bucket{{le="+Inf"}} {self._latency_count}')
            lines.append(f"{p}_request_seconds_sum {self._latency_sum:.6f}")
            lines.append(f"{p}_request_seconds_count {self._latency_count}")
        guard = self.connections
        if guard is not None:   # read in the event loop that updates it
            lines += [f"# HELP {p}_connections_open Open HTTP connections.",
                      f"# TYPE {p}_connections_open gauge",
                      f"{p}_connections_open {guard.open_connections()}",
                      f"# HELP {p}_connections_dropped_total Connections closed by the "
                      "connection defences, by reason.",
                      f"# TYPE {p}_connections_dropped_total counter"]
            lines += [f'{p}_connections_dropped_total{{reason="{r}"}} {guard.dropped[r]}'
                      for r in guard.DROP_REASONS]
        return "\n".join(lines) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
