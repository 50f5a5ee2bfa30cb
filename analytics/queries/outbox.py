"""Read-only queries over the alert outbox (SQLite, opened ``mode=ro``): alerts with their
delivery state, deliveries, attempts, and the webhook body exactly as sent.

Writes (redelivery) go through :class:`analytics.alerts.outbox.Outbox`, never from here.

>>> import tempfile, pathlib
>>> box = pathlib.Path(tempfile.mkdtemp()) / "outbox.sqlite"
>>> alerts(box).empty, alert_body(box, 1)
(True, '')
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)
BoxPath = str | os.PathLike[str]


def query(box: BoxPath, sql: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
    """One read-only query on the outbox file (empty frame if it or its schema is missing)."""
    path = Path(box)
    if not path.exists():
        return pd.DataFrame()
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        return pd.DataFrame([dict(r) for r in conn.execute(sql, params).fetchall()])
    except sqlite3.OperationalError as exc:   # no schema yet
        log.info("outbox not readable yet: %s", exc)
        return pd.DataFrame()
    finally:
        conn.close()


def alerts(box: BoxPath, limit: int = 200, model: str | None = None) -> pd.DataFrame:
    """Newest alerts with their delivery counts and overall ``state``."""
    where, params = ("WHERE a.model = ?", (model,)) if model else ("", ())
    frame = query(box, f"""
        SELECT a.id, a.event_type, a.model, a.version, a.segment, a.incident_id,
               datetime(a.created_at, 'unixepoch') AS created,
               count(d.id) AS deliveries,
               coalesce(sum(d.status = 'pending'), 0) AS pending,
               coalesce(sum(d.status = 'delivered'), 0) AS delivered,
               coalesce(sum(d.status = 'failed'), 0) AS failed,
               coalesce(sum(d.status = 'disabled'), 0) AS disabled
        FROM alerts a LEFT JOIN deliveries d ON d.alert_id = a.id {where}
        GROUP BY a.id ORDER BY a.id DESC LIMIT ?""", (*params, int(limit)))
    if frame.empty:
        return frame
    frame["state"] = [("failed" if r.failed else "pending" if r.pending else
                       "disabled" if r.disabled else "delivered" if r.delivered else
                       "no endpoint") for r in frame.itertuples()]
    return frame


def deliveries(box: BoxPath, alert_id: int) -> pd.DataFrame:
    """One alert's deliveries (one per endpoint)."""
    return query(box, """
        SELECT id, endpoint, status, attempts, webhook_id, last_status, last_error,
               CASE WHEN status = 'pending' THEN datetime(next_attempt_at, 'unixepoch')
               END AS next_attempt,
               datetime(delivered_at, 'unixepoch') AS delivered
        FROM deliveries WHERE alert_id = ? ORDER BY id""", (int(alert_id),))


def attempts(box: BoxPath, alert_id: int) -> pd.DataFrame:
    """Every delivery attempt of one alert, oldest first."""
    return query(box, """
        SELECT d.endpoint, d.webhook_id, datetime(t.started_at, 'unixepoch') AS started,
               CAST(t.started_at AS INTEGER) AS started_epoch, t.duration_ms,
               t.status_code, t.outcome, t.error
        FROM attempts t JOIN deliveries d ON d.id = t.delivery_id
        WHERE d.alert_id = ? ORDER BY t.id""", (int(alert_id),))


def alert_body(box: BoxPath, alert_id: int) -> str:
    """The webhook body exactly as stored and sent (the deliverer posts these bytes)."""
    frame = query(box, "SELECT payload FROM alerts WHERE id = ?", (int(alert_id),))
    return str(frame["payload"].iloc[0]) if not frame.empty else ""


def alert_windows(box: BoxPath, model: str, version: str) -> pd.DataFrame:
    """A model version's alerts with the window each was raised for (``window_start``, the
    analysed-window clock, so it can be marked on the time charts)."""
    frame = query(box, """
        SELECT id, event_type, segment, json_extract(payload, '$.data.window.start') AS ws
        FROM alerts WHERE model = ? AND version = ? ORDER BY id""", (model, version))
    if frame.empty:
        return frame
    ws = pd.to_datetime(frame["ws"], utc=True, errors="coerce").dt.tz_localize(None)
    return frame.assign(window_start=ws).drop(columns="ws")
