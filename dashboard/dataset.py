"""The dashboard's reads of the Parquet dataset: :mod:`analytics.queries.telemetry`, cached
with a short TTL (the dataset grows with every sink flush).

>>> import tempfile
>>> from dashboard.config import DashboardConfig
>>> freshness(DashboardConfig(data_dir=tempfile.mkdtemp())).empty
True
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from analytics.queries import telemetry

from .config import DashboardConfig


def has_table(cfg: DashboardConfig, table: str) -> bool:
    """Whether the dataset holds any file of ``table`` yet."""
    return telemetry.has_table(cfg.dataset_root, table)


@st.cache_data(ttl=20, max_entries=128, show_spinner=False)
def _telemetry(root: str, name: str, args: tuple[Any, ...]) -> Any:
    return getattr(telemetry, name)(root, *args)


def ingest(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime) -> pd.DataFrame:
    """Windows received per hour and model (by gateway clock)."""
    return _telemetry(cfg.dataset_root, "ingest", (since, until))


def freshness(cfg: DashboardConfig) -> pd.DataFrame:
    """Newest received window per model (gateway clock) across the whole dataset."""
    return _telemetry(cfg.dataset_root, "freshness", ())


def device_windows(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime,
                   tag: str = "") -> pd.DataFrame:
    """Per (device, model): windows, gaps, segment value of ``tag``, backlog trend."""
    return _telemetry(cfg.dataset_root, "device_windows",
                      (since, until, tag))


def hash_timeline(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime) -> pd.DataFrame:
    """Devices per (hour, model, version, model hash): the hash census over time."""
    return _telemetry(cfg.dataset_root, "hash_timeline",
                      (since, until))


def current_histogram(cfg: DashboardConfig, model: str, version: str, feature: str,
                      layout: str, start: dt.datetime, end: dt.datetime,
                      segment: tuple[str, str] | None = None) -> dict[str, Any]:
    """Merged bins (``counts``) or categories of one feature over one evaluation window."""
    return _telemetry(cfg.dataset_root, "current_histogram",
                      (model, version, feature, layout, start, end, segment))
