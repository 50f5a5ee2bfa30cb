"""Fleet scale: the hourly analysis pass on roll-ups for 10k, 100k and 1M devices.

For each fleet size the window rows of one day are synthesised straight into Parquet in
the sink's schema and layout (collector/schema.py; no HTTP, no Kafka): realistic windows
of the 23-feature schema (collector.fake_windows decoded by the sink's RowBuilder)
re-identified column-wise, **one window per device per hour** (a minute long, at the
device's minute of the hour), in files of at most ``CHUNK`` windows. The budget of
windows per size (``EDGEDRIFT_BENCH_SCALE_WINDOWS``, default 600,000) caps the hours
written: 10k devices get the whole day, 100k the last 6 hours, 1M devices the last 2 (the
earlier hours would only add roll-ups of the same size).

Measured per size, each step in a child process (peak memory):

* **roll-up build**: :func:`analytics.rollups.refresh` over every closed hour but the
  last: CPU seconds per window (all DuckDB threads; compare the sink's CPU per window);
* **hourly pass**: the scheduled pass once the last hour closes: the roll-up of that hour
  is built first (timed apart), then the pass reads roll-ups, computes every method with
  its interval, the verdicts and writes results; per-device health is timed apart;
* **raw pass** of that same hour, roll-ups off (the code before roll-ups), for comparison.

The sizing for 10M devices extrapolates the measured slope of each step.
Run: ``python -m bench scale`` (``EDGEDRIFT_BENCH_SCALE_SIZES=10000,100000`` to choose sizes;
``EDGEDRIFT_BENCH_DIR`` keeps the data between runs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .figures import Figure

HOUR = 3_600_000
BASE_MS = 1_760_000_000_000 // 86_400_000 * 86_400_000
CHUNK = 100_000
EARLIER_DEVICES = 50     # measure_minutes: the day's earlier hours (their files, few rows)
SEGMENTS = 4
TABLES = ("windows", "features", "categories", "labels")


def _templates() -> dict[str, tuple[pa.Table, np.ndarray, np.ndarray]]:
    from .bench_analytics import _templates as real_windows
    out = {}
    for name, t in real_windows().items():
        if name not in TABLES:
            continue
        # the template windows share device and seq: their ingest ids ("t/0/<i>") tell them apart
        idx = np.array([int(x.rsplit("/", 1)[1]) for x in t["ingest_id"].to_pylist()])
        t = t.append_column("_tpl", pa.array(idx)).sort_by("_tpl")
        per = np.bincount(idx, minlength=8)
        out[name] = (t.drop_columns(["_tpl"]), per, np.concatenate([[0], np.cumsum(per)[:-1]]))
    return out


def _restamp(tpl: tuple[pa.Table, np.ndarray, np.ndarray], devices: np.ndarray,
             hour: int, minute: int | None = None) -> pa.Table:
    """Template rows re-identified as the windows of ``devices`` in hour ``hour`` (each at
    its device's minute of the hour, or all at ``minute``)."""
    table, per, offsets = tpl
    src = devices % len(per)
    counts = per[src]
    starts = np.repeat(offsets[src] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    t = table.take(pa.array(starts + np.arange(counts.sum())))
    dev = np.repeat(devices, counts)
    ws = BASE_MS + hour * HOUR + ((dev % 60) if minute is None else np.full(len(dev), minute)) \
        * 60_000
    seq = hour if minute is None else hour * 60 + minute
    ts = pa.timestamp("ms", tz="UTC")
    tags = pa.array([[("firmware", f"fw{s}")] for s in range(SEGMENTS)],
                    pa.map_(pa.string(), pa.string()))
    cols = {
        "device_id": pa.array(np.char.add("dev-", dev.astype(str))),
        "seq": pa.array(np.full(len(dev), seq, np.uint64)),
        "window_start": pa.array(ws, pa.int64()).cast(ts),
        "window_end": pa.array(ws + 60_000, pa.int64()).cast(ts),
        "ingest_id": pa.array(np.char.add(f"s/{seq}/", dev.astype(str))),
        "tags": tags.take(pa.array(dev % SEGMENTS)),
    }
    if "received_at" in t.column_names:
        cols["received_at"] = pa.array(ws + 61_000, pa.int64()).cast(ts)
        cols["sent_at"] = pa.array(ws + 60_500, pa.int64()).cast(ts)
    for name, arr in cols.items():
        t = t.set_column(t.schema.get_field_index(name), t.schema.field(name), arr)
    return t


def build_day(root: Path, devices: int, hours: range, every_minute: bool = False) -> None:
    """The windows of ``devices`` devices for ``hours`` of one day, as the sink lays them
    out: one per device and hour, or (``every_minute``) one per device and minute, the SDK's
    default (windows aligned to the minute), one file per minute."""
    from collector.parquet_files import write_options
    tpl = _templates()
    date = time.strftime("%Y-%m-%d", time.gmtime(BASE_MS // 1000))
    steps = [(h, m, c, lo) for h in hours for m in (range(60) if every_minute else [None])
             for c, lo in enumerate(range(0, devices, CHUNK))]
    for h, m, c, lo in steps:
        ids = np.arange(lo, min(lo + CHUNK, devices))
        name = f"bench-{h:02d}-{c:04d}.parquet" if m is None else \
            f"bench-{h:02d}-{m:02d}-{c:04d}.parquet"
        tables = {t: _restamp(tpl[t], ids, h, m)
                  for t in ("categories", "labels", "features", "windows")}
        windows = tables.pop("windows")
        tables.update(_sums({**tables, "windows": windows}))
        tables["windows"] = windows
        for table, out in tables.items():                      # windows last
            d = root / table / "model=kws" / f"date={date}"
            d.mkdir(parents=True, exist_ok=True)
            pq.write_table(out, d / name, row_group_size=1 << 20,
                           **write_options(out.column_names))


def _sums(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """The sketch sums the sink writes with these rows, by the sink's own code
    (collector/sketch_sums.py: the windows' groups, then the rows added)."""
    from collector.sketch_sums import PartitionSums

    win = tables["windows"]
    first = int(win["device_id"][0].as_py().split("-")[1])
    ident = list(zip(win["device_id"].to_pylist(), win["version"].to_pylist(),
                     win["seq"].to_pylist(), win["window_start"].cast(pa.int64()).to_pylist(),
                     win["window_end"].cast(pa.int64()).to_pylist(),
                     win["ingest_id"].to_pylist(),
                     [dict(t) if t else None for t in win["tags"].to_pylist()], strict=True))

    def owner(t: pa.Table) -> np.ndarray:
        dev = pa.compute.utf8_slice_codeunits(t["device_id"], 4).cast(pa.int64())
        return dev.to_numpy() - first

    feats, cats = tables["features"], tables["categories"]
    sums = PartitionSums()
    sums.add_chunk(ident, {"features": (feats, owner(feats), None)}, (cats, owner(cats)))
    summed = sums.tables()
    assert summed is not None
    return dict(zip(("feature_sums", "category_sums"), summed, strict=True))


_CHILD = """
import json, resource, sys, time
from analytics.config import AnalyticsConfig
from analytics.dataset import Dataset
from analytics.job import run_analysis
from analytics.rollups import refresh
from edgedrift.paths import DataPaths
root, step, now, since = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
config = AnalyticsConfig(window="1h", segment_tags=("firmware",), reports=False,
                         lookback_s=2 * 86400, rollups=step != "raw")
paths = DataPaths(root)
out = {}
if step in ("build", "pass"):
    ds = Dataset(paths.dataset, config.segment_tags)
    if step == "build":      # the files' footers read once, as earlier passes would have
        refresh(ds, config.cadence, since, config.grace_s * 1000, since)
    c, t = time.process_time(), time.perf_counter()
    st = refresh(ds, config.cadence, now, config.grace_s * 1000, since)
    out.update(build_cpu=time.process_time() - c, build_s=time.perf_counter() - t,
               built=st.built, from_sums=st.from_sums, footers=st.footers_read)
    ds.close()
if step in ("pass", "raw"):
    c, t = time.process_time(), time.perf_counter()
    s = run_analysis(config, paths, now_ms=now)
    assert s.windows_computed >= 1, s.notes
    out.update(pass_s=time.perf_counter() - t, pass_cpu=time.process_time() - c,
               windows=s.windows_computed, timings=s.timings, verdicts=len(s.verdicts))
out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def _child(root: Path, step: str, now: int, since: int) -> dict:
    res = subprocess.run([sys.executable, "-c", _CHILD, str(root), step, str(now), str(since)],
                         check=True, capture_output=True, text=True, timeout=3600)
    return json.loads(res.stdout.strip().splitlines()[-1])


def measure(devices: int, budget: int, base: Path) -> dict:
    """Build (or reuse) one fleet's day and run the three steps on it."""
    from edgedrift.paths import DataPaths
    hours = max(2, min(24, budget // devices))
    root = base / f"fleet-{devices}"
    marker = root / f".built-{hours}"
    gen_s = None
    if not marker.exists():
        t = time.perf_counter()
        build_day(root / "telemetry", devices, range(24 - hours, 24))
        gen_s = time.perf_counter() - t
        marker.write_text(f"{gen_s:.1f}")
    paths = DataPaths(root)
    if not paths.references.exists() or not any(paths.references.iterdir()):
        _reference_from(root, hours)
    import shutil
    shutil.rmtree(root / "telemetry" / "rollups", ignore_errors=True)
    for p in paths.analytics_db.parent.glob("analytics.duckdb*"):
        p.unlink()
    first = BASE_MS + (24 - hours) * HOUR
    last = BASE_MS + 23 * HOUR
    before_last = last + 300_000 + 60_000        # every hour but the last closed
    after_last = last + HOUR + 300_000 + 60_000  # the last hour closed too
    build = _child(root, "build", before_last, first)
    _child(root, "pass", before_last, first)     # results of the earlier hours (warm-up)
    hourly = _child(root, "pass", after_last, first)
    for p in paths.analytics_db.parent.glob("analytics.duckdb*"):
        p.unlink()
    _child(root, "raw", before_last, first)      # the same warm-up, raw
    raw = _child(root, "raw", after_last, first)
    roll = root / "telemetry" / "rollups"
    sizes = {kind: sum(p.stat().st_size for p in roll.rglob(f"{kind}*.parquet"))
             for kind in ("features", "categories", "windows", "health", "state")}
    return {"devices": devices, "hours": hours, "gen_s": gen_s, "build": build,
            "hourly": hourly, "raw": raw, "rollup_bytes": sizes,
            "bytes_per_window": _bytes(root / "telemetry") / (devices * hours)}


def measure_minutes(devices: int, base: Path) -> dict:
    """A fleet sending a window a minute (the SDK's default, windows aligned to the minute):
    hours 22 and 23 of ``devices`` devices, and the day's earlier hours from a few devices
    (the partition then holds a day's 1,440 minute files, as at 23:00); hour 22's roll-up
    build from the sink's sketch sums, and the same build reading the rows (the sums hidden:
    the code before them). The files' footers are read before the timed build, as the
    passes of earlier hours would have."""
    import shutil
    root = base / f"minutes-{devices}"
    marker = root / ".built-day"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        build_day(root / "telemetry", devices, range(22, 24), every_minute=True)
        build_day(root / "telemetry", EARLIER_DEVICES, range(0, 22), every_minute=True)
        marker.write_text("1")
    first, now = BASE_MS + 22 * HOUR, BASE_MS + 23 * HOUR + 300_000 + 60_000
    out: dict[str, Any] = {"devices": devices, "windows": devices * 60}
    for step in ("sums", "rows"):
        shutil.rmtree(root / "telemetry" / "rollups", ignore_errors=True)
        hidden = [root / "telemetry" / t for t in ("feature_sums", "category_sums")]
        if step == "rows":
            for d in hidden:
                d.rename(d.with_name("." + d.name))
        try:
            out[step] = _child(root, "build", now, first)
        finally:
            for d in hidden:
                if d.with_name("." + d.name).exists():
                    d.with_name("." + d.name).rename(d)
    return out


def _reference_from(root: Path, hours: int) -> None:
    from edgedrift.paths import DataPaths
    paths = DataPaths(root)
    from analytics.reference import ReferenceStore
    from analytics.reference_telemetry import build_from_telemetry
    store = ReferenceStore(paths.references)
    first = BASE_MS + (24 - hours) * HOUR
    build_from_telemetry(str(paths.dataset), store, "kws", "1.0", first,
                         first + HOUR).save(store)


def _bytes(root: Path) -> int:
    return sum(p.stat().st_size for t in TABLES for p in (root / t).rglob("*.parquet"))


def run() -> list[Figure]:
    sizes = [int(s) for s in os.environ.get("EDGEDRIFT_BENCH_SCALE_SIZES",
                                            "10000,100000,1000000").split(",")]
    budget = int(os.environ.get("EDGEDRIFT_BENCH_SCALE_WINDOWS", "600000"))
    keep = os.environ.get("EDGEDRIFT_BENCH_DIR")
    tmp = None if keep else tempfile.TemporaryDirectory(prefix="edgedrift-bench-scale-")
    base = Path(keep or tmp.name)  # type: ignore[union-attr]
    try:
        results = [measure(n, budget, base) for n in sizes]
        minutes = measure_minutes(int(os.environ.get("EDGEDRIFT_BENCH_SCALE_MINUTE_DEVICES",
                                                     "5000")), base)
    finally:
        if tmp is not None:
            tmp.cleanup()
    if keep:
        (Path(keep) / "scale.json").write_text(json.dumps([*results, minutes], indent=1))
    return figures(results) + minute_figures(minutes)


def minute_figures(m: dict) -> list[Figure]:
    n = m["windows"]
    return [Figure(f"scale {m['devices']:,} devices, a window a minute: roll-up build CPU per "
                   "window", "<= 10% of the sink's", m["sums"]["build_cpu"] / n * 1e6, "us",
                   note=(f"(hour 22 of a day of minute files, {n:,} windows, from the "
                         "sink's sketch sums: "
                         f"from_sums {m['sums'].get('from_sums', '?')}/{m['sums']['built']}; "
                         f"wall {m['sums']['build_s']:.1f} s)"),
                   peer=m["rows"]["build_cpu"] / n * 1e6,
                   peer_name="the same build reading the rows (before the sums)")]


def _pass_s(r: dict) -> float:
    """The hourly pass on roll-ups, the build of the new hour's roll-up and health apart."""
    t = r["hourly"]["timings"]
    return r["hourly"]["pass_s"] - t.get("health", 0.0)


def figures(results: list[dict]) -> list[Figure]:
    figs = []
    for r in results:
        n, b, h, raw = r["devices"], r["build"], r["hourly"], r["raw"]
        per_window_us = b["build_cpu"] / max(1, n * (r["hours"] - 1)) * 1e6
        t = h["timings"]
        figs.append(Figure(
            f"scale {n:,} devices: hourly pass on roll-ups (health apart)", "<= 10 s",
            _pass_s(r), "s",
            note=(f"(new hour's roll-up {h['build_s']:.1f} s, health {t.get('health', 0):.1f} s,"
                  f" {r['hours']} h of windows, peak {h['rss_mb']:.0f} MB)"),
            peer=raw["pass_s"] - raw["timings"].get("health", 0.0),
            peer_name="raw windows (roll-ups off), same hour"))
        figs.append(Figure(f"scale {n:,} devices: roll-up build CPU per window",
                           "<= 10% of the sink's", per_window_us, "us",
                           note=f"({b['built']} hours, {b['build_s']:.1f} s wall)"))
        rb = r["rollup_bytes"]
        merged = rb["features"] + rb["categories"] + rb["windows"]
        figs.append(Figure(f"scale {n:,} devices: roll-up bytes per evaluation window", "report",
                           merged / r["hours"], "B",
                           note=(f"(+ health {rb['health'] / (n * r['hours']):.0f} B per device "
                                 f"and hour, state {rb['state'] / n:.0f} B per device; raw "
                                 f"windows {r['bytes_per_window']:.0f} B each, synthetic)")))
        figs.append(Figure(f"scale {n:,} devices: per-device health in the pass", "report",
                           t.get("health", 0.0), "s",
                           peer=raw["timings"].get("health", 0.0),
                           peer_name="raw fleet_health over every window"))
    if len(results) >= 2:
        a, z = results[0], results[-1]
        figs.append(Figure(f"scale: pass {z['devices']:,} vs {a['devices']:,} devices",
                           "<= 2x", _pass_s(z) / max(_pass_s(a), 1e-9), "x"))
    return figs
