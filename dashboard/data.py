"""The dashboard's only data access: results DuckDB (read copy), Parquet, outbox, references.

* Results: read from a private copy of the results file (:mod:`dashboard.snapshot`),
  through short-lived ``read_only`` DuckDB connections, one per query; the live
  file is never opened, so ``edgedrift analyze`` is never blocked. Results are
  cached with ``st.cache_data`` keyed by the copy's version (new data = new key).
* Parquet: :mod:`dashboard.dataset` (DuckDB ``read_parquet`` over the dataset's
  tables, cached with a TTL).
* Alert outbox: :mod:`dashboard.outbox` (SQLite opened with ``mode=ro``).

Every query takes ``?`` parameters; no value is ever formatted into SQL.

>>> import tempfile
>>> from dashboard.config import DashboardConfig
>>> cfg = DashboardConfig(data_dir=tempfile.mkdtemp())
>>> overview(cfg).empty
True
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from .config import DashboardConfig
from .dataset import has_table
from .snapshot import ResultsSnapshot, SnapshotInfo

log = logging.getLogger(__name__)
RANGES = {"6h": 6, "24h": 24, "7d": 24 * 7, "30d": 24 * 30, "all": None}


# -- results database -------------------------------------------------------------------------
def _validate(copy: Path) -> None:
    con = duckdb.connect(str(copy), read_only=True)
    try:
        con.execute("SELECT count(*) FROM information_schema.tables").fetchall()
    finally:
        con.close()


@st.cache_resource(show_spinner=False)
def _snapshot(live: str, published: str, cache_dir: str) -> ResultsSnapshot:
    return ResultsSnapshot(Path(live), Path(published), Path(cache_dir) if cache_dir else None,
                           validate=_validate)


def snapshot(cfg: DashboardConfig) -> SnapshotInfo | None:
    """The current read copy of the results (None before the first analysis)."""
    return _snapshot(str(cfg.paths.analytics_db), str(cfg.snapshot_path),
                     cfg.cache_dir).current()


@st.cache_data(ttl=3600, max_entries=256, show_spinner=False)
def _results_query(copy: str, sql: str, params: tuple[Any, ...]) -> pd.DataFrame:
    con = duckdb.connect(copy, read_only=True)
    try:
        return con.execute(sql, list(params)).fetchdf()
    except duckdb.CatalogException:  # a table this version of the analytics did not create
        return pd.DataFrame()
    finally:
        con.close()


def _results(cfg: DashboardConfig, sql: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
    info = snapshot(cfg)
    if info is None or not info.path.exists():
        return pd.DataFrame()
    try:
        return _results_query(str(info.path), sql, tuple(params))
    except (duckdb.IOException, duckdb.InternalException, duckdb.InvalidInputException,
            duckdb.SerializationException) as exc:   # an unreadable copy: copy again next time
        log.warning("results query failed on %s: %s", info.path, exc)
        _snapshot(str(cfg.paths.analytics_db), str(cfg.snapshot_path),
                  cfg.cache_dir).invalidate()
        return pd.DataFrame()


@dataclass(frozen=True)
class Overview:
    """What exists under the data dir, and the state of the last analysis pass."""

    data_dir: str
    has_results: bool
    has_dataset: bool
    has_outbox: bool
    references: tuple[tuple[str, str], ...]
    snapshot: SnapshotInfo | None = None
    last_run: dict[str, Any] = field(default_factory=dict)
    runs: int = 0

    @property
    def empty(self) -> bool:
        return not (self.has_results or self.has_dataset or self.has_outbox)


def overview(cfg: DashboardConfig) -> Overview:
    """Which pieces of an installation exist (drives the empty and partial states)."""
    paths = cfg.paths
    info = snapshot(cfg)
    runs = _results(cfg, "SELECT * FROM runs ORDER BY finished_at DESC LIMIT 1")
    count = _results(cfg, "SELECT count(*) AS n FROM runs")
    refs = tuple(sorted((p.parent.parent.name, p.parent.name)
                        for p in paths.references.glob("*/*/profile.json")))
    return Overview(str(paths.base), info is not None and not count.empty
                    and int(count["n"].iloc[0]) > 0, has_table(cfg, "windows"),
                    paths.outbox.exists(), refs, info,
                    runs.iloc[0].to_dict() if not runs.empty else {},
                    int(count["n"].iloc[0]) if not count.empty else 0)


def catalog(cfg: DashboardConfig) -> pd.DataFrame:
    """Model, version, segment tag/value with their first and last evaluated windows."""
    return _results(cfg, """
        SELECT model, version, segment_tag, segment_value, min(window_start) AS first_window,
               max(window_end) AS last_window, count(DISTINCT window_start) AS windows
        FROM model_metrics GROUP BY ALL ORDER BY model, version, segment_tag, segment_value""")


def time_range(cfg: DashboardConfig, key: str) -> tuple[dt.datetime, dt.datetime]:
    """(since, until) of a range key (``6h`` ... ``all``), anchored at the newest window."""
    bounds = _results(cfg, "SELECT min(window_start) AS lo, max(window_end) AS hi "
                           "FROM model_metrics")
    hi = bounds["hi"].iloc[0] if not bounds.empty else None
    if hi is None or pd.isna(hi):
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return now - dt.timedelta(days=7), now
    until = pd.Timestamp(hi).to_pydatetime() + dt.timedelta(hours=1)
    hours = RANGES.get(key)
    if hours is None:
        return pd.Timestamp(bounds["lo"].iloc[0]).to_pydatetime(), until
    return until - dt.timedelta(hours=hours + 1), until


def _where(model: str | None, version: str | None, segment: tuple[str, str] | None,
           prefix: str = "") -> tuple[str, list[Any]]:
    sql, params = [], []
    for col, value in (("model", model), ("version", version)):
        if value:
            sql.append(f"{prefix}{col} = ?")
            params.append(value)
    if segment is not None:
        sql.append(f"{prefix}segment_tag = ? AND {prefix}segment_value = ?")
        params.extend(segment)
    return "".join(f" AND {s}" for s in sql), params


def verdicts(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime,
             model: str | None = None, version: str | None = None,
             segment: tuple[str, str] | None = None, kind: str | None = None) -> pd.DataFrame:
    """Verdict rows in a time range (every kind unless ``kind``)."""
    where, params = _where(model, version, segment)
    if kind:
        where += " AND kind = ?"
        params.append(kind)
    return _results(cfg, f"""
        SELECT model, version, segment_tag, segment_value, window_start, window_end, kind, state,
               previous_state, changed, candidate, features_evaluated, share_drifted,
               drifted_features, critical_hit, note, report_path
        FROM verdicts WHERE window_start >= ? AND window_start < ? {where}
        ORDER BY model, version, segment_tag, segment_value, kind, window_start""",
                    (since, until, *params))


def latest_states(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (model, version, segment, kind): the newest state and the window it started in.

    >>> t = pd.to_datetime(["2025-01-01 00:00", "2025-01-01 01:00", "2025-01-01 02:00"])
    >>> v = pd.DataFrame({"model": "kws", "version": "1", "segment_tag": "", "segment_value": "",
    ...                   "kind": "drift", "window_start": t, "state": ["ok", "drift", "drift"],
    ...                   "drifted_features": "[]", "note": ""})
    >>> row = latest_states(v).iloc[0]
    >>> row["state"], str(row["since"])
    ('drift', '2025-01-01 01:00:00')
    """
    if frame.empty:
        return frame.assign(since=pd.Series(dtype="datetime64[ns]"))
    keys = ["model", "version", "segment_tag", "segment_value", "kind"]
    f = frame.sort_values([*keys, "window_start"])
    run = (f["state"] != f.groupby(keys)["state"].shift()).astype(int).groupby(
        [f[k] for k in keys]).cumsum()
    f = f.assign(_run=run)
    f["since"] = f.groupby([*keys, "_run"])["window_start"].transform("min")
    return f.groupby(keys, as_index=False).tail(1).drop(columns="_run").reset_index(drop=True)


