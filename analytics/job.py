"""One analysis pass: read -> merge -> metrics -> verdicts -> write, returning a summary.

:func:`run_analysis` is the entry point (the ``edgedrift analyze`` command and the
demo call it). A pass finds the evaluation windows that are closed and new (or
whose number of device windows changed: late data), merges their sketches in
DuckDB, computes every method with its sketch interval, applies the verdict
policy (with the persistence history from the results database) and replaces
those windows' rows in the results database. With ``since_ms`` every closed
window since then is recomputed.

>>> s = AnalysisSummary("r1")
>>> s.windows_computed, s.drift_verdicts()
(0, [])
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from collector.storage import dataset_location
from edgedrift.paths import DataPaths

from . import metrics as metrics_mod
from . import verdict
from .config import AnalyticsConfig
from .dataset import Dataset
from .reference import ReferenceStore
from .results import ResultsDB, publish_snapshot
from .rollup_reader import analysis_source
from .wilson import wilson_bounds
from .windows import Cadence, ends

log = logging.getLogger(__name__)
WINDOW = verdict.WINDOW


@dataclass
class AnalysisSummary:
    """What a pass did: windows computed, rows written, verdict rows, reports, timings."""

    run_id: str
    windows_computed: int = 0
    feature_rows: int = 0
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)   # why little or nothing was computed
    rollups: dict[str, Any] = field(default_factory=dict)   # what preparing roll-ups did

    def drift_verdicts(self) -> list[dict[str, Any]]:
        """Verdict rows in state ``drift`` (any kind)."""
        return [v for v in self.verdicts if v["state"] == "drift"]

    def changes(self) -> list[dict[str, Any]]:
        """Verdict rows whose state differs from the previous window's."""
        return [v for v in self.verdicts if v["changed"]]


