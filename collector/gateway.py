"""The HTTP ingest gateway: ``POST /v1/telemetry``, ``/healthz``, ``/readyz``, ``/metrics``.

Per request: content type -> bounded body -> bounded inflate -> msgpack (one
envelope or a batch). Per envelope: field checks (400) -> authentication
(401, :mod:`collector.auth`) -> per-device rate limit (429) -> "already
accepted" (200 duplicate) -> window decode and schema (400/422). The
surviving windows go to the backend together and the answer (202) is sent
only once the backend says they are durable (503 + Retry-After if not).
See docs/collector.md for the HTTP contract.

>>> import tempfile, os
>>> from collector.keys import KeyRegistry
>>> from collector.producer import EmbeddedBackend
>>> reg = KeyRegistry(os.path.join(tempfile.mkdtemp(), "keys.json"))
>>> app = create_app(GatewayConfig(), reg, EmbeddedBackend(sink=None))
>>> sorted(r.path for r in app.routes)
['/healthz', '/metrics', '/readyz', '/v1/telemetry']
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .auth import AcceptedSet, Authenticator
from .errors import GatewayError, RateLimited, Unavailable
from .faults import fault_point
from .gateway_config import GatewayConfig
from .keys import KeyRegistry
from .metrics import GatewayMetrics
from .producer import Backend
from .ratelimit import RateLimiter
from .records import IngestRecord
from .validation import check_content_type, check_envelope, check_window, decode_body, inflate, \
    read_body

log = logging.getLogger(__name__)

_OK = {202: "accepted", 200: "duplicate"}


class _Item:
    """One envelope's progress through the checks."""

    __slots__ = ("env", "path", "code", "error", "record", "marked")

    def __init__(self, env: Any, path: str) -> None:
        self.env = env
        self.path = path
        self.code = 0                       # 0: waiting for the backend
        self.error: GatewayError | None = None
        self.record: IngestRecord | None = None
        self.marked = False                 # recorded in the replay guard

    def fail(self, error: GatewayError) -> None:
        self.code, self.error = error.status, error

    def result(self) -> dict[str, Any]:
        env = self.env if isinstance(self.env, dict) else {}
        m, s = env.get("m"), env.get("s")
        out: dict[str, Any] = {"m": m if type(m) is str else None,
                               "s": s if type(s) is int else None, "code": self.code}
        if self.code in _OK:
            out["status"] = _OK[self.code]
        else:
            out["status"] = "retry" if self.code in (429, 503) else "rejected"
            if self.error is not None:
                out["error"] = self.error.as_dict()
        return out


