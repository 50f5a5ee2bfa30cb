"""Analytics speed: one analysis pass over N window sketches of the 23-feature schema.

The dataset is the real Parquet layout (collector/schema.py): a few realistic
windows (collector.fake_windows, decoded by the sink's RowBuilder) are
re-identified column-wise into ``EDGEDRIFT_BENCH_WINDOWS`` windows (default
1,000,000: 2,000 devices x 500 five-minute windows, ~26M feature rows), 5% of
them delivered twice (device retries). The pass (merge SQL, every method with
its interval, verdicts, writes) runs in a child process to measure its peak
memory. Evidently's DataDriftPreset runs on the raw rows of a small slice for
the ratio (``EDGEDRIFT_BENCH_EVIDENTLY_ROWS``, default 20,000 rows per side).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .figures import Figure

DEVICES = 2000
WINDOW_MS = 300_000
BASE_MS = 1_760_000_000_000 // 86_400_000 * 86_400_000
CHUNK = 50_000


def _templates(count: int = 8):
    from collector.fake_windows import window_variants
    from collector.row_builder import RowBuilder
    from edge_sdk.wire import decode_window
    b = RowBuilder()
    for i, body in enumerate(window_variants(count, 1000)):
        b.add(f"t/0/{i}", decode_window(body), 1, 1)
    (_, tables), = b.tables().items()
    return tables


def _restamp(table: pa.Table, src_win: np.ndarray, ids: np.ndarray, dup: np.ndarray,
             per_window: np.ndarray, offsets: np.ndarray) -> pa.Table:
    """Rows of template windows ``src_win`` re-identified as windows ``ids``."""
    take = np.concatenate([offsets[s] + np.arange(per_window[s]) for s in src_win]) \
        if len(src_win) else np.zeros(0, int)
    win_of_row = np.repeat(np.arange(len(ids)), per_window[src_win])
    t = table.take(pa.array(take))
    wid = ids[win_of_row]
    device = wid % DEVICES
    seq = wid // DEVICES
    ws = BASE_MS + seq * WINDOW_MS
    cols = {
        "device_id": pa.array(np.char.add("dev-", device.astype(str))),
        "seq": pa.array(seq.astype(np.uint64)),
        "window_start": pa.array(ws, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        "window_end": pa.array(ws + WINDOW_MS, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        "ingest_id": pa.array(np.char.add(np.where(dup[win_of_row], "b/0/", "a/0/"),
                                          wid.astype(str))),
        "tags": pa.array([[("firmware", f"fw{d % 4}")] for d in range(DEVICES)],
                         pa.map_(pa.string(), pa.string())).take(pa.array(device)),
    }
    for name, arr in cols.items():
        t = t.set_column(t.schema.get_field_index(name), t.schema.field(name), arr)
    return t


def build_dataset(root: Path, windows: int, dup_share: float = 0.05) -> None:
    """Write ``windows`` windows (+ duplicates) as hive-partitioned Parquet under ``root``."""
    from collector.parquet_files import write_options

    tpl = _templates()
    rng = np.random.default_rng(0)
    meta = {}
    for name in ("windows", "features", "categories"):
        t = tpl[name]
        # the template a row belongs to: its ingest id "t/0/<i>" (every template has seq 0)
        which = np.array([int(x.rsplit("/", 1)[1]) for x in t["ingest_id"].to_pylist()])
        t = t.append_column("_tpl", pa.array(which)).sort_by("_tpl").drop_columns(["_tpl"])
        per = np.bincount(which, minlength=8)
        meta[name] = (t, per, np.concatenate([[0], np.cumsum(per)[:-1]]))
    n_tpl = len(meta["windows"][1])
    for c, start in enumerate(range(0, windows, CHUNK)):
        ids = np.arange(start, min(start + CHUNK, windows))
        extra = ids[rng.random(len(ids)) < dup_share]
        all_ids = np.concatenate([ids, extra])
        dup = np.concatenate([np.zeros(len(ids), bool), np.ones(len(extra), bool)])
        src = all_ids % n_tpl
        date_of = (BASE_MS + (all_ids // DEVICES) * WINDOW_MS) // 86_400_000
        for day in np.unique(date_of):
            sel = date_of == day
            date = time.strftime("%Y-%m-%d", time.gmtime(int(day) * 86_400))
            for name, (t, per, off) in meta.items():
                out = _restamp(t, src[sel], all_ids[sel], dup[sel], per, off)
                d = root / name / "model=kws" / f"date={date}"
                d.mkdir(parents=True, exist_ok=True)
                pq.write_table(out, d / f"bench-{c:04d}.parquet", row_group_size=1 << 20,
                               **write_options(out.column_names))   # as the sink writes


_CHILD = """
import json, resource, sys, time
from analytics.config import AnalyticsConfig
from analytics.job import run_analysis
from edgedrift.paths import DataPaths
root, now, rollups = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
t = time.perf_counter()
s = run_analysis(AnalyticsConfig(window_s=3600, segment_tags=("firmware",), reports=False,
                                 lookback_s=30 * 86400, rollups=rollups),
                 DataPaths(root), now_ms=now)