def run_analysis(config: AnalyticsConfig, data_paths: DataPaths, since_ms: int | None = None,
                 now_ms: int | None = None, models: tuple[str, ...] = ()) -> AnalysisSummary:
    """Run one pass and return its :class:`AnalysisSummary` (see the module docstring)."""
    started = time.perf_counter()
    now_ms = int(time.time() * 1000) if now_ms is None else int(now_ms)
    run_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now_ms / 1000)) + "-" + uuid.uuid4().hex[:6]
    summary = AnalysisSummary(run_id)
    w = config.cadence
    ds = Dataset(config.dataset or dataset_location(str(data_paths.dataset)), config.segment_tags)
    store = ReferenceStore(data_paths.references)
    db = ResultsDB(data_paths.analytics_db).open()
    status, error = "ok", ""
    lo_ms = hi_ms = 0
    try:
        # no lock: the dataset's queries read live files (a compacted file or its batch
        # files, never both) and list again if a file vanishes under them (analytics/dataset.py)
        t = time.perf_counter()
        start = since_ms if since_ms is not None else now_ms - config.lookback_s * 1000
        start = w.floor(start)
        src, summary.rollups = analysis_source(ds, config, now_ms, start, models)
        summary.timings["rollups"] = time.perf_counter() - t
        inv = src.inventory(start, w.end(w.floor(now_ms)), w, models).to_pandas()
        todo = _select(inv, db, now_ms, w, config, recompute=since_ms is not None)
        summary.timings["inventory"] = time.perf_counter() - t
        if todo.empty:
            if inv.empty and src is not ds:   # roll-ups hold closed windows only: ask the raw
                inv = ds.inventory(start, w.end(w.floor(now_ms)), w, models).to_pandas()
            summary.notes.append(_why_nothing(inv, ds, w, start, now_ms, config, models,
                                              since_ms is not None))
            return summary
        lo_ms, hi_ms = int(todo["bucket"].min()), w.end(int(todo["bucket"].max()))
        models_q = tuple(sorted(todo["model"].unique()))
        t = time.perf_counter()
        groups = src.feature_groups(lo_ms, hi_ms, w, models_q)
        cats = src.category_groups(lo_ms, hi_ms, w, models_q)
        wins = src.window_groups(lo_ms, hi_ms, w, models_q)
        summary.timings["merge_sql"] = time.perf_counter() - t
        t = time.perf_counter()
        refs = {(m, v): store.find(m, v) for m, v in
                todo[["model", "version"]].drop_duplicates().itertuples(index=False)}
        known: dict[str, tuple[float, ...]] = {}
        for m in models_q:
            known.update(store.known_edges(m))
        tables = metrics_mod.compute(groups, cats, refs, config, known)
        keep = todo[["model", "version", "bucket"]]
        met = _only(tables.metrics, keep)
        quality = _only(tables.quality, keep)
        latency = _only(tables.latency, keep)
        wdf = _only(metrics_mod.decode_segments(wins.to_pandas(), config.segment_tags)
                    if wins.num_rows else pd.DataFrame(), keep)
        summary.timings["metrics"] = time.perf_counter() - t
        t = time.perf_counter()
        # CUSUM seeds decay to 0 within cusum_max / cusum_k empty windows
        hist_lo = w.shift(lo_ms, -max(config.persistence_m - 1,
                                      math.ceil(config.cusum_max / config.cusum_k)))
        feats = verdict.feature_states(met, db.feature_history(hist_lo, lo_ms), config)
        if not met.empty:
            met = met.merge(feats[[*WINDOW, "feature", "p_adjusted", "candidate", "drifted",
                                   "evidence", "cusum"]],
                            on=[*WINDOW, "feature"], how="left")
            met["p_adjusted"] = np.where(met["role"] == "test", met["p_adjusted"], np.nan)
        quality, q_verdicts = verdict.quality_verdicts(quality, db.quality_history(hist_lo, lo_ms),
                                                      config)
        vhist = db.verdict_history(hist_lo, lo_ms)
        verdicts = pd.concat([v for v in (
            verdict.drift_verdicts(feats, met, config, _only(tables.skipped, keep)), q_verdicts,
            verdict.latency_verdicts(latency, refs, vhist, config),
            verdict.accuracy_verdicts(wdf, refs, vhist, config)) if not v.empty],
            ignore_index=True)
        verdicts = _previous(verdicts, db.previous_states(lo_ms))
        summary.timings["verdicts"] = time.perf_counter() - t
        t = time.perf_counter()
        model_metrics = _model_metrics(wdf, latency, config)
        out = {"feature_metrics": met, "verdicts": verdicts, "data_quality": quality,
               "model_metrics": model_metrics,
               "computed_windows": todo.rename(columns={"windows": "device_windows"})}
        for frame in out.values():
            _stamp(frame, w, run_id)
        out["computed_windows"]["computed_at"] = pd.Timestamp(now_ms, unit="ms")
        keys = todo.assign(window_start=pd.to_datetime(todo["bucket"], unit="ms"))
        db.replace_windows(keys, out)
        summary.timings["write"] = time.perf_counter() - t
        t = time.perf_counter()
        health = src.fleet_health().to_pandas()
        if not health.empty:
            health["run_id"] = run_id
            for col in ("last_seen", "last_window_end"):
                health[col] = pd.to_datetime(health[col]).dt.tz_localize(None)
        db.replace_fleet_health(health)
        summary.timings["health"] = time.perf_counter() - t
        summary.windows_computed = len(todo)
        summary.feature_rows = len(met)
        summary.verdicts = _records(verdicts, w)
        thin = sum(1 for v in summary.verdicts if v["kind"] == "drift"
                   and not v["features_evaluated"] and not v["segment_tag"])
        if thin:
            summary.notes.append(
                f"{thin} window(s) had fewer than min_samples={config.min_samples} values per "
                f"feature and no drift verdict: use a longer window (now {w.label}) or lower "
                "analytics.min_samples")
        if config.reports:
            summary.reports = _reports(summary.verdicts, ds, store, db, data_paths, config)
        return summary
    except BaseException as exc:
        status, error = "error", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        summary.seconds = time.perf_counter() - started
        try:
            db.record_run({"run_id": run_id, "started_at": pd.Timestamp(now_ms, unit="ms"),
                           "finished_at": pd.Timestamp.utcnow().tz_localize(None),
                           "since": pd.Timestamp(lo_ms, unit="ms") if lo_ms else None,
                           "until": pd.Timestamp(hi_ms, unit="ms") if hi_ms else None,
                           "windows_computed": summary.windows_computed,
                           "feature_rows": summary.feature_rows,
                           "verdict_rows": len(summary.verdicts),
                           "drift_verdicts": len(summary.drift_verdicts()),
                           "seconds": summary.seconds, "status": status, "error": error})
        finally:
            db.close()
            with contextlib.suppress(OSError):  # a missing snapshot only makes readers wait
                publish_snapshot(data_paths.analytics_db)
            ds.close()


