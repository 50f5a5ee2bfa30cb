"""Read-only queries over the results database (``analytics.duckdb`` or a copy of it).

Each function opens the file given with a short-lived ``read_only`` DuckDB connection and
returns a pandas frame. A file that does not exist yet, or lacks a table (written by an
older analytics), gives an empty frame; a file DuckDB cannot read raises
:class:`ResultsUnreadable` (the caller may copy it again). Times are naive UTC.

>>> import tempfile, pathlib
>>> db = pathlib.Path(tempfile.mkdtemp()) / "analytics.duckdb"
>>> catalog(db).empty, time_bounds(db), run_count(db)
(True, (None, None), 0)
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ..errors import AnalyticsError

Segment = tuple[str, str] | None
DbPath = str | os.PathLike[str]
HEATMAP_COLUMNS = 60   # at most this many time cells per feature on the drift heatmap


class ResultsUnreadable(AnalyticsError):
    """The results file exists but DuckDB cannot read it (e.g. a torn copy)."""


def check(db: DbPath) -> None:
    """Raise if DuckDB cannot open ``db`` read-only and list its tables (block checksums)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SELECT count(*) FROM information_schema.tables").fetchall()
    finally:
        con.close()


def query(db: DbPath, sql: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
    """Run one read-only query on the results file ``db`` (the module's one connection path)."""
    if not Path(db).exists():
        return pd.DataFrame()
    try:
        con = duckdb.connect(str(db), read_only=True)
    except (duckdb.IOException, duckdb.InternalException, duckdb.InvalidInputException,
            duckdb.SerializationException) as exc:
        raise ResultsUnreadable("results", str(db), f"a DuckDB file ({exc})") from None
    try:
        return con.execute(sql, list(params)).fetchdf()
    except duckdb.CatalogException:   # a table this version of the analytics did not create
        return pd.DataFrame()
    except (duckdb.IOException, duckdb.InternalException, duckdb.InvalidInputException,
            duckdb.SerializationException) as exc:
        raise ResultsUnreadable("results", str(db), f"a readable DuckDB file ({exc})") from None
    finally:
        con.close()


def _where(model: str | None, version: str | None, segment: Segment,
           **more: str | None) -> tuple[str, list[Any]]:
    """`` AND col = ?`` for every given filter, and its parameters (column names are ours)."""
    sql, params = [], []
    for col, value in (("model", model), ("version", version), *more.items()):
        if value:
            sql.append(f"{col} = ?")
            params.append(value)
    if segment is not None:
        sql.append("segment_tag = ? AND segment_value = ?")
        params.extend(segment)
    return "".join(f" AND {s}" for s in sql), params


def last_run(db: DbPath) -> dict[str, Any]:
    """The newest finished analysis pass as a dict (empty before the first)."""
    frame = query(db, "SELECT * FROM runs ORDER BY finished_at DESC LIMIT 1")
    return frame.iloc[0].to_dict() if not frame.empty else {}


def run_count(db: DbPath) -> int:
    """How many analysis passes the results hold."""
    frame = query(db, "SELECT count(*) AS n FROM runs")
    return int(frame["n"].iloc[0]) if not frame.empty else 0


def runs(db: DbPath, limit: int = 20) -> pd.DataFrame:
    """The newest analysis passes."""
    return query(db, "SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (int(limit),))


def catalog(db: DbPath) -> pd.DataFrame:
    """Model, version, segment tag/value with their first and last evaluated windows."""
    return query(db, """
        SELECT model, version, segment_tag, segment_value, min(window_start) AS first_window,
               max(window_end) AS last_window, count(DISTINCT window_start) AS windows
        FROM model_metrics GROUP BY ALL ORDER BY model, version, segment_tag, segment_value""")


def time_bounds(db: DbPath) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(first window start, last window end) over every evaluated window, or Nones."""
    frame = query(db, "SELECT min(window_start) AS lo, max(window_end) AS hi FROM model_metrics")
    if frame.empty or pd.isna(frame["hi"].iloc[0]):
        return None, None
    return (pd.Timestamp(frame["lo"].iloc[0]).to_pydatetime(),
            pd.Timestamp(frame["hi"].iloc[0]).to_pydatetime())


def verdicts(db: DbPath, since: dt.datetime | None, until: dt.datetime | None,
             model: str | None = None, version: str | None = None, segment: Segment = None,
             kind: str | None = None) -> pd.DataFrame:
    """Verdict rows with ``since <= window_start < until`` (every kind unless ``kind``)."""
    where, params = _where(model, version, segment, kind=kind)
    return query(db, f"""
        SELECT model, version, segment_tag, segment_value, window_start, window_end, kind, state,
               previous_state, changed, candidate, features_evaluated, share_drifted,
               drifted_features, critical_hit, note, report_path
        FROM verdicts WHERE window_start >= coalesce(?, '-infinity'::TIMESTAMP)
          AND window_start < coalesce(?, 'infinity'::TIMESTAMP) {where}
        ORDER BY model, version, segment_tag, segment_value, kind, window_start""",
                 (since, until, *params))


def current_states(db: DbPath, model: str | None = None) -> pd.DataFrame:
    """Per (model, version, segment, kind): the newest verdict and since when it has held.

    Computed over every analysed window, never a time range, so ``since`` is the true
    onset: the first window of the newest run of equal states. ``windows`` counts that
    run, ``newest`` is its newest window (``newest_end`` its end), ``first_drift`` the
    stream's first drift window ever.
    """
    where, params = _where(model, None, None)
    return query(db, f"""
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


def feature_metrics(db: DbPath, since: dt.datetime, until: dt.datetime, model: str,
                    version: str | None = None, segment: Segment = None,
                    feature: str | None = None, role: str | None = None) -> pd.DataFrame:
    """Per-feature metric rows (score with its sketch interval, threshold, drifted)."""
    where, params = _where(model, version, segment, feature=feature, role=role)
    return query(db, f"""
        SELECT model, version, segment_tag, segment_value, window_start, window_end, feature, kind,
               layout, method, role, n, n_ref, score, lower, upper, p_value, p_adjusted,
               threshold, exceeded, candidate, drifted
        FROM feature_metrics WHERE window_start >= ? AND window_start < ? {where}
        ORDER BY feature, method, window_start""", (since, until, *params))


def effect_heatmap(db: DbPath, since: dt.datetime, until: dt.datetime, model: str,
                   version: str | None = None, segment: Segment = None,
                   max_columns: int = HEATMAP_COLUMNS) -> pd.DataFrame:
    """The drift heatmap's cells: effect scores per feature and time cell, at most
    ``max_columns`` cells per feature whatever the range.

    A range with more evaluation windows than that is cut into equal cells of whole
    windows (a multiple of the median window length); each cell shows its worst window:
    the highest ``ratio`` (score / threshold) with that window's method, score, interval
    and threshold, ``drifted`` if any window drifted, ``windows`` / ``drifted_windows``
    counts, and ``per_cell``: the window lengths one cell spans (1 = a cell per window).
    Aggregated in DuckDB, so a 30-day range costs the browser no more than a week.
    """
    where, params = _where(model, version, segment, role="effect")
    return query(db, f"""
        WITH e AS (SELECT feature, method, window_start, window_end, score, lower, upper,
                          threshold, exceeded, drifted,
                          CASE WHEN threshold > 0 THEN score / threshold END AS ratio
                   FROM feature_metrics WHERE window_start >= ? AND window_start < ? {where}),
        s AS (SELECT min(window_start) AS lo,
                     epoch(max(window_end)) - epoch(min(window_start)) AS span,
                     count(DISTINCT window_start) AS n,
                     greatest(median(epoch(window_end) - epoch(window_start)), 1) AS len
              FROM e),
        w AS (SELECT CASE WHEN s.n <= ? THEN 0 ELSE ceil(s.span / ? / s.len) END AS per_cell
              FROM s),
        c AS (SELECT e.*, w.per_cell,
                     CASE WHEN w.per_cell = 0 THEN epoch(e.window_start)
                          ELSE floor((epoch(e.window_start) - epoch(s.lo))
                                     / (w.per_cell * s.len)) END AS cell
              FROM e, s, w)
        SELECT feature, min(window_start) AS window_start, max(window_end) AS window_end,
               count(*) AS windows, arg_max(method, coalesce(ratio, -1)) AS method,
               arg_max(score, coalesce(ratio, -1)) AS score,
               arg_max(lower, coalesce(ratio, -1)) AS lower,
               arg_max(upper, coalesce(ratio, -1)) AS upper,
               arg_max(threshold, coalesce(ratio, -1)) AS threshold, max(ratio) AS ratio,
               bool_or(exceeded) AS exceeded, coalesce(bool_or(drifted), false) AS drifted,
               count(*) FILTER (drifted) AS drifted_windows,
               greatest(any_value(per_cell), 1)::INT AS per_cell
        FROM c GROUP BY feature, cell ORDER BY feature, window_start""",
                 (since, until, *params, int(max_columns), int(max_columns)))


def data_quality(db: DbPath, since: dt.datetime, until: dt.datetime, model: str,
                 version: str | None = None, segment: Segment = None,
                 feature: str | None = None) -> pd.DataFrame:
    """Data-quality rates per window (and the reference's rates)."""
    where, params = _where(model, version, segment, feature=feature)
    return query(db, f"""
        SELECT * EXCLUDE (run_id) FROM data_quality
        WHERE window_start >= ? AND window_start < ? {where}
        ORDER BY feature, window_start""", (since, until, *params))


def model_metrics(db: DbPath, since: dt.datetime, until: dt.datetime,
                  model: str | None = None, version: str | None = None,
                  segment: Segment = None) -> pd.DataFrame:
    """Throughput, latency quantiles and accuracy per window."""
    where, params = _where(model, version, segment)
    return query(db, f"""
        SELECT * EXCLUDE (run_id) FROM model_metrics
        WHERE window_start >= ? AND window_start < ? {where}
        ORDER BY model, version, segment_tag, segment_value, window_start""",
                 (since, until, *params))


def fleet_health(db: DbPath, model: str | None = None) -> pd.DataFrame:
    """One row per (device, model): last seen, versions, hashes, SDK counters, clock skew.

    ``last_seen`` is the gateway's receive time (``received_at``): a device cannot push it
    into the future. ``last_window_end`` is clamped to it here as well (results written by
    an older analytics kept the raw device-clock ``window_end``, which a device may set to
    the year 9999 and so look fresh forever).
    """
    where, params = _where(model, None, None)
    return query(db, "SELECT * EXCLUDE (run_id, last_window_end), "
                     "least(last_window_end, last_seen) AS last_window_end "
                     f"FROM fleet_health WHERE true {where} "
                     "ORDER BY model, device_id", tuple(params))
