"""The dashboard's reads of the Parquet dataset (the sink's tables, read-only).

DuckDB ``read_parquet(?, collector.schema.READ_OPTIONS)`` over the dataset's ``windows``
and ``features``/``categories`` tables, one in-memory connection per query, results cached
with a TTL. Every query reads the table's live files (collector/live_files.py: a compacted
file and the batch files it holds are never both read; no lock) and lists again if a file
vanished under it. Every value is a ``?`` parameter.

>>> import tempfile
>>> from dashboard.config import DashboardConfig
>>> freshness(DashboardConfig(data_dir=tempfile.mkdtemp())).empty
True
"""

from __future__ import annotations

import datetime as dt
import glob
import time
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from collector.live_files import is_vanished_file, live_files
from collector.schema import BIN_COLUMNS, READ_OPTIONS

from .config import DashboardConfig


def has_table(cfg: DashboardConfig, table: str) -> bool:
    """Whether the dataset holds any file of ``table`` yet."""
    return bool(_parquet_files(cfg, table))


def _parquet_files(cfg: DashboardConfig, table: str) -> list[str]:
    return glob.glob(str(cfg.paths.dataset / table / "**" / "*.parquet"), recursive=True)


@st.cache_data(ttl=20, max_entries=128, show_spinner=False)
def _parquet_query(pattern: str, sql: str, params: tuple[Any, ...]) -> pd.DataFrame:
    root, table = _dataset_of(pattern), Path(pattern).parents[1].name
    con = duckdb.connect(":memory:")
    try:
        for attempt in range(8):
            files = live_files(root, table)
            if not files:
                return pd.DataFrame()
            try:
                return con.execute(sql, [files, *params]).fetchdf()
            except duckdb.Error as exc:     # a file listed was merged and deleted meanwhile
                if attempt == 7 or not is_vanished_file(exc):
                    raise
                time.sleep(0.02 * 2 ** attempt)
        raise AssertionError("unreachable")
    finally:
        con.close()


def _dataset_of(pattern: str) -> Path:
    """The dataset root of a ``<root>/<table>/**/*.parquet`` pattern."""
    return Path(pattern).parents[2]


_SCAN = f"read_parquet(?, {READ_OPTIONS})"


def ingest(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime) -> pd.DataFrame:
    """Windows received per hour and model (by gateway clock), from the Parquet dataset."""
    if not _parquet_files(cfg, "windows"):
        return pd.DataFrame()
    pattern = str(cfg.paths.dataset / "windows" / "**" / "*.parquet")
    return _parquet_query(pattern, f"""
        SELECT model, date_trunc('hour', received_at::TIMESTAMP) AS hour, count(*) AS windows,
               count(DISTINCT device_id) AS devices, sum(n) AS records,
               max(received_at::TIMESTAMP) AS last_received
        FROM {_SCAN} WHERE date >= ? AND date <= ?
          AND received_at::TIMESTAMP >= ? AND received_at::TIMESTAMP < ?
        GROUP BY ALL ORDER BY hour""",
                          ((since - dt.timedelta(days=1)).date().isoformat(),
                           (until + dt.timedelta(days=1)).date().isoformat(), since, until))


def freshness(cfg: DashboardConfig) -> pd.DataFrame:
    """Newest received window per model (gateway clock) across the whole dataset.

    Staleness is judged on the gateway's clock only: ``last_received`` is the newest
    ``received_at`` (stamped by the collector), and ``last_window_end`` clamps each
    window's device-clock ``window_end`` to its ``received_at`` -- a window cannot have
    ended after it arrived, and one device sending ``we`` in the year 9999 must not make
    the model look fresh forever while its other devices went silent.
    """
    if not _parquet_files(cfg, "windows"):
        return pd.DataFrame()
    pattern = str(cfg.paths.dataset / "windows" / "**" / "*.parquet")
    return _parquet_query(pattern, f"""
        SELECT model, max(received_at::TIMESTAMP) AS last_received,
               max(least(window_end, received_at)::TIMESTAMP) AS last_window_end
        FROM {_SCAN} GROUP BY model ORDER BY model""", ())