def _select(inv: pd.DataFrame, db: ResultsDB, now_ms: int, w: Cadence, config: AnalyticsConfig,
            recompute: bool) -> pd.DataFrame:
    """Closed evaluation windows that are new, changed (late data) or, with ``recompute``, all."""
    if inv.empty:
        return inv
    inv = inv.copy()
    inv["bucket"] = inv["bucket"].astype(np.int64)
    if not config.include_open_windows:
        inv = inv[ends(w, inv["bucket"]) + config.grace_s * 1000 <= now_ms]
    if recompute or inv.empty:
        return inv.reset_index(drop=True)
    done = db.computed()
    if done.empty:
        return inv.reset_index(drop=True)
    done["bucket"] = done["bucket"].astype(np.int64)
    merged = inv.merge(done, on=["model", "version", "bucket"], how="left")
    fresh = merged["device_windows"].isna() | (merged["device_windows"] != merged["windows"])
    return inv[fresh.to_numpy()].reset_index(drop=True)


def _why_nothing(inv: pd.DataFrame, ds: Dataset, w: Cadence, start: int, now_ms: int,
                 config: AnalyticsConfig, models: tuple[str, ...], recompute: bool) -> str:
    """One line saying why a pass computed no window, and what to do about it."""
    if inv.empty:
        span = ds.span(models)
        if span is None:
            return "no data: the dataset has no windows yet (devices send to the gateway)"
        return (f"no data between {_iso(start)} and {_iso(now_ms)} (analytics.lookback_s "
                f"{config.lookback_s} s); the dataset holds windows from {_iso(span[0])} to "
                f"{_iso(span[1])}: use --since {_iso(span[0])[:10]}")
    buckets = inv["bucket"].astype(np.int64)
    closes = ends(w, buckets) + config.grace_s * 1000
    if not config.include_open_windows and (closes > now_ms).all():
        return (f"{len(inv)} window(s) still open: the next closes at "
                f"{_iso(int(closes.min()))} ({w.label} windows + grace_s {config.grace_s} s); "
                "--include-open computes open windows")
    if not recompute:
        return (f"nothing new: the {int((closes <= now_ms).sum())} closed window(s) since "
                f"{_iso(start)} are computed already (--since recomputes)")
    return "no closed window in the range"


def _iso(ms: int) -> str:
    return pd.Timestamp(int(ms), unit="ms").strftime("%Y-%m-%dT%H:%MZ")