def current_states(cfg: DashboardConfig, model: str | None = None) -> pd.DataFrame:
    """Per (model, version, segment, kind): the newest verdict and since when it has held.

    Computed over every analysed window, never the time-range filter, so ``since`` is the
    true onset: the first window of the newest run of equal states. ``windows`` counts that
    run, ``newest`` is its newest window (``window_end`` included), ``first_drift`` the
    stream's first drift window ever.
    """
    where, params = _where(model, None, None)
    return _results(cfg, f"""
        WITH v AS (SELECT *, lag(state, 1, state) OVER w AS prev_state
                   FROM verdicts WHERE true {where}
                   WINDOW w AS (PARTITION BY model, version, segment_tag, segment_value, kind
                                ORDER BY window_start)),
        r AS (SELECT *, sum((state <> prev_state)::INT) OVER (
                  PARTITION BY model, version, segment_tag, segment_value, kind
                  ORDER BY window_start) AS run FROM v),
        last AS (SELECT model, version, segment_tag, segment_value, kind,
                        max(run) AS run, min(window_start) FILTER (state = 'drift') AS first_drift
                 FROM r GROUP BY ALL)
        SELECT * FROM (
        SELECT r.model, r.version, r.segment_tag, r.segment_value, r.kind,
               arg_max(r.state, r.window_start) AS state, min(r.window_start) AS since,
               max(r.window_start) AS newest, max(r.window_end) AS newest_end,
               count(*) AS windows, any_value(l.first_drift) AS first_drift,
               arg_max(r.drifted_features, r.window_start) AS drifted_features,
               arg_max(r.share_drifted, r.window_start) AS share_drifted,
               arg_max(r.features_evaluated, r.window_start) AS features_evaluated,
               arg_max(r.note, r.window_start) AS note,
               arg_max(r.report_path, r.window_start) AS report_path
        FROM r JOIN last l USING (model, version, segment_tag, segment_value, kind)
        WHERE r.run = l.run GROUP BY ALL)
        ORDER BY state = 'ok', since, model, version, segment_tag, segment_value, kind""",
                    tuple(params))


