"""The HTTP ingest gateway: ``POST /v1/telemetry``, ``/healthz``, ``/readyz``, ``/metrics``.

Per request: content type -> bounded body -> request signature over the raw body
(``X-Edgedrift-*`` headers, 401; requests of older SDKs without them go on to a worker
thread) -> bounded inflate -> object count (413) -> msgpack (one envelope or a batch).
Per envelope: field checks (400) -> authentication (401, :mod:`collector.auth`) ->
per-device rate limit (429); then, for the authenticated envelopes only: "already
accepted" (200 duplicate) -> window decode and schema (400/422). The
surviving windows go to the backend together and the answer (202) is sent
only once the backend says they are durable (503 + Retry-After if not).
See docs/collector.md for the HTTP contract.

>>> import tempfile, os
>>> from collector.keys import KeyRegistry
>>> from collector.embedded import EmbeddedBackend
>>> reg = KeyRegistry(os.path.join(tempfile.mkdtemp(), "keys.json"))
>>> app = create_app(GatewayConfig(), reg, EmbeddedBackend(sink=None))
>>> sorted(r.path for r in app.routes)
['/healthz', '/metrics', '/readyz', '/v1/telemetry']
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgedrift.faults import fault_point

from .auth import AcceptedSet, Authenticator, RequestAuth
from .backend import Backend
from .batch_checks import check_windows
from .errors import AuthError, GatewayError, PayloadError, RateLimited, Unavailable
from .gateway_config import GatewayConfig
from .keys import KeyRegistry
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import GatewayMetrics
from .msgpack_bounds import check_object_count
from .ratelimit import RateLimiter
from .records import IngestRecord
from .validation import (
    check_content_type,
    check_envelope,
    check_window,
    decode_body,
    inflate,
    inflate_head,
    read_body,
)

log = logging.getLogger(__name__)

_OK = {202: "accepted", 200: "duplicate"}
_HEAD_BYTES = 64 << 10   # inflated bytes whose objects are counted before the rest


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
    >>> from collector.embedded import EmbeddedBackend
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
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.legacy: concurrent.futures.ThreadPoolExecutor | None = None   # unsigned requests

    # -- helper processes for the windows of large batches ------------------------------
    def start_pool(self) -> None:
        """Start ``config.window_workers`` helper processes (none: windows checked in-loop)."""
        if self.config.window_workers and self.pool is None:
            self.pool = concurrent.futures.ProcessPoolExecutor(
                self.config.window_workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_helper_init, initargs=(os.getpid(),))
            for _ in range(self.config.window_workers):   # spawn now, not on the first batch
                self.pool.submit(check_windows, [], self.limits)

    def close_pool(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        legacy, self.legacy = self.legacy, None
        if legacy is not None:
            legacy.shutdown(wait=False, cancel_futures=True)

    async def _precheck(self, items: list[_Item]) -> dict[int, Any] | None:
        """Window checks of a large batch of authenticated envelopes in a helper process,
        while the event loop serves other requests: {item index: None (valid) or error
        tuple}; None to check every window in the loop (no pool, small batch, or the pool
        failed). The results are exactly :func:`check_window`'s."""
        if self.pool is None or len(items) < self.config.window_batch_min:
            return None
        index = list(range(len(items)))
        jobs = [(it.env["d"], it.env["m"], it.env["s"], it.env["w"], it.path) for it in items]
        try:
            results = await asyncio.wrap_future(self.pool.submit(check_windows, jobs,
                                                                 self.limits))
        except Exception as exc:   # e.g. a helper was killed: check in the loop
            log.warning("window helper process failed (%s); checking in-process",
                        type(exc).__name__)
            if isinstance(exc, concurrent.futures.BrokenExecutor):   # start afresh
                self.close_pool()
                self.start_pool()
            return None
        return dict(zip(index, results, strict=True))

    # -- POST /v1/telemetry ----------------------------------------------------------
    async def telemetry(self, scope: dict[str, Any], receive: Callable[[], Any],
                        send: Callable[[dict[str, Any]], Any]) -> None:
        """``POST /v1/telemetry`` as a plain ASGI app (no Request/Response objects): the
        route table dispatches to it through :class:`TelemetryEndpoint`, so the app's
        middleware sees every request, this endpoint's included."""
        ctype = cenc = clen = None
        signed: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name == b"content-type":
                ctype = value.decode("latin-1")
            elif name == b"content-encoding":
                cenc = value.decode("latin-1")
            elif name == b"content-length":
                clen = value.decode("latin-1")
            elif name[:12] == b"x-edgedrift-":
                signed[name.decode("latin-1")] = value.decode("latin-1")
        try:
            status, body, headers = await self.handle(ctype, cenc, clen, _receive_chunks(receive),
                                                      signed)
        except _Disconnected:
            return
        raw = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def handle(self, content_type: str | None, content_encoding: str | None,
                     content_length: str | None, chunks: AsyncIterator[bytes],
                     signed: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        """One telemetry request -> (status, JSON body bytes, extra headers).

        ``signed``: the request's ``x-edgedrift-*`` headers (lower-case names). With
        them the request is authenticated over its raw body before anything is inflated
        or decoded, and decoded in the event loop; without them (an older SDK) the body
        is inflated, object-counted and decoded in a worker thread, and only its
        envelopes' signatures authenticate it."""
        started = time.perf_counter()
        nbytes = 0
        headers: dict[str, str] = {}
        try:
            if self.registry.maybe_reload():
                self.metrics.key_reloads += 1
            enc = check_content_type(content_type, content_encoding)
            raw = await read_body(chunks, self.config.max_body_bytes, content_length)
            nbytes = len(raw)
            req = RequestAuth.parse(signed or {})
            if req is not None:
                self.auth.authenticate_request(req, enc, raw, self.clock())
                self.metrics.signed_request("request")
                items_raw, single = self._unpack(raw, enc)
            else:
                self.metrics.signed_request("envelope")
                items_raw, single = await asyncio.get_running_loop().run_in_executor(
                    self._legacy_pool(), self._unpack, raw, enc)
            items = [_Item(env, "body" if single else f"body[{i}]")
                     for i, env in enumerate(items_raw)]
            await self._process(items, req.device if req is not None else None)
            if single and items[0].code == 202:   # the common answer: no JSON encoder
                text = b'{"status":"accepted","server_time_ms":%d}' % int(self.clock() * 1000)
                self.metrics.observe_request(202, time.perf_counter() - started, nbytes)
                return 202, text, headers
            status, payload, headers = self._answer(items, single)
        except _Disconnected:
            raise
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
            text = json.dumps(payload, separators=(",", ":")).encode()
        except (TypeError, ValueError):   # a bug in an error body: still answer
            log.exception("unserialisable response body")
            status, text = 500, b'{"error":{"field":"body","reason":"internal"}}'
        self.metrics.observe_request(status, time.perf_counter() - started, nbytes)
        return status, text, headers

    def _unpack(self, raw: bytes, enc: str) -> tuple[list[Any], bool]:
        """Inflate (bounded), count the objects (bounded), decode the envelopes. The objects
        of the body's first 64 KiB are counted before the rest is inflated: a flood of tiny
        objects is refused having inflated only that much."""
        limit = self.config.body_objects()
        if enc != "identity":
            check_object_count(inflate_head(raw, enc, _HEAD_BYTES), limit)
        data = inflate(raw, enc, self.config.max_inflated_bytes)
        check_object_count(data, limit)
        return decode_body(data, self.limits)

    def _legacy_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self.legacy is None:
            self.legacy = concurrent.futures.ThreadPoolExecutor(
                self.config.legacy_decode_threads, thread_name_prefix="legacy-decode")
        return self.legacy

    async def _process(self, items: list[_Item], device: str | None = None) -> None:
        """Authenticate every envelope first; only then decode and check the windows
        (in a helper process for large batches). ``device``: the request's authenticated
        device (every envelope must be its own), or None."""
        now = self.clock()
        received_ms = int(now * 1000)
        authentic: list[_Item] = []
        for it in items:
            try:
                check_envelope(it.env, self.limits, it.path)
                env = it.env
                if device is not None and env["d"] != device:
                    raise AuthError("key_device_mismatch", f"{it.path}.d")
                self.auth.authenticate(env, now, it.path)
                it.marked = True
                wait = self.rate.take(env["d"], time.monotonic())
                if wait > 0:
                    raise RateLimited(env["d"], RateLimiter.retry_after(wait))
                authentic.append(it)
            except GatewayError as exc:
                it.fail(exc)
                self.metrics.reject(exc.reason)
                if it.marked and exc.status in (429, 503):
                    self.auth.forget(it.env)
        pre = await self._precheck(authentic)
        in_request: set[tuple[str, str, int]] = set()
        todo: list[_Item] = []
        for i, it in enumerate(authentic):
            try:
                env = it.env
                ident = (env["d"], env["m"], env["s"])
                if ident in self.accepted or ident in in_request:
                    it.code = 200
                    self.metrics.duplicate()
                    continue
                decoded = None
                in_process = getattr(self.backend, "takes_decoded", False)
                if pre is not None and i in pre:
                    if pre[i] is not None:
                        field, expected, got, status, reason = pre[i]
                        raise PayloadError(field, expected, got, status, reason)
                else:
                    decoded = check_window(env, self.limits, it.path)
                    if not in_process:
                        decoded = None
                in_request.add(ident)
                # an in-process sink may trust this gateway's checks of these very bytes
                it.record = IngestRecord(env["d"], env["w"], env["t"], received_ms, decoded,
                                         validated=in_process)
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
        body: dict[str, Any] = {"ready": ok, "checks": checks}
        if not ok:
            body["reason"] = self.not_ready_reason(checks)
        return Response(json.dumps(body), 200 if ok else 503, media_type="application/json")

    def not_ready_reason(self, checks: dict[str, bool] | None = None) -> str:
        """What /readyz is waiting for, in words ('' when ready)."""
        checks = checks or {"keys": self.registry.loaded, "backend": self.backend.ready()}
        reasons = [] if checks["keys"] else [f"key registry {self.registry.path} not loaded"]
        if not checks["backend"]:
            reasons.append(self.backend.not_ready_reason() or "backend not ready")
        return "; ".join(reasons)

    async def announce_readiness(self, poll_s: float = 0.5) -> None:
        """Log "gateway not ready: <why>" until the gateway is ready, then "gateway ready"."""
        said = ""
        while not (self.registry.loaded and self.backend.ready()):
            reason = self.not_ready_reason()
            if reason != said:
                log.warning("gateway not ready: %s", reason)
                said = reason
            await asyncio.sleep(poll_s)
        log.log(logging.WARNING if said else logging.INFO, "gateway ready (%s backend)",
                type(self.backend).__name__)

    async def metrics_text(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=METRICS_CONTENT_TYPE)


def _helper_init(parent_pid: int) -> None:
    """In a window helper process: exit as soon as the gateway is gone (even SIGKILLed; the
    helper holds both ends of its queue's pipe, so it would never see EOF)."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class _Disconnected(Exception):
    """The client went away before its body arrived (no answer is sent)."""


async def _receive_chunks(receive: Callable[[], Any]) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _Disconnected()
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


class TelemetryEndpoint:
    """The ASGI app a :class:`~starlette.routing.Route` serves ``POST /v1/telemetry`` with.

    A Route whose endpoint is a function or bound method wraps it in Starlette's
    Request/Response layer; a callable object like this one is called as a raw ASGI
    app instead (saving that per-request cost) while routing, the 405 for other
    methods and every middleware of the app still apply.
    """

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.gateway.telemetry(scope, receive, send)


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
        gw.start_pool()
        announcer = asyncio.create_task(gw.announce_readiness())
        try:
            yield
        finally:
            announcer.cancel()
            gw.close_pool()
            await backend.close()

    app = Starlette(routes=[
        Route("/v1/telemetry", TelemetryEndpoint(gw), methods=["POST"]),
        Route("/healthz", gw.healthz, methods=["GET"]),
        Route("/readyz", gw.readyz, methods=["GET"]),
        Route("/metrics", gw.metrics_text, methods=["GET"]),
    ], lifespan=lifespan)
    app.state.gateway = gw
    return app
