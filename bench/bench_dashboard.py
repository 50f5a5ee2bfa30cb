"""Dashboard page render time (AppTest, one full run per page) on 1,000 devices x 7 days.

The results database is generated directly with ``analytics.results.ResultsDB``
(hourly windows, 2 models x 3 segments x 20 features x 4 methods, 1,000 devices in
``fleet_health``); target <= 2 s per page. Each page is rendered twice: the first
run fills the caches (cold), the second is what a refresh costs (warm).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.figures import Figure

DEVICES, DAYS, FEATURES = 1000, 7, 20
PAGES = ("pages/fleet.py", "pages/models.py", "pages/feature.py", "pages/alerts.py")


def build(root: Path) -> None:
    from analytics.results import ResultsDB
    from edgedrift.paths import DataPaths

    rng = np.random.default_rng(0)
    start = pd.Timestamp("2025-10-01")
    hours = pd.date_range(start, periods=DAYS * 24, freq="h")
    segs = [("", ""), ("firmware", "a"), ("firmware", "b")]
    fm, vd, mm = [], [], []
    for model in ("kws", "asr"):
        for tag, val in segs:
            for i, ws in enumerate(hours):
                drift = i > len(hours) // 2
                for f in range(FEATURES):
                    for method, role in (("wasserstein", "effect"), ("ks", "test"),
                                         ("psi", "info"), ("jensen_shannon", "info")):
                        score = abs(rng.normal(0.3 if drift and f == 0 else 0.03, 0.02))
                        fm.append((model, "1.0", tag, val, ws, ws + pd.Timedelta(hours=1),
                                   f"x{f:02d}", "numeric", "u1", method, role, 5000, 20000, score,
                                   score * 0.8, score * 1.2, 0.5, 0.5, 0.1, score > 0.1,
                                   score > 0.1, score > 0.1 and drift, "r"))
                vd.append((model, "1.0", tag, val, ws, ws + pd.Timedelta(hours=1), "drift",
                           "drift" if drift else "ok", "ok", False, drift, FEATURES,
                           0.05 if drift else 0.0, "[]", "[]", "", "", "r"))
                mm.append((model, "1.0", tag, val, ws, ws + pd.Timedelta(hours=1), 500,
                           DEVICES, 50_000, 13.9, 4.0, 3.8, 4.2, 8.0, 7.5, 8.5, 10.0, 9.0, 11.0))
    from analytics.results import columns
    db = ResultsDB(DataPaths(root).analytics_db).open()
    try:
        cols = columns("feature_metrics")
        fmd = pd.DataFrame(fm, columns=cols)
        vdd = pd.DataFrame(vd, columns=columns("verdicts"))
        mmd = pd.DataFrame(mm, columns=columns("model_metrics")[:19])
        keys = mmd[["model", "version", "window_start"]].drop_duplicates()
        db.replace_windows(keys, {"feature_metrics": fmd, "verdicts": vdd, "model_metrics": mmd,
                                  "computed_windows": keys.assign(device_windows=DEVICES)})
        last = hours[-1]
        health = pd.DataFrame({
            "device_id": [f"dev-{d:04d}" for d in range(DEVICES)], "model": "kws",
            "last_seen": [last - pd.Timedelta(minutes=int(m)) for m in rng.exponential(30,
                                                                                      DEVICES)],
            "windows": DAYS * 24, "duplicates": 0, "versions": "1.0",
            "model_hashes": np.where(rng.random(DEVICES) < 0.01, "sha256:odd", "sha256:m1"),
            "sdk": "edge_sdk/0.1.0", "sdk_dropped": 0, "sdk_corrupt": 0, "sdk_rejected": 0,
            "sdk_backlog": rng.integers(0, 3, DEVICES), "sdk_internal_errors": 0,
            "clock_skew_ms": rng.integers(-500, 500, DEVICES), "delivery_lag_ms": 1000})
        db.replace_fleet_health(health)
        db.record_run({"run_id": "r", "started_at": last, "finished_at": last, "status": "ok"})
    finally:
        db.close()


def render_times(root: Path) -> dict[str, tuple[float, float]]:
    from streamlit.testing.v1 import AppTest
    app = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
    os.environ["EDGEDRIFT_DATA_DIR"] = str(root)
    out = {}
    for page in PAGES:
        times = []
        for _ in range(2):
            at = AppTest.from_file(app, default_timeout=120)
            at.query_params.update(model="kws", version="1.0", range="7d")
            at.run()
            t = time.perf_counter()
            at.switch_page(page).run()
            times.append(time.perf_counter() - t)
            assert not at.exception, [e.value for e in at.exception]
        out[page] = (times[0], times[1])
    return out


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root)
        times = render_times(root)
    figures = []
    for page, (cold, warm) in times.items():
        name = page.split("/")[-1].removesuffix(".py")
        figures.append(Figure(f"dashboard {name} page, 1k devices x 7 d (cold)", "<= 2 s",
                              cold, "s"))
        figures.append(Figure(f"dashboard {name} page, 1k devices x 7 d (warm)", "<= 2 s",
                              warm, "s"))
    return figures


if __name__ == "__main__":
    for f in run():
        print(f.row())
