"""The Kafka sink against a real broker: exactly once under SIGKILL, DLQ, scale-out.

The kill test lets the issue's 100,000 windows (light ones: 3 numeric + 1
categorical feature, ~1 KB each) flow through the real ``python -m
collector.sink_cli`` process twice, over one topic of 6 partitions:

* a clean run, never killed, gives the reference dataset;
* a chaos run, into a fresh dataset with a fresh consumer group, is SIGKILLed
  six times in a row and restarted after each kill: five times by
  ``EDGEDRIFT_FAULT=sink:<point>:<N>`` (read in the real code path) at
  ``after_buffer``, ``after_temp_write``, ``after_rename`` (a torn batch),
  ``after_renames`` and ``before_commit``, then once from outside at a random
  moment; a last restart runs to the end.

``N`` counts hits since the process started and is drawn at random (seeded,
the seed is in every failure message) so that each armed run writes 1/16 to
1/8 of the batches (or buffers 1/16 to 1/8 of the windows) before it dies;
the external kill comes a random 0-0.5 s after another 1/16 of the windows is
on disk. Every kill thus lands part-way through, after the previous one
(checked: each kill leaves strictly more, but not all, windows on disk, and
the log names the fault that fired); the final run has 30-60 % left to do.
The chaos dataset must then equal the clean one: same file names, same bytes,
every (device, model, seq) exactly once, no temp file left.
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
from sink_support import (
    KILL_SESSION_MS,
    bodies,
    count_windows,
    create_topic,
    file_set,
    produce,
    start_sink,
    stop,
    write_config,
)
from support import wait_until

from collector.kafka_sink import KafkaSinkWorker
from collector.parquet_files import parse_name
from collector.sink_config import KafkaConfig, SinkConfig

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

KILL_WINDOWS = 100_000
PARTITIONS = 6
OFFSETS_PER_FILE = 1_000
PRODUCE_CHUNK = 25_000
FAULT_POINTS = ("after_buffer", "after_temp_write", "after_rename", "after_renames",
                "before_commit")
KILL_FRACTION = 8           # each armed run does about 1/8 of the work before its kill


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
    for start in range(0, KILL_WINDOWS, PRODUCE_CHUNK):
        produce(kafka_bootstrap, topic, bodies(PRODUCE_CHUNK, devices=200, start=start,
                                               light=True), batch_size=512 << 10)
    return topic


def _sink_config(kafka_bootstrap: str, topic: str, base: Path) -> Path:
    return write_config(base / "sink.toml", kafka_bootstrap, topic, f"g-{uuid.uuid4().hex[:8]}",
                        offsets_per_file=OFFSETS_PER_FILE, session_ms=KILL_SESSION_MS)


def _run_to_end(cfg: Path, dataset: Path, log: Path) -> None:
    proc = start_sink(cfg, dataset, log=log)
    try:
        wait_until(lambda: count_windows(dataset) >= KILL_WINDOWS, 150, what="all windows",
                   proc=proc, interval=0.5)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def clean_run(kafka_bootstrap: str, kill_topic: str, tmp_path_factory) -> dict[str, bytes]:
    base = tmp_path_factory.mktemp("clean")
    _run_to_end(_sink_config(kafka_bootstrap, kill_topic, base), base / "ds", base / "sink.log")
    assert _identity_counts(base / "ds") == (KILL_WINDOWS, KILL_WINDOWS, 1)
    return file_set(base / "ds")


def _kill_plan(clean: dict[str, bytes], rng: random.Random) -> list[str]:
    """``sink:<point>:<N>`` for every fault point, N a random 1/16 to 1/8 of the point's
    hits in a whole run (windows for after_buffer, batches for the others)."""
    batches = {parse_name(Path(rel).name) for rel in clean if rel.startswith("windows/")}
    assert None not in batches and len(batches) >= 2 * KILL_FRACTION, sorted(clean)[:5]
    whole = {"after_buffer": KILL_WINDOWS}
    plan = []
    for point in FAULT_POINTS:
        hits = whole.get(point, len(batches))
        n = rng.randint(hits // (2 * KILL_FRACTION), hits // KILL_FRACTION)
        plan.append(f"sink:{point}:{n}")
    return plan


def test_sigkill_at_every_point_then_restart_is_exactly_once_with_the_same_files(
        kafka_bootstrap: str, kill_topic: str, clean_run: dict[str, bytes],
        tmp_path: Path) -> None:
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    plan = [*_kill_plan(clean_run, rng), "external"]
    cfg = _sink_config(kafka_bootstrap, kill_topic, tmp_path)
    dataset, log = tmp_path / "ds", tmp_path / "sink.log"
    on_disk, fired = 0, 0
    for fault in plan:
        where = f"{fault} (seed {seed}, plan {plan})"
        proc = start_sink(cfg, dataset, fault=None if fault == "external" else fault, log=log)
        try:
            if fault == "external":
                before = on_disk
                wait_until(lambda b=before: count_windows(dataset) >= b + KILL_WINDOWS // 16, 90,
                           what=f"progress before the kill {where}", proc=proc, interval=0.2)
                time.sleep(rng.uniform(0.0, 0.5))
                proc.send_signal(signal.SIGKILL)
            else:
                wait_until(lambda p=proc: (p.poll() is not None
                                           or count_windows(dataset) >= KILL_WINDOWS),
                           120, what=f"the sink to die at {where}", interval=0.3)
            proc.wait(timeout=30)
        finally:
            stop(proc)
        text = log.read_text()
        assert proc.returncode == -signal.SIGKILL, (where, text[-3000:])
        if fault != "external":
            fired += 1
            assert text.count("fault injection: SIGKILL") == fired, (where, text[-3000:])
            component, point, hits = fault.split(":")
            assert f"SIGKILL at {component}:{point} (hit {hits})" in text, (where, text[-3000:])
        now = count_windows(dataset)
        assert on_disk < now < KILL_WINDOWS, (where, on_disk, now)   # killed part-way
        on_disk = now
    _run_to_end(cfg, dataset, log)
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
                        partitions=1, group_id="dlq-test", session_timeout_ms=2000,
                        heartbeat_interval_ms=400, max_poll_interval_ms=5000)
    worker = KafkaSinkWorker(kafka, SinkConfig(dataset=str(tmp_path), idle_flush_ms=300,
                                               poll_timeout_ms=100))
    stop_ev = threading.Event()
    t = threading.Thread(target=worker.run, args=(stop_ev,), daemon=True)
    t.start()
    try:
        wait_until(lambda: worker.commits > 0 and count_windows(tmp_path) == 20, 60,
                   what="20 windows", interval=0.3)
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
    from kafka import KafkaConsumer as C
    from kafka import TopicPartition
    c = C(bootstrap_servers=kafka_bootstrap, group_id="dlq-test", enable_auto_commit=False)
    try:
        assert c.committed(TopicPartition(topic, 0)) == 22
    finally:
        c.close()


def test_two_sink_processes_share_the_partitions(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = f"share-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic, PARTITIONS)
    n = 4_000
    cfg = write_config(tmp_path / "sink.toml", kafka_bootstrap, topic, "share",
                       offsets_per_file=200)
    dataset = tmp_path / "ds"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start_sink(cfg, dataset, log=logs[0])]
    try:
        wait_until(lambda: "partitions assigned" in logs[0].read_text(), 60,
                   what="first member", proc=procs[0], interval=0.3)
        procs.append(start_sink(cfg, dataset, log=logs[1]))
        wait_until(lambda: "partitions assigned" in logs[1].read_text(), 60,
                   what="second member", proc=procs[1], interval=0.3)
        # produced once both are members: a sink that drains the topic before the second
        # one joins would leave it nothing to own
        produce(kafka_bootstrap, topic, bodies(n, devices=100))
        wait_until(lambda: count_windows(dataset) >= n, 150, what="all windows", interval=0.3)
    finally:
        for p in procs:
            stop(p)
    assert _identity_counts(dataset) == (n, n, 1)
    last_assignment = [[line for line in log.read_text().splitlines()
                        if "partitions assigned" in line][-1] for log in logs]
    owned = [set(eval(line.rsplit(": ", 1)[1])) for line in last_assignment]
    assert owned[0] and owned[1] and not owned[0] & owned[1]
    assert owned[0] | owned[1] == set(range(PARTITIONS))
