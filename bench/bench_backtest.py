"""``edgedrift backtest`` of 200,000 timestamped rows over a year (20 numeric + 3 categorical
features, 20 simulated devices, daily evaluation windows): the wall time of the replay
through the SDK, the Parquet writes, the analysis and the alert engine.

``EDGEDRIFT_BENCH_BACKTEST_ROWS`` changes the row count.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import pandas as pd

from .detection_scenarios import SCENARIOS, window_columns
from .figures import Figure


def history(rows: int, seed: int = 1) -> pd.DataFrame:
    cols = window_columns(SCENARIOS["stationary"], seed, device=0, window=0, records=rows,
                          drifting=False)
    frame = pd.DataFrame(cols)
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-01-01", tz="UTC")
    frame.insert(0, "ts", start + pd.to_timedelta(np.sort(rng.uniform(0, 365 * 86_400, rows)),
                                                 unit="s"))
    return frame


def run() -> list[Figure]:
    from analytics.backtest import backtest
    from analytics.config import AnalyticsConfig

    rows = int(os.environ.get("EDGEDRIFT_BENCH_BACKTEST_ROWS", "200000"))
    frame = history(rows)
    reference = history(20_000, seed=2).drop(columns="ts")
    with tempfile.TemporaryDirectory(prefix="edgedrift-bench-backtest-") as tmp:
        path = os.path.join(tmp, "history.parquet")
        frame.to_parquet(path)
        t = time.perf_counter()
        res = backtest(path, "ts", "bench", "1", reference, os.path.join(tmp, "out"),
                       AnalyticsConfig(window="1d"), devices=20, prediction="prediction")
        seconds = time.perf_counter() - t
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in res.seconds.items())
    return [Figure(f"edgedrift backtest, {rows:,} rows over a year (20 devices, daily windows)",
                   "<= 60 s", seconds, "s",
                   note=f"({res.device_windows:,} device windows; {parts}; "
                        f"{len(res.alerts)} alerts on stationary data)")]
