"""The Kafka sink against a real broker: exactly once under SIGKILL, DLQ, scale-out.

The kill tests run the real ``python -m collector.sink_cli`` process with
``EDGEDRIFT_FAULT=sink:<point>:<N>`` (read in the real code path), or kill it
from outside at a random moment, restart it, and compare the final dataset
with a clean run's: same file names, same bytes, every window exactly once.
The issue asks for 100,000 windows; KILL_WINDOWS (20,000 light windows: 3 numeric
+ 1 categorical feature) keeps the whole sink suite within its 4-minute budget on
the 2-core test machine.
"""

from __future__ import annotations

import random
import signal
import threading
import time
import uuid
from pathlib import Path

import duckdb
import pytest

from collector.kafka_sink import KafkaSinkWorker
from collector.sink_config import KafkaConfig, SinkConfig
from sink_support import (bodies, count_windows, create_topic, file_set, produce, start_sink,
                          stop, wait_for, write_config)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

KILL_WINDOWS = 20_000
PARTITIONS = 6
OFFSETS_PER_FILE = 1_000


def _identity_counts(dataset: Path) -> tuple[int, int, int]:
    """(rows, distinct (device, model, seq), max rows per identity) of the windows table."""
    con = duckdb.connect()
    try:
        return con.execute(
            "SELECT count(*), count(DISTINCT (device_id, model, seq)), "
            "max(c) FROM (SELECT device_id, model, seq, count(*) OVER "
            "(PARTITION BY device_id, model, seq) AS c "
            "FROM read_parquet(?, hive_partitioning=true))",
            [str(dataset / "windows" / "**" / "*.parquet")]).fetchone()
    finally:
        con.close()


@pytest.fixture(scope="module")
def kill_topic(kafka_bootstrap: str) -> str:
    topic = f"kill-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic, PARTITIONS)
    for start in range(0, KILL_WINDOWS, 5_000):
        produce(kafka_bootstrap, topic, bodies(5_000, devices=200, start=start, light=True))
    return topic


def _run_to_end(kafka_bootstrap: str, topic: str, base: Path, fault: str | None = None,
                external_kill_after: float | None = None) -> Path:
    group = f"g-{uuid.uuid4().hex[:8]}"
    cfg = write_config(base / "sink.toml", kafka_bootstrap, topic, group,
                       offsets_per_file=OFFSETS_PER_FILE)
    dataset, log = base / "ds", base / "sink.log"
    proc = start_sink(cfg, dataset, fault=fault, log=log)
    try:
        if fault or external_kill_after is not None:
            if external_kill_after is not None:
                wait_for(lambda: count_windows(dataset) > 0, 90, "first files", proc)
                time.sleep(external_kill_after)
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=120)
            assert proc.returncode == -signal.SIGKILL, log.read_text()[-3000:]
            assert count_windows(dataset) < KILL_WINDOWS
            proc = start_sink(cfg, dataset, log=log)
        wait_for(lambda: count_windows(dataset) >= KILL_WINDOWS, 150, "all windows", proc)
    finally:
        stop(proc)
    return dataset


@pytest.fixture(scope="module")
def clean_run(kafka_bootstrap: str, kill_topic: str, tmp_path_factory) -> dict[str, bytes]:
    dataset = _run_to_end(kafka_bootstrap, kill_topic, tmp_path_factory.mktemp("clean"))
    assert _identity_counts(dataset) == (KILL_WINDOWS, KILL_WINDOWS, 1)
    return file_set(dataset)


@pytest.mark.parametrize("fault", [
    "sink:after_buffer:2500", "sink:after_temp_write:4", "sink:after_rename:6",
    "sink:after_renames:9", "sink:before_commit:3", "external"])
