"""The gateway's activity in the log: one INFO line per interval in which windows arrived.

A person watching ``edgedrift gateway`` sees that devices are getting through (or why not)
without scraping ``/metrics``: at most one line every ``interval_s`` seconds, only when
something happened, summarising the accepted, duplicate and rejected windows since the last
line. The counters are :class:`collector.metrics.GatewayMetrics`' own.

>>> from collector.metrics import GatewayMetrics
>>> m = GatewayMetrics(); activity = ActivityLog(m)
>>> activity.line() is None             # nothing happened: no line
True
>>> m.accept(12); m.observe_request(202, 0.01, 900); m.reject("replay", 2)
>>> activity.line()
'accepted 12 windows in 1 request; rejected 2 (replay 2); 12 accepted since start'
>>> activity.line() is None
True
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from .metrics import GatewayMetrics

log = logging.getLogger("collector.gateway")


class ActivityLog:
    """Summarises the gateway's counters since the previous call; a thread logs it."""

    def __init__(self, metrics: GatewayMetrics, interval_s: float = 10.0) -> None:
        self.metrics = metrics
        self.interval_s = interval_s
        self._accepted = 0
        self._duplicates = 0
        self._requests = 0
        self._rejected: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def line(self) -> str | None:
        """The activity since the last call as one line, or None when there was none."""
        m = self.metrics
        accepted, duplicates = m.accepted, m.duplicates
        requests, rejected = sum(m.requests.values()), Counter(m.rejected)
        new_rejected = rejected - self._rejected
        if (accepted, duplicates, requests) == (self._accepted, self._duplicates,
                                                self._requests) and not new_rejected:
            return None
        parts = [f"accepted {_count(accepted - self._accepted, 'window')} in "
                 f"{_count(requests - self._requests, 'request')}"]
        if duplicates > self._duplicates:
            parts.append(_count(duplicates - self._duplicates, "duplicate"))
        if new_rejected:
            reasons = ", ".join(f"{r} {n}" for r, n in sorted(new_rejected.items()))
            parts.append(f"rejected {sum(new_rejected.values())} ({reasons})")
        parts.append(f"{accepted} accepted since start")
        self._accepted, self._duplicates, self._requests = accepted, duplicates, requests
        self._rejected = rejected
        return "; ".join(parts)

    def start(self) -> None:
        """Log :meth:`line` every ``interval_s`` seconds from a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="edgedrift-activity",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Log what is left and stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._log()
        self._log()

    def _log(self) -> None:
        text = self.line()
        if text is not None:
            log.info("%s", text)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
