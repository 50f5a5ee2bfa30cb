"""The dashboard's reads of the alert outbox (:mod:`analytics.queries.outbox`, cached a few
seconds), the alert policy, and the redeliver action.

The redeliver action goes through the alerts package's own API (``Outbox.redeliver``),
never SQL from here.

>>> import tempfile
>>> from dashboard.config import DashboardConfig
>>> alerts(DashboardConfig(data_dir=tempfile.mkdtemp())).empty
True
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from analytics.queries import outbox as oq

from .config import DashboardConfig


@st.cache_data(ttl=5, show_spinner=False)
def _outbox_query(box: str, name: str, args: tuple[Any, ...]) -> Any:
    return getattr(oq, name)(box, *args)


def _outbox(cfg: DashboardConfig, name: str, *args: Any) -> Any:
    return _outbox_query(str(cfg.paths.outbox), name, args)


def alerts(cfg: DashboardConfig, limit: int = 200, model: str | None = None) -> pd.DataFrame:
    """Newest alerts with their delivery counts and overall state."""
    return _outbox(cfg, "alerts", int(limit), model)


def deliveries(cfg: DashboardConfig, alert_id: int) -> pd.DataFrame:
    """One alert's deliveries (one per endpoint)."""
    return _outbox(cfg, "deliveries", int(alert_id))


def attempts(cfg: DashboardConfig, alert_id: int) -> pd.DataFrame:
    """Every delivery attempt of one alert, oldest first."""
    return _outbox(cfg, "attempts", int(alert_id))


def alert_body(cfg: DashboardConfig, alert_id: int) -> str:
    """The webhook body exactly as stored and sent (the deliverer posts these bytes)."""
    return str(_outbox(cfg, "alert_body", int(alert_id)))


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
    """A model version's alerts with the window each was raised for (``window_start``)."""
    return _outbox(cfg, "alert_windows", model, version)
