"""Policies, cooldown and persisted engine state (real SQLite outbox files)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.alerts import AlertEngine, AlertsConfig, Condition, FeatureScore
from analytics.alerts.config import EndpointConfig, PolicyConfig
from analytics.alerts.outbox import Outbox

T0 = datetime(2025, 3, 1, tzinfo=UTC)
EP = EndpointConfig("ci", "https://hooks.example.com/x", ("whsec_AAEC",))


def window(i: int, active: bool, kind: str = "drift", version: str = "1.0",
           features: tuple[FeatureScore, ...] = (), **detail: object) -> Condition:
    start = T0 + timedelta(minutes=5 * i)
    return Condition(kind, "kws", version, "", start, start + timedelta(minutes=5), active,
                     features=features, detail=dict(detail))


def types(alerts: list) -> list[str]:
    return [a.event_type for a in alerts]


def test_an_open_incident_is_updated_when_its_features_change(tmp_path: Path) -> None:
    """One alert per episode: the set of drifted features changing while it is open sends one
    drift.updated (added / removed named), the same set again sends nothing."""
    rms, zcr = FeatureScore("rms", "wasserstein", 0.4, 0.1), FeatureScore("zcr", "ks", 0.2, 0.1)
    engine = AlertEngine(AlertsConfig(endpoints=(EP,), cooldown_s=0), tmp_path / "a.sqlite")
    sets = [(), (rms,), (rms,), (rms, zcr), (rms, zcr), (zcr,), ()]
    seen = [a for i, feats in enumerate(sets) for a in engine.observe([window(i, bool(feats),
                                                                             features=feats)])]
    assert types(seen) == ["drift.detected", "drift.updated", "drift.updated", "drift.resolved"]
    detected, grew, shrank, resolved = seen
    assert [f["name"] for f in grew.payload["data"]["features"]] == ["rms", "zcr"]
    assert grew.payload["data"]["changes"] == {"added": ["zcr"], "removed": []}
    assert shrank.payload["data"]["changes"] == {"added": [], "removed": ["rms"]}
    assert grew.payload["data"]["updates_alert_id"] == detected.id
    assert grew.payload["data"]["incident_id"] == detected.payload["data"]["incident_id"]
    assert grew.payload["data"]["suggested_action"] == "retrain"
    assert resolved.payload["data"]["resolves_alert_id"] == detected.id


def test_drift_lasting_50_windows_is_one_detected_and_one_resolved(tmp_path: Path) -> None:
    engine = AlertEngine(AlertsConfig(endpoints=(EP,), cooldown_s=0), tmp_path / "a.sqlite")
    seen = []
    for i in range(70):
        seen += engine.observe([window(i, 10 <= i < 60,
                                       features=(FeatureScore("rms", "psi", 0.4, 0.2),))])
    assert types(seen) == ["drift.detected", "drift.resolved"]
    detected, resolved = seen
    assert detected.payload["data"]["window"]["start"] == "2025-03-01T00:50:00Z"
    assert detected.payload["data"]["features"][0]["name"] == "rms"
    assert detected.payload["data"]["suggested_action"] == "retrain"
    assert resolved.payload["data"]["resolves_alert_id"] == detected.id
    assert resolved.payload["data"]["incident_id"] == detected.payload["data"]["incident_id"]
    box = Outbox(tmp_path / "a.sqlite")
    assert [len(box.show(a.id)["deliveries"]) for a in seen] == [1, 1]


def test_flapping_within_cooldown_stays_one_incident(tmp_path: Path) -> None:
    engine = AlertEngine(AlertsConfig(cooldown_s=900), tmp_path / "a.sqlite")
    pattern = [True, False, True, False, False, True, False, False, False, False]
    seen = [a for i, active in enumerate(pattern) for a in engine.observe([window(i, active)])]
    # clear for 2 windows (600 s) does not resolve; the 3rd clear window (900 s) does
    assert types(seen) == ["drift.detected", "drift.resolved"]
    assert seen[1].payload["data"]["window"]["end"] == "2025-03-01T00:45:00Z"


def test_restart_neither_repeats_nor_forgets(tmp_path: Path) -> None:
    cfg = AlertsConfig(cooldown_s=0)
    first = AlertEngine(cfg, tmp_path / "a.sqlite")
    assert types(first.observe([window(i, True) for i in range(3)])) == ["drift.detected"]
    second = AlertEngine(cfg, tmp_path / "a.sqlite")  # a restarted process
    assert second.observe([window(i, True) for i in range(4)]) == []  # re-fed windows
    assert types(second.observe([window(4, False)])) == ["drift.resolved"]
    assert second.observe([window(4, False), window(5, False)]) == []


def test_policy_bounds_critical_features_and_scoping(tmp_path: Path) -> None:
    cfg = AlertsConfig(cooldown_s=0, policies=(
        PolicyConfig("drift", critical_features=("snr",)),
        PolicyConfig("latency", max_p95_ms=250),
        PolicyConfig("accuracy", min_accuracy=0.9, models=("other",)),
    ))
    engine = AlertEngine(cfg, tmp_path / "a.sqlite")
    rms = (FeatureScore("rms", "psi", 0.5, 0.2),)
    snr = (FeatureScore("snr", "ks", 0.01, 0.05),)
    assert engine.observe([window(0, True, features=rms)]) == []
    assert types(engine.observe([window(1, True, features=rms + snr)])) == ["drift.detected"]
    # the bound decides, not the analytics' flag, when the value is present
    assert engine.observe([window(0, True, "latency", p95_ms=200)]) == []
    assert types(engine.observe([window(1, False, "latency", p95_ms=300)])) == [
        "latency.breached"]
    assert engine.observe([window(0, True, "accuracy", accuracy=0.5)]) == []  # not kws
    assert engine.observe([window(0, True, "quality")]) == []  # no quality policy


def test_new_version_is_a_new_incident_and_recent_deploy_suggests_rollback(
        tmp_path: Path) -> None:
    engine = AlertEngine(AlertsConfig(cooldown_s=0), tmp_path / "a.sqlite")
    a = engine.observe([window(0, True, version="1.0")])
    b = engine.observe([window(1, True, version="1.1", recent_deploy=True)])
    assert types(a + b) == ["drift.detected", "drift.detected"]
    assert b[0].payload["data"]["suggested_action"] == "rollback"
    lat = engine.observe([window(2, True, "latency")])
    sil = engine.observe([window(2, True, "silence", silent_devices=["d1"])])
    mh = engine.observe([window(2, True, "model_hash", unexpected_hashes=["ab12"])])
    assert [x.payload["data"]["suggested_action"] for x in lat + sil + mh] == [
        "investigate", "investigate", "rollback"]
    assert types(sil + mh) == ["fleet.silent", "model_hash.unexpected"]
    assert types(engine.observe([window(3, False, "silence")])) == ["fleet.recovered"]


def test_open_after_windows_debounces(tmp_path: Path) -> None:
    cfg = AlertsConfig(cooldown_s=0, policies=(PolicyConfig("drift", open_after_windows=3),))
    engine = AlertEngine(cfg, tmp_path / "a.sqlite")
    pattern = [True, True, False, True, True, True, True]
    seen = [(i, a.event_type) for i, act in enumerate(pattern)
            for a in engine.observe([window(i, act)])]
    assert seen == [(5, "drift.detected")]


def test_endpoints_are_per_model_and_event(tmp_path: Path) -> None:
    cfg = AlertsConfig(cooldown_s=0, endpoints=(
        EP, EndpointConfig("asr-only", "https://a.example.com/", ("whsec_AAEC",),
                           models=("asr",)),
        EndpointConfig("resolves", "https://r.example.com/", ("whsec_AAEC",),
                       events=("drift.resolved",))))
    engine = AlertEngine(cfg, tmp_path / "a.sqlite")
    box = Outbox(tmp_path / "a.sqlite")
    (det,) = engine.observe([window(0, True)])
    (res,) = engine.observe([window(1, False)])
    assert [d["endpoint"] for d in box.show(det.id)["deliveries"]] == ["ci"]
    deliveries = box.show(res.id)["deliveries"]
    assert [d["endpoint"] for d in deliveries] == ["ci", "resolves"]
    assert len({d["webhook_id"] for d in deliveries}) == 2


def test_condition_rejects_bad_kind() -> None:
    with pytest.raises(ValueError, match="Condition.kind"):
        Condition("drfit", "kws", "1", "", T0, T0, True)