print(json.dumps({"seconds": time.perf_counter() - t, "windows": s.windows_computed,
                  "rows": s.feature_rows, "timings": s.timings, "verdicts": len(s.verdicts),
                  "drift": len(s.drift_verdicts()),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def analysis_pass(root: Path, windows: int, rollups: bool = False) -> dict:
    """One ``edgedrift analyze`` pass over the dataset in a child process: from the raw
    windows (``rollups`` off), or building the roll-ups of every closed window first and
    reading them (``rollups`` on: the first pass; later passes build only new windows)."""
    from analytics.reference import ReferenceStore
    from analytics.reference_telemetry import build_from_telemetry
    from edgedrift.paths import DataPaths
    paths = DataPaths(root)
    for p in paths.analytics_db.parent.glob("analytics.duckdb*"):
        p.unlink()
    shutil.rmtree(paths.dataset / "rollups", ignore_errors=True)
    end = BASE_MS + 12 * 3_600_000
    store = ReferenceStore(paths.references)
    build_from_telemetry(str(paths.dataset), store, "kws", "1.0", BASE_MS, end).save(store)
    now = BASE_MS + (windows // DEVICES + 2) * WINDOW_MS + 3 * 3_600_000
    out = subprocess.run([sys.executable, "-c", _CHILD, str(root), str(now),
                          "1" if rollups else "0"], check=True,
                         capture_output=True, text=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


def evidently_slice(rows: int) -> tuple[float, float]:
    """(Evidently seconds, edgedrift-style sketch seconds) on ``rows`` raw rows per side."""
    import pandas as pd
    rng = np.random.default_rng(1)
    def frame(shift: float) -> pd.DataFrame:
        d = {f"x{j:02d}": rng.normal(j + shift, 1 + j / 10, rows) for j in range(20)}
        for j, cats in enumerate((["front", "back", "side"], ["eu", "us", "apac"], ["a", "b"])):
            d[f"c{j}"] = rng.choice(cats, rows)
        d["prediction"] = rng.random(rows)
        return pd.DataFrame(d)
    ref, cur = frame(0.0), frame(0.1)
    from evidently import Report
    from evidently.presets import DataDriftPreset
    t = time.perf_counter()
    Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    return time.perf_counter() - t, 0.0


def run() -> list[Figure]:
    windows = int(os.environ.get("EDGEDRIFT_BENCH_WINDOWS", "1000000"))
    ev_rows = int(os.environ.get("EDGEDRIFT_BENCH_EVIDENTLY_ROWS", "20000"))
    keep = os.environ.get("EDGEDRIFT_BENCH_DIR")
    tmp = None if keep else tempfile.TemporaryDirectory(prefix="edgedrift-bench-analytics-")
    root = Path(keep or tmp.name)  # type: ignore[union-attr]
    try:
        marker = root / f".built-{windows}"
        if not marker.exists():
            t = time.perf_counter()
            build_dataset(root / "telemetry", windows)
            marker.write_text(f"{time.perf_counter() - t:.1f}")
        res = analysis_pass(root, windows)
        first = analysis_pass(root, windows, rollups=True)
        figs = [
            Figure(f"analyze pass, {windows:,} window sketches ({res['rows']:,} metric rows), "
                   "from the raw windows", "<= 10 s", res["seconds"], "s",
                   note=f"(merge SQL {res['timings'].get('merge_sql', 0):.1f} s)"),
            Figure("analyze pass peak memory", "<= 2048 MB", res["rss_mb"], "MB"),
            Figure(f"first pass with roll-ups on (builds the roll-ups of all {windows:,} "
                   "windows, then reads them)", "", first["seconds"], "s",
                   note=f"({first['rows']:,} metric rows; peak {first['rss_mb']:.0f} MB)"),
        ]
        ev_s, _ = evidently_slice(ev_rows)
        raw_rows = windows * 1000
        per_row = ev_s / (2 * ev_rows)
        figs.append(Figure(f"drift over the raw rows behind {windows:,} windows (Evidently "
                           f"extrapolated from {ev_rows:,} rows/side)", "", res["seconds"], "s",
                           peer=per_row * raw_rows, peer_name="Evidently DataDriftPreset"))
        return figs
    finally:
        if tmp is not None:
            tmp.cleanup()
