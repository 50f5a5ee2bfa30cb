"""One row per window on the Kafka path, against a real broker, real gateway and sink
processes and real Parquet:

* two gateways on one topic: one SIGKILLed after the broker's ack and before answering,
  the client failing over to the other with what it did not see confirmed; captured
  requests replayed to the other gateway (accepted: its replay cache never saw them) and
  to the first one after its restart (refused: its cache is journaled in its data dir).
  The topic holds the extra copies; the tables hold each window once.
* a topic full of redeliveries (identical bytes, near and far) and conflicting bodies, its
  sink SIGKILLed before the offset commit (its batches written: the restart replays them
  from the state as of the commit) and after it (the snapshot written or not): the final
  files equal, byte for byte, those of a sink that was never killed, with one row per
  window.
"""

from __future__ import annotations

import random
import shutil
import signal
import uuid
from pathlib import Path

import pytest
import sink_support
from exactly_once_support import (
    identity_ingest_pairs,
    records_with_redeliveries,
    send_until_dead,
    table_counts,
)
from gateway_harness import GatewayProcess, KeyPool, post, window
from kafka import KafkaConsumer, TopicPartition
from sink_support import create_topic, file_set, produce, start_sink, stop
from support import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


def write_config(path: Path, bootstrap: str, topic: str, group: str, partitions: int,
                 offsets_per_file: int = 200) -> Path:
    """Gateway and sink settings for one test topic (snapshots after every commit), with the
    1 s consumer session of sink_support.KILL_SESSION_MS: a sink restarted after a SIGKILL
    gets its partitions after ~1 s instead of ~11 s with a 6 s session."""
    return sink_support.write_config(path, bootstrap, topic, group, partitions,
                                     offsets_per_file, idle_flush_ms=300,
                                     session_ms=sink_support.KILL_SESSION_MS,
                                     sink_extra="seq_snapshot_s = 0\n")


