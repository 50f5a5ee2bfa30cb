"""The model verdict follows its features: one drifted feature fires it by default; a
stricter policy keeps it ``ok`` and then lists no drifted features (the note names them)."""

from __future__ import annotations

import json

import pandas as pd

from analytics.config import AnalyticsConfig
from analytics.verdict import drift_verdicts, feature_states

KEY = {"model": "kws", "version": "1", "segment_tag": "", "segment_value": "", "bucket": 0}


def metrics(effects: dict[str, float]) -> pd.DataFrame:
    """Effect (wasserstein, threshold 0.1) and test rows for features with these lower bounds."""
    rows = []
    for feature, lower in effects.items():
        rows.append({**KEY, "feature": feature, "layout": "u1", "method": "wasserstein",
                     "role": "effect", "n": 5000, "score": lower, "lower": lower,
                     "upper": lower + 0.1, "p_value": float("nan"), "threshold": 0.1,
                     "exceeded": lower >= 0.1})
        rows.append({**KEY, "feature": feature, "layout": "u1", "method": "ks", "role": "test",
                     "n": 5000, "score": 0.1, "lower": 0.1, "upper": 0.1,
                     "p_value": 1e-12 if lower >= 0.1 else 0.5, "threshold": 0.05,
                     "exceeded": lower >= 0.1})
    return pd.DataFrame(rows)


def verdict(config: AnalyticsConfig, effects: dict[str, float]) -> dict:
    met = metrics(effects)
    feats = feature_states(met, pd.DataFrame(), config)
    [row] = drift_verdicts(feats, met, config).to_dict("records")
    return row


def test_one_drifted_feature_of_24_fires_the_model_verdict():
    effects = {f"f{i}": 0.0 for i in range(23)} | {"rms": 0.3}
    row = verdict(AnalyticsConfig(), effects)
    assert row["state"] == "drift"
    [detail] = json.loads(row["drifted_features"])
    assert detail["feature"] == "rms" and detail["lower"] == 0.3


def test_a_verdict_below_a_stricter_policy_lists_no_drifted_features():
    effects = {f"f{i}": 0.0 for i in range(23)} | {"rms": 0.3}
    for config in (AnalyticsConfig(min_drifted_features=2), AnalyticsConfig(drift_share=0.2)):
        row = verdict(config, effects)
        assert row["state"] == "ok"
        assert json.loads(row["drifted_features"]) == []
        assert "drifted below the policy" in row["note"] and "rms" in row["note"]
    row = verdict(AnalyticsConfig(min_drifted_features=2), effects | {"zcr": 0.2})
    assert row["state"] == "drift"
    assert sorted(d["feature"] for d in json.loads(row["drifted_features"])) == ["rms", "zcr"]


def test_an_insignificant_window_adds_no_evidence():
    """A large effect whose test is not significant at evidence_alpha (a small, noisy
    sample) is flagged at fdr_alpha but does not drift."""
    met = metrics({"rms": 0.3})
    met.loc[met["role"] == "test", "p_value"] = 1e-3
    feats = feature_states(met, pd.DataFrame(), AnalyticsConfig())
    assert bool(feats["candidate"].iloc[0]) and not bool(feats["drifted"].iloc[0])
    assert feats["evidence"].iloc[0] == 0.0
