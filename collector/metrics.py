"""Gateway metrics, exposed at ``/metrics`` in the Prometheus text format by ``prometheus_client``.

The request path only bumps plain counters under one lock (:class:`GatewayMetrics`); a
custom collector turns a snapshot of them into metric families when ``/metrics`` is
read, and ``prometheus_client`` writes the exposition text (escaping, ``_total``,
``_bucket``/``_sum``/``_count``).

>>> m = GatewayMetrics()
>>> m.reject("replay"); m.reject("replay"); m.observe_request(202, 0.004, 1200)
>>> text = m.render()
>>> 'edgedrift_gateway_rejected_total{reason="replay"} 2.0' in text
True
>>> 'edgedrift_gateway_request_seconds_bucket{le="0.005"} 1.0' in text
True
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PREFIX = "edgedrift_gateway"
# the media type of the text format 0.0.4 that render() writes
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class GatewayMetrics:
    """Counters and one latency histogram; safe to update from several threads.

    >>> m = GatewayMetrics(); m.accept(3)
    >>> "edgedrift_gateway_windows_accepted_total 3.0" in m.render()
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
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector(self))

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
        """The exposition text (``text/plain; version=0.0.4``), by ``prometheus_client``."""
        return generate_latest(self._registry).decode()

    def families(self) -> Iterator[Metric]:
        """The metric families of a snapshot of the counters (names as documented in
        docs/collector.md: keep them stable, dashboards and alerts query them)."""
        p = PREFIX
        with self._lock:
            accepted, duplicates, nbytes = self.accepted, self.duplicates, self.bytes_received
            sink_errors = self.sink_errors
            rejected, requests = sorted(self.rejected.items()), sorted(self.requests.items())
            signed, kafka = sorted(self.signed.items()), sorted(self.kafka_errors.items())
            buckets, total, count = list(self._buckets), self._latency_sum, self._latency_count
        yield CounterMetricFamily(f"{p}_windows_accepted",
                                  "Windows made durable (Kafka ack or Parquet).", accepted)
        yield CounterMetricFamily(f"{p}_windows_duplicate",
                                  "Windows answered as already accepted.", duplicates)
        yield _labelled(f"{p}_rejected", "Rejected windows or requests by reason.", "reason",
                        rejected)
        yield _labelled(f"{p}_requests", "HTTP requests to /v1/telemetry by status.", "code",
                        [(str(c), n) for c, n in requests])
        yield _labelled(f"{p}_requests_signed", "Requests by signature: request "
                        "(X-Edgedrift-* headers) or envelope (older SDKs).", "mode", signed)
        yield CounterMetricFamily(f"{p}_received_bytes", "Request body bytes received.", nbytes)
        yield _labelled(f"{p}_kafka_errors", "Failed produce attempts by error.", "error", kafka)
        yield CounterMetricFamily(f"{p}_sink_errors", "Failed embedded Parquet writes.",
                                  sink_errors)
        cumulative, rows = 0, []
        for le, n in zip(LATENCY_BUCKETS, buckets, strict=False):
            cumulative += n
            rows.append((f"{le:g}", cumulative))
        rows.append(("+Inf", count))
        yield HistogramMetricFamily(f"{p}_request_seconds", "Latency of /v1/telemetry requests.",
                                    buckets=rows, sum_value=total)
        guard = self.connections
        if guard is not None:   # read in the event loop that updates it
            yield GaugeMetricFamily(f"{p}_connections_open", "Open HTTP connections.",
                                    guard.open_connections())
            yield _labelled(f"{p}_connections_dropped", "Connections closed by the connection "
                            "defences, by reason.", "reason",
                            [(r, guard.dropped[r]) for r in guard.DROP_REASONS])


class _Collector:
    """The ``prometheus_client`` collector of one :class:`GatewayMetrics`."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self.metrics.families()


def _labelled(name: str, doc: str, label: str, values: list[tuple[str, int]]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=[label])
    for value, n in values:
        family.add_metric([value], n)
    return family
