"""Compaction: what small files cost the analytics merge, and what ``edgedrift compact`` does.

A quiet embedded gateway writes one file set per request. This builds such a dataset
(``EDGEDRIFT_BENCH_COMPACT_WINDOWS`` windows, default 4,000, written through the real
embedded sink in groups of 4: 1,000 batches, 4,000 files), times the analytics'
fleet merge (``Dataset.feature_groups``, the SQL every pass runs) before and after
``compact``, and times the compaction itself.

Run: ``python -m bench compaction``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.figures import Figure

GROUP = 4


def _merge_seconds(root: Path, repeats: int = 3) -> float:
    from analytics.dataset import Dataset
    from collector.fake_windows import BASE_MS

    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        Dataset(root).feature_groups(BASE_MS - 86_400_000, BASE_MS + 2 * 86_400_000, 300_000)
        best = min(best, time.perf_counter() - t)
    return best


def measure(n: int) -> dict[str, float]:
    from bench.bench_sink import _records
    from collector.compaction import CompactionConfig, compact
    from collector.embedded import EmbeddedSink
    from collector.sink_config import SinkConfig

    records = _records(n)
    root = Path(tempfile.mkdtemp(prefix="bench-compact-"))
    try:
        sink = EmbeddedSink(SinkConfig(dataset=str(root), group_commit_ms=0))
        for i in range(0, n, GROUP):
            sink.write(records[i:i + GROUP])
        sink.close()
        files_before = sum(1 for _ in root.rglob("*.parquet"))
        before = _merge_seconds(root)
        t = time.perf_counter()
        report = compact(CompactionConfig(dataset=str(root), min_age_s=0, before="9999-01-01"))
        took = time.perf_counter() - t
        files_after = sum(1 for _ in root.rglob("*.parquet"))
        after = _merge_seconds(root)
        return {"files_before": files_before, "files_after": files_after,
                "merge_before_s": before, "merge_after_s": after, "compact_s": took,
                "bytes_before": report.bytes_before, "bytes_after": report.bytes_after}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run() -> list[Figure]:
    n = int(os.environ.get("EDGEDRIFT_BENCH_COMPACT_WINDOWS", "4000"))
    m = measure(n)
    files = f"{m['files_before']:.0f} -> {m['files_after']:.0f} files"
    return [
        Figure(f"analytics merge over {n} windows in {GROUP}-window batch files", "",
               m["merge_before_s"], "s", note=f"({m['files_before']:.0f} files)"),
        Figure(f"analytics merge over the same {n} windows after edgedrift compact", "",
               m["merge_after_s"], "s", peer=m["merge_before_s"],
               peer_name="before compaction", note=f"({files})"),
        Figure("edgedrift compact: windows merged per second", "", n / m["compact_s"],
               "windows/s", lower_is_better=False,
               note=f"({m['bytes_before'] / n:.0f} -> {m['bytes_after'] / n:.0f} B per window)"),
    ]


if __name__ == "__main__":
    for f in run():
        print(f.row())