def feature_metrics(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime, model: str,
                    version: str | None = None, segment: tuple[str, str] | None = None,
                    feature: str | None = None, role: str | None = None) -> pd.DataFrame:
    """Per-feature metric rows (score with sketch interval, threshold, drifted)."""
    where, params = _where(model, version, segment)
    for col, value in (("feature", feature), ("role", role)):
        if value:
            where += f" AND {col} = ?"
            params.append(value)
    return _results(cfg, f"""
        SELECT model, version, segment_tag, segment_value, window_start, window_end, feature, kind,
               layout, method, role, n, n_ref, score, lower, upper, p_value, p_adjusted,
               threshold, exceeded, candidate, drifted
        FROM feature_metrics WHERE window_start >= ? AND window_start < ? {where}
        ORDER BY feature, method, window_start""", (since, until, *params))


def data_quality(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime, model: str,
                 version: str | None = None, segment: tuple[str, str] | None = None,
                 feature: str | None = None) -> pd.DataFrame:
    """Data-quality rates per window (and the reference's rates)."""
    where, params = _where(model, version, segment)
    if feature:
        where += " AND feature = ?"
        params.append(feature)
    return _results(cfg, f"""
        SELECT * EXCLUDE (run_id) FROM data_quality
        WHERE window_start >= ? AND window_start < ? {where}
        ORDER BY feature, window_start""", (since, until, *params))


def model_metrics(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime,
                  model: str | None = None, version: str | None = None,
                  segment: tuple[str, str] | None = None) -> pd.DataFrame:
    """Throughput, latency quantiles and accuracy per window."""
    where, params = _where(model, version, segment)
    return _results(cfg, f"""
        SELECT * EXCLUDE (run_id) FROM model_metrics
        WHERE window_start >= ? AND window_start < ? {where}
        ORDER BY model, version, segment_tag, segment_value, window_start""",
                    (since, until, *params))


def fleet_health(cfg: DashboardConfig, model: str | None = None) -> pd.DataFrame:
    """One row per (device, model): last seen, versions, hashes, SDK counters, clock skew.

    ``last_seen`` is the gateway's receive time (``received_at``): a device cannot push it
    into the future. ``last_window_end`` is clamped to it here as well (results written by
    an older analytics kept the raw device-clock ``window_end``, which a device may set to
    the year 9999 and so look fresh forever).
    """
    where, params = _where(model, None, None)
    return _results(cfg, "SELECT * EXCLUDE (run_id, last_window_end), "
                         "least(last_window_end, last_seen) AS last_window_end "
                         f"FROM fleet_health WHERE true {where} "
                         "ORDER BY model, device_id", tuple(params))


def runs(cfg: DashboardConfig, limit: int = 20) -> pd.DataFrame:
    """The newest analysis passes."""
    return _results(cfg, "SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (int(limit),))


# -- references and reports ----------------------------------------------------------------------
@st.cache_data(ttl=60, show_spinner=False)
def _load_reference(path: str, mtime: float) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def reference(cfg: DashboardConfig, model: str, version: str) -> Any:
    """The reference profile the analytics use for (model, version), or None."""
    from analytics.reference import ReferenceProfile, ReferenceStore
    try:
        store = ReferenceStore(cfg.paths.references)
        path = store.profile_path(model, version)
    except ValueError:
        return None
    if not path.exists():
        found = sorted(path.parent.parent.glob("*/profile.json"), key=lambda p: p.stat().st_mtime)
        if not found:
            return None
        path = found[-1]
    return ReferenceProfile.from_dict(_load_reference(str(path), path.stat().st_mtime))


def report_files(cfg: DashboardConfig) -> list[Path]:
    """Every Evidently HTML report in the data dir's ``reports/`` folder, newest first."""
    folder = cfg.paths.reports
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.html"), key=lambda p: p.stat().st_mtime, reverse=True)


def report_file(cfg: DashboardConfig, name: str) -> Path | None:
    """The report called ``name`` directly inside ``reports/`` (no other path), or None.

    >>> import tempfile
    >>> from dashboard.config import DashboardConfig
    >>> report_file(DashboardConfig(data_dir=tempfile.mkdtemp()), "../keys.json") is None
    True
    """
    if not name or Path(name).name != name or not name.endswith(".html"):
        return None
    path = cfg.paths.reports / name
    return path if path.is_file() else None


def reports(cfg: DashboardConfig, frame: pd.DataFrame, model: str, version: str) -> list[Path]:
    """Evidently HTML reports of a model version: from the verdicts, else from the folder."""
    found: list[Path] = []
    if not frame.empty and "report_path" in frame:
        found = [Path(p) for p in frame["report_path"].dropna().unique() if p]
    if not found and cfg.paths.reports.is_dir():
        found = sorted(p for p in cfg.paths.reports.glob("*.html")
                       if p.name.startswith(f"{model}_{version}_"))
    return [p for p in found if p.exists()]
