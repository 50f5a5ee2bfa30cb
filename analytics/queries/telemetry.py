"""Read-only queries over the Parquet dataset (the sink's ``windows``/``features``/
``categories`` tables) for display: ingest rate, freshness, device windows, the model-hash
census and one evaluation window's merged histogram.

Every read goes through :func:`read_dataset` (one in-memory DuckDB connection per query,
over the table's live files: no lock; on object storage through pyarrow), and every
deduplicated scan through :func:`deduped`, which keeps one row per window identity
``(device_id, model, seq)`` plus the table's own keys, the smallest ``ingest_id`` winning,
as :mod:`analytics.dataset` does. Times are naive UTC.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp()) / "telemetry"
>>> has_table(root, "windows"), freshness(root).empty
(False, True)
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

import duckdb
import pandas as pd

from collector.live_files import arrow_dataset, has_files, is_vanished_file, live_files
from collector.storage import configure_from, dataset_location, open_storage

from ..dataset import BIN_COLUMNS, READ_OPTIONS

Root = str | os.PathLike[str]
_SCAN = f"read_parquet(?, {READ_OPTIONS})"
_ATTEMPTS = 8


def dataset_root(local: Root, toml: dict[str, Any]) -> str:
    """Where the dataset is: the config's ``[storage] uri`` (object storage; its endpoint and
    region become this process's storage settings) when set, else ``local``."""
    configure_from(toml)
    return dataset_location(str(local))


def has_table(root: Root, table: str) -> bool:
    """Whether the dataset at ``root`` holds any file of ``table`` yet."""
    return has_files(root, table)


def read_dataset(root: Root, table: str, sql: str, params: tuple[Any, ...]) -> pd.DataFrame:
    """Run ``sql`` over ``table`` of the dataset at ``root``; the first ``?`` of ``sql`` is
    the list of the table's live files (each ``read_parquet(?, ...)`` takes it). Empty frame
    when the table has no file yet. The one place this module reads Parquet.

    No lock: the live files never hold a row twice (a compacted file replaces the batch
    files it holds, collector/live_files.py); a file that a compaction deleted between the
    listing and the read makes the query list again."""
    st = open_storage(root)
    con = duckdb.connect(":memory:")
    try:
        for attempt in range(_ATTEMPTS):
            files = live_files(st, table)
            if not files:
                return pd.DataFrame()
            try:
                if not st.remote:
                    return con.execute(sql, [files, *params]).fetchdf()
                # object storage: DuckDB scans the files through pyarrow (no httpfs here)
                con.register("_edgedrift_scan", arrow_dataset(st, table, files))
                return con.execute(sql.replace(_SCAN, "_edgedrift_scan"), list(params)).fetchdf()
            except duckdb.Error as exc:
                if attempt == _ATTEMPTS - 1 or not is_vanished_file(exc):
                    raise
                time.sleep(0.02 * 2 ** attempt)
        raise AssertionError("unreachable")
    finally:
        con.close()


def deduped(where: str, keys: str = "", order: str = "ingest_id") -> str:
    """A scan of one table keeping one row per ``(device_id, model, seq[, keys])``: the
    row of the smallest ``order`` (a retried delivery is stored twice)."""
    part = "device_id, model, seq" + (f", {keys}" if keys else "")
    return (f"(SELECT * FROM {_SCAN} WHERE {where} "
            f"QUALIFY row_number() OVER (PARTITION BY {part} ORDER BY {order}) = 1)")


def _days(since: dt.datetime, until: dt.datetime) -> tuple[str, str]:
    """Date partitions that may hold windows of ``[since, until)`` (a day of slack each side)."""
    return ((since - dt.timedelta(days=1)).date().isoformat(),
            (until + dt.timedelta(days=1)).date().isoformat())


def ingest(root: Root, since: dt.datetime, until: dt.datetime) -> pd.DataFrame:
    """Windows received per hour and model (by gateway clock)."""
    return read_dataset(root, "windows", f"""
        SELECT model, date_trunc('hour', received_at::TIMESTAMP) AS hour, count(*) AS windows,
               count(DISTINCT device_id) AS devices, sum(n) AS records,
               max(received_at::TIMESTAMP) AS last_received
        FROM {_SCAN} WHERE date >= ? AND date <= ?
          AND received_at::TIMESTAMP >= ? AND received_at::TIMESTAMP < ?
        GROUP BY ALL ORDER BY hour""", (*_days(since, until), since, until))


