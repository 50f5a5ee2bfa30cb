"""Staleness cannot be hidden by a device clock: one device sends a window that ends in the
year 9999 and the other devices go silent; the dashboard's freshness and fleet-health data
must still show when the model was last heard from (gateway receive time)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from dashboard_fleet import BASE_MS, NOW_MS, W_MS, sample_rows, window_body

from analytics.config import AnalyticsConfig
from analytics.job import run_analysis
from collector.embedded import EmbeddedSink
from collector.records import IngestRecord
from collector.sink_config import SinkConfig
from dashboard import data, dataset
from dashboard.config import DashboardConfig
from edge_sdk.wire import MAX_TIME_MS
from edgedrift.paths import DataPaths


def test_a_far_future_window_end_does_not_make_a_model_look_fresh(tmp_path):
    paths = DataPaths(tmp_path)
    rng = np.random.default_rng(3)
    received = BASE_MS + W_MS + 1_000
    records = []
    for d, we in ((0, BASE_MS + W_MS), (1, MAX_TIME_MS - 1)):   # dev-1's clock is far off
        body = window_body(None, sample_rows(20, rng), f"dev-{d}", 0, BASE_MS, "kws", "1.0",
                           {"firmware": "a"}, "sha256:m1", we_ms=we)
        records.append(IngestRecord(f"dev-{d}", body, received // 1000, received))
    sink = EmbeddedSink(SinkConfig(dataset=str(paths.dataset), group_commit_ms=0))
    try:
        sink.write(records)
    finally:
        sink.close()
    run_analysis(AnalyticsConfig(window_s=W_MS // 1000, segment_tags=(), reports=False),
                 paths, now_ms=NOW_MS)
    cfg = DashboardConfig(data_dir=str(tmp_path))
    received_at = pd.Timestamp(received, unit="ms")

    fresh = dataset.freshness(cfg)
    assert fresh["model"].tolist() == ["kws"]
    assert pd.Timestamp(fresh["last_received"].iloc[0]) == received_at
    assert pd.Timestamp(fresh["last_window_end"].iloc[0]) == received_at   # not the year 9999

    health = data.fleet_health(cfg).set_index("device_id")
    assert sorted(health.index) == ["dev-0", "dev-1"]
    for dev in ("dev-0", "dev-1"):
        assert pd.Timestamp(health.loc[dev, "last_seen"]) == received_at
        assert pd.Timestamp(health.loc[dev, "last_window_end"]) <= received_at
    # a day later every device of the model is silent, whatever dev-1's clock claimed
    later = received_at.to_pydatetime() + dt.timedelta(days=1)
    silent_s = (later - pd.to_datetime(health["last_window_end"]).max()).total_seconds()
    assert silent_s >= 86_400


def test_parquet_reads_count_a_compacted_file_and_its_batch_files_once(tmp_path):
    """No lock: with a compacted file beside the batch files it holds (a compaction between
    its rename and its deletes, or killed there) the dashboard's Parquet reads count every
    window once."""

    from collector.compaction import CompactionConfig, compact
    from collector.parquet_files import iter_batch_files

    paths = DataPaths(tmp_path)
    rng = np.random.default_rng(5)
    received = BASE_MS + W_MS + 1_000
    sink = EmbeddedSink(SinkConfig(dataset=str(paths.dataset), group_commit_ms=0))
    try:
        for seq in range(3):
            body = window_body(None, sample_rows(10, rng), "dev-0", seq, BASE_MS, "kws", "1.0",
                               {"firmware": "a"}, "sha256:m1")
            sink.write([IngestRecord("dev-0", body, received // 1000, received)])
    finally:
        sink.close()
    batches = {path: path.read_bytes() for path, _ in iter_batch_files(paths.dataset)}
    compact(CompactionConfig(dataset=str(paths.dataset), min_age_s=0, before="9999-01-01"))
    for path, content in batches.items():    # the batch files back beside their compacted file
        path.write_bytes(content)
    assert len(list(iter_batch_files(paths.dataset))) == len(batches)
    cfg = DashboardConfig(data_dir=str(tmp_path))
    since = dt.datetime(2000, 1, 1)
    until = dt.datetime(2100, 1, 1)
    assert dataset.ingest(cfg, since, until)["windows"].sum() == 3
    assert dataset.device_windows(cfg, since, until)["windows"].tolist() == [3]
