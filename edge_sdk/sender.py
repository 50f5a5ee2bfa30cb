"""Background delivery of spooled windows to the collector.

One daemon thread drains the spool oldest-first in batches: POST, delete on
2xx; drop and count a window only when the collector rejects *its content*
(400, 413 or 422 for that window: a batch so refused is retried one window at
a time to find which); on anything else -- 429, 5xx, network errors, and the
answers of a misconfiguration (a wrong URL or key, a revoked key, a proxy:
3xx, 401, 403, 404, ...) -- keep it and back off (exponential, full jitter,
capped, ``Retry-After`` honoured), so nothing is lost while the device or the
collector is being fixed. :meth:`Sender.status` says what happened last. It signs each
envelope at send time with a clock corrected by the server's time, so a
device with a wrong clock recovers after one ``timestamp_skew`` answer.

The sender never raises into the application; every failure is logged at
most once per state change and counted.

>>> b = Backoff(base_s=1.0, max_s=60.0)
>>> all(0.0 <= b.next_delay() <= 1.0 * 2 ** i for i in range(5))
True
>>> b.reset(); b.attempts
0
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
import zlib
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError
from .signing import request_headers
from .spool import Spool
from .wire import CONTENT_TYPE, encode_request, key_id, make_envelope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    """A parsed collector URL.

    >>> Endpoint.parse("https://collector.example:8443/v1/telemetry").port
    8443
    >>> Endpoint.parse("ftp://x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    edge_sdk.errors.ConfigError: endpoint: got 'ftp://x', expected an http:// or https:// URL ...
    """

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        expected = "an http:// or https:// URL with a host, e.g. https://collector.example/v1/telemetry"
        if not isinstance(url, str):
            raise ConfigError("endpoint", url, expected)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("endpoint", url, expected)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ConfigError("endpoint", url, expected) from None
        path = parts.path or "/v1/telemetry"
        if parts.query:
            path += "?" + parts.query
        return cls(parts.scheme, parts.hostname, port, path)


class Backoff:
    """Exponential backoff with full jitter, capped."""

    def __init__(self, base_s: float = 1.0, max_s: float = 300.0) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self.attempts = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        cap = min(self.max_s, self.base_s * (2 ** self.attempts))
        self.attempts += 1
        delay = random.uniform(0.0, cap)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_s * 4))
        return delay

    def reset(self) -> None:
        self.attempts = 0


@dataclass
class SendResult:
    """Outcome of one POST: per-seq decisions plus a retry delay hint."""

    delivered: list[int]
    rejected: list[int]
    retry: list[int]
    retry_after: float | None = None
    error: str = ""


class Sender:
    """Drains a :class:`Spool` to the collector (runs on its own daemon thread)."""

    def __init__(self, spool: Spool, endpoint: Endpoint, key: str, device_id: str, model: str,
                 compress: bool = True, batch_size: int = 50, timeout_s: float = 10.0,
                 backoff_base_s: float = 1.0, backoff_max_s: float = 300.0,
                 ssl_context: Any = None) -> None:
        self.spool = spool
        self.endpoint = endpoint
        self.key = key
        self.device_id = device_id
        self.model = model
        self.compress = compress
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.backoff = Backoff(backoff_base_s, backoff_max_s)
        self.ssl_context = ssl_context
        self.clock_skew_ms = 0          # server time - device time, estimated from responses
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._next_attempt = 0.0
        self._last_error = ""
        self._one_at_a_time = False     # after a content rejection of a whole batch
        self.last_status: int | None = None   # HTTP status of the last answer (None: none)
        self.last_success: float | None = None  # time.time() of the last 2xx

    # -- thread control ------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="edgedrift-sender", daemon=True)
        self._thread.start()

    def stop(self, deadline_s: float = 5.0) -> None:
        """Try to drain for up to ``deadline_s`` seconds, then stop the thread."""
        end = time.monotonic() + max(deadline_s, 0.0)
        while time.monotonic() < end and self.spool.backlog()[0]:
            if self._next_attempt > time.monotonic():
                break  # backing off: the data stays spooled for the next start
            if not self.send_once():
                break
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=max(0.1, end - time.monotonic()) + self.timeout_s)
        self._close_conn()

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = max(0.0, self._next_attempt - time.monotonic())
            if wait or not self.spool.backlog()[0]:
                self.wake.wait(timeout=wait or 30.0)
                self.wake.clear()
                if self._stop.is_set():
                    break
                if self._next_attempt > time.monotonic():
                    continue
            try:
                self.send_once()
            except Exception:  # never let the thread die
                log.exception("edgedrift sender: unexpected error; will retry")
                self._next_attempt = time.monotonic() + self.backoff.next_delay()

    # -- one round -----------------------------------------------------------------
    def send_once(self) -> bool:
        """Send one batch. True if progress was made (something delivered or dropped)."""
        with self.spool.sending() as mine:
            if not mine:
                self._next_attempt = time.monotonic() + 1.0
                return False
            batch = self.spool.oldest(1 if self._one_at_a_time else self.batch_size)
            if not batch:
                self._next_attempt = time.monotonic() + 1.0   # nothing readable: do not spin
                return False
            result = self._post(batch)
        if result.delivered:
            self.spool.remove(result.delivered)
        if result.rejected:
            self.spool.remove(result.rejected)
            self.spool.count("rejected", len(result.rejected))
            log.warning("edgedrift: collector rejected %d window(s): %s", len(result.rejected),
                        result.error)
        if result.retry:
            delay = self.backoff.next_delay(result.retry_after)
            self._next_attempt = time.monotonic() + delay
            if result.error != self._last_error:
                log.warning("edgedrift: send failed (%s); %d window(s) kept, retry in %.1f s",
                            result.error, len(result.retry), delay)
            self._last_error = result.error
        else:
            self.backoff.reset()
            self._next_attempt = 0.0
            self._last_error = ""
        if result.delivered:
            self.last_success = time.time()
            self._one_at_a_time = False
        return bool(result.delivered or result.rejected)

    def status(self) -> dict[str, Any]:
        """What the sender knows: last HTTP status and error, backlog, drops, last success."""
        backlog, size = self.spool.backlog()
        counters = self.spool.counters()
        return {"last_status": self.last_status, "last_error": self._last_error,
                "backlog_windows": backlog, "backlog_bytes": size,
                "dropped": counters["dropped"], "rejected": counters["rejected"],
                "last_success": self.last_success}

    def _post(self, batch: list[tuple[int, bytes]]) -> SendResult:
        now_s = int((time.time() * 1000 + self.clock_skew_ms) / 1000)
        envelopes = [make_envelope(self.key, self.device_id, self.model, seq, body, now_s)
                     for seq, body in batch]
        body = encode_request(envelopes)
        headers = {"Content-Type": CONTENT_TYPE, "User-Agent": "edgedrift-sdk-python/0.1"}
        if self.compress:
            body = zlib.compress(body, 6)
            headers["Content-Encoding"] = "deflate"
        # the collector checks these before inflating or decoding the body
        headers.update(request_headers(self.key, self.device_id, key_id(self.key), now_s,
                                       headers.get("Content-Encoding", "identity"), body))
        seqs = [seq for seq, _ in batch]
        try:
            status, resp_headers, payload = self._request(body, headers)
        except OSError as exc:
            self._close_conn()
            return SendResult([], [], seqs, None, f"network: {exc}")
        self._update_skew(resp_headers, payload)
        self.last_status = status
        retry_after = _retry_after(resp_headers.get("retry-after"))
        if len(batch) > 1 and 200 <= status < 300:
            if isinstance(payload, dict) and isinstance(payload.get("results"), list) \
                    and len(payload["results"]) == len(seqs):
                return self._per_item(seqs, payload["results"], retry_after)
            return SendResult([], [], seqs, None, _NOT_COLLECTOR)
        if 200 <= status < 300 and not _is_ack(payload):
            return SendResult([], [], seqs, None, _NOT_COLLECTOR)
        return self._classify(seqs, status, payload, retry_after)

    def _classify(self, seqs: list[int], status: int, payload: Any,
                  retry_after: float | None) -> SendResult:
        reason = _reason(payload)
        error = f"HTTP {status} {reason}".strip()
        if 200 <= status < 300 or (status == 401 and reason == "replay"):
            return SendResult(seqs, [], [])        # a replay: this very envelope was accepted
        if status in CONTENT_REJECTED:
            if len(seqs) == 1:
                return SendResult([], seqs, [], None, error)
            self._one_at_a_time = True            # which window? retry them one by one
            return SendResult([], [], seqs, 0.0, error + " (retrying one window at a time)")
        hint = _HINTS.get(status, "")
        return SendResult([], [], seqs, retry_after, error + (f": {hint}" if hint else "") +
                          ("; windows kept" if 400 <= status < 500 or status < 200 else ""))

    def _per_item(self, seqs: list[int], results: list, retry_after: float | None) -> SendResult:
        out = SendResult([], [], [], retry_after)
        for i, seq in enumerate(seqs):
            item = results[i] if i < len(results) and isinstance(results[i], dict) else {}
            code = item.get("code")
            one = self._classify([seq], code if type(code) is int else 503, item, retry_after)
            out.delivered += one.delivered
            out.rejected += one.rejected
            out.retry += one.retry
            out.error = out.error or one.error
        return out

    def _update_skew(self, headers: dict[str, str], payload: Any) -> None:
        server_ms = payload.get("server_time_ms") if isinstance(payload, dict) else None
        if not isinstance(server_ms, (int, float)) or isinstance(server_ms, bool) \
                or not math.isfinite(server_ms):
            try:
                server_ms = parsedate_to_datetime(headers["date"]).timestamp() * 1000
            except (KeyError, TypeError, ValueError):
                return
        skew = server_ms - time.time() * 1000
        if abs(skew) < _MAX_SKEW_MS:  # ignore absurd answers (a broken or hostile endpoint)
            self.clock_skew_ms = int(skew)

    # -- HTTP ------------------------------------------------------------------------
    def _request(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        import http.client  # imported here: keeps `import edge_sdk` fast

        for attempt in (0, 1):  # one silent retry on a stale keep-alive connection
            conn = self._conn
            if conn is None:
                if self.endpoint.scheme == "https":
                    conn = http.client.HTTPSConnection(self.endpoint.host, self.endpoint.port,
                                                       timeout=self.timeout_s,
                                                       context=self.ssl_context)
                else:
                    conn = http.client.HTTPConnection(self.endpoint.host, self.endpoint.port,
                                                      timeout=self.timeout_s)
                self._conn = conn
            try:
                conn.request("POST", self.endpoint.path, body=body, headers=headers)
                resp = conn.getresponse()
                raw = resp.read(1 << 20)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._close_conn()
                if attempt:
                    raise
                continue
            except http.client.HTTPException as exc:
                self._close_conn()
                raise OSError(str(exc)) from None
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
            if resp_headers.get("connection", "").lower() == "close":
                self._close_conn()
            try:
                payload = json.loads(raw) if raw else None
            except ValueError:
                payload = None
            return resp.status, resp_headers, payload
        raise OSError("connection closed")  # pragma: no cover

    def _close_conn(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None


# a collector refusing the window itself: dropped (counted as rejected)
CONTENT_REJECTED = frozenset({400, 413, 422})
_HINTS = {301: "the endpoint moved: fix the endpoint URL", 302: "redirected: fix the endpoint URL",
          307: "redirected: fix the endpoint URL", 308: "the endpoint moved: fix the endpoint URL",
          401: "check the device key (`edgedrift keys add`)", 403: "forbidden by a proxy or the "
          "collector", 404: "no collector at this path: check the endpoint URL (/v1/telemetry)"}
_NOT_COLLECTOR = ("2xx answer that is not an edgedrift collector's (captive portal, proxy or "
                  "wrong URL?): windows kept")
_MAX_SKEW_MS = 10 * 365 * 86400 * 1000


def _is_ack(payload: Any) -> bool:
    """A collector's 2xx body: {"status": "accepted"|"duplicate"} (see docs/wire-format.md)."""
    return isinstance(payload, dict) and payload.get("status") in ("accepted", "duplicate")


def _reason(payload: Any) -> str:
    if isinstance(payload, dict):
        err = payload.get("error")
        if isinstance(err, dict):
            return str(err.get("reason") or err.get("field") or "")
    return ""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
