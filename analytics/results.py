"""The analytics results database (DuckDB file at ``DataPaths.analytics_db``).

Tables (one row per ...):

* ``feature_metrics`` -- window, segment, feature and method: score with its
  sketch interval (lower, upper), p-value, BH-adjusted p-value, threshold,
  and the feature's candidate/drifted state;
* ``verdicts`` -- window, segment and kind (drift / quality / latency /
  accuracy): state (drift or ok), the previous state, drifted features with
  score, interval, threshold and method (JSON), share drifted, critical hits;
* ``data_quality`` -- window, segment and feature: quality rates and the
  reference's rates;
* ``model_metrics`` -- window and segment: records, devices, throughput,
  latency p50/p95/p99 with intervals, accuracy / MAE;
* ``fleet_health`` -- device and model: last seen, versions, model hashes, SDK
  counters, clock skew;
* ``runs`` and ``computed_windows`` -- what each pass did, and which windows
  have been computed from how many device windows.

Writes are idempotent: a pass deletes the rows of every (model, version,
window) it computed and inserts the new ones in one transaction.

>>> import tempfile, os
>>> db = ResultsDB(os.path.join(tempfile.mkdtemp(), "a.duckdb"))
>>> db.open().table_names()[:3]
['computed_windows', 'data_quality', 'feature_metrics']
>>> db.close()
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

WINDOW_KEY = ("model", "version", "window_start")

DDL = {
    "feature_metrics": """model VARCHAR, version VARCHAR, segment_tag VARCHAR,
        segment_value VARCHAR, window_start TIMESTAMP, window_end TIMESTAMP, feature VARCHAR,
        kind VARCHAR, layout VARCHAR, method VARCHAR, role VARCHAR, n BIGINT, n_ref BIGINT,
        score DOUBLE, lower DOUBLE, upper DOUBLE, p_value DOUBLE, p_adjusted DOUBLE,
        threshold DOUBLE, exceeded BOOLEAN, candidate BOOLEAN, drifted BOOLEAN, run_id VARCHAR,
        evidence DOUBLE, cusum DOUBLE""",
    "verdicts": """model VARCHAR, version VARCHAR, segment_tag VARCHAR, segment_value VARCHAR,
        window_start TIMESTAMP, window_end TIMESTAMP, kind VARCHAR, state VARCHAR,
        previous_state VARCHAR, changed BOOLEAN, candidate BOOLEAN, features_evaluated INTEGER,
        share_drifted DOUBLE, drifted_features VARCHAR, critical_hit VARCHAR, note VARCHAR,
        report_path VARCHAR, run_id VARCHAR""",
    "data_quality": """model VARCHAR, version VARCHAR, segment_tag VARCHAR, segment_value VARCHAR,
        window_start TIMESTAMP, window_end TIMESTAMP, feature VARCHAR, records BIGINT,
        missing_rate DOUBLE, nan_rate DOUBLE, inf_rate DOUBLE, type_mismatch_rate DOUBLE,
        out_of_range_rate DOUBLE, unseen_rate DOUBLE, ref_missing_rate DOUBLE,
        ref_nan_rate DOUBLE, ref_inf_rate DOUBLE, ref_type_mismatch_rate DOUBLE,
        ref_out_of_range_rate DOUBLE, ref_unseen_rate DOUBLE, worst VARCHAR, excess DOUBLE,
        candidate BOOLEAN, flagged BOOLEAN, run_id VARCHAR, evidence DOUBLE, cusum DOUBLE""",
    "model_metrics": """model VARCHAR, version VARCHAR, segment_tag VARCHAR, segment_value VARCHAR,
        window_start TIMESTAMP, window_end TIMESTAMP, windows BIGINT, devices BIGINT,
        records BIGINT, throughput_rps DOUBLE, latency_p50 DOUBLE, latency_p50_lower DOUBLE,
        latency_p50_upper DOUBLE, latency_p95 DOUBLE, latency_p95_lower DOUBLE,
        latency_p95_upper DOUBLE, latency_p99 DOUBLE, latency_p99_lower DOUBLE,
        latency_p99_upper DOUBLE, label_n BIGINT, accuracy DOUBLE, accuracy_lower DOUBLE,
        accuracy_upper DOUBLE, mae DOUBLE, rmse DOUBLE, unknown_feature BIGINT, untyped BIGINT,
        bad_record BIGINT, run_id VARCHAR""",
    "fleet_health": """device_id VARCHAR, model VARCHAR, last_seen TIMESTAMP,
        last_window_end TIMESTAMP, windows BIGINT, duplicates BIGINT, versions VARCHAR,
        model_hashes VARCHAR, sdk VARCHAR, sdk_dropped BIGINT, sdk_corrupt BIGINT,
        sdk_rejected BIGINT, sdk_backlog BIGINT, sdk_internal_errors BIGINT,
        clock_skew_ms BIGINT, delivery_lag_ms BIGINT, run_id VARCHAR""",
    "runs": """run_id VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, since TIMESTAMP,
        until TIMESTAMP, windows_computed INTEGER, feature_rows BIGINT, verdict_rows INTEGER,
        drift_verdicts INTEGER, seconds DOUBLE, status VARCHAR, error VARCHAR""",
    "computed_windows": """model VARCHAR, version VARCHAR, window_start TIMESTAMP,
        device_windows BIGINT, computed_at TIMESTAMP, run_id VARCHAR""",
}
WINDOWED = ("feature_metrics", "verdicts", "data_quality", "model_metrics", "computed_windows")


def _column_defs(ddl: str) -> list[str]:
    return [" ".join(part.split()) for part in ddl.replace("\n", " ").split(",")]


def columns(table: str) -> list[str]:
    """Column names of a results table, in order.

    >>> columns("verdicts")[:4]
    ['model', 'version', 'segment_tag', 'segment_value']
    """
    return [part.split()[0] for part in DDL[table].replace("\n", " ").split(",")]


@dataclass
class ResultsDB:
    """Read/write access to the results file (one writer at a time)."""

    path: str | os.PathLike[str]

    def __post_init__(self) -> None:
        self._con: duckdb.DuckDBPyConnection | None = None

    def open(self) -> ResultsDB:
        if self._con is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(str(self.path))
            for name, ddl in DDL.items():
                self._con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({ddl})")
                for column in _column_defs(ddl):   # files of older versions gain new columns
                    self._con.execute(f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {column}")
        return self

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.open()._con  # type: ignore[return-value]

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> ResultsDB:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def table_names(self) -> list[str]:
        return sorted(r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall())

    # -- reads ------------------------------------------------------------------------
    def computed(self) -> pd.DataFrame:
        """(model, version, window_start ms, device_windows) of every computed window."""
        return self.con.execute(
            "SELECT model, version, epoch_ms(window_start) AS bucket, device_windows "
            "FROM computed_windows").fetchdf()

    def feature_history(self, since_ms: int, until_ms: int) -> pd.DataFrame:
        """Each feature stream's CUSUM statistic in earlier windows (analytics.sequential)."""
        return self._statistics("feature_metrics", since_ms, until_ms)

    def quality_history(self, since_ms: int, until_ms: int) -> pd.DataFrame:
        """Each quality stream's CUSUM statistic in earlier windows."""
        return self._statistics("data_quality", since_ms, until_ms)

    def _statistics(self, table: str, since_ms: int, until_ms: int) -> pd.DataFrame:
        return self.con.execute(
            "SELECT model, version, segment_tag, segment_value, feature, "
            "epoch_ms(window_start) AS bucket, max(coalesce(cusum, 0)) AS statistic "
            f"FROM {table} WHERE window_start >= make_timestamp(? * 1000) "
            "AND window_start < make_timestamp(? * 1000) GROUP BY ALL",
            [since_ms, until_ms]).fetchdf()

    def verdict_history(self, since_ms: int, until_ms: int) -> pd.DataFrame:
        return self.con.execute(
            "SELECT model, version, segment_tag, segment_value, kind, state, candidate, "
            "epoch_ms(window_start) AS bucket FROM verdicts "
            "WHERE window_start >= make_timestamp(? * 1000) "
            "AND window_start < make_timestamp(? * 1000)",
            [since_ms, until_ms]).fetchdf()

    def previous_states(self, before_ms: int) -> pd.DataFrame:
        """The latest verdict state per (model, version, segment, kind) before a time."""
        return self.con.execute(
            "SELECT model, version, segment_tag, segment_value, kind, "
            "arg_max(state, window_start) AS previous_state FROM verdicts "
            "WHERE window_start < make_timestamp(? * 1000) GROUP BY ALL",
            [before_ms]).fetchdf()

    def verdicts(self, where: str = "", params: list | None = None) -> pd.DataFrame:
        """Verdict rows (optionally filtered by a ``WHERE`` clause with ``?`` parameters)."""
        sql = "SELECT * FROM verdicts" + (f" WHERE {where}" if where else "")
        return self.con.execute(sql + " ORDER BY window_start, model, version, segment_tag, "
                                "segment_value, kind", params or []).fetchdf()

    # -- writes -----------------------------------------------------------------------
    def replace_windows(self, keys: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> None:
        """In one transaction: delete every row of the (model, version, window_start) in
        ``keys`` from the windowed tables, then insert ``tables`` (name -> frame)."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("_keys", keys[list(WINDOW_KEY)])
            for name in WINDOWED:
                con.execute(f"DELETE FROM {name} WHERE (model, version, window_start) IN "
                            "(SELECT (model, version, window_start) FROM _keys)")
            con.unregister("_keys")
            for name, frame in tables.items():
                self._insert(name, frame)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def replace_fleet_health(self, frame: pd.DataFrame) -> None:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM fleet_health")
            self._insert("fleet_health", frame)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def record_run(self, row: dict) -> None:
        self._insert("runs", pd.DataFrame([row]))

    def set_report(self, model: str, version: str, segment_tag: str, segment_value: str,
                   window_start_ms: int, path: str) -> None:
        self.con.execute(
            "UPDATE verdicts SET report_path = ? WHERE model = ? AND version = ? "
            "AND segment_tag = ? AND segment_value = ? AND kind = 'drift' "
            "AND window_start = make_timestamp(? * 1000)",
            [path, model, version, segment_tag, segment_value, window_start_ms])

    def _insert(self, name: str, frame: pd.DataFrame) -> None:
        if frame is None or frame.empty:
            return
        cols = columns(name)
        frame = frame.reindex(columns=cols)
        self.con.register("_rows", frame)
        try:
            self.con.execute(f"INSERT INTO {name} SELECT {', '.join(cols)} FROM _rows")
        finally:
            self.con.unregister("_rows")


def snapshot_path(db_path: str | os.PathLike[str]) -> Path:
    """Where readers find the published copy of ``db_path``.

    >>> snapshot_path("/srv/ed/analytics.duckdb").name
    'analytics.snapshot.duckdb'
    """
    p = Path(db_path)
    return p.with_name(p.stem + ".snapshot" + p.suffix)


def publish_snapshot(db_path: str | os.PathLike[str]) -> Path:
    """Copy the closed results file to its read snapshot atomically (temp, fsync, rename).

    Readers (the dashboard) open the snapshot, never the live file, so a
    reader can never block the single DuckDB writer.
    """
    target = snapshot_path(db_path)
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
    with open(db_path, "rb") as src, open(tmp, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, target)
    return target
