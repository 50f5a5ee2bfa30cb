"""Settings of the HTTP ingest gateway (``[gateway]`` in the TOML config).

Built once in :func:`collector.gateway_cli.run` with
:func:`edgedrift.config.build_config` and passed down; a bad value is
refused at start-up with the field's name.

>>> cfg = GatewayConfig(port=9000)
>>> cfg.port, cfg.kafka is None, cfg.skew_s
(9000, True, 300)
>>> cfg.wire_limits().max_body_bytes == cfg.max_body_bytes
True
>>> GatewayConfig(rate_per_s=0)
Traceback (most recent call last):
...
ValueError: rate_per_s: got 0, expected a positive number of windows per second
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from edge_sdk.wire import DEFAULT_LIMITS, WireLimits

if TYPE_CHECKING:
    from .conn_guard import ConnectionLimits


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway process needs; the defaults suit one machine."""

    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: str | None = None          # PEM certificate; TLS is on when cert and key are set
    tls_key: str | None = None
    kafka: str | None = None             # "HOST:PORT[,...]"; None -> embedded sink
    keys_path: str | None = None         # default: DataPaths(data_dir).keys
    # request limits (see edge_sdk.wire.WireLimits for the msgpack ones)
    max_body_bytes: int = DEFAULT_LIMITS.max_body_bytes
    max_inflated_bytes: int = DEFAULT_LIMITS.max_inflated_bytes
    max_batch: int = DEFAULT_LIMITS.max_batch
    # authentication
    skew_s: int = 300                    # allowed |t - now| and the replay window
    replay_capacity: int = 1_000_000     # most (d, m, s, t) remembered for replay checks
    accepted_capacity: int = 200_000     # most (d, m, s) remembered to answer "duplicate"
    # per-device token bucket (windows)
    rate_per_s: float = 50.0
    rate_burst: float = 1000.0
    # durability
    produce_timeout_s: float = 10.0      # broker ack (or Parquet write) deadline -> 503
    retry_after_s: int = 5               # Retry-After sent with 503
    key_reload_s: float = 1.0            # check keys.json's mtime at most this often
    workers: int = 1
    # helper processes that check the windows of batches of >= window_batch_min envelopes
    # while the event loop serves other requests (0: every window checked in the loop)
    window_workers: int = 1
    window_batch_min: int = 16
    # connection defences (collector.conn_guard)
    max_connections: int = 4096          # open connections; past it the oldest idle is evicted
    max_connections_per_client: int = 128   # per source address; 0: no cap (behind a proxy)
    max_in_flight: int = 1024            # requests handled at once; past it 503
    head_timeout_s: float = 10.0         # a request head must arrive within this
    body_timeout_s: float = 30.0         # ... and its body within this after the head
    keep_alive_s: float = 30.0           # idle kept-alive connections are closed after this
    max_head_bytes: int = 16384          # request line + headers
    # requests without the X-Edgedrift-* headers (older SDKs): decoded in worker threads
    max_body_objects: int = 0            # msgpack objects in a body; 0: 20 per envelope
    legacy_decode_threads: int = 2

    def __post_init__(self) -> None:
        checks = [
            ("port", 0 <= self.port <= 65535, "a TCP port 0..65535"),
            ("max_body_bytes", self.max_body_bytes > 0, "a positive number of bytes"),
            ("max_inflated_bytes", self.max_inflated_bytes >= self.max_body_bytes,
             "a number of bytes >= max_body_bytes"),
            ("max_batch", 1 <= self.max_batch <= 10_000, "1..10000 envelopes"),
            ("skew_s", self.skew_s > 0, "a positive number of seconds"),
            ("replay_capacity", self.replay_capacity > 0, "a positive count"),
            ("accepted_capacity", self.accepted_capacity >= 0, "a count >= 0"),
            ("rate_per_s", self.rate_per_s > 0, "a positive number of windows per second"),
            ("rate_burst", self.rate_burst >= 1, "a burst of at least 1 window"),
            ("produce_timeout_s", self.produce_timeout_s > 0, "a positive number of seconds"),
            ("retry_after_s", self.retry_after_s >= 1, "at least 1 second"),
            ("key_reload_s", self.key_reload_s >= 0, "a number of seconds >= 0"),
            ("max_connections", self.max_connections > 0, "a positive count"),
            ("max_connections_per_client", self.max_connections_per_client >= 0,
             "a count >= 0 (0: no per-client cap)"),
            ("max_in_flight", self.max_in_flight > 0, "a positive count"),
            ("head_timeout_s", self.head_timeout_s > 0, "a positive number of seconds"),
            ("body_timeout_s", self.body_timeout_s > 0, "a positive number of seconds"),
            ("keep_alive_s", self.keep_alive_s > 0, "a positive number of seconds"),
            ("max_head_bytes", 1024 <= self.max_head_bytes <= 1 << 20, "1024..1048576 bytes"),
            ("max_body_objects", self.max_body_objects >= 0,
             "a count >= 0 (0: 20 per envelope of max_batch)"),
            ("legacy_decode_threads", 1 <= self.legacy_decode_threads <= 32, "1..32 threads"),
            ("window_workers", 0 <= self.window_workers <= 16, "0..16 helper processes"),
            ("window_batch_min", self.window_batch_min >= 1, "at least 1 envelope"),
            ("workers", self.workers == 1, "1 (one process; run more gateways behind a "
                                           "load balancer)"),
            ("tls_key", bool(self.tls_cert) == bool(self.tls_key),
             "tls_cert and tls_key given together"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"{name}: got {getattr(self, name)!r}, expected {expected}")

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert and self.tls_key)

    def body_objects(self) -> int:
        """The most msgpack objects a request body may hold (an envelope has at most 17)."""
        return self.max_body_objects or 20 * self.max_batch + 1

    def connection_limits(self) -> ConnectionLimits:
        """The settings of :mod:`collector.conn_guard`."""
        from .conn_guard import ConnectionLimits  # imports uvicorn: only when serving

        return ConnectionLimits(
            head_timeout_s=self.head_timeout_s, body_timeout_s=self.body_timeout_s,
            max_head_bytes=self.max_head_bytes, max_connections=self.max_connections,
            max_connections_per_client=self.max_connections_per_client,
            max_in_flight=self.max_in_flight, keep_alive_s=self.keep_alive_s)

    def wire_limits(self) -> WireLimits:
        """The msgpack/wire limits with this gateway's body and batch sizes."""
        return replace(DEFAULT_LIMITS, max_body_bytes=self.max_body_bytes,
                       max_inflated_bytes=self.max_inflated_bytes, max_batch=self.max_batch)
