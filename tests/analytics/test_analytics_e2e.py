"""End to end: window sketches through the collector's embedded sink -> Parquet -> analysis
-> DuckDB results file; re-runs give the same rows; retries never count twice."""

from __future__ import annotations

import duckdb
import pytest
from analytics_fleet import BASE_MS, fleet, write

from analytics.config import AnalyticsConfig
from analytics.job import run_analysis
from edgedrift.paths import DataPaths

W_MS = 600_000
NOW = BASE_MS + 24 * 3_600_000

CONFIG = AnalyticsConfig(window_s=600, segment_tags=("firmware",), reports=False)


def _rows(db, table):
    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall() if r[0] != "run_id"]
        return sorted(map(repr, con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()))
    finally:
        con.close()


@pytest.fixture()
def drifting(tmp_path, built):
    paths = DataPaths(tmp_path)
    built.save(__import__("analytics.reference", fromlist=["x"]).ReferenceStore(paths.references))
    bodies = fleet(built.spec, windows=10, devices=3, records=150, window_ms=W_MS, drift_from=5,
                   tags_of=lambda d: {"firmware": "a" if d < 2 else "b"})
    write(paths.dataset, bodies)
    return paths, bodies


def test_drift_detected_at_window_n_not_before(drifting):
    paths, _ = drifting
    summary = run_analysis(CONFIG, paths, now_ms=NOW)
    assert summary.windows_computed == 10
    fleet_drift = [v for v in summary.verdicts if v["kind"] == "drift" and v["segment_tag"] == ""]
    states = [v["state"] for v in sorted(fleet_drift, key=lambda v: v["window_start_ms"])]
    # drift starts at window 5; its evidence (the effect's lower bound, well over 1.5x its
    # threshold) alerts in that window, not before
    assert states == ["ok"] * 5 + ["drift"] * 5
    first = next(v for v in fleet_drift if v["state"] == "drift")
    assert first["changed"] and first["previous_state"] == "ok"
    assert "temp" in first["drifted_features"]
    assert all(v["state"] == "ok" for v in summary.verdicts
               if v["kind"] == "drift" and v["window_start_ms"] < BASE_MS + 5 * W_MS)


def test_rerun_gives_same_rows_and_scheduled_run_computes_only_new(drifting):
    paths, _ = drifting
    run_analysis(CONFIG, paths, now_ms=NOW)
    tables = ("feature_metrics", "verdicts", "data_quality", "model_metrics", "fleet_health")
    first = {t: _rows(paths.analytics_db, t) for t in tables}
    assert all(first[t] for t in tables)
    again = run_analysis(CONFIG, paths, now_ms=NOW)          # scheduled: nothing new
    assert again.windows_computed == 0
    forced = run_analysis(CONFIG, paths, since_ms=BASE_MS, now_ms=NOW)   # replaces its rows
    assert forced.windows_computed == 10
    assert {t: _rows(paths.analytics_db, t) for t in tables} == first
    # a new window arrives: only that one is computed
    write(paths.dataset, fleet(None, windows=1, devices=1, records=150, window_ms=W_MS,
                               start_ms=BASE_MS + 10 * W_MS, first_seq=10))
    assert run_analysis(CONFIG, paths, now_ms=NOW).windows_computed == 1


def test_retried_window_counts_once(drifting):
    paths, bodies = drifting
    run_analysis(CONFIG, paths, now_ms=NOW)
    before = _rows(paths.analytics_db, "model_metrics")
    write(paths.dataset, bodies[:3])        # the device retried: same windows, new deliveries
    summary = run_analysis(CONFIG, paths, since_ms=BASE_MS, now_ms=NOW)
    assert summary.windows_computed == 10
    assert _rows(paths.analytics_db, "model_metrics") == before
    con = duckdb.connect(str(paths.analytics_db), read_only=True)
    dup = con.execute("SELECT sum(duplicates) FROM fleet_health").fetchone()[0]
    records = con.execute("SELECT records, windows FROM model_metrics WHERE segment_tag = '' "
                          "ORDER BY window_start LIMIT 1").fetchone()
    con.close()
    assert dup == 0                         # the sink kept one row per window (exactly once)
    assert records == (450, 3)
    raw = duckdb.connect()
    total, distinct = raw.execute("SELECT count(*), count(DISTINCT (device_id, seq)) "
                                  "FROM read_parquet(?)",
                                  [f"{paths.dataset}/windows/**/*.parquet"]).fetchone()
    raw.close()
    assert total == distinct == 10 * 3