class Gateway:
    """The request handlers and the state they share (one instance per process).

    >>> import tempfile, os
    >>> from collector.producer import EmbeddedBackend
    >>> reg = KeyRegistry(os.path.join(tempfile.mkdtemp(), "keys.json"))
    >>> Gateway(GatewayConfig(skew_s=60), reg, EmbeddedBackend(sink=None)).auth.skew_s
    60
    """

    def __init__(self, config: GatewayConfig, registry: KeyRegistry, backend: Backend,
                 metrics: GatewayMetrics | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.registry = registry
        self.backend = backend
        self.metrics = metrics or GatewayMetrics()
        self.clock = clock
        self.limits = config.wire_limits()
        self.auth = Authenticator(registry, config.skew_s, config.replay_capacity)
        self.rate = RateLimiter(config.rate_per_s, config.rate_burst)
        self.accepted = AcceptedSet(config.accepted_capacity)

    # -- POST /v1/telemetry ----------------------------------------------------------
    async def telemetry(self, request: Request) -> Response:
        started = time.perf_counter()
        nbytes = 0
        headers: dict[str, str] = {}
        try:
            if self.registry.maybe_reload():
                self.metrics.key_reloads += 1
            enc = check_content_type(request.headers.get("content-type"),
                                     request.headers.get("content-encoding"))
            raw = await read_body(request.stream(), self.config.max_body_bytes,
                                  request.headers.get("content-length"))
            nbytes = len(raw)
            items_raw, single = decode_body(inflate(raw, enc, self.config.max_inflated_bytes),
                                            self.limits)
            items = [_Item(env, "body" if single else f"body[{i}]")
                     for i, env in enumerate(items_raw)]
            await self._process(items)
            status, payload, headers = self._answer(items, single)
        except GatewayError as exc:
            self.metrics.reject(exc.reason)
            status, payload = exc.status, {"error": exc.as_dict()}
            headers = _retry_header(exc)
        except Exception:   # a bug: answer 500 but keep serving; never log payloads or keys
            log.exception("unexpected error handling a telemetry request")
            status, payload = 500, {"error": {"field": "body", "expected": "-",
                                              "got": "internal error"}}
        payload["server_time_ms"] = int(self.clock() * 1000)
        try:
            text = json.dumps(payload, separators=(",", ":"))
        except (TypeError, ValueError):   # a bug in an error body: still answer
            log.exception("unserialisable response body")
            status, text = 500, '{"error":{"field":"body","reason":"internal"}}'
        self.metrics.observe_request(status, time.perf_counter() - started, nbytes)
        return Response(text, status, headers=headers, media_type="application/json")

    async def _process(self, items: list[_Item]) -> None:
        now = self.clock()
        received_ms = int(now * 1000)
        in_request: set[tuple[str, str, int]] = set()
        todo: list[_Item] = []
        for it in items:
            try:
                check_envelope(it.env, self.limits, it.path)
                env = it.env
                self.auth.authenticate(env, now, it.path)
                it.marked = True
                wait = self.rate.take(env["d"], time.monotonic())
                if wait > 0:
                    raise RateLimited(env["d"], RateLimiter.retry_after(wait))
                ident = (env["d"], env["m"], env["s"])
                if ident in self.accepted or ident in in_request:
                    it.code = 200
                    self.metrics.duplicate()
                    continue
                check_window(env, self.limits, it.path)
                in_request.add(ident)
                it.record = IngestRecord(env["d"], env["w"], env["t"], received_ms)
                todo.append(it)
            except GatewayError as exc:
                it.fail(exc)
                self.metrics.reject(exc.reason)
                if it.marked and exc.status in (429, 503):
                    self.auth.forget(it.env)
        if not todo:
            return
        try:
            await self.backend.put([it.record for it in todo])   # type: ignore[misc]
        except Unavailable as exc:
            for it in todo:
                it.fail(exc)
                self.auth.forget(it.env)
            self.metrics.reject(exc.reason, len(todo))
            return
        for it in todo:
            it.code = 202
            self.accepted.add((it.env["d"], it.env["m"], it.env["s"]))
        self.metrics.accept(len(todo))
        fault_point("gateway", "after_ack")   # EDGEDRIFT_FAULT=gateway:after_ack:N (tests)

    def _answer(self, items: list[_Item],
                single: bool) -> tuple[int, dict[str, Any], dict[str, str]]:
        if single:
            it = items[0]
            if it.code in _OK:
                return it.code, {"status": _OK[it.code]}, {}
            assert it.error is not None
            return it.code, {"error": it.error.as_dict()}, _retry_header(it.error)
        codes = {it.code for it in items}
        if len(codes) == 1 and codes & {429, 503}:   # nothing durable, all retryable
            err = items[0].error
            assert err is not None
            return err.status, {"error": err.as_dict(),
                                "results": [it.result() for it in items]}, _retry_header(err)
        return 200, {"results": [it.result() for it in items]}, {}

    # -- health, readiness, metrics -----------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        return Response('{"status":"ok"}', media_type="application/json")

    async def readyz(self, request: Request) -> Response:
        checks = {"keys": self.registry.loaded, "backend": self.backend.ready()}
        ok = all(checks.values())
        return Response(json.dumps({"ready": ok, "checks": checks}), 200 if ok else 503,
                        media_type="application/json")

    async def metrics_text(self, request: Request) -> Response:
        return Response(self.metrics.render(),
                        media_type="text/plain; version=0.0.4; charset=utf-8")


def _retry_header(exc: GatewayError) -> dict[str, str]:
    retry = getattr(exc, "retry_after", None)
    return {"Retry-After": str(retry)} if retry else {}


def create_app(config: GatewayConfig, registry: KeyRegistry, backend: Backend,
               metrics: GatewayMetrics | None = None,
               clock: Callable[[], float] = time.time) -> Starlette:
    """The ASGI app; the backend is started and closed by the app's lifespan."""
    gw = Gateway(config, registry, backend, metrics, clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await backend.start()
        log.info("gateway ready (%s backend)", type(backend).__name__)
        try:
            yield
        finally:
            await backend.close()

    app = Starlette(routes=[
        Route("/v1/telemetry", gw.telemetry, methods=["POST"]),
        Route("/healthz", gw.healthz, methods=["GET"]),
        Route("/readyz", gw.readyz, methods=["GET"]),
        Route("/metrics", gw.metrics_text, methods=["GET"]),
    ], lifespan=lifespan)
    app.state.gateway = gw
    return app
