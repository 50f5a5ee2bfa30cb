"""The [alerts] config section and the payload's JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from analytics.alerts import AlertEngine, Condition, FeatureScore, alerts_config_from_toml
from edgedrift.config import ConfigFileError

from .conftest import ROOT, SECRET

EP = {"name": "ci", "url": "https://hooks.example.com/edgedrift", "secrets": [SECRET]}


def test_full_config_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI_WHSEC", SECRET)
    cfg = alerts_config_from_toml({
        "cooldown_s": 600, "retry_schedule_s": [1, 2, 4], "timeout_s": 5,
        "policies": [{"kind": "drift", "critical_features": ["rms"]},
                     {"kind": "latency", "max_p95_ms": 250}],
        "endpoints": [dict(EP, secrets=["env:CI_WHSEC", SECRET], models=["kws"])]})
    assert cfg.cooldown_s == 600 and cfg.retry_schedule_s == (1.0, 2.0, 4.0)
    assert cfg.endpoints[0].secrets == (SECRET, SECRET)
    assert SECRET not in repr(cfg)  # secrets never end up in logs
    assert [p.kind for p in cfg.policies] == ["drift", "latency"]


@pytest.mark.parametrize("values, message", [
    ({"timeot_s": 1}, "alerts.timeot_s: unknown setting"),
    ({"jitter": 2}, "jitter: got 2.0"),
    ({"policies": [{"kind": "drift", "max_p95_ms": 3}]}, "alerts.policies[0]: max_p95_ms"),
    ({"policies": [{"kind": "nope"}]}, "alerts.policies[0]: kind: got 'nope'"),
    ({"endpoints": [dict(EP, url="ftp://x/")]}, "alerts.endpoints[0]: url"),
    ({"endpoints": [dict(EP, secrets=["hunter2"])]}, "secrets[0]: got '<hidden>'"),
    ({"endpoints": [dict(EP, secrets=["env:NOPE_UNSET_VAR"])]}, "NOPE_UNSET_VAR is not set"),
    ({"endpoints": [EP, EP]}, "unique endpoint names"),
    ({"endpoints": [dict(EP, url="http://10.1.2.3/h")]}, "private addresses need"),
    ({"endpoints": [dict(EP, url="http://[::1]:80/h")]}, "loopback addresses need"),
    ({"endpoints": {"name": "x"}}, "array of tables"),
])
def test_bad_config_names_the_field(values: dict, message: str) -> None:
    with pytest.raises(ConfigFileError) as err:
        alerts_config_from_toml(values)
    assert message in str(err.value)
    assert "hunter2" not in str(err.value)


def test_payloads_match_the_published_schema(tmp_path: Path) -> None:
    schema = json.loads((ROOT / "docs" / "webhook-payload.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    engine = AlertEngine(alerts_config_from_toml({"cooldown_s": 0, "endpoints": [EP]}),
                         tmp_path / "a.sqlite")
    t = datetime(2025, 1, 1, tzinfo=UTC)
    feats = (FeatureScore("rms", "psi", 0.4, 0.2, 0.35, 0.45),
             FeatureScore("snr", "ks", float("nan"), 0.05))
    alerts = []
    for kind in ("drift", "quality", "latency", "accuracy", "silence", "model_hash"):
        for i, active in enumerate((True, False)):
            alerts += engine.observe([Condition(
                kind, "kws", "1.2", "firmware=2.1", t + timedelta(minutes=i),
                t + timedelta(minutes=i + 1), active, features=feats,
                detail={"p95_ms": 12.5}, report_url="http://dash/report.html")])
    assert len(alerts) == 12
    for a in alerts:
        jsonschema.validate(a.payload, schema)
    assert alerts[0].payload["data"]["features"][1]["score"] is None  # NaN -> null
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(dict(alerts[0].payload, type="drift.happened"), schema)