def freshness(root: Root) -> pd.DataFrame:
    """Newest received window per model (gateway clock) across the whole dataset.

    Staleness is judged on the gateway's clock only: ``last_received`` is the newest
    ``received_at`` (stamped by the collector), and ``last_window_end`` clamps each
    window's device-clock ``window_end`` to its ``received_at`` -- a window cannot have
    ended after it arrived, and one device sending ``we`` in the year 9999 must not make
    the model look fresh forever while its other devices went silent.
    """
    return read_dataset(root, "windows", f"""
        SELECT model, max(received_at::TIMESTAMP) AS last_received,
               max(least(window_end, received_at)::TIMESTAMP) AS last_window_end
        FROM {_SCAN} GROUP BY model ORDER BY model""", ())


def device_windows(root: Root, since: dt.datetime, until: dt.datetime,
                   tag: str = "") -> pd.DataFrame:
    """Per (device, model) in a time range: windows received, the device's window length,
    the longest gap between consecutive windows, the segment value of ``tag`` (e.g.
    firmware), and the spool backlog over the device's six newest windows
    (``backlog_first`` .. ``backlog_last``, ``backlog_min``), so a backlog counts as
    trouble only when it grows and never drains."""
    rows = deduped("date >= ? AND date <= ? AND window_start::TIMESTAMP >= ? "
                   "AND window_start::TIMESTAMP < ?", order="received_at")
    return read_dataset(root, "windows", f"""
        WITH w AS (
            SELECT device_id, model, tags, window_start::TIMESTAMP AS ws,
                   window_end::TIMESTAMP AS we, received_at::TIMESTAMP AS ra, sdk_backlog AS backlog
            FROM {rows}),
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
                        (*_days(since, until), since, until, tag))


def hash_timeline(root: Root, since: dt.datetime, until: dt.datetime) -> pd.DataFrame:
    """Devices per (hour, model, version, model hash) by window start: the hash census over
    time (a rollout, or a rogue build appearing)."""
    return read_dataset(root, "windows", f"""
        SELECT date_trunc('hour', window_start::TIMESTAMP) AS hour, model, version,
               coalesce(model_hash, '(none)') AS model_hash,
               count(DISTINCT device_id) AS devices
        FROM {_SCAN} WHERE date >= ? AND date <= ?
          AND window_start::TIMESTAMP >= ? AND window_start::TIMESTAMP < ?
        GROUP BY ALL ORDER BY hour""", (*_days(since, until), since, until))


def current_histogram(root: Root, model: str, version: str, feature: str, layout: str,
                      start: dt.datetime, end: dt.datetime,
                      segment: tuple[str, str] | None = None) -> dict[str, Any]:
    """Merged bins (``counts``) of a numeric feature (``layout`` given), else the category
    counts (``categories``), of one model version over ``[start, end)``, with the number
    of device ``windows`` merged."""
    seg_sql, seg_params = "", []
    if segment is not None and segment[0]:
        seg_sql = " AND coalesce(tags[?], '(none)') = ?"
        seg_params = list(segment)
    where = ("model = ? AND date >= ? AND date <= ? AND version = ? "
             f"AND window_start::TIMESTAMP >= ? AND window_start::TIMESTAMP < ?{seg_sql}")
    params = (model, *_days(start, end), version, start, end, *seg_params)
    if layout and has_table(root, "features"):
        bins = ", ".join(f"coalesce(sum({c}), 0)::BIGINT AS {c}" for c in BIN_COLUMNS)
        frame = read_dataset(root, "features", f"""
            SELECT count(*) AS windows, {bins} FROM {deduped(where, 'feature')}
            WHERE feature = ? AND layout = ?""", (*params, feature, layout))
        counts = [int(frame[c].iloc[0]) for c in BIN_COLUMNS] if not frame.empty else []
        return {"counts": counts, "windows": int(frame["windows"].iloc[0]) if counts else 0}
    frame = read_dataset(root, "categories", f"""
        SELECT category, sum(count)::BIGINT AS count, count(*) AS windows
        FROM {deduped(where, 'feature, category')}
        WHERE feature = ? GROUP BY category ORDER BY count DESC""", (*params, feature))
    if frame.empty:
        return {"categories": {}, "windows": 0}
    return {"categories": dict(zip(frame["category"], frame["count"], strict=True)),
            "windows": int(frame["windows"].max())}
