"""A stand-in collector for what the real gateway cannot be made to answer.

tests/sdk/test_sdk_delivery_faults.py only: 503 on demand, a per-item 503 in a batch,
chosen Retry-After values, redirects, 403, captive portals and hostile bodies (``rule``
per envelope, ``request_rule`` per request). Otherwise it verifies signatures with
:func:`edge_sdk.signing.verify`, decodes with :mod:`edge_sdk.wire` and records the windows
it accepted. Everything else is tested against a real ``edgedrift gateway``
(tests/sdk/sdk_gateway.py).

>>> with Receiver({"edk_k1_secret-key": "dev-1"}) as rx:
...     rx.url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from edge_sdk.errors import WireError
from edge_sdk.signing import verify
from edge_sdk.wire import check_window_matches, decode_request, decode_window, key_id

KEY = "edk_k1_test-secret-0001"   # the test device's key (known to every test receiver)
DEVICE = "dev-0042"

CONTENT_TYPES = ("application/vnd.edgedrift.v1+msgpack", "application/msgpack",
                 "application/x-msgpack")

# A rule sees (device, model, seq, decoded window) and returns None (normal handling) or
# (code, status, error dict, retry_after or None) for that item.
Rule = Callable[[str, str, int, dict], "tuple[int, str, dict, float | None] | None"]


@dataclass
class Item:
    """One envelope the receiver saw (accepted or not)."""

    device: str
    model: str
    seq: int
    t: int
    code: int
    window: dict | None
    at: float


@dataclass
class State:
    keys: dict[str, str]                           # key string -> device id
    rule: Rule | None = None
    request_rule: Callable[[list[dict]], tuple[int, dict, dict] | None] | None = None
    items: list[Item] = field(default_factory=list)
    accepted: dict[tuple[str, str, int], dict] = field(default_factory=dict)
    requests: list[tuple[float, int, int]] = field(default_factory=list)  # (time, n envs, status)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def server_ms(self) -> int:
        return int(time.time() * 1000)


class Receiver:
    """Threaded HTTP server on a free loopback port; ``stop()``/``start()`` simulate an outage
    (the port stays the same, connections are refused while stopped)."""

    def __init__(self, keys: dict[str, str], port: int = 0) -> None:
        self.state = State(keys=dict(keys))
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> Receiver:
        state = self.state

        class Handler(_Handler):
            st = state

        server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        server.daemon_threads = True
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Receiver:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1/telemetry"

    # -- what arrived ----------------------------------------------------------------
    def accepted_seqs(self, device: str | None = None) -> list[int]:
        with self.state.lock:
            return sorted(s for (d, _m, s) in self.state.accepted if device is None or d == device)

    def posts_of(self, seq: int) -> int:
        with self.state.lock:
            return sum(1 for it in self.state.items if it.seq == seq)


class _Handler(BaseHTTPRequestHandler):
    st: State
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _reply(self, code: int, body: dict | bytes, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, bytes):          # a raw answer (e.g. a captive portal's HTML)
            data, ctype = body, "text/html"
        else:
            data, ctype = json.dumps({"server_time_ms": self.st.server_ms(), **body}).encode(), \
                "application/json"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._reply(200, {"status": "ok"})

    def do_POST(self) -> None:  # noqa: N802
        st = self.st
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype not in CONTENT_TYPES:
            return self._reply(415, {"error": {"field": "content-type", "got": ctype}})
        enc = (self.headers.get("Content-Encoding") or "identity").lower()
        try:
            if enc == "deflate":
                raw = zlib.decompress(raw)
            elif enc == "gzip":
                raw = gzip.decompress(raw)
            elif enc != "identity":
                return self._reply(415, {"error": {"field": "content-encoding", "got": enc}})
            envelopes = decode_request(raw)
        except (zlib.error, OSError, EOFError):
            return self._reply(400, {"error": {"field": "body", "expected": "a valid encoding"}})
        except WireError as exc:
            return self._reply(400, {"error": exc.as_dict()})
        single = raw[0] >> 4 == 0x8 or raw[0] in (0xDE, 0xDF)  # a map: one envelope
        if st.request_rule is not None:
            forced = st.request_rule(envelopes)
            if forced is not None:
                code, body, headers = forced
                with st.lock:
                    st.requests.append((time.monotonic(), len(envelopes), code))
                return self._reply(code, body, headers)
        results = [self._one(env) for env in envelopes]
        if single:
            code, status, error, retry_after = results[0]
            out = {"status": status}
            if error:
                out["error"] = error
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
            with st.lock:
                st.requests.append((time.monotonic(), 1, code))
            return self._reply(code, out, headers)
        items = []
        for env, (code, status, error, _ra) in zip(envelopes, results, strict=True):
            item = {"m": env["m"], "s": env["s"], "code": code, "status": status}
            if error:
                item["error"] = error
            items.append(item)
        with st.lock:
            st.requests.append((time.monotonic(), len(envelopes), 200))
        return self._reply(200, {"results": items})

    def _one(self, env: dict) -> tuple[int, str, dict, float | None]:
        st = self.st
        dev, model, seq, ts = env["d"], env["m"], env["s"], env["t"]
        key = next((k for k, d in st.keys.items()
                    if d == dev and key_id(k) == env.get("k", "")), None)
        window = None
        if key is None:
            out: tuple[int, str, dict, float | None] = (
                401, "rejected", {"reason": "unknown_device"}, None)
        elif not verify(key, dev, model, ts, seq, env["w"], env["g"]):
            out = (401, "rejected", {"reason": "bad_signature"}, None)
        else:
            try:
                window = decode_window(env["w"])
                check_window_matches(env, window)
            except WireError as exc:
                out = (400, "rejected", exc.as_dict(), None)
                window = None
            else:
                forced = st.rule(dev, model, seq, window) if st.rule is not None else None
                if forced is not None:
                    out = forced
                else:
                    with st.lock:
                        ident = (dev, model, seq)
                        dup = ident in st.accepted
                        st.accepted.setdefault(ident, window)
                    out = (200, "duplicate", {}, None) if dup else (202, "accepted", {}, None)
        with st.lock:
            st.items.append(Item(dev, model, seq, ts, out[0], window, time.monotonic()))
        return out
