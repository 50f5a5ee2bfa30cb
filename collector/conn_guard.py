"""Connection-level defences of the gateway's HTTP server (uvicorn with httptools).

Idle or slow connections must not take the capacity that devices need. uvicorn alone
counts every open connection against ``limit_concurrency`` (so 2,048 connections that
send nothing make every real request a 503) and never bounds the time to read a request
head. :class:`GuardedHttpProtocol` is uvicorn's httptools protocol plus
:class:`ConnectionGuard`, the state the connections share:

* **head deadline** -- a request head must be complete within ``head_timeout_s`` of the
  connection opening (on a kept-alive connection: of the next request's first byte) and
  be at most ``max_head_bytes`` long; otherwise the connection is closed;
* **idle deadline** -- a kept-alive connection with no new request for ``keep_alive_s``
  is closed;
* **body deadline** -- the body must be complete within ``body_timeout_s`` of its head;
* **per-client cap** -- at most ``max_connections_per_client`` open connections per
  source address (0: no cap, for a gateway behind a load balancer); past it a new
  connection evicts that address's oldest idle kept-alive connection (many devices
  behind one NAT address keep working: their idle connections rotate, and a device whose
  connection was closed reconnects), and is closed at once when none of that address's
  connections is idle (they are all waiting for a head or busy: a flood from one address
  stays capped);
* **room for real requests** -- at ``max_connections`` open connections a new one
  *evicts* the oldest connection that has not yet sent a complete request head (then
  the oldest idle kept-alive one) instead of being refused, so a flood of idle
  connections rotates through the table while connections that send a request at once
  are served; only when every connection is busy is the new one closed;
* **requests in flight** -- at most ``max_in_flight`` requests are handled at once; past
  it the request gets ``503`` (idle connections are not counted, unlike uvicorn's
  ``limit_concurrency``).

Every closed connection is counted by reason in ``/metrics``
(``edgedrift_gateway_connections_dropped_total{reason=...}``).

>>> g = ConnectionGuard(ConnectionLimits(max_connections=2, max_connections_per_client=1))
>>> g.limits.head_timeout_s, g.open_connections()
(10.0, 0)
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

DROP_REASONS = ("head_timeout", "idle_timeout", "head_too_large", "body_timeout", "per_client_cap",
                "evicted", "full")


@dataclass(frozen=True)
class ConnectionLimits:
    """The connection limits (from :class:`~collector.gateway_config.GatewayConfig`)."""

    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_head_bytes: int = 16 << 10
    max_connections: int = 4096
    max_connections_per_client: int = 128
    max_in_flight: int = 1024
    keep_alive_s: float = 30.0


class ConnectionGuard:
    """The shared state of every connection: per-client counts, the eviction order, and
    the counters of dropped connections (read by ``/metrics``)."""

    DROP_REASONS = DROP_REASONS

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.per_client: Counter[str] = Counter()
        # connections that have not sent a complete request head yet (eviction order)
        self.waiting: OrderedDict[GuardedHttpProtocol, None] = OrderedDict()
        # kept-alive connections between requests (evicted only after every waiting one)
        self.idle: OrderedDict[GuardedHttpProtocol, None] = OrderedDict()
        self.busy = 0
        self.dropped: Counter[str] = Counter()

    def open_connections(self) -> int:
        return len(self.waiting) + len(self.idle) + self.busy

    def admit(self, conn: GuardedHttpProtocol) -> str:
        """Register a new connection: '' if admitted, else the reason it is refused."""
        lim = self.limits
        client = conn.client_host
        if lim.max_connections_per_client and client \
                and self.per_client[client] >= lim.max_connections_per_client:
            own = next((c for c in self.idle if c.client_host == client), None)
            if own is None:
                return "per_client_cap"
            own.drop("evicted")
        if self.open_connections() >= lim.max_connections:
            victims = self.waiting if self.waiting else self.idle
            if not victims:
                return "full"
            next(iter(victims)).drop("evicted")
        if client:
            self.per_client[client] += 1
        self._move(conn, "waiting")
        return ""

    def release(self, conn: GuardedHttpProtocol) -> None:
        """Forget a closed connection (idempotent)."""
        if conn.state is None:
            return
        self._move(conn, None)
        client = conn.client_host
        if client:
            self.per_client[client] -= 1
            if self.per_client[client] <= 0:
                del self.per_client[client]

    def mark(self, conn: GuardedHttpProtocol, state: str) -> None:
        """``conn`` is now "busy" (a request head arrived) or "idle" (answered, kept alive)."""
        if conn.state is not None:
            self._move(conn, state)

    def _move(self, conn: GuardedHttpProtocol, state: str | None) -> None:
        if conn.state == state:
            return
        if conn.state == "busy":
            self.busy -= 1
        elif conn.state is not None:
            (self.waiting if conn.state == "waiting" else self.idle).pop(conn, None)
        conn.state = state
        if state == "busy":
            self.busy += 1
        elif state is not None:
            (self.waiting if state == "waiting" else self.idle)[conn] = None


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the deadlines and caps of a :class:`ConnectionGuard`.

    Made per server with :func:`protocol_class`; uvicorn's own ``limit_concurrency`` is
    left unset (the guard counts requests in flight instead).
    """

    guard: ConnectionGuard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_concurrency = None
        self.state: str | None = None   # the guard's: waiting, busy, idle; None: not counted
        self.client_host = ""
        self._deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0

    # -- connection ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.client_host = self.client[0] if self.client else ""
        refused = self.guard.admit(self)
        if refused:
            self.guard.dropped[refused] += 1
            transport.abort()
            return
        self._arm(self.guard.limits.head_timeout_s, "head_timeout")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.guard.release(self)
        super().connection_lost(exc)

    def drop(self, reason: str) -> None:
        """Close this connection now (counted under ``reason``, unless already closing)."""
        closing = self.transport.is_closing()
        self._disarm()
        self.guard.release(self)   # at once: the table must not wait for connection_lost
        if not closing:
            self.guard.dropped[reason] += 1
            self.transport.abort()

    # -- deadlines ---------------------------------------------------------------------
    def _arm(self, seconds: float, reason: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self.drop, reason)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_head(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self.guard.limits.max_head_bytes:
            self.drop("head_too_large")

    def on_headers_complete(self) -> None:
        if self.transport.is_closing():   # dropped while this head was parsed: no request
            return
        self._head_bytes = 0
        self.guard.mark(self, "busy")
        self._arm(self.guard.limits.body_timeout_s, "body_timeout")
        if len(self.tasks) >= self.guard.limits.max_in_flight:
            app, self.app = self.app, service_unavailable
            try:
                super().on_headers_complete()
            finally:
                self.app = app
            return
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing() or self.pipeline:
            return
        self.guard.mark(self, "idle")
        self._arm(self.guard.limits.keep_alive_s, "idle_timeout")

    def on_message_begin(self) -> None:
        if self.state == "idle":   # the next request on a kept-alive connection
            self._arm(self.guard.limits.head_timeout_s, "head_timeout")
        super().on_message_begin()


def protocol_class(guard: ConnectionGuard) -> type[GuardedHttpProtocol]:
    """A :class:`GuardedHttpProtocol` subclass bound to ``guard`` (uvicorn's ``http=``)."""
    return type("GatewayHttpProtocol", (GuardedHttpProtocol,), {"guard": guard})


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-file limit towards ``wanted`` (capped by the hard limit);
    returns the soft limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft
