"""The dashboard's reads of the alert outbox (SQLite, ``mode=ro``), and the redeliver action.

The redeliver action goes through the alerts package's own API (``Outbox.redeliver``),
never SQL from here. Every query takes ``?`` parameters.

>>> import tempfile
>>> from dashboard.config import DashboardConfig
>>> alerts(DashboardConfig(data_dir=tempfile.mkdtemp())).empty
True
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

import pandas as pd
import streamlit as st

from .config import DashboardConfig

log = logging.getLogger(__name__)


def _outbox(cfg: DashboardConfig) -> sqlite3.Connection | None:
    path = cfg.paths.outbox
    if not path.exists():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    return conn


@st.cache_data(ttl=5, show_spinner=False)
def _outbox_query(outbox: str, data_dir: str, sql: str, params: tuple[Any, ...]) -> pd.DataFrame:
    conn = _outbox(DashboardConfig(data_dir=data_dir))
    if conn is None:
        return pd.DataFrame()
    try:
        rows = conn.execute(sql, params).fetchall()
        return pd.DataFrame([dict(r) for r in rows])
    except sqlite3.OperationalError as exc:   # no schema yet
        log.info("outbox not readable yet: %s", exc)
        return pd.DataFrame()
    finally:
        conn.close()


def _outbox_frame(cfg: DashboardConfig, sql: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
    return _outbox_query(str(cfg.paths.outbox), cfg.data_dir, sql, params)


def alerts(cfg: DashboardConfig, limit: int = 200, model: str | None = None) -> pd.DataFrame:
    """Newest alerts with their delivery counts and overall state."""
    where, params = ("WHERE a.model = ?", (model,)) if model else ("", ())
    frame = _outbox_frame(cfg, f"""
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


def deliveries(cfg: DashboardConfig, alert_id: int) -> pd.DataFrame:
    """One alert's deliveries (one per endpoint)."""
    return _outbox_frame(cfg, """
        SELECT id, endpoint, status, attempts, webhook_id, last_status, last_error,
               CASE WHEN status = 'pending' THEN datetime(next_attempt_at, 'unixepoch')
               END AS next_attempt,
               datetime(delivered_at, 'unixepoch') AS delivered
        FROM deliveries WHERE alert_id = ? ORDER BY id""", (int(alert_id),))


def attempts(cfg: DashboardConfig, alert_id: int) -> pd.DataFrame:
    """Every delivery attempt of one alert, oldest first."""
    return _outbox_frame(cfg, """
        SELECT d.endpoint, d.webhook_id, datetime(t.started_at, 'unixepoch') AS started,
               CAST(t.started_at AS INTEGER) AS started_epoch, t.duration_ms,
               t.status_code, t.outcome, t.error
        FROM attempts t JOIN deliveries d ON d.id = t.delivery_id
        WHERE d.alert_id = ? ORDER BY t.id""", (int(alert_id),))


def alert_body(cfg: DashboardConfig, alert_id: int) -> str:
    """The webhook body exactly as stored and sent (the deliverer posts these bytes)."""
    frame = _outbox_frame(cfg, "SELECT payload FROM alerts WHERE id = ?", (int(alert_id),))
    return str(frame["payload"].iloc[0]) if not frame.empty else ""


def alert_payload(cfg: DashboardConfig, alert_id: int) -> dict[str, Any]:
    """The webhook body, parsed (empty if the alert does not exist)."""
    body = alert_body(cfg, alert_id)
    return json.loads(body) if body else {}


def redeliver(cfg: DashboardConfig, alert_id: int) -> int:
    """Re-queue an alert's failed deliveries through the alerts package (same webhook ids)."""
    from analytics.alerts.outbox import Outbox
    box = Outbox(cfg.paths.outbox)
    try:
        n = box.redeliver(int(alert_id))
    finally:
        box.close()
    _outbox_query.clear()
    return n


def alert_policy(cfg: DashboardConfig) -> tuple[Any, str]:
    """(AlertsConfig from the ``[alerts]`` section, or None; an error message)."""
    from analytics.alerts.config import alerts_config_from_toml
    from edgedrift.config import load_toml, section
    try:
        return alerts_config_from_toml(section(load_toml(cfg.config_file or None),
                                               "alerts")), ""
    except ValueError as exc:
        return None, str(exc)


def alert_windows(cfg: DashboardConfig, model: str, version: str) -> pd.DataFrame:
    """A model version's alerts with the window each was raised for (``window_start``, the
    analysed-window clock, so it can be marked on the time charts)."""
    frame = _outbox_frame(cfg, """
        SELECT id, event_type, segment, json_extract(payload, '$.data.window.start') AS ws
        FROM alerts WHERE model = ? AND version = ? ORDER BY id""", (model, version))
    if frame.empty:
        return frame
    ws = pd.to_datetime(frame["ws"], utc=True, errors="coerce").dt.tz_localize(None)
    return frame.assign(window_start=ws).drop(columns="ws")