def _only(frame: pd.DataFrame, keep: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    frame = frame.copy()
    frame["bucket"] = frame["bucket"].astype(np.int64)
    return frame.merge(keep, on=["model", "version", "bucket"], how="inner")


def _previous(verdicts: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    if verdicts.empty:
        return verdicts
    keys = ["model", "version", "segment_tag", "segment_value", "kind"]
    v = verdicts.sort_values([*keys, "bucket"]).reset_index(drop=True)
    v["previous_state"] = v.groupby(keys)["state"].shift(1)
    if not before.empty:
        first = v["previous_state"].isna()
        prior = v[keys].merge(before, on=keys, how="left")["previous_state"]
        v.loc[first, "previous_state"] = prior[first]
    v["previous_state"] = v["previous_state"].fillna("ok")
    v["changed"] = v["state"] != v["previous_state"]
    v["report_path"] = ""
    return v


def _model_metrics(wdf: pd.DataFrame, latency: pd.DataFrame,
                   config: AnalyticsConfig) -> pd.DataFrame:
    if wdf.empty:
        return wdf
    mm = wdf.merge(latency, on=WINDOW, how="left") if not latency.empty else wdf.copy()
    mm["throughput_rps"] = mm["records"] / ((ends(config.cadence, mm["bucket"])
                                             - mm["bucket"].to_numpy(np.int64)) / 1000.0)
    # classification and regression labels are aggregated apart (dataset.window_groups):
    # accuracy from the classification windows only, MAE/RMSE from the regression ones
    label_n = mm["label_n_cls"].fillna(0).to_numpy(float)
    correct = mm["label_correct"].fillna(0).to_numpy(float)
    cls = label_n > 0
    mm["accuracy"] = np.where(cls, correct / np.maximum(label_n, 1), np.nan)
    lower, upper = wilson_bounds(correct, label_n)
    mm["accuracy_lower"] = np.where(cls, lower, np.nan)
    mm["accuracy_upper"] = np.where(cls, upper, np.nan)
    reg_n = mm["label_n_reg"].fillna(0).to_numpy(float)
    reg = reg_n > 0
    mm["mae"] = np.where(reg, mm["label_abs_err"].fillna(0) / np.maximum(reg_n, 1), np.nan)
    mm["rmse"] = np.where(reg, np.sqrt(mm["label_sq_err"].fillna(0) / np.maximum(reg_n, 1)),
                          np.nan)
    return mm


def _stamp(frame: pd.DataFrame, w: Cadence, run_id: str) -> None:
    if frame is None or frame.empty:
        return
    frame["window_start"] = pd.to_datetime(frame["bucket"], unit="ms")
    frame["window_end"] = pd.to_datetime(ends(w, frame["bucket"]), unit="ms")
    frame["run_id"] = run_id


def _records(verdicts: pd.DataFrame, w: Cadence) -> list[dict[str, Any]]:
    if verdicts.empty:
        return []
    out = []
    cols = ["model", "version", "segment_tag", "segment_value", "kind", "state", "previous_state",
            "changed", "share_drifted", "features_evaluated", "drifted_features", "critical_hit",
            "note"]
    for r in verdicts.sort_values(["bucket", "model", "version", "segment_tag", "segment_value",
                                   "kind"]).itertuples(index=False):
        row = {c: getattr(r, c) for c in cols}
        row["window_start_ms"] = int(r.bucket)
        row["window_end_ms"] = w.end(int(r.bucket))
        row["changed"] = bool(row["changed"])
        row["features_evaluated"] = int(row["features_evaluated"])
        row["share_drifted"] = float(row["share_drifted"])
        out.append(row)
    return out


def _reports(verdicts: list[dict[str, Any]], ds: Dataset, store: ReferenceStore, db: ResultsDB,
             paths: DataPaths, config: AnalyticsConfig) -> list[str]:
    from .reports import report_name, samples_frame, write_drift_report
    written = []
    for v in verdicts:
        if v["kind"] != "drift" or v["state"] != "drift" or not v["changed"]:
            continue
        try:
            ref_path = store.samples_path(v["model"], v["version"])
        except ValueError:
            continue
        if not ref_path.exists():
            log.info("no reference samples for %s %s: no report", v["model"], v["version"])
            continue
        cur = ds.samples(v["model"], v["version"], v["window_start_ms"], v["window_end_ms"],
                         config.report_max_rows, (v["segment_tag"], v["segment_value"]))
        if not cur:
            log.info("no raw-row samples (SDK sampling off?) for %s %s: no report",
                     v["model"], v["version"])
            continue
        stem = report_name(v["model"], v["version"], v["segment_tag"], v["segment_value"],
                           v["window_start_ms"])
        paths_written = write_drift_report(pd.read_parquet(ref_path), samples_frame(cur),
                                           paths.reports, stem, config.report_max_rows)
        if paths_written:
            html = str(paths_written[0])
            v["report_path"] = html
            db.set_report(v["model"], v["version"], v["segment_tag"], v["segment_value"],
                          v["window_start_ms"], html)
            written.append(html)
    return written
