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


def test_parquet_reads_wait_for_a_compaction_step(tmp_path):
    """A dashboard query holds the readers' lock shared: while a compaction's rename-and-
    delete step holds it exclusively (here: the test, the same flock), the query waits, so
    it can never see a compacted file and the batch files it replaces at once."""
    import fcntl
    import os
    import threading

    from collector.compaction import READERS_LOCK

    paths = DataPaths(tmp_path)
    rng = np.random.default_rng(5)
    received = BASE_MS + W_MS + 1_000
    body = window_body(None, sample_rows(10, rng), "dev-0", 0, BASE_MS, "kws", "1.0",
                       {"firmware": "a"}, "sha256:m1")
    sink = EmbeddedSink(SinkConfig(dataset=str(paths.dataset), group_commit_ms=0))
    try:
        sink.write([IngestRecord("dev-0", body, received // 1000, received)])
    finally:
        sink.close()
    cfg = DashboardConfig(data_dir=str(tmp_path))
    fd = os.open(paths.dataset / READERS_LOCK, os.O_RDWR)
    result: list = []
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)                 # a compaction step in progress
        reader = threading.Thread(target=lambda: result.append(dataset.freshness(cfg)))
        reader.start()
        reader.join(1.0)
        assert reader.is_alive() and not result        # waiting for the step to end
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    reader.join(60)
    assert not reader.is_alive()
    assert result[0]["model"].tolist() == ["kws"]
