"""Sink benchmark: windows decoded and written to Parquet per second on one core, bytes per window.

Windows are realistic (20 numeric + 3 categorical features, 1,000 records, built with
``WindowSketch``), packed as Kafka record values, and pushed through the real
``ParquetSink.add``/``flush`` (decode with ``edge_sdk.wire.decode_window``, Arrow columns,
zstd Parquet, temp write + fsync + rename) in this process. Also reported: the decode step
alone (the wire parser's share) and the embedded sink's ``write()``.

Run: ``python -m bench sink`` (env ``EDGEDRIFT_BENCH_SINK_WINDOWS`` to change the count).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.figures import Figure


def _records(n: int) -> list:
    """``n`` distinct windows: 16 WindowSketch-built variants whose numeric histograms are
    resampled per window (multinomial, same n), so Parquet cannot just dedupe repeats."""
    import msgpack
    import numpy as np

    from collector.fake_windows import BASE_MS, WINDOW_MS, window_variants
    from collector.records import IngestRecord
    from edge_sdk.numeric import pack_counts
    from edge_sdk.wire import encode_window

    rng = np.random.default_rng(7)
    variants = [msgpack.unpackb(b) for b in window_variants(16)]
    out = []
    for i in range(n):
        body = dict(variants[i % 16])
        dev = f"dev-{i % 500}"
        idx = i // 2000
        body.update(d=dev, sq=i, ws=BASE_MS + idx * WINDOW_MS, we=BASE_MS + (idx + 1) * WINDOW_MS)
        feats = []
        for e in body["f"]:
            if e[1] == 0 and e[3]:
                counts = np.frombuffer(e[11], dtype=f"<u{e[11][0]}", offset=1)
                new = rng.multinomial(e[3], counts / counts.sum())
                e = [*e[:9], e[9] * (1 + rng.normal(0, 0.01)), e[10], pack_counts(new.tolist()),
                     *e[12:]]
            feats.append(e)
        body["f"] = feats
        out.append(IngestRecord(dev, encode_window(body), sent_at_s=BASE_MS // 1000 + i,
                                received_at_ms=BASE_MS + i))
    return out


def _dataset_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.parquet"))


def measure(n: int = 20_000, per_file: int = 10_000) -> dict[str, float]:
    from collector.embedded import EmbeddedSink
    from collector.sink import ParquetSink, gc_paused
    from collector.sink_config import SinkConfig
    from edge_sdk.wire import decode_window

    records = _records(n)
    values = [(r.kafka_key(), r.kafka_value()) for r in records]
    out: dict[str, float] = {"window_bytes": sum(len(r.window) for r in records) / n}

    from collector.arrow_rows import bin_sums

    with gc_paused():
        t = time.perf_counter()
        for r in records:
            decode_window(r.window, bin_sums=bin_sums)   # as the sink calls it
        out["decode_per_s"] = n / (time.perf_counter() - t)

    root = Path(tempfile.mkdtemp(prefix="bench-sink-"))
    try:
        sink = ParquetSink(SinkConfig(dataset=str(root), offsets_per_file=per_file,
                                      roll_ms=10**12), topic="bench")
        sink.open_partition(0)
        t = time.perf_counter()
        with gc_paused():
            for off, (k, v) in enumerate(values):
                sink.add(0, off, k, v)
            sink.flush(0)
        out["sink_per_s"] = n / (time.perf_counter() - t)
        out["bytes_per_window"] = _dataset_bytes(root) / n
        out["files"] = sink.files_written
    finally:
        shutil.rmtree(root, ignore_errors=True)

    from collector.arrow_rows import RowBuilder
    from collector.parquet_files import batch_name, commit_batch

    decoded = [decode_window(r.window) for r in records]
    root = Path(tempfile.mkdtemp(prefix="bench-rows-"))
    try:
        t = time.perf_counter()
        with gc_paused():
            for start in range(0, n, per_file):
                builder = RowBuilder()
                for off in range(start, min(n, start + per_file)):
                    r = records[off]
                    builder.add(f"bench/0/{off}", decoded[off], r.received_at_ms, r.sent_at_s)
                commit_batch(root, batch_name("bench", 0, start, off), builder.tables())
        out["rows_per_s"] = n / (time.perf_counter() - t)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    root = Path(tempfile.mkdtemp(prefix="bench-embedded-"))
    try:
        emb = EmbeddedSink(SinkConfig(dataset=str(root), group_commit_ms=0))
        chunk = 500
        t = time.perf_counter()
        for i in range(0, n, chunk):
            emb.write(records[i:i + chunk])
        emb.close()
        out["embedded_per_s"] = n / (time.perf_counter() - t)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def run() -> list[Figure]:
    n = int(os.environ.get("EDGEDRIFT_BENCH_SINK_WINDOWS", "10000"))
    m = measure(n)
    return [
        Figure("sink: windows decoded + written to Parquet, 1 core", ">= 20,000 /s",
               m["sink_per_s"], "windows/s", lower_is_better=False,
               note=f"({n} windows of 23 features)"),
        Figure("sink: decode_window alone (wire parser)", "", m["decode_per_s"], "windows/s",
               lower_is_better=False),
        Figure("sink: Arrow + Parquet + fsync/rename alone (pre-decoded)", "",
               m["rows_per_s"], "windows/s", lower_is_better=False),
        Figure("sink: Parquet bytes per window (zstd, all tables)", "report",
               m["bytes_per_window"], "B", note=f"(wire body {m['window_bytes']:.0f} B)"),
        Figure("embedded sink write(), 500-window groups", "", m["embedded_per_s"], "windows/s",
               lower_is_better=False),
    ]


if __name__ == "__main__":
    for f in run():
        print(f.row())
