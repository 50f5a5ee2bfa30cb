"""Seeded detection regressions: each scenario of ``python -m bench detection`` on a small
fleet raises its alert where and when it should, and the stationary twin stays quiet.

Windows are made by the SDK's own sketches (``WindowSketch.add_record``, the spec from
the real reference builder), written through the collector's embedded sink, analysed by
``run_analysis`` and turned into alerts by the alert engine.
"""

from __future__ import annotations

import numpy as np
import pytest
from analytics_fleet import write

from analytics.alerts import AlertEngine, AlertsConfig
from analytics.alerts.from_verdicts import conditions_from_verdicts
from analytics.config import AnalyticsConfig
from analytics.job import run_analysis
from analytics.reference import ReferenceStore
from analytics.reference_build import build_reference
from bench.detection_scenarios import (
    SCENARIOS,
    SEGMENT_TAG,
    firmware,
    reference_frame,
    window_columns,
)
from edge_sdk.window import WindowSketch
from edge_sdk.wire import WIRE_VERSION, encode_window
from edgedrift.paths import DataPaths

BASE_MS = 1_760_000_000_000 // 3_600_000 * 3_600_000
HOUR = 3_600_000
DEVICES, RECORDS, WINDOWS, ONSET, QUIET_WINDOWS = 10, 500, 6, 2, 24
# scenario -> the changed window (1 = the first) by which its alert must be open
EXPECTED = {"mean_0.25": 1, "mean_0.5": 1, "variance_x1.5": 1, "category_x2": 1,
            "new_category_5%": 1, "missing_10%": 1, "stuck": 1, "segment_mean_0.5": 1}


def bodies(model: str, scenario, windows: int, onset: int | None, spec) -> list:
    out = []
    for d in range(DEVICES):
        for w in range(windows):
            cols = window_columns(scenario, 5, d, w, RECORDS, onset is not None and w >= onset)
            preds = cols.pop("prediction")
            sk = WindowSketch(spec)
            names = list(cols)
            for values, pred in zip(zip(*cols.values(), strict=False), preds, strict=False):
                sk.add_record(dict(zip(names, values, strict=False)), prediction=pred)
            body = {"v": WIRE_VERSION, "d": f"{model}-{d}", "m": model, "mv": "1", "sq": w,
                    "ws": BASE_MS + w * HOUR, "we": BASE_MS + (w + 1) * HOUR,
                    "tg": {SEGMENT_TAG: firmware(d)}, "si": spec.spec_id}
            body.update(sk.body_fields())
            out.append((f"{model}-{d}", encode_window(body)))
    return out


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    paths = DataPaths(tmp_path_factory.mktemp("detection"))
    store = ReferenceStore(paths.references)
    ref = reference_frame(20_000, seed=5)
    runs = {"stationary": (QUIET_WINDOWS, None)} | {name: (WINDOWS, ONSET) for name in EXPECTED}
    sent = []
    for i, (name, (windows, onset)) in enumerate(runs.items()):
        built = build_reference(ref, f"m{i}", "1", prediction="prediction", seed=5)
        built.save(store)
        sent += bodies(f"m{i}", SCENARIOS[name], windows, onset, built.spec)
    write(paths.dataset, sent)
    summary = run_analysis(AnalyticsConfig(window_s=3600, segment_tags=(SEGMENT_TAG,),
                                           reports=False), paths, since_ms=BASE_MS,
                           now_ms=BASE_MS + 48 * HOUR)
    alerts = AlertEngine(AlertsConfig(), paths.outbox).observe(
        conditions_from_verdicts(summary.verdicts))
    models = {name: f"m{i}" for i, name in enumerate(runs)}
    return models, alerts, summary


def opened(alerts, model: str, segment: str | None = None) -> list[int]:
    """Window indexes in which alerts of ``model`` (and ``segment``) opened."""
    out = []
    for a in alerts:
        if a.model == model and a.event_type.endswith(("detected", "breached")) and (
                segment is None or a.segment == segment):
            start = a.payload["data"]["window"]["start"]
            out.append(int((np.datetime64(start.rstrip("Z"), "ms").astype(np.int64) - BASE_MS)
                           // HOUR))
    return sorted(out)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_alert_fires_after_onset_and_not_before(outcome, name):
    models, alerts, _ = outcome
    segment = SCENARIOS[name].expected_segment
    assert opened(alerts, models[name]) and min(opened(alerts, models[name])) >= ONSET, \
        "no alert before the change"
    first = min(opened(alerts, models[name], segment), default=None)
    assert first is not None, f"{name}: no alert for segment {segment!r}"
    assert first - ONSET + 1 <= EXPECTED[name]


def test_segment_only_drift_leaves_the_other_segment_quiet(outcome):
    models, alerts, _ = outcome
    assert not opened(alerts, models["segment_mean_0.5"], f"{SEGMENT_TAG}=2.0")


def test_the_stationary_twin_stays_quiet(outcome):
    models, alerts, summary = outcome
    assert opened(alerts, models["stationary"]) == []
    verdicts = [v for v in summary.verdicts if v["model"] == models["stationary"]]
    assert len(verdicts) >= QUIET_WINDOWS * 3          # fleet + 2 firmware segments, 2 kinds
    assert all(v["state"] == "ok" for v in verdicts)
