"""A small verifying webhook receiver (``edgedrift webhook listen``): a reference for users.

For each POST it checks the Standard Webhooks headers (signature with any of
its secrets, timestamp within 5 minutes), then dedupes on ``webhook-id``:

* bad or missing signature, stale or future timestamp -> ``401`` (nothing kept);
* an id already accepted (a retry, or a replay of a captured request) ->
  ``200 {"duplicate": true}`` and nothing runs again, so the sender stops retrying;
* otherwise the event is appended to the ``out`` JSON-lines file (flushed and
  fsynced), remembered, answered ``200``, and ``exec`` is run with the payload on
  stdin (environment: ``WEBHOOK_ID``, ``WEBHOOK_TYPE``), one command at a time
  in a background thread so the answer is never late.

Accepted ids are reloaded from ``out`` at start, so dedupe survives restarts.
``GET /healthz`` answers the counters as JSON.

>>> from .signing import sign_headers
>>> import time
>>> r = WebhookReceiver(ReceiverConfig(secrets=("whsec_AAEC",)))
>>> h = sign_headers(["whsec_AAEC"], "msg_1", int(time.time()), b'{"type":"alert.test"}')
>>> r.handle(h, b'{"type":"alert.test"}')[0], r.handle(h, b'{"type":"alert.test"}')
(200, (200, {'duplicate': True, 'webhook_id': 'msg_1'}))
>>> r.handle(h, b'{"type":"tampered"}')[0]
401
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shlex
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .errors import AlertsConfigError, SignatureError
from .signing import TOLERANCE_S, secret_key, verify

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceiverConfig:
    """Settings of the listener.

    >>> ReceiverConfig(secrets=("whsec_AAEC",), port=9000).port
    9000
    """

    secrets: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 8787
    out: str = ""
    exec_cmd: str = ""
    tolerance_s: int = TOLERANCE_S
    max_body_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        object.__setattr__(self, "secrets", tuple(self.secrets))
        if not self.secrets:
            raise AlertsConfigError("--secret", "", "at least one whsec_ secret")
        for s in self.secrets:
            try:
                secret_key(s)
            except SignatureError:
                raise AlertsConfigError("--secret", "<hidden>",
                                        "whsec_ followed by base64") from None
        if not 0 <= self.port < 65536:
            raise AlertsConfigError("--port", self.port, "0..65535 (0 = any free port)")


class WebhookReceiver:
    """Verify, dedupe, record and act on webhook requests (see the module docstring)."""

    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self.counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        self._jobs: queue.Queue[tuple[str, str, bytes] | None] = queue.Queue()
        self._server: ThreadingHTTPServer | None = None
        self._exec_thread: threading.Thread | None = None
        if config.out and os.path.exists(config.out):
            with open(config.out, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        self._seen.add(json.loads(line)["webhook_id"])
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn last line from a crash: ignore it

    def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Process one request; return ``(status, response JSON)``."""
        try:
            msg_id = verify(self.config.secrets, headers, body,
                            tolerance_s=self.config.tolerance_s)
            payload = json.loads(body)
        except SignatureError as exc:
            with self._lock:
                self.counts["rejected"] += 1
            log.warning("rejected webhook: %s", exc)
            return 401, {"error": str(exc)}
        except ValueError as exc:
            with self._lock:
                self.counts["rejected"] += 1
            return 400, {"error": f"body: not JSON ({exc})"}
        with self._lock:
            if msg_id in self._seen:
                self.counts["duplicate"] += 1
                log.info("duplicate webhook-id %s: already processed", msg_id)
                return 200, {"duplicate": True, "webhook_id": msg_id}
            if self.config.out:
                record = {"webhook_id": msg_id, "received_at": time.time(), "payload": payload}
                with open(self.config.out, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record, sort_keys=True) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            self._seen.add(msg_id)
            self.counts["accepted"] += 1
        etype = payload.get("type", "") if isinstance(payload, dict) else ""
        log.info("accepted webhook %s (%s)", msg_id, etype)
        if self.config.exec_cmd:
            self._jobs.put((msg_id, str(etype), body))
        return 200, {"accepted": True, "webhook_id": msg_id}

    # -- exec worker ----------------------------------------------------------------------

    def _exec_loop(self) -> None:
        argv = shlex.split(self.config.exec_cmd)
        while True:
            job = self._jobs.get()
            if job is None:
                return
            msg_id, etype, body = job
            env = dict(os.environ, WEBHOOK_ID=msg_id, WEBHOOK_TYPE=etype)
            try:
                proc = subprocess.run(argv, input=body, env=env, check=False)
                log.info("--exec for %s exited with %d", msg_id, proc.returncode)
            except OSError as exc:
                log.error("--exec %r for %s could not start: %s", self.config.exec_cmd,
                          msg_id, exc)

    # -- HTTP server ----------------------------------------------------------------------

    def start(self) -> int:
        """Bind and serve in background threads; return the bound port."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                if length > receiver.config.max_body_bytes:
                    self._answer(413, {"error": "body too large"})
                    return
                body = self.rfile.read(length)
                status, answer = receiver.handle(dict(self.headers.items()), body)
                self._answer(status, answer)

            def do_GET(self) -> None:  # noqa: N802
                with receiver._lock:
                    counts = dict(receiver.counts)
                self._answer(200, counts)

            def _answer(self, status: int, answer: dict[str, Any]) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("%s %s", self.address_string(), format % args)

        self._server = ThreadingHTTPServer((self.config.host, self.config.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="webhook-listen",
                         daemon=True).start()
        if self.config.exec_cmd:
            self._exec_thread = threading.Thread(target=self._exec_loop, name="webhook-exec",
                                                 daemon=True)
            self._exec_thread.start()
        return int(self._server.server_address[1])

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving and wait (up to ``timeout``) for queued commands to finish."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._exec_thread is not None:
            self._jobs.put(None)
            self._exec_thread.join(timeout)