def consumed(bootstrap: str, group: str, topic: str, total: int) -> bool:
    """Whether the group's committed offsets add up to the ``total`` records of the topic
    (end offsets read right after a produce were seen to lag here)."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
        return sum(c.committed(tp) or 0 for tp in parts) >= total
    finally:
        c.close()


def topic_size(bootstrap: str, topic: str) -> int:
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
        return sum(c.end_offsets(parts).values())
    finally:
        c.close()


def test_kill_after_ack_failover_and_replays_across_gateways_rows_once(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    topic, group = f"eo-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    cfg = write_config(tmp_path / "edgedrift.toml", kafka_bootstrap, topic, group, 2)
    dir_a, dir_b, dataset = tmp_path / "a", tmp_path / "b", tmp_path / "telemetry"
    pool = KeyPool(dir_a, count=12, prefix="xg")
    dir_b.mkdir()
    shutil.copy2(dir_a / "keys.json", dir_b / "keys.json")     # one fleet, two gateways
    keys = dict(pool.keys)
    ids = [(d, s) for d in keys for s in range(60)]
    bodies = {i: window(*i, records=50) for i in ids}
    todo, confirmed, captured = list(reversed(ids)), set(), []
    gw_a = GatewayProcess(dir_a, kafka=kafka_bootstrap, config=str(cfg),
                          env={"EDGEDRIFT_FAULT": "gateway:after_ack:10"})
    with gw_a:
        send_until_dead(gw_a, keys, todo, bodies, confirmed, sent=captured.append)
        assert gw_a.proc is not None and gw_a.proc.wait(timeout=30) == -signal.SIGKILL
    assert todo and captured                  # killed part-way, with answered requests
    sink = start_sink(cfg, dataset, log=tmp_path / "sink.log")
    try:
        with GatewayProcess(dir_b, kafka=kafka_bootstrap, config=str(cfg)) as gw_b:
            send_until_dead(gw_b, keys, todo, bodies, confirmed)      # the failover
            assert not todo and confirmed == set(ids)
            with gw_b.client() as client:     # B never saw A's requests: it accepts them
                for content in captured[:5]:
                    assert all(x["code"] == 202 for x in post(client, content).json()["results"])
        with GatewayProcess(dir_a, kafka=kafka_bootstrap, config=str(cfg),
                            port=gw_a.port) as gw_a2, gw_a2.client() as client:
            for content in captured[5:10]:    # a restarted A remembers them (its journal)
                assert {(x["code"], x["error"]["reason"]) for x in
                        post(client, content).json()["results"]} == {(401, "replay")}
        assert topic_size(kafka_bootstrap, topic) > len(ids)     # copies are there (at least)
        wait_until(lambda: table_counts(dataset)[1] >= len(ids) and consumed(
            kafka_bootstrap, group, topic, topic_size(kafka_bootstrap, topic)), 60,
            what="every window written and the topic consumed", proc=sink, interval=0.3)
    finally:
        stop(sink)
    assert table_counts(dataset) == (len(ids), len(ids), len(ids))
    windows = identity_ingest_pairs(dataset, "windows")
    assert {(d, s) for d, _, s, _ in windows} == set(ids)
    assert identity_ingest_pairs(dataset, "features") == windows


N_WINDOWS, PARTITIONS = 3000, 2


@pytest.fixture(scope="module")
def redelivery_topic(kafka_bootstrap: str) -> tuple[str, int]:
    """A topic of 3,000 windows with ~900 redeliveries and ~60 conflicting bodies."""
    topic = f"redeliver-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic, PARTITIONS)
    records = records_with_redeliveries(N_WINDOWS, random.Random(3))
    produce(kafka_bootstrap, topic, records, batch_size=256 << 10)
    return topic, len(records)


def _run(cfg: Path, dataset: Path | str, log: Path, bootstrap: str, group: str,
         topic: tuple[str, int], fault: str | None) -> int | None:
    """One sink process: armed, until it kills itself; else until the topic is consumed."""
    proc = start_sink(cfg, dataset, fault=fault, log=log)
    try:
        if fault:
            wait_until(lambda: proc.poll() is not None, 60, what=f"the sink to die at {fault}",
                       interval=0.3)
        else:
            wait_until(lambda: consumed(bootstrap, group, *topic), 60, what="the topic consumed",
                       proc=proc, interval=0.3)
    finally:
        stop(proc)
    return proc.returncode


@pytest.fixture(scope="module")
def clean_files(kafka_bootstrap: str, redelivery_topic: tuple[str, int],
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The files of a sink that was never killed, with one row per window."""
    topic, produced = redelivery_topic
    assert produced > N_WINDOWS + 500
    base = tmp_path_factory.mktemp("clean")
    group = f"g-{uuid.uuid4().hex[:8]}"
    cfg = write_config(base / "sink.toml", kafka_bootstrap, topic, group, PARTITIONS)
    _run(cfg, base / "ds", base / "sink.log", kafka_bootstrap, group, redelivery_topic, None)
    assert table_counts(base / "ds") == (N_WINDOWS, N_WINDOWS, N_WINDOWS)
    assert "conflict: window" in (base / "sink.log").read_text()
    return file_set(base / "ds")


@pytest.mark.parametrize("faults", [
    ("sink:after_rename:3", "sink:before_commit:3"),   # a torn batch; batches not committed
    ("sink:after_commit:4",),                          # a commit without its snapshot
], ids=["torn-then-uncommitted", "committed-unsnapshotted"])
def test_sink_killed_around_its_commit_writes_each_window_once_and_the_same_files(
        kafka_bootstrap: str, redelivery_topic: tuple[str, int], clean_files: dict[str, bytes],
        tmp_path: Path, backend: str, faults: tuple[str, ...]) -> None:
    """On local disk and on an S3-compatible server (``backend``)."""
    topic, _ = redelivery_topic
    group = f"g-{uuid.uuid4().hex[:8]}"
    cfg = write_config(tmp_path / "sink.toml", kafka_bootstrap, topic, group, PARTITIONS)
    dataset, log = backend, tmp_path / "sink.log"
    for fault in (*faults, None):
        code = _run(cfg, dataset, log, kafka_bootstrap, group, redelivery_topic, fault)
        text = log.read_text()
        assert code in ((-signal.SIGKILL,) if fault else (0, -signal.SIGTERM)), \
            (fault, code, text[-2000:])
        if fault:
            component, point, hit = fault.split(":")
            assert f"SIGKILL at {component}:{point} (hit {hit})" in text
    assert table_counts(dataset) == (N_WINDOWS, N_WINDOWS, N_WINDOWS)
    assert file_set(dataset) == clean_files           # same names, same bytes
    if not dataset.startswith("s3://"):
        assert not list(Path(dataset).rglob("*.tmp"))
