"""Fault injection for the "killed at step X" tests, read in the real code path of every
component (gateway, sink, compaction, alerts): the one reader of ``EDGEDRIFT_FAULT``.

``EDGEDRIFT_FAULT="sink:after_rename:3"`` makes the third pass through
``fault_point("sink", "after_rename")`` SIGKILL the current process; the count may be
left out (``alerts:after_store`` means the first pass). Several faults may be given,
comma-separated. With the variable unset, a fault point costs one dict lookup.
Standard library only, so any component may import it.

>>> plan = parse_faults("sink:after_rename:3, gateway:after_ack:1, alerts:after_store")
>>> plan[("sink", "after_rename")], plan[("gateway", "after_ack")], plan[("alerts", "after_store")]
(3, 1, 1)
>>> parse_faults("sink:after_rename:0")
Traceback (most recent call last):
...
ValueError: EDGEDRIFT_FAULT: expected component:point[:N] (N >= 1), got 'sink:after_rename:0'
>>> fault_point("sink", "nowhere")   # not armed: no effect
"""

from __future__ import annotations

import logging
import os
import signal
import threading

ENV_VAR = "EDGEDRIFT_FAULT"
log = logging.getLogger(__name__)

_lock = threading.Lock()
_plan: dict[tuple[str, str], int] | None = None
_hits: dict[tuple[str, str], int] = {}


def parse_faults(text: str) -> dict[tuple[str, str], int]:
    """``component:point[:N][,...]`` -> {(component, point): N} (N defaults to 1)."""
    plan: dict[tuple[str, str], int] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        parts = item.split(":")
        if len(parts) == 2:
            parts.append("1")
        if len(parts) != 3 or not all(parts[:2]) or not parts[2].isdigit() \
                or int(parts[2]) < 1:
            raise ValueError(f"{ENV_VAR}: expected component:point[:N] (N >= 1), got {item!r}")
        plan[(parts[0], parts[1])] = int(parts[2])
    return plan


def fault_point(component: str, point: str) -> None:
    """SIGKILL this process if ``component:point`` is armed and this is its N-th pass (the
    log handlers are flushed first, so the test sees the warning)."""
    global _plan
    if _plan is None:
        _plan = parse_faults(os.environ.get(ENV_VAR, ""))
    if not _plan:
        return
    key = (component, point)
    target = _plan.get(key)
    if target is None:
        return
    with _lock:
        _hits[key] = _hits.get(key, 0) + 1
        hit = _hits[key]
    if hit == target:
        log.warning("fault injection: SIGKILL at %s:%s (hit %d)", component, point, hit)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
