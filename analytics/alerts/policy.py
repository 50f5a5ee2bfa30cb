"""``AlertEngine``: turn a stream of conditions into detected/resolved alerts in the outbox.

Per incident key (kind, model, version, segment) the engine keeps a small
state machine, persisted in the outbox's ``engine_state`` table in the same
transaction as the alerts it creates:

* closed -> open when a policy fires for ``open_after_windows`` consecutive
  windows: one ``*.detected`` / ``*.breached`` alert.
* open stays open while the condition fires, and through clear windows until
  it has been clear for ``cooldown_s`` of window time (measured from the end of
  the last firing window): so an ongoing or flapping drift is one alert. When a
  firing window lists another set of features than the incident's last alert
  (drift and quality), one ``*.updated`` alert carries the new set, with
  ``changes.added`` / ``changes.removed``.
* open -> closed then: one ``*.resolved`` alert.

A condition whose window does not end after the last one seen for its key is
ignored, so re-feeding windows after a restart neither repeats nor forgets.

>>> import tempfile, os
>>> from datetime import UTC, datetime, timedelta
>>> from .config import AlertsConfig
>>> engine = AlertEngine(AlertsConfig(cooldown_s=0), os.path.join(tempfile.mkdtemp(), "a.sqlite"))
>>> t = datetime(2025, 1, 1, tzinfo=UTC)
>>> def w(i, active):
...     s = t + timedelta(minutes=i)
...     return Condition("drift", "kws", "1", "", s, s + timedelta(minutes=1), active)
>>> [a.event_type for i in range(5) for a in engine.observe([w(i, i in (1, 2, 3))])]
['drift.detected', 'drift.resolved']
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from edgedrift.faults import fault_point

from .config import AlertsConfig, PolicyConfig
from .events import (
    UPDATE_NAMES,
    Alert,
    Condition,
    build_payload,
    event_type,
    feature_names,
    iso,
    suggested_action,
)
from .outbox import Outbox

log = logging.getLogger(__name__)


def fires(policy: PolicyConfig, condition: Condition) -> bool:
    """Does ``condition`` trigger ``policy`` (see :class:`PolicyConfig` for the rules)?

    >>> from datetime import UTC, datetime
    >>> t = datetime(2025, 1, 1, tzinfo=UTC)
    >>> c = Condition("latency", "kws", "1", "", t, t, False, detail={"p95_ms": 300})
    >>> fires(PolicyConfig("latency", max_p95_ms=250), c), fires(PolicyConfig("latency"), c)
    (True, False)
    """
    detail = condition.detail
    for kind, bound_name, key, above in (("latency", "max_p95_ms", "p95_ms", True),
                                         ("accuracy", "min_accuracy", "accuracy", False),
                                         ("silence", "max_silence_s", "silent_s", True)):
        bound = getattr(policy, bound_name)
        if condition.kind == kind and bound is not None and isinstance(
                detail.get(key), (int, float)):
            value = float(detail[key])
            return value > bound if above else value < bound
    if not condition.active:
        return False
    if condition.kind == "drift" and policy.critical_features:
        return any(f.name in policy.critical_features for f in condition.features)
    return True


class AlertEngine:
    """Apply the policies to conditions and store the resulting alerts (before any delivery).

    ``observe`` is one transaction: the alerts, their delivery rows and the
    new engine state commit together or not at all.

    >>> import tempfile, os
    >>> from .config import AlertsConfig
    >>> AlertEngine(AlertsConfig(), os.path.join(tempfile.mkdtemp(), "a.sqlite")).observe([])
    []
    """

    def __init__(self, config: AlertsConfig, outbox_path: str | os.PathLike[str]) -> None:
        self.config = config
        self.outbox = Outbox(outbox_path)

    def observe(self, conditions: Iterable[Condition]) -> list[Alert]:
        """Feed conditions (any order; processed by window end); return the alerts created."""
        ordered = sorted(conditions, key=lambda c: (c.window_end, c.key))
        created: list[Alert] = []
        if not ordered:
            return created
        with self.outbox.transaction() as conn:
            states: dict[str, dict[str, Any]] = {}
            for cond in ordered:
                if cond.key not in states:
                    states[cond.key] = self.outbox.load_state(conn, cond.key) or {
                        "open": False, "streak": 0}
                alert = self._step(conn, states[cond.key], cond)
                if alert is not None:
                    created.append(alert)
            for key, state in states.items():
                self.outbox.save_state(conn, key, state)
        if created:
            log.info("stored %d alert(s): %s", len(created),
                     ", ".join(f"#{a.id} {a.event_type}" for a in created))
            fault_point("alerts", "after_store")
        return created

    def _step(self, conn: sqlite3.Connection, state: dict[str, Any],
              cond: Condition) -> Alert | None:
        end = cond.window_end.timestamp()
        if state.get("last_window_end") is not None and end <= state["last_window_end"]:
            return None  # already seen (a re-run after restart)
        state["last_window_end"] = end
        policies = self.config.policies_for(cond.kind, cond.model, cond.segment)
        firing = [p for p in policies if fires(p, cond)]
        if firing:
            state["streak"] = state.get("streak", 0) + 1
            if state["open"]:
                state["last_fire_end"] = end
                return self._update(conn, cond, state)
            policy = firing[0]
            if state["streak"] < policy.open_after_windows:
                return None
            state.update(open=True, last_fire_end=end, incident_start=iso(cond.window_start),
                         incident_id="inc_" + secrets.token_hex(8),
                         cooldown_s=policy.cooldown_s if policy.cooldown_s is not None
                         else self.config.cooldown_s)
            alert = self._store(conn, cond, state, event_type(cond.kind, True),
                                action=suggested_action(cond, policy.action))
            state.update(alert_id=alert.id, features=feature_names(cond),
                         action=alert.payload["data"]["suggested_action"])
            return alert
        state["streak"] = 0
        if not state["open"]:
            return None
        if end - state["last_fire_end"] < state.get("cooldown_s", self.config.cooldown_s):
            return None
        alert = self._store(conn, cond, state, event_type(cond.kind, False), action="none")
        state.update(open=False, alert_id=None, incident_id=None, incident_start=None,
                     features=None)
        return alert

    def _update(self, conn: sqlite3.Connection, cond: Condition,
                state: dict[str, Any]) -> Alert | None:
        """A ``*.updated`` alert when the open incident's feature set changed (else None)."""
        names, before = feature_names(cond), state.get("features")
        if cond.kind not in UPDATE_NAMES or before is None or names == before:
            return None
        changes = {"added": sorted(set(names) - set(before)),
                   "removed": sorted(set(before) - set(names))}
        state["features"] = names
        return self._store(conn, cond, state, UPDATE_NAMES[cond.kind],
                           action=state.get("action") or suggested_action(cond),
                           changes=changes)

    def _store(self, conn: sqlite3.Connection, cond: Condition, state: dict[str, Any],
               etype: str, action: str, changes: dict[str, list[str]] | None = None) -> Alert:
        opened = etype == event_type(cond.kind, True)
        created = datetime.now(UTC)
        start = datetime.fromisoformat(state["incident_start"].replace("Z", "+00:00"))
        payloads: dict[int, dict[str, Any]] = {}

        def payload_for(alert_id: int) -> dict[str, Any]:
            payload = build_payload(etype, cond, alert_id=alert_id,
                                    incident_id=state["incident_id"], incident_start=start,
                                    action=action, created=created,
                                    dashboard_base=self.config.dashboard_url)
            if changes is not None:
                payload["data"]["updates_alert_id"] = state.get("alert_id")
                payload["data"]["changes"] = changes
            elif not opened:
                payload["data"]["resolves_alert_id"] = state.get("alert_id")
            payloads[alert_id] = payload
            return payload

        endpoints = [e.name for e in self.config.endpoints_for(cond.model, etype)]
        alert_id = self.outbox.add_alert(conn, etype, cond.model, cond.version, cond.segment,
                                         state["incident_id"], payload_for, endpoints,
                                         now=time.time())
        if not endpoints:
            log.warning("alert #%d %s for model %s has no endpoint subscribed", alert_id,
                        etype, cond.model)
        return Alert(alert_id, etype, cond.model, cond.version, cond.segment,
                     payloads[alert_id])
