"""Backtest: replay a historical table through the real SDK and see which alerts would have fired.

Rows are taken in timestamp order and logged by simulated devices -- real
:class:`edge_sdk.Monitor` objects on a simulated clock (``clock=``, ``start=False``,
``seal_window()``; docs/sdk.md) -- with the reference's spec. Each device window is taken
from the device's spool as it would be sent and written through the collector's embedded
sink into a fresh data dir; then one analysis pass (:func:`analytics.job.run_analysis`)
and the alert engine run over it, as they would have run window after window. The
result lists the alerts with their features and effect sizes: a team tunes thresholds on
last year's data before deploying.

Rows are spread over ``devices`` simulated devices per segment (the values of the
``segments`` columns become the devices' tags, e.g. ``firmware``, and the analysis'
``segment_tags``); a device window lasts ``device_window_s`` (by default the evaluation
window, at most a day: the SDK's limit). Sealed windows are written in large batches, so
a year of history is a few Parquet files, not thousands.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> ts = pd.date_range("2025-01-01", periods=6000, freq="20min", tz="UTC")
>>> df = pd.DataFrame({"ts": ts, "x": rng.normal(size=6000)})
>>> df.loc[3000:, "x"] += 1.0                                  # the change, on day 42
>>> ref = df.iloc[:2000].drop(columns="ts")
>>> import tempfile
>>> res = backtest(df, "ts", "m", "1", reference=ref, out_dir=tempfile.mkdtemp(),
...                config=AnalyticsConfig(window="1w", reports=False))
>>> [(a.event_type, a.when[:10], [f.name for f in a.features]) for a in res.alerts][:1]
[('drift.detected', '2025-02-10', ['x'])]
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgedrift.paths import DataPaths

from .config import AnalyticsConfig
from .errors import AnalyticsError
from .reference_build import BuiltReference, build_reference, iter_chunks

MARKER = ".edgedrift-backtest"
DAY_S = 86_400
BATCH_WINDOWS = 20_000        # sealed windows per Parquet write


@dataclass(frozen=True)
class TimelineAlert:
    """One alert the backtest raised: when, what, where, and the features behind it."""

    event_type: str
    when: str             # the window's start, ISO 8601 UTC
    segment: str
    features: tuple[Any, ...]


@dataclass
class BacktestResult:
    """What a backtest did: rows and windows replayed, the alert timeline, the verdicts."""

    out_dir: Path
    rows: int = 0
    device_windows: int = 0
    alerts: list[TimelineAlert] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def timeline(self) -> list[str]:
        """The alerts as text lines (what ``edgedrift backtest`` prints)."""
        out = []
        for a in self.alerts:
            feats = ", ".join(f"{f.name} {f.method} {f.score:.3g} [{_g(f.lower)}, {_g(f.upper)}]"
                              for f in a.features)
            out.append(f"{a.when}  {a.event_type:<18} {a.segment or 'fleet':<16} {feats}")
        return out


def backtest(source: str | os.PathLike[str] | pd.DataFrame, timestamp: str, model: str,
             version: str, reference: BuiltReference | pd.DataFrame | str | os.PathLike[str],
             out_dir: str | os.PathLike[str], config: AnalyticsConfig | None = None,
             devices: int = 20, segments: Sequence[str] = (), prediction: str | None = None,
             device_window_s: int | None = None, alerts_config: Any = None) -> BacktestResult:
    """Replay ``source`` (CSV, Parquet or a DataFrame) and return what would have fired."""
    import dataclasses
    import logging

    from .alerts import AlertEngine, AlertsConfig
    from .alerts.from_verdicts import conditions_from_verdicts
    from .job import run_analysis

    config = dataclasses.replace(config or AnalyticsConfig(), segment_tags=tuple(segments),
                                 reports=False)   # reports need raw-row samples: none here
    if device_window_s is None:
        device_window_s = int(min(config.cadence.nominal_ms // 1000, DAY_S))
    if not 1 <= devices <= 10_000:
        raise AnalyticsError("devices", devices, "1 to 10000 simulated devices")
    if not 60 <= device_window_s <= DAY_S:
        raise AnalyticsError("device_window_s", device_window_s, "60 to 86400 seconds")
    paths = _prepare(Path(out_dir))
    result = BacktestResult(paths.base)
    t0 = time.perf_counter()
    built = reference if isinstance(reference, BuiltReference) else build_reference(
        reference, model, version, prediction=prediction)
    from .reference import ReferenceStore
    spec_path = built.save(ReferenceStore(paths.references))["spec"]
    frame = _read(source, timestamp, segments)
    result.rows = len(frame)
    first_ms = int(frame["__ts_ms__"].iloc[0])
    result.seconds["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result.device_windows = _replay(frame, built, spec_path, paths, model, version, devices,
                                    list(segments), prediction, device_window_s)
    result.seconds["replay"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    last_ms = int(frame["__ts_ms__"].iloc[-1])
    closed = config.cadence.end(config.cadence.floor(last_ms)) + config.grace_s * 1000
    summary = run_analysis(config, paths, since_ms=first_ms, now_ms=closed)
    result.verdicts, result.notes = summary.verdicts, summary.notes
    engine = AlertEngine(alerts_config or AlertsConfig(), paths.outbox)
    quiet = logging.getLogger("analytics.alerts.policy")
    level = quiet.level
    quiet.setLevel(logging.ERROR)      # "no endpoint subscribed": none is wanted here
    try:
        stored = engine.observe(conditions_from_verdicts(summary.verdicts))
    finally:
        quiet.setLevel(level)
    for alert in stored:
        data = alert.payload["data"]
        result.alerts.append(TimelineAlert(alert.event_type, data["window"]["start"],
                                           alert.segment, tuple(_scores(data["features"]))))
    result.seconds["analysis"] = time.perf_counter() - t0
    return result


def _prepare(root: Path) -> DataPaths:
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise AnalyticsError("--out", str(root), "an empty directory or one made by an "
                                 "earlier backtest (it is replaced)")
        import shutil
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("made by `edgedrift backtest`; replaced by the next one\n")
    return DataPaths(root)


def _read(source: Any, timestamp: str, segments: Sequence[str]) -> pd.DataFrame:
    chunks, _ = iter_chunks(source)
    frame = pd.concat(list(chunks()), ignore_index=True)
    for col in (timestamp, *segments):
        if col not in frame.columns:
            raise AnalyticsError("--timestamp" if col == timestamp else "--segment", col,
                                 f"a column of the input ({', '.join(map(str, frame.columns))})")
    ts = frame[timestamp]
    if pd.api.types.is_numeric_dtype(ts):
        unit = "ms" if ts.abs().max() > 1e11 else "s"
        when = pd.to_datetime(ts, unit=unit, utc=True)
    else:
        when = pd.to_datetime(ts, utc=True, errors="coerce")
    bad = int(when.isna().sum())
    if bad:
        raise AnalyticsError(f"column {timestamp!r}", f"{bad} unreadable times",
                             "dates/times (ISO 8601) or Unix seconds or milliseconds")
    frame["__ts_ms__"] = ((when - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
                          ).astype(np.int64)
    return frame.sort_values("__ts_ms__", kind="stable").reset_index(drop=True)


def _replay(frame: pd.DataFrame, built: BuiltReference, spec_path: Path, paths: DataPaths,
            model: str, version: str, devices: int, segments: list[str],
            prediction: str | None, window_s: int) -> int:
    """Log every row on its device at its time; write each sealed window; return the count."""
    from collector.embedded import EmbeddedSink
    from collector.records import IngestRecord
    from collector.sink_config import SinkConfig
    from edge_sdk import Monitor

    features = [f for f in built.spec.features if f in frame.columns]
    if not features:
        raise AnalyticsError("--input", list(map(str, frame.columns)),
                             f"the reference's features ({', '.join(built.spec.features)})")
    pred_col = prediction if prediction and prediction in frame.columns else None
    clock = {"now": 0.0}
    spool_root = Path(tempfile.mkdtemp(prefix="edgedrift-backtest-spool-"))
    monitors: dict[tuple, Any] = {}
    sink = EmbeddedSink(SinkConfig(dataset=str(paths.dataset), group_commit_ms=0))
    window_ms = window_s * 1000
    written = 0
    pending: list[Any] = []

    def monitor(key: tuple) -> Any:
        mon = monitors.get(key)
        if mon is None:
            tags = {seg: str(v)[:64] for seg, v in zip(segments, key[:-1], strict=False)}
            name = "-".join([*(str(v) for v in key[:-1]), f"{key[-1]:04d}"])
            mon = Monitor(model=model, version=version, device_id=f"backtest-{name}"[:128],
                          endpoint="http://127.0.0.1:9/v1/telemetry", key="backtest-key",
                          spec=built.spec, window_s=window_s, spool_dir=spool_root / name,
                          tags=tags or None, start=False, durable=False,
                          send_empty_windows=False, clock=lambda: clock["now"])
            monitors[key] = mon
        return mon

    def flush(mons: list[Any], end_ms: int) -> None:
        nonlocal written
        clock["now"] = end_ms / 1000
        for mon in mons:
            mon.seal_window()
            for seq, body in mon.spool.oldest(10_000, max_bytes=1 << 30):
                pending.append(IngestRecord(mon.device_id, body, end_ms // 1000, end_ms))
                mon.spool.remove([seq])
        if len(pending) >= BATCH_WINDOWS:
            write_pending()

    def write_pending() -> None:
        nonlocal written
        if pending:
            sink.write(pending)
            written += len(pending)
            pending.clear()

    try:
        seg_values = [frame[s].astype(str).to_numpy() for s in segments]
        times = frame["__ts_ms__"].to_numpy(np.int64)
        cols = {f: frame[f].to_numpy(dtype=object) for f in features}
        preds = frame[pred_col].to_numpy(dtype=object) if pred_col else None
        buckets = times // window_ms
        counters: dict[tuple, int] = {}
        last_bucket: dict[tuple, int] = {}   # each device's last window with data
        active: set[tuple] = set()
        current = int(buckets[0]) if len(buckets) else 0
        clock["now"] = current * window_ms / 1000
        for i in range(len(frame)):
            b = int(buckets[i])
            if b != current:                 # every device's window of the old bucket closes
                flush([monitors[k] for k in active], (current + 1) * window_ms)
                active.clear()
                clock["now"] = b * window_ms / 1000
                current = b
            seg = tuple(v[i] for v in seg_values)
            k = counters.get(seg, 0)
            counters[seg] = k + 1
            key = (*seg, k % devices)
            mon = monitor(key)
            if key not in active:
                if last_bucket.get(key, b - 1) < b - 1:   # after a gap: an empty window (not
                    mon.seal_window()                     # sent) moves the start to now
                last_bucket[key] = b
                active.add(key)
            mon.log({f: cols[f][i] for f in features},
                    prediction=preds[i] if preds is not None else None)
        flush([monitors[k] for k in active], (current + 1) * window_ms)
        write_pending()
    finally:
        sink.close()
        for mon in monitors.values():
            mon.close(timeout_s=0)
        import shutil
        shutil.rmtree(spool_root, ignore_errors=True)
    return written


def _scores(features: list[dict[str, Any]]) -> list[Any]:
    from .alerts import FeatureScore
    return [FeatureScore(f["name"], f["method"], f["score"] if f["score"] is not None
                         else float("nan"), f["threshold"] if f["threshold"] is not None
                         else float("nan"), f.get("lower"), f.get("upper")) for f in features]


def _g(x: Any) -> str:
    return "-" if x is None else f"{x:.3g}"
