"""Seeded regressions: no verdict on a stationary fleet over 1,000 windows; segment drift;
the Evidently drill-down report when a verdict turns to drift."""

from __future__ import annotations

import json

import duckdb
from analytics_fleet import BASE_MS, fleet, write

from analytics.config import AnalyticsConfig
from analytics.job import run_analysis
from analytics.reference import ReferenceStore
from edgedrift.paths import DataPaths

NOW = BASE_MS + 24 * 3_600_000


def test_no_verdict_on_a_stationary_fleet_over_1000_windows(tmp_path, built):
    paths = DataPaths(tmp_path)
    built.save(ReferenceStore(paths.references))
    write(paths.dataset, fleet(built.spec, windows=1000, devices=1, records=250,
                               window_ms=60_000, seed=7))
    config = AnalyticsConfig(window_s=60, reports=False)
    summary = run_analysis(config, paths, now_ms=NOW)
    assert summary.windows_computed == 1000
    drift = [v for v in summary.verdicts if v["kind"] == "drift"]
    assert len(drift) == 2000                      # fleet + firmware=a segment
    assert summary.drift_verdicts() == []
    con = duckdb.connect(str(paths.analytics_db), read_only=True)
    cand, total = con.execute("SELECT count(*) FILTER (WHERE candidate), count(*) FROM "
                              "(SELECT DISTINCT window_start, segment_tag, feature, candidate "
                              "FROM feature_metrics)").fetchone()
    con.close()
    assert total == 2000 * 4
    assert cand / total <= 0.01                   # feature-window false-positive rate


def test_segment_drift_detected_in_its_segment(tmp_path, built):
    paths = DataPaths(tmp_path)
    built.save(ReferenceStore(paths.references))
    # 10 devices, one (firmware b) drifts from window 2 on
    ok = fleet(built.spec, windows=6, devices=9, records=300, window_ms=600_000, seed=3)
    bad = fleet(built.spec, windows=6, devices=1, records=300, window_ms=600_000, seed=4,
                drift_from=2, shift=1.5, tags_of=lambda d: {"firmware": "b"}, first_device=9)
    write(paths.dataset, ok + bad)
    summary = run_analysis(AnalyticsConfig(window_s=600, reports=False), paths, now_ms=NOW)
    seg = [v for v in summary.drift_verdicts() if v["kind"] == "drift"]
    in_b = [v for v in seg if v["segment_tag"] == "firmware" and v["segment_value"] == "b"]
    # alerted in the window the drift begins (its evidence is well over 1.5x the threshold)
    assert [v["window_start_ms"] for v in in_b] == [BASE_MS + i * 600_000 for i in (2, 3, 4, 5)]
    assert not [v for v in seg if v["segment_value"] == "a"]     # the healthy segment stays ok


def test_evidently_report_written_when_verdict_turns_to_drift(tmp_path, built):
    paths = DataPaths(tmp_path)
    built.save(ReferenceStore(paths.references))
    write(paths.dataset, fleet(built.spec, windows=4, devices=2, records=200, window_ms=600_000,
                               seed=5, drift_from=1, shift=2.0, samples=50))
    summary = run_analysis(AnalyticsConfig(window_s=600, segment_tags=()), paths, now_ms=NOW)
    turned = [v for v in summary.changes() if v["kind"] == "drift" and v["state"] == "drift"]
    assert len(turned) == 1
    assert len(summary.reports) == 1
    html = summary.reports[0]
    assert html.endswith(".html") and (paths.reports / html.split("/")[-1]).exists()
    data = json.loads((paths.reports / html.split("/")[-1].replace(".html", ".json")).read_text())
    assert "temp" in json.dumps(data)
    con = duckdb.connect(str(paths.analytics_db), read_only=True)
    stored = con.execute("SELECT report_path FROM verdicts WHERE report_path <> ''").fetchall()
    con.close()
    assert stored == [(html,)]


def test_a_fleet_whose_only_model_looks_like_a_number_still_reads_as_text(tmp_path):
    """DuckDB guesses hive partition types: model=7 alone read back as BIGINT, and every
    query with a string model then failed (found by review)."""
    from analytics.dataset import Dataset
    from collector.embedded import EmbeddedSink
    from collector.fake_windows import BASE_MS, make_window_body
    from collector.records import IngestRecord
    from collector.sink_config import SinkConfig

    sink = EmbeddedSink(SinkConfig(dataset=str(tmp_path), group_commit_ms=0))
    sink.write([IngestRecord("dev-1", make_window_body("dev-1", s, model="7", records=20),
                             1, BASE_MS) for s in range(3)])
    sink.close()
    got = Dataset(tmp_path).telemetry_features("7", "1.0", BASE_MS - 1, BASE_MS + 10**7)
    assert got.num_rows == 26                               # every feature group of model "7",
    assert set(got.column("windows").to_pylist()) == {3}    # each merging its three windows
    assert set(Dataset(tmp_path).fleet_health().column("model").to_pylist()) == {"7"}
