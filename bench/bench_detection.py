"""Detection benchmark: does an alert fire when something changed, and only then?

Seeded fleets (:mod:`bench.detection_scenarios`) go through the real pipeline as a
user runs it: the SDK (``Monitor.log`` with the spec from ``build_reference``, windows
sealed, signed, spooled and sent over HTTP) into a real embedded ``edgedrift gateway``
process, one ``run_analysis`` pass over the Parquet dataset, and the alert engine.

* Scenarios: 200 devices x 1,000 records per hourly window, 8 windows, the change from
  the 4th window on. Per scenario: the share of the 5 changed windows with an open alert
  for the right model and segment (drift or quality), and the windows from onset to the
  first alert (1 = the first changed window).
* Peer: Evidently's default column tests (its ``DataDriftPreset`` picks them per column:
  normed Wasserstein for numeric, Jensen-Shannon for categorical when the reference has
  more than 1,000 rows, thresholds 0.1) on the raw rows of the same windows -- the share
  of changed windows in which it flags the changed column (within its segment for the
  segment scenario). Evidently has no alerting of its own: this is its best case.
* False positives on stationary fleets of 20, 200 and 1,000 devices x 1,000 records per
  window: the share of feature-windows flagged, and false alerts per model per 30 days
  (720 hourly windows; the larger fleets run fewer windows, scaled to 30 days).

``EDGEDRIFT_BENCH_DETECTION_SCALE`` (default 1) multiplies the windows of the
stationary fleets (0.1 for a quick look).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .detection_scenarios import (
    CATEGORICAL,
    DRIFTED_FIRMWARE,
    SCENARIOS,
    SEGMENT_TAG,
    Scenario,
    firmware,
    reference_frame,
    window_columns,
)
from .figures import Figure

DEVICES, RECORDS, WINDOWS, ONSET = 200, 1000, 8, 3
HOUR_MS = 3_600_000
STATIONARY = ((20, 720), (200, 72), (1000, 14))      # devices, windows (scaled by the env)
SEED = 20261204
WORKERS = 2


@dataclass(frozen=True)
class FleetRun:
    """One simulated fleet: a model of its own in the shared data dir."""

    model: str
    scenario: Scenario
    devices: int
    windows: int
    onset: int | None

    def device_id(self, d: int) -> str:
        return f"{self.model}-d{d:04d}"


def fleets() -> list[FleetRun]:
    scale = float(os.environ.get("EDGEDRIFT_BENCH_DETECTION_SCALE", "1"))
    runs = [FleetRun(f"s-{name.replace('.', '').replace('%', 'pct')}", s, DEVICES, WINDOWS,
                     None if s.kind == "none" else ONSET) for name, s in SCENARIOS.items()]
    runs += [FleetRun(f"stationary-{d}", SCENARIOS["stationary"], d, max(3, int(w * scale)),
                      None) for d, w in STATIONARY]
    return runs


def _simulate_chunk(args: tuple) -> int:
    """Worker process: some devices of one fleet log, seal and send all their windows."""
    from edge_sdk import Monitor

    run, devices, keys, spec, url, spool, start_ms = args
    clock = {"now": start_ms / 1000}
    mons = {d: Monitor(model=run.model, version="1", device_id=run.device_id(d), endpoint=url,
                       key=keys[d], spec=spec, window_s=3600, spool_dir=f"{spool}/{d}",
                       tags={SEGMENT_TAG: firmware(d)}, start=False, durable=False,
                       clock=lambda: clock["now"], timeout_s=60.0) for d in devices}
    sent = 0
    for w in range(run.windows):
        clock["now"] = (start_ms + w * HOUR_MS) / 1000
        drifting = run.onset is not None and w >= run.onset
        for d, mon in mons.items():
            cols = window_columns(run.scenario, SEED, d, w, RECORDS, drifting)
            preds = cols.pop("prediction")
            names = list(cols)
            for values, pred in zip(zip(*cols.values(), strict=False), preds, strict=False):
                mon.log(dict(zip(names, values, strict=False)), prediction=pred)
        clock["now"] = (start_ms + (w + 1) * HOUR_MS) / 1000
        for mon in mons.values():
            mon.seal_window()
        sent += len(mons)
        if (w + 1) % 8 == 0 or w == run.windows - 1:
            for mon in mons.values():
                _drain(mon)
    for mon in mons.values():
        mon.close(timeout_s=0)
    return sent


def _drain(mon: Any) -> None:
    for _ in range(10_000):
        if not mon.spool.backlog()[0]:
            return
        if not mon.sender.send_once():
            raise RuntimeError(f"{mon.device_id}: the gateway did not accept a window "
                               f"({mon.sender._last_error or 'no progress'})")


def _evidently(run: FleetRun, ref: Any) -> tuple[float, int, int]:
    """(share of changed windows where Evidently flags the changed column, flagged
    column-windows, column-windows) for one scenario fleet."""
    import pandas as pd
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    def flags(cur: Any, columns: list[str]) -> list[bool]:
        out = []
        for c in columns:
            kind = ColumnType.Categorical if c in CATEGORICAL else ColumnType.Numerical
            r, x = ref[c].dropna(), cur[c].dropna()
            out.append(bool(get_stattest(r, x, kind, None)(r, x, kind, None).drifted))
        return out

    devices = [d for d in range(run.devices) if not run.scenario.segment_only
               or firmware(d) == DRIFTED_FIRMWARE]
    hits, flagged, total = 0, 0, 0
    for w in range(run.windows):
        drifting = run.onset is not None and w >= run.onset
        if run.onset is not None and not drifting:
            continue
        frames = [pd.DataFrame(window_columns(run.scenario, SEED, d, w, RECORDS, drifting))
                  for d in devices]
        cur = pd.concat(frames, ignore_index=True)
        if drifting:
            hits += flags(cur, [run.scenario.feature])[0]
        else:
            col_flags = flags(cur, [c for c in ref.columns])
            flagged, total = flagged + sum(col_flags), total + len(col_flags)
    changed = run.windows - (run.onset or 0) if run.onset is not None else 0
    return (hits / changed if changed else 0.0), flagged, total


def _alert_windows(alerts: list[Any], model: str, segment: str, start_ms: int,
                   windows: int) -> set[int]:
    """Window indexes in which an alert of ``model``/``segment`` was open."""
    open_from: dict[str, int] = {}
    active: set[int] = set()
    for a in sorted(alerts, key=lambda a: a.payload["data"]["window"]["start"]):
        data = a.payload["data"]
        if a.model != model or a.segment != segment:
            continue
        w = int((_ms(data["window"]["start"]) - start_ms) // HOUR_MS)
        kind = a.event_type.split(".")[0]
        if a.event_type.endswith(("detected", "breached")):
            open_from[kind] = w
        elif a.event_type.endswith(("resolved", "recovered")) and kind in open_from:
            active |= set(range(open_from.pop(kind), w))
    for w in open_from.values():
        active |= set(range(w, windows))
    return active


def _ms(iso: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def run() -> list[Figure]:
    import logging

    from analytics.alerts import AlertEngine, AlertsConfig
    from analytics.alerts.from_verdicts import conditions_from_verdicts
    from analytics.config import AnalyticsConfig
    from analytics.job import run_analysis
    from analytics.reference import ReferenceStore
    from analytics.reference_build import build_reference
    from collector.keys import KeyRegistry
    from edgedrift.demo.pipeline import DemoOptions, _Services
    from edgedrift.paths import DataPaths
    logging.getLogger("analytics.alerts.policy").setLevel(logging.ERROR)  # no endpoints here
    runs = fleets()
    def say(msg):
        return (print(f"  detection: {msg}", file=sys.stderr, flush=True))
    with tempfile.TemporaryDirectory(prefix="edgedrift-detection-") as tmp:
        paths = DataPaths(Path(tmp))
        paths.base.mkdir(parents=True, exist_ok=True)
        registry = KeyRegistry(paths.keys)
        keys = {r.model: registry.add_many([r.device_id(d) for d in range(r.devices)])
                for r in runs}
        ref = reference_frame(20_000, SEED)
        store = ReferenceStore(paths.references)
        specs = {r.model: build_reference(ref, r.model, "1", prediction="prediction",
                                          seed=SEED).save(store)["spec"] for r in runs}
        end_ms = int(time.time() // 3600 * 3600 * 1000)
        starts = {r.model: end_ms - r.windows * HOUR_MS for r in runs}
        t0 = time.perf_counter()
        with _Services(paths, DemoOptions(quiet=True), say) as services, \
                ProcessPoolExecutor(WORKERS) as pool:
            for r in runs:
                say(f"{r.model}: {r.devices} devices x {r.windows} windows")
                chunks = [list(range(r.devices))[i::WORKERS] for i in range(WORKERS)]
                dev_keys = {d: keys[r.model][r.device_id(d)] for d in range(r.devices)}
                list(pool.map(_simulate_chunk, [
                    (r, c, dev_keys, str(specs[r.model]), services.gateway_url,
                     str(paths.base / "spool" / r.model), starts[r.model]) for c in chunks]))
        simulate_s = time.perf_counter() - t0
        config = AnalyticsConfig(window_s=3600, grace_s=0, segment_tags=(SEGMENT_TAG,),
                                 reports=False, lookback_s=800 * 3600)
        t0 = time.perf_counter()
        summary = run_analysis(config, paths, since_ms=min(starts.values()),
                               now_ms=end_ms + HOUR_MS)
        analysis_s = time.perf_counter() - t0
        alerts = AlertEngine(AlertsConfig(), paths.outbox).observe(
            conditions_from_verdicts(summary.verdicts))
        import duckdb
        con = duckdb.connect(str(paths.analytics_db), read_only=True)
        flagged = dict(con.execute(
            "SELECT model, avg(candidate::INT) FROM (SELECT DISTINCT model, window_start, "
            "segment_tag, segment_value, feature, candidate FROM feature_metrics) GROUP BY ALL"
        ).fetchall())
        con.close()
        say(f"simulated in {simulate_s:.0f} s, analysed in {analysis_s:.1f} s")
        return _figures(runs, alerts, flagged, starts, ref)


def _figures(runs: list[FleetRun], alerts: list[Any], flagged: dict[str, float],
             starts: dict[str, int], ref: Any) -> list[Figure]:
    out = []
    ev_flagged = ev_total = 0
    for r in runs:
        if r.onset is None:
            continue
        active = _alert_windows(alerts, r.model, r.scenario.expected_segment, starts[r.model],
                                r.windows)
        changed = set(range(r.onset, r.windows))
        rate = 100.0 * len(active & changed) / len(changed)
        first = min(active & changed, default=None)
        false_before = len(active - changed)
        ev_rate, _, _ = _evidently(r, ref)
        note = (f"first alert in changed window {first - r.onset + 1}" if first is not None
                else "no alert") + (f"; {false_before} window(s) alerted before onset"
                                    if false_before else "")
        out.append(Figure(f"detection: {r.scenario.name}, alert rate", "100%" if r.scenario.name
                          not in ("mean_0.1", "variance_x1.2", "category_x2") else ">= Evidently",
                          rate, "%", peer=100.0 * ev_rate, peer_name="Evidently column test",
                          lower_is_better=False, note=note))
    for records in (1_000, 10_000, 200_000):
        eventually, at_once = smallest_shifts(records)
        out.append(Figure(f"smallest detectable mean shift, {records:,} values/window",
                          "0.1 sd within 3 windows", eventually, "sd",
                          note=f"alerts eventually; >= {at_once:.3g} sd alerts in its first "
                               "window (reference of 20,000 rows)"))
    out += interval_figures()
    for r in runs:
        if r.onset is not None:
            continue
        false_alerts = sum(1 for a in alerts if a.model == r.model
                           and a.event_type.endswith(("detected", "breached")))
        if r.model.startswith("stationary-"):
            per_month = false_alerts * 720 / r.windows
            out.append(Figure(f"false alerts per model per 30 days, {r.devices} devices",
                              "<= 1", per_month, "alerts",
                              note=f"{false_alerts} in {r.windows} hourly windows"))
        out.append(Figure(f"feature-windows flagged, stationary {r.devices} devices"
                          + ("" if r.model.startswith("stationary-") else " (8 windows)"),
                          "<= 1%", 100.0 * flagged.get(r.model, 0.0), "%"))
        if r.model.startswith("s-"):
            _, ev_flagged, ev_total = _evidently(r, ref)
            out[-1].peer, out[-1].peer_name = 100.0 * ev_flagged / max(ev_total, 1), \
                "Evidently column tests"
    return out


def interval_figures(values: int = 200_000, devices: int = 200) -> list[Figure]:
    """The normalised Wasserstein interval from the sketches (spec quantile layout, slot
    sums as the sink stores them, ``devices`` devices merged) against the exact distance of
    the raw values; the "before" is the same interval without the slot sums."""
    import numpy as np
    from scipy import stats

    from .sketch_intervals import draw, intervals, quantile_layout

    out = []
    rng = np.random.default_rng(17)
    for shape, scale, label, target in (
            ("normal", 1.0, "normal, stationary", "width <= 0.02"),
            ("normal", 1.5 ** 0.5, "normal, variance x1.5", "lower bound near exact"),
            ("normal", 1.2 ** 0.5, "normal, variance x1.2", "lower bound near exact"),
            ("lognormal", 1.0, "lognormal, stationary", "width <= 0.05"),
            ("lognormal", 1.2, "lognormal, scale x1.2", "lower bound near exact")):
        ref = draw(shape, rng, 20_000, 0.0, 1.0)
        cur = draw(shape, rng, values, 0.0, scale)
        got = intervals(cur, ref, quantile_layout(ref), devices)
        w = got["wasserstein"]
        exact = stats.wasserstein_distance(cur, ref) / got["std"]
        out.append(Figure(f"Wasserstein interval, {values:,} values, {label}", target,
                          float(w.upper[0] - w.lower[0]), "wide",
                          note=f"[{w.lower[0]:.4f}, {w.upper[0]:.4f}] around an exact "
                               f"{exact:.4f}; lower bound without slot sums "
                               f"{got['lower_without_sums']:.4f}"))
    return out


def smallest_shifts(records: int, reference_rows: int = 20_000) -> tuple[float, float]:
    """(smallest mean shift in reference sds that alerts eventually, that alerts in the first
    window) for a normal feature with ``records`` values per window, under the defaults.

    A window adds evidence when its KS test reaches ``evidence_alpha`` (the KS statistic of
    a shift ``s`` is ``2 Phi(s/2) - 1``) and its Wasserstein lower bound (tight for shifts:
    the distance is ``s``) passes ``cusum_k`` x threshold; it alerts at once when the lower
    bound reaches ``(cusum_h + cusum_k)`` x threshold.

    >>> [round(x, 3) for x in smallest_shifts(1_000_000)]
    [0.05, 0.1]
    """
    from scipy import optimize, stats

    from analytics.config import AnalyticsConfig

    cfg = AnalyticsConfig()
    thr = cfg.threshold("wasserstein")
    n_eff = round(records * reference_rows / (records + reference_rows))
    d_star = optimize.brentq(lambda d: stats.kstwo.sf(d, n_eff) - cfg.evidence_alpha, 1e-6, 1.0)
    s_test = float(2.0 * stats.norm.ppf((1.0 + d_star) / 2.0))
    return max(s_test, cfg.cusum_k * thr), max(s_test, (cfg.cusum_h + cfg.cusum_k) * thr)
