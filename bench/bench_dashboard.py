"""Dashboard page times on 1,000 devices x 7 days: in a real browser, and the server's share.

The results database is generated directly with ``analytics.results.ResultsDB``
(hourly windows, 2 models x 3 segments x 20 features x 4 methods, 1,000 devices in
``fleet_health``).

* Browser (:mod:`bench.browser`): ``edgedrift dashboard`` in a subprocess, headless
  Chromium at 1440 x 900; per page the warm full page load (median of 5 after a first,
  cold one) and the in-app navigation from the sidebar (median of 5), until the script
  run is over and every chart is drawn. Target <= 1.5 s per page.
* Server (AppTest, one full script run per page, the second run = warm): the Python
  share of that time.
* CPU per warm load (server + Chromium, from ``/proc``): less tied than the wall time to
  what else the machine runs (see :mod:`bench.browser`).

``python -m bench.bench_dashboard --code-root DIR [--code-root .]`` measures other
checkouts' code (e.g. a worktree of an older commit) on the same data, alternated, for
before/after figures; ``--cpu-load N`` (``EDGEDRIFT_BENCH_CPU_LOAD=N`` for ``python -m bench
dashboard``) runs N busy processes during the browser measurements (a loaded machine).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from bench.figures import Figure

DEVICES, DAYS, FEATURES = 1000, 7, 20
PAGES = ("pages/incidents.py", "pages/fleet.py", "pages/models.py", "pages/feature.py",
         "pages/alerts.py")
BROWSER_PAGES = [("", "Incidents"), ("fleet", "Fleet"), ("models", "Models"),
                 ("feature", "Feature"), ("alerts", "Alerts")]
QUERY = "model=kws&version=1.0&segment=fleet&range=7d"


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
                                   score > 0.1, score > 0.1 and drift, "r", 0.0, 0.0))
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
    """Server-side script run per page (AppTest): (first, second) run in s."""
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


def browser_times(root: Path, code_root: Path | None = None,
                  pages: list[tuple[str, str]] | None = None) -> dict[str, dict[str, float]]:
    """Warm page load and in-app navigation per page in headless Chromium (s)."""
    from bench.browser import ROOT, page_times, serve
    with serve(root, code_root or ROOT) as url:
        return page_times(url, pages or BROWSER_PAGES, QUERY)


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root)
        try:
            with cpu_load(int(os.environ.get("EDGEDRIFT_BENCH_CPU_LOAD", "0") or 0)):
                browser = browser_times(root)
            note = ""
        except RuntimeError as exc:     # no Chromium or playwright here: say so, go on
            browser, note = {}, str(exc)
        times = render_times(root)
    figures = []
    for path, t in browser.items():
        if path.startswith("_"):
            continue
        name = path if path != "(landing)" else "incidents (landing)"
        figures.append(Figure(f"dashboard {name} page in Chromium, 1k devices x 7 d "
                              "(warm load)", "<= 1.5 s", t["warm"], "s"))
        figures.append(Figure(f"dashboard {name} page in Chromium (sidebar navigation)",
                              "<= 1.5 s", t["nav"], "s"))
        figures.append(Figure(f"dashboard {name} page: CPU per warm load (server + "
                              "browser)", "", t["cpu"], "s"))
    if "_foreign_requests" in browser:
        figures.append(Figure("dashboard requests to other origins", "0",
                              browser["_foreign_requests"]["count"], ""))
    if note:
        figures.append(Figure("dashboard in Chromium", "<= 1.5 s", float("nan"), "s",
                              note=f"(not measured: {note})"))
    for page, (_cold, warm) in times.items():
        name = page.split("/")[-1].removesuffix(".py")
        figures.append(Figure(f"dashboard {name} page, server script run (warm)", "",
                              warm, "s"))
    return figures


@contextlib.contextmanager
def cpu_load(workers: int) -> Iterator[None]:
    """``workers`` busy-looping processes for the duration (a machine under load)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
             for _ in range(max(0, workers))]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait(5)


def main(argv: list[str]) -> int:
    """``--code-root DIR`` (repeatable): time those checkouts' dashboards on the same
    generated data, alternated for ``--rounds``; ``--cpu-load N``: with N busy processes."""
    import argparse
    import json
    parser = argparse.ArgumentParser(prog="python -m bench.bench_dashboard")
    parser.add_argument("--code-root", type=Path, action="append",
                        help="a checkout to serve instead (repeat to compare, e.g. '.' too)")
    parser.add_argument("--pages", default="", help="comma-separated path=Title ('=Fleet': "
                                                    "the landing page titled Fleet)")
    parser.add_argument("--cpu-load", type=int, default=0,
                        help="busy processes running during the browser measurements")
    parser.add_argument("--rounds", type=int, default=1, help="alternated rounds per root")
    args = parser.parse_args(argv)
    if not args.code_root:
        with cpu_load(args.cpu_load):
            for f in run():
                print(f.row())
        return 0
    pages = [tuple(p.split("=", 1)) for p in args.pages.split(",")] if args.pages else None
    out: dict[str, list[dict[str, dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp))
        with cpu_load(args.cpu_load):
            for _ in range(args.rounds):
                for root in args.code_root:
                    out.setdefault(str(root), []).append(
                        browser_times(Path(tmp), root.resolve(), pages))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
