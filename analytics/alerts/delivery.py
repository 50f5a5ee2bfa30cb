"""``Deliverer``: send due webhook deliveries from the outbox, signed, with retries.

One worker per endpoint (each with ``concurrency_per_endpoint`` requests in
flight), so a slow or failing endpoint only ever delays its own queue.

Outcome of one attempt:

=====================================  ========================================
answer                                 what happens
=====================================  ========================================
2xx                                    delivered
429 / 5xx, timeout, connection error   retried after the next step of
                                       ``retry_schedule_s`` (x jitter); a
                                       ``Retry-After`` on 429/503 wins
410                                    the endpoint is disabled (its pending
                                       deliveries too) until ``alerts enable``
3xx                                    failed, not followed
other 4xx, refused URL                 failed, no retry
schedule exhausted                     failed (kept; ``alerts redeliver ID``)
=====================================  ========================================

>>> classify_status(204), classify_status(302), classify_status(410), classify_status(503)
('delivered', 'failed', 'disabled', 'retry')
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from edgedrift.faults import fault_point

from .config import AlertsConfig, EndpointConfig
from .errors import UnsafeURLError
from .outbox import Outbox
from .signing import sign_headers
from .urls import check_url

log = logging.getLogger(__name__)
USER_AGENT = "edgedrift-webhooks/0.1"


def classify_status(code: int) -> str:
    """``delivered``, ``retry``, ``disabled`` or ``failed`` for an HTTP status code."""
    if 200 <= code < 300:
        return "delivered"
    if code == 429 or code >= 500:
        return "retry"
    if code == 410:
        return "disabled"
    return "failed"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date).

    >>> parse_retry_after("7"), parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
    (7.0, 10.0)
    >>> parse_retry_after("soon") is None
    True
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


@dataclass
class AttemptResult:
    """What one HTTP attempt produced.

    >>> AttemptResult("delivered", 200, None, 12.5).outcome
    'delivered'
    """

    outcome: str  # delivered | retry | disabled | failed
    status_code: int | None
    error: str | None
    duration_ms: float
    retry_after: float | None = None


@dataclass
class DeliveryStats:
    """Counts of attempt outcomes per endpoint.

    >>> s = DeliveryStats(); s.add("ci", "delivered"); s.total("delivered")
    1
    """

    by_endpoint: dict[str, dict[str, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, endpoint: str, outcome: str) -> None:
        with self._lock:
            counts = self.by_endpoint.setdefault(endpoint, {})
            counts[outcome] = counts.get(outcome, 0) + 1

    def total(self, outcome: str) -> int:
        return sum(c.get(outcome, 0) for c in self.by_endpoint.values())


def post(config: AlertsConfig, endpoint: EndpointConfig, webhook_id: str, body: bytes,
         client: httpx.Client | None = None) -> AttemptResult:
    """Sign and POST ``body`` once to ``endpoint`` (no outbox involved)."""
    started = time.perf_counter()

    def elapsed() -> float:
        return (time.perf_counter() - started) * 1000

    try:
        check_url(endpoint.url, allow_loopback=config.allow_loopback,
                  allow_private_networks=config.allow_private_networks)
    except UnsafeURLError as exc:
        return AttemptResult("failed", None, f"refused: {exc.reason}", elapsed())
    headers = sign_headers(endpoint.secrets, webhook_id, int(time.time()), body)
    headers.update({"content-type": "application/json", "user-agent": USER_AGENT})
    own = client is None
    client = client or _client(config, endpoint)
    try:
        with client.stream("POST", endpoint.url, content=body, headers=headers) as resp:
            code = resp.status_code
            retry_after = (parse_retry_after(resp.headers.get("retry-after"))
                           if code in (429, 503) else None)
            location = resp.headers.get("location", "")
    except httpx.TimeoutException as exc:
        return AttemptResult("retry", None, f"timeout: {type(exc).__name__}", elapsed())
    except httpx.HTTPError as exc:
        return AttemptResult("retry", None, f"connection error: {type(exc).__name__}: {exc}",
                             elapsed())
    finally:
        if own:
            client.close()
    outcome = classify_status(code)
    error = None
    if outcome != "delivered":
        error = f"HTTP {code}" + (f" redirect to {location!r} not followed"
                                  if 300 <= code < 400 else "")
    return AttemptResult(outcome, code, error, elapsed(), retry_after)


def _client(config: AlertsConfig, endpoint: EndpointConfig) -> httpx.Client:
    timeout = endpoint.timeout_s or config.timeout_s
    return httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False,
                        trust_env=False,
                        limits=httpx.Limits(max_connections=config.concurrency_per_endpoint))


class Deliverer:
    """Deliver the outbox's due webhooks: ``run_once()`` or ``run_forever(stop_event)``.

    >>> import tempfile, os
    >>> d = Deliverer(AlertsConfig(), os.path.join(tempfile.mkdtemp(), "a.sqlite"))
    >>> d.run_once().by_endpoint
    {}
    """

    def __init__(self, config: AlertsConfig, outbox_path: str | os.PathLike[str]) -> None:
        self.config = config
        self.outbox = Outbox(outbox_path, durable=False)
        self._rng = random.Random()

    # -- scheduling -----------------------------------------------------------------------

    def run_once(self) -> DeliveryStats:
        """Deliver everything due now, each endpoint in its own thread; wait for all."""
        stats = DeliveryStats()
        self._run_workers(stats, None)
        return stats

    def run_forever(self, stop_event: threading.Event) -> DeliveryStats:
        """Deliver as deliveries fall due until ``stop_event`` is set; return the counts."""
        stats = DeliveryStats()
        self._run_workers(stats, stop_event)
        return stats

    def _run_workers(self, stats: DeliveryStats, stop: threading.Event | None) -> None:
        threads = [threading.Thread(target=self._endpoint_worker, args=(ep, stats, stop),
                                    name=f"deliver-{ep.name}", daemon=True)
                   for ep in self.config.endpoints if ep.enabled]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _endpoint_worker(self, ep: EndpointConfig, stats: DeliveryStats,
                         stop: threading.Event | None) -> None:
        """One endpoint's loop: drain what is due, sleep until the next due time or a poll."""
        width = self.config.concurrency_per_endpoint
        try:
            with _client(self.config, ep) as client, ThreadPoolExecutor(
                    width, thread_name_prefix=f"send-{ep.name}") as pool:
                while True:
                    try:
                        self._drain(ep, stats, stop, client, pool)
                        due = self.outbox.next_due(ep.name)
                    except Exception:  # keep the worker alive; the outbox keeps the work
                        if stop is None:
                            raise
                        log.exception("endpoint %s: delivery loop error", ep.name)
                        due = None
                    if stop is None or stop.is_set():
                        return
                    wait = self.config.poll_interval_s
                    if due is not None:
                        wait = min(wait, max(0.0, due - time.time()))
                    stop.wait(max(wait, 0.02))
        finally:
            self.outbox.close()

    def _drain(self, ep: EndpointConfig, stats: DeliveryStats, stop: threading.Event | None,
               client: httpx.Client, pool: ThreadPoolExecutor) -> None:
        timeout = ep.timeout_s or self.config.timeout_s
        lease = 4 * timeout + 5.0  # connect + write + read + pool phases, plus a margin
        width = self.config.concurrency_per_endpoint
        while stop is None or not stop.is_set():
            rows = self.outbox.claim_due(ep.name, time.time(), lease, limit=width)
            if not rows:
                return
            for outcome in pool.map(lambda r: self._deliver(ep, r, client), rows):
                stats.add(ep.name, outcome)

    # -- one delivery ---------------------------------------------------------------------

    def _deliver(self, ep: EndpointConfig, row: dict[str, Any], client: httpx.Client) -> str:
        started_at = time.time()
        result = post(self.config, ep, row["webhook_id"], row["payload"].encode(), client)
        fault_point("alerts", "after_send")
        outcome, next_at = result.outcome, None
        error = result.error
        if outcome == "retry":
            next_at = self._next_attempt(row["attempts"], result.retry_after)
            if next_at is None:
                outcome = "failed"
                error = f"{error}; retries exhausted after {row['attempts']} attempts"
        new_status = {"delivered": "delivered", "retry": "pending", "disabled": "disabled",
                      "failed": "failed"}[outcome]
        self.outbox.record_attempt(row["id"], started_at=started_at,
                                   duration_ms=result.duration_ms,
                                   status_code=result.status_code, error=error,
                                   outcome=outcome, new_status=new_status,
                                   next_attempt_at=next_at)
        if outcome == "disabled":
            log.warning("endpoint %s answered 410 Gone: disabled", ep.name)
            self.outbox.disable_endpoint(ep.name, f"HTTP 410 on {row['webhook_id']}")
        elif outcome == "failed":
            log.warning("delivery %s of alert #%s to %s failed: %s", row["webhook_id"],
                        row["alert_id"], ep.name, error)
        else:
            log.debug("delivery %s to %s: %s (%s)", row["webhook_id"], ep.name, outcome,
                      result.status_code)
        return outcome

    def _next_attempt(self, attempts: int, retry_after: float | None) -> float | None:
        """When to retry after attempt number ``attempts`` (1-based), or None if exhausted."""
        schedule = self.config.retry_schedule_s
        if attempts > len(schedule):
            return None
        if retry_after is not None:
            delay = min(retry_after, self.config.max_retry_after_s)
        else:
            j = self.config.jitter
            delay = schedule[attempts - 1] * self._rng.uniform(1 - j, 1 + j)
        return time.time() + delay
