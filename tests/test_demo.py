"""`edgedrift demo` in a shortened form: the injected drift is found where it was injected,
nothing else alerts, and exactly one signed webhook arrives per alert."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgedrift.demo.fleet import DRIFT_FEATURE, DRIFT_MODEL, DRIFT_SEGMENT
from edgedrift.demo.pipeline import DemoOptions, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    options = DemoOptions(devices=24, hours=10, records_per_window=25, quiet=True, seed=11)
    return run_demo(options, tmp_path_factory.mktemp("demo") / "demo"), options


def test_injected_drift_is_detected_in_the_right_feature_and_segment(demo) -> None:
    result, _ = demo
    hits = [v for v in result.detections()
            if v["kind"] == "drift" and v["segment_tag"] == DRIFT_SEGMENT[0]
            and v["segment_value"] == DRIFT_SEGMENT[1]]
    assert [v["model"] for v in hits] == [DRIFT_MODEL]
    features = {f["feature"] for f in json.loads(hits[0]["drifted_features"])}
    assert DRIFT_FEATURE in features
    # not before the injection: the first drifted window ends after the drift started
    assert hits[0]["window_end_ms"] > result.drift_start_ms


def test_nothing_else_drifts(demo) -> None:
    result, _ = demo
    drifted = [v for v in result.verdicts if v["state"] == "drift"]
    assert drifted, "the demo must detect its injected drift"
    for v in drifted:
        assert v["model"] == DRIFT_MODEL, v
        # the untouched firmware segment stays quiet
        assert not (v["segment_tag"] == DRIFT_SEGMENT[0]
                    and v["segment_value"] != DRIFT_SEGMENT[1]), v
        assert v["window_end_ms"] > result.drift_start_ms, "no drift before the injection"


def test_exactly_one_verified_webhook_per_alert(demo) -> None:
    result, _ = demo
    assert result.alerts, "an alert must be raised"
    ids = [w["webhook_id"] for w in result.webhooks]
    assert len(ids) == len(result.alerts) == len(set(ids))
    for hook in result.webhooks:
        assert hook["payload"]["type"] == "drift.detected"
        assert hook["payload"]["data"]["model"] == DRIFT_MODEL


def test_demo_cli_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "precious.txt").write_text("user data")
    proc = subprocess.run([sys.executable, "-m", "edgedrift", "demo", "--data-dir", str(tmp_path),
                           "--quiet"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "was not made by the demo" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "demo" / "precious.txt").exists()


@pytest.mark.kafka
def test_demo_through_kafka_with_separate_gateway_and_sink(kafka_bootstrap: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # A topic and consumer group of its own on the shared test broker; a production-looking
    # EDGEDRIFT_KAFKA_* setting in the environment must not reach the demo's processes.
    suffix = tmp_path.name.replace("_", "-")
    monkeypatch.setenv("EDGEDRIFT_KAFKA_TOPIC", "edgedrift.windows")
    monkeypatch.setenv("EDGEDRIFT_KAFKA_GROUP_ID", "edgedrift-sink")
    options = DemoOptions(devices=16, hours=8, records_per_window=25, quiet=True, seed=5,
                          kafka=kafka_bootstrap, kafka_topic=f"demo-{suffix}",
                          kafka_group=f"demo-{suffix}")
    result = run_demo(options, tmp_path / "demo")
    hits = [v for v in result.detections() if v["segment_value"] == DRIFT_SEGMENT[1]]
    assert [v["model"] for v in hits] == [DRIFT_MODEL]
    assert all(v["model"] == DRIFT_MODEL for v in result.verdicts if v["state"] == "drift")
    assert len(result.webhooks) == len(result.alerts) > 0
    # every window went through Kafka into Parquet exactly once (by identity)
    import duckdb

    con = duckdb.connect()
    glob = str(tmp_path / "demo" / "telemetry" / "windows" / "**" / "*.parquet")
    total, distinct = con.execute(
        "SELECT count(*), count(DISTINCT (device_id, model, seq)) FROM "
        "read_parquet(?, hive_partitioning = true)", [glob]).fetchall()[0]
    assert total == distinct == result.windows_sent      # each window once, none twice
    # ... through the demo's own topic, not the production one the environment named
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    try:
        assert f"demo-{suffix}" in consumer.topics()
    finally:
        consumer.close()