def test_sigkill_then_restart_is_exactly_once_with_the_same_files(
        kafka_bootstrap: str, kill_topic: str, clean_run: dict[str, bytes], tmp_path: Path,
        fault: str) -> None:
    if fault == "external":
        dataset = _run_to_end(kafka_bootstrap, kill_topic, tmp_path,
                              external_kill_after=random.uniform(0.2, 1.5))
    else:
        dataset = _run_to_end(kafka_bootstrap, kill_topic, tmp_path, fault=fault)
    assert _identity_counts(dataset) == (KILL_WINDOWS, KILL_WINDOWS, 1)
    got = file_set(dataset)
    assert sorted(got) == sorted(clean_run)
    assert got == clean_run                     # byte-identical, not just the same names
    assert not list(dataset.rglob("*.tmp"))


def test_undecodable_records_go_to_the_dead_letter_topic(kafka_bootstrap: str,
                                                         tmp_path: Path) -> None:
    from kafka import KafkaConsumer

    topic = f"dlq-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic, 1)
    good = bodies(20)
    wrong_device = good[0].kafka_value()
    produce(kafka_bootstrap, topic, good[:10],
            raw=[(b"dev-1", b"\x93\x01\x02"), (b"dev-x", wrong_device)])
    produce(kafka_bootstrap, topic, good[10:])
    kafka = KafkaConfig(bootstrap=kafka_bootstrap, topic=topic, dlq_topic=topic + ".dlq",
                        partitions=1, group_id="dlq-test", session_timeout_ms=6000,
                        heartbeat_interval_ms=1000, max_poll_interval_ms=5000)
    worker = KafkaSinkWorker(kafka, SinkConfig(dataset=str(tmp_path), idle_flush_ms=300,
                                               poll_timeout_ms=100))
    stop_ev = threading.Event()
    t = threading.Thread(target=worker.run, args=(stop_ev,), daemon=True)
    t.start()
    try:
        wait_for(lambda: worker.commits > 0 and count_windows(tmp_path) == 20, 60, "20 windows")
    finally:
        stop_ev.set()
        t.join(30)
    assert worker.stats()["dead_letters"] == 2
    consumer = KafkaConsumer(topic + ".dlq", bootstrap_servers=kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    try:
        dead = []
        deadline = time.monotonic() + 30
        while len(dead) < 2 and time.monotonic() < deadline:
            for batch in consumer.poll(1000).values():
                dead.extend(batch)
    finally:
        consumer.close()
    assert [(m.key, dict(m.headers)["edgedrift.source"]) for m in dead] == [
        (b"dev-1", f"{topic}/0/10".encode()), (b"dev-x", f"{topic}/0/11".encode())]
    reasons = [dict(m.headers)["edgedrift.reason"].decode() for m in dead]
    assert reasons[0].startswith("record") and "record.key" in reasons[1]
    assert dead[1].value == wrong_device
    # the committed offset is past everything, dead letters included
    from kafka import KafkaConsumer as C, TopicPartition
    c = C(bootstrap_servers=kafka_bootstrap, group_id="dlq-test", enable_auto_commit=False)
    try:
        assert c.committed(TopicPartition(topic, 0)) == 22
    finally:
        c.close()


def test_two_sink_processes_share_the_partitions(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = f"share-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic, PARTITIONS)
    n = 4_000
    produce(kafka_bootstrap, topic, bodies(n, devices=100))
    cfg = write_config(tmp_path / "sink.toml", kafka_bootstrap, topic, "share",
                       offsets_per_file=200)
    dataset = tmp_path / "ds"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start_sink(cfg, dataset, log=logs[0])]
    try:
        wait_for(lambda: "partitions assigned" in logs[0].read_text(), 60, "first member", procs[0])
        procs.append(start_sink(cfg, dataset, log=logs[1]))
        wait_for(lambda: count_windows(dataset) >= n, 150, "all windows")
    finally:
        for p in procs:
            stop(p)
    assert _identity_counts(dataset) == (n, n, 1)
    last_assignment = [[line for line in log.read_text().splitlines()
                        if "partitions assigned" in line][-1] for log in logs]
    owned = [set(eval(line.rsplit(": ", 1)[1])) for line in last_assignment]
    assert owned[0] and owned[1] and not owned[0] & owned[1]
    assert owned[0] | owned[1] == set(range(PARTITIONS))
