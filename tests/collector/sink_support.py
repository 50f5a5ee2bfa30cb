"""Helpers for the sink tests: realistic bodies, a producer, sink subprocesses, DuckDB reads."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb

from collector.fake_windows import BASE_MS, restamp, window_variants
from collector.records import IngestRecord

ROOT = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=2)
def _variants(light: bool) -> tuple[bytes, ...]:
    if light:
        return tuple(window_variants(4, records=200, numeric=3, categorical=1))
    return tuple(window_variants(4, records=1000))


def bodies(n: int, devices: int = 50, model: str = "kws", start: int = 0,
           light: bool = False) -> list[IngestRecord]:
    """``n`` ingest records: device ``dev-<i % devices>``, seq ``i``, realistic sketches
    (20 numeric + 3 categorical features; ``light``: 3 + 1, for volume tests)."""
    vs = _variants(light)
    out = []
    for i in range(start, start + n):
        dev = f"dev-{i % devices}"
        body = restamp(vs[i % len(vs)], dev, i, window_index=i // 500, model=model)
        out.append(IngestRecord(dev, body, sent_at_s=BASE_MS // 1000 + i,
                                received_at_ms=BASE_MS + i * 10))
    return out


def produce(bootstrap: str, topic: str, records: list[IngestRecord],
            raw: list[tuple[bytes, bytes]] = (), batch_size: int = 16_384) -> None:
    """Send ``records`` (then ``raw`` key/value pairs) and wait for every ack; a large
    ``batch_size`` (bytes per partition batch) makes bulk loads several times faster."""
    from kafka import KafkaProducer

    from collector.sink_config import KafkaConfig

    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                      linger_ms=5 if batch_size <= 16_384 else 20, batch_size=batch_size,
                      compression_type=KafkaConfig().compression_type(),   # as the gateway
                      max_request_size=max(4 << 20, 2 * batch_size))
    try:
        for r in records:
            p.send(topic, key=r.kafka_key(), value=r.kafka_value())
        for k, v in raw:
            p.send(topic, key=k, value=v)
        p.flush(timeout=60)
    finally:
        p.close(timeout=10)


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from collector.kafka_sink import ensure_topics
    from collector.sink_config import KafkaConfig

    ensure_topics(KafkaConfig(bootstrap=bootstrap, topic=topic, dlq_topic=topic + ".dlq",
                              partitions=partitions))


# For tests that SIGKILL sinks and restart them: on Tansu a consumer joining a group whose
# last member was SIGKILLed is assigned its partitions after ~1 s with a 1 s session, ~4 s
# with 2 s, ~7 s with 3 s and ~11 s with 6 s. A missed heartbeat only costs a rebalance (the
# sink replays uncommitted records into the same files), never a wrong result.
KILL_SESSION_MS = (1000, 200, 2500)


def write_config(path: Path, bootstrap: str, topic: str, group: str, partitions: int = 6,
                 offsets_per_file: int = 1000, idle_flush_ms: int = 700,
                 session_ms: tuple[int, int, int] = (2000, 400, 2500),
                 sink_extra: str = "") -> Path:
    """Gateway and sink settings for one test topic; ``session_ms``: the consumer's session
    timeout, heartbeat and max poll interval; ``sink_extra``: more ``[sink]`` lines.

    A short session: a first join takes ~1 s on Tansu (~2 s with a 3 s session); tests that
    SIGKILL and restart sinks pass ``session_ms=KILL_SESSION_MS``."""
    session, heartbeat, poll = session_ms
    path.write_text(f"""
[kafka]
bootstrap = "{bootstrap}"
topic = "{topic}"
dlq_topic = "{topic}.dlq"
group_id = "{group}"
partitions = {partitions}
session_timeout_ms = {session}
heartbeat_interval_ms = {heartbeat}
max_poll_interval_ms = {poll}
max_poll_records = 500

[sink]
offsets_per_file = {offsets_per_file}
idle_flush_ms = {idle_flush_ms}
poll_timeout_ms = 100
{sink_extra}""")
    return path


def start_sink(config: Path, dataset: Path, fault: str | None = None,
               log: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("EDGEDRIFT_FAULT", None)
    if fault:
        env["EDGEDRIFT_FAULT"] = fault
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "collector.sink_cli", "--config", str(config),
         "--dataset", str(dataset), "--log-level", "INFO"],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def count_windows(dataset: Path) -> int:
    if not any((dataset / "windows").glob("*/*/*.parquet")):
        return 0
    con = duckdb.connect()
    try:
        return con.execute("SELECT count(*) FROM read_parquet(?, hive_partitioning=true)",
                           [str(dataset / "windows" / "**" / "*.parquet")]).fetchone()[0]
    finally:
        con.close()


def file_set(dataset: Path | str) -> dict[str, bytes]:
    """Relative path -> content of every Parquet file of the dataset (a path or s3://...)."""
    from collector.storage import open_storage

    st = open_storage(dataset)
    return {f"{d}/{e.name}": st.read_bytes(f"{d}/{e.name}")
            for d, e in sorted(st.walk_files()) if e.name.endswith(".parquet")}