def device_windows(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime,
                   tag: str = "") -> pd.DataFrame:
    """Per (device, model) in a time range, from the Parquet ``windows`` table: windows
    received, the device's window length, the longest gap between consecutive windows, the
    segment value of ``tag`` (e.g. firmware), and the spool backlog over the device's six
    newest windows (``backlog_first`` .. ``backlog_last``, ``backlog_min``), so a backlog
    counts as trouble only when it grows and never drains."""
    if not _parquet_files(cfg, "windows"):
        return pd.DataFrame()
    pattern = str(cfg.paths.dataset / "windows" / "**" / "*.parquet")
    return _parquet_query(pattern, f"""
        WITH w AS (
            SELECT device_id, model, tags, window_start::TIMESTAMP AS ws,
                   window_end::TIMESTAMP AS we, received_at::TIMESTAMP AS ra, sdk_backlog AS backlog
            FROM {_SCAN} WHERE date >= ? AND date <= ?
              AND window_start::TIMESTAMP >= ? AND window_start::TIMESTAMP < ?
            QUALIFY row_number() OVER (PARTITION BY device_id, model, seq ORDER BY ra) = 1),
        g AS (SELECT *, ws - lag(we) OVER (PARTITION BY device_id, model ORDER BY ws) AS gap,
                     row_number() OVER (PARTITION BY device_id, model ORDER BY ra DESC) AS k
              FROM w)
        SELECT device_id, model, arg_max(coalesce(tags[?], '(none)'), ws) AS segment,
               count(*) AS windows,
               median(epoch(we - ws)) AS window_s, max(epoch(gap)) AS max_gap_s,
               min(ws) AS first_window, max(ws) AS last_window,
               arg_min(backlog, ra) FILTER (k <= 6) AS backlog_first,
               arg_max(backlog, ra) FILTER (k <= 6) AS backlog_last,
               min(backlog) FILTER (k <= 6) AS backlog_min
        FROM g GROUP BY ALL ORDER BY model, device_id""",
                          ((since - dt.timedelta(days=1)).date().isoformat(),
                           (until + dt.timedelta(days=1)).date().isoformat(), since, until, tag))


def hash_timeline(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime) -> pd.DataFrame:
    """Devices per (hour, model, version, model hash) by window start: the hash census over
    time (a rollout, or a rogue build appearing)."""
    if not _parquet_files(cfg, "windows"):
        return pd.DataFrame()
    pattern = str(cfg.paths.dataset / "windows" / "**" / "*.parquet")
    return _parquet_query(pattern, f"""
        SELECT date_trunc('hour', window_start::TIMESTAMP) AS hour, model, version,
               coalesce(model_hash, '(none)') AS model_hash,
               count(DISTINCT device_id) AS devices
        FROM {_SCAN} WHERE date >= ? AND date <= ?
          AND window_start::TIMESTAMP >= ? AND window_start::TIMESTAMP < ?
        GROUP BY ALL ORDER BY hour""",
                          ((since - dt.timedelta(days=1)).date().isoformat(),
                           (until + dt.timedelta(days=1)).date().isoformat(), since, until))


def current_histogram(cfg: DashboardConfig, model: str, version: str, feature: str,
                      layout: str, start: dt.datetime, end: dt.datetime,
                      segment: tuple[str, str] | None = None) -> dict[str, Any]:
    """Merged bins (``counts``) or categories of one feature over one evaluation window."""
    seg_sql, seg_params = "", []
    if segment is not None and segment[0]:
        seg_sql = " AND coalesce(tags[?], '(none)') = ?"
        seg_params = list(segment)
    day = ((start - dt.timedelta(days=1)).date().isoformat(),
           (end + dt.timedelta(days=1)).date().isoformat())
    common = (f"WHERE model = ? AND date >= ? AND date <= ? AND version = ? "
              f"AND window_start::TIMESTAMP >= ? AND window_start::TIMESTAMP < ?{seg_sql} "
              "QUALIFY row_number() OVER (PARTITION BY device_id, model, seq, {k} "
              "ORDER BY ingest_id) = 1")
    params = (model, *day, version, start, end, *seg_params)
    if layout and _parquet_files(cfg, "features"):
        bins = ", ".join(f"coalesce(sum({c}), 0)::BIGINT AS {c}" for c in BIN_COLUMNS)
        pattern = str(cfg.paths.dataset / "features" / "**" / "*.parquet")
        frame = _parquet_query(pattern, f"""
            WITH rows AS (SELECT * FROM {_SCAN} {common.format(k='feature')})
            SELECT count(*) AS windows, {bins} FROM rows WHERE feature = ? AND layout = ?""",
                               (*params, feature, layout))
        counts = [int(frame[c].iloc[0]) for c in BIN_COLUMNS] if not frame.empty else []
        return {"counts": counts, "windows": int(frame["windows"].iloc[0]) if counts else 0}
    if not _parquet_files(cfg, "categories"):
        return {"categories": {}, "windows": 0}
    pattern = str(cfg.paths.dataset / "categories" / "**" / "*.parquet")
    frame = _parquet_query(pattern, f"""
        WITH rows AS (SELECT * FROM {_SCAN} {common.format(k='feature, category')})
        SELECT category, sum(count)::BIGINT AS count, count(*) AS windows FROM rows
        WHERE feature = ? GROUP BY category ORDER BY count DESC""", (*params, feature))
    return {"categories": dict(zip(frame.get("category", []), frame.get("count", []), strict=True)),
            "windows": int(frame["windows"].max()) if not frame.empty else 0}
