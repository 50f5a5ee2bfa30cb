"""Verdict policy: quiet on stationary fleets, sure when something changed.

Per feature stream (model, version, segment, feature) and window:

* the feature is *flagged* (``candidate``) when it has at least ``min_samples``
  values, an effect-size method's conservative side (the interval's lower bound)
  reaches its threshold -- large fleets make every p-value tiny, so effect size comes
  first -- and its significance test's p-value (computed from the conservative
  statistic) survives Benjamini-Hochberg at ``fdr_alpha`` across the features of the
  same model, version, segment and window;
* the window's *evidence* is that lower bound in units of the threshold, counted when
  the BH-adjusted p-value is at most ``evidence_alpha`` (1e-5: on a stationary stream
  a window adds evidence with probability at most that, so false alerts stay under
  ``evidence_alpha`` x streams x windows; real changes on fleets have p-values far
  smaller), else 0;
* it is *drifted* while its CUSUM statistic (:mod:`analytics.sequential`) is at least
  ``cusum_h``: evidence accumulates over windows, so a large change is drifted in the
  window it appears and a smaller persistent one a few windows later.

The model's ``drift`` verdict fires when at least ``min_drifted_features`` features are
drifted (default 1: alerts follow features) and their share reaches ``drift_share``
(default 0: no share required), or when a critical feature drifts. A verdict that does
not fire lists no drifted features (its note names them). Quality uses the same CUSUM on
the rate excess over the reference (the current rate's 99% Wilson lower bound minus the
reference rate) in units of ``quality_tolerance``; latency and
accuracy use ``persistence_k`` of ``persistence_m`` windows.

>>> import numpy as np
>>> bh_adjust(np.array([0.01, 0.04, 0.03, 0.2])).round(3).tolist()
[0.04, 0.053, 0.053, 0.2]
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from .config import AnalyticsConfig
from .reference import ReferenceProfile
from .sequential import run_streams
from .wilson import wilson_upper
from .windows import indices

SEGMENT = ["model", "version", "segment_tag", "segment_value"]
WINDOW = [*SEGMENT, "bucket"]
KINDS = ("drift", "quality", "latency", "accuracy")


def bh_adjust(p: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values, within each of ``groups`` (one group if None);
    NaN stays NaN and does not count.

    >>> bh_adjust(np.array([0.01, 0.04, 0.5, 0.01]), np.array([0, 0, 1, 1])).round(3).tolist()
    [0.02, 0.04, 0.5, 0.02]
    """
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    if not len(idx):
        return out
    g = np.zeros(len(idx), dtype=np.int64) if groups is None else \
        pd.factorize(np.asarray(groups)[idx])[0]
    order = np.lexsort((p[idx], g))
    g_sorted, p_sorted = g[order], p[idx][order]
    n = len(order)
    first = np.r_[True, g_sorted[1:] != g_sorted[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    rank = np.arange(n) - start + 1
    size = np.bincount(g_sorted)[g_sorted]
    ranked = pd.Series(p_sorted * size / rank)
    adjusted = ranked[::-1].groupby(g_sorted[::-1], sort=False).cummin()[::-1].to_numpy()
    out[idx[order]] = np.minimum(adjusted, 1.0)
    return out


def persist(current: pd.DataFrame, history: pd.DataFrame, series: list[str], window_ms: int,
            k: int, m: int) -> np.ndarray:
    """How many of the last ``m`` windows (this one included) each row was a candidate in,
    ``>= k`` as a bool array. ``history`` has ``series + [bucket, candidate]`` rows of earlier
    passes; rows of ``current`` win over history for the same (series, bucket).

    >>> cur = pd.DataFrame({"f": ["a"] * 4, "bucket": [0, 10, 20, 30],
    ...                     "candidate": [True, False, True, True]})
    >>> persist(cur, pd.DataFrame(), ["f"], 10, 2, 3).tolist()
    [False, False, True, True]
    """
    if current.empty:
        return np.zeros(0, dtype=bool)
    cols = [*series, "bucket", "candidate"]
    hist = history[cols] if not history.empty else pd.DataFrame(columns=cols)
    both = pd.concat([current[cols], hist], ignore_index=True)
    both = both.drop_duplicates([*series, "bucket"], keep="first")
    hits = both.loc[both["candidate"].astype(bool), [*series, "bucket"]]
    base = current[[*series, "bucket"]].reset_index(drop=True)
    count = np.zeros(len(base))
    for j in range(m):
        shifted = hits.assign(bucket=hits["bucket"] + j * window_ms, _hit=1)
        merged = base.merge(shifted, on=[*series, "bucket"], how="left")["_hit"]
        count += merged.fillna(0).to_numpy()
    return count >= k


def by_index(frame: pd.DataFrame, config: AnalyticsConfig) -> pd.DataFrame:
    """``frame`` with ``bucket`` replaced by the window's ordinal (consecutive windows differ
    by 1 however long each is: calendar months), for the rules that look back N windows."""
    if frame.empty or "bucket" not in frame:
        return frame
    return frame.assign(bucket=indices(config.cadence, frame["bucket"]))


def feature_states(metrics: pd.DataFrame, history: pd.DataFrame,
                   config: AnalyticsConfig) -> pd.DataFrame:
    """Per (window, segment, feature): n, evidence, p_adjusted, candidate, cusum, drifted.

    ``history``: ``SEGMENT + [feature, bucket, statistic]`` of earlier windows.
    """
    keys = [*WINDOW, "feature"]
    if metrics.empty:
        return pd.DataFrame(columns=[*keys, "n", "candidate", "drifted", "p_adjusted", "cusum"])
    # one scored layout per feature (metrics.pick_layouts); effect and test rows of one
    # group are paired by layout too, so a second layout could never duplicate a feature
    pair = [*keys, "layout"] if "layout" in metrics else keys
    effects = metrics[metrics["role"] == "effect"]
    strength = effects["lower"].to_numpy(float) / np.maximum(effects["threshold"].to_numpy(float),
                                                             1e-12)
    eff = effects.assign(_strength=np.nan_to_num(strength, nan=0.0)).groupby(
        pair, as_index=False).agg(n=("n", "max"), effect=("exceeded", "any"),
                                  strength=("_strength", "max"))
    # a feature's p-value: the Bonferroni minimum over its tests (KS and the means' test)
    tests = metrics[metrics["role"] == "test"].groupby(pair, as_index=False).agg(
        _p=("p_value", "min"), _k=("p_value", "count"))
    tests["p_value"] = np.minimum(tests["_p"] * tests["_k"], 1.0)
    feats = eff.merge(tests.drop(columns=["_p", "_k"]), on=pair, how="left")
    feats["p_adjusted"] = bh_adjust(feats["p_value"].to_numpy(float),
                                    feats.groupby(WINDOW, sort=False).ngroup().to_numpy())
    enough = feats["n"] >= config.min_samples
    untested = feats["p_adjusted"].isna()
    feats["candidate"] = enough & feats["effect"] & (
        untested | (feats["p_adjusted"] <= config.fdr_alpha))
    sure = enough & (untested | (feats["p_adjusted"] <= config.evidence_alpha))
    feats["evidence"] = np.where(sure, np.maximum(feats["strength"], 0.0), 0.0)
    feats["cusum"] = run_streams(by_index(feats, config), by_index(history, config),
                                 [*SEGMENT, "feature"], 1, config.cusum_k, config.cusum_max)
    feats["drifted"] = feats["cusum"] >= config.cusum_h
    return feats.drop(columns=["strength"])


def drift_verdicts(feats: pd.DataFrame, metrics: pd.DataFrame, config: AnalyticsConfig,
                   skipped: pd.DataFrame | None = None) -> pd.DataFrame:
    """Model-level drift verdict per window and segment, with the drifted features' details.

    ``skipped`` (from :func:`analytics.metrics.pick_layouts`): merged groups left out of
    the score because their layout does not match the reference or another layout of the
    feature was scored; they are named in the verdict's ``note``. A window whose groups
    were all skipped still gets an ``ok`` verdict with ``features_evaluated`` 0 and that
    note, so the reasons are kept with the results.
    """
    has_skipped = skipped is not None and not skipped.empty
    if feats.empty and not has_skipped:
        return _empty()
    if feats.empty:
        assert skipped is not None                  # has_skipped, or we returned above
        feats = pd.DataFrame({**{k: pd.Series(dtype=skipped[k].dtype) for k in WINDOW},
                              "feature": pd.Series(dtype=object),
                              "n": pd.Series(dtype=np.int64),
                              "drifted": pd.Series(dtype=bool),
                              "candidate": pd.Series(dtype=bool)})
    f = feats.assign(_ev=feats["n"] >= config.min_samples)
    f["_dr"] = f["_ev"] & f["drifted"].astype(bool)
    f["_crit"] = f["_dr"] & f["feature"].isin(config.critical_features)
    agg = f.groupby(WINDOW, as_index=False, sort=True).agg(
        features_evaluated=("_ev", "sum"), drifted=("_dr", "sum"), crit=("_crit", "sum"),
        candidate=("candidate", "any"))
    ev = agg["features_evaluated"].to_numpy()
    agg["share_drifted"] = np.where(ev > 0, agg["drifted"] / np.maximum(ev, 1), 0.0)
    enough = (agg["drifted"] >= config.min_drifted_features) \
        & (agg["share_drifted"] >= config.drift_share)
    fire = (ev > 0) & ((enough & (agg["drifted"] > 0)) | (agg["crit"] > 0))
    agg["state"] = np.where(fire, "drift", "ok")
    agg["kind"] = "drift"
    agg["note"] = np.where(ev > 0, "", f"fewer than {config.min_samples} values")
    fired = {tuple(k) for k in agg.loc[fire, WINDOW].itertuples(index=False)}
    if has_skipped:
        agg = _with_skipped_windows(agg, skipped)
        agg["note"] = _skipped_notes(agg, skipped)
    details: dict[tuple, list] = {}
    critical: dict[tuple, list] = {}
    hit = f[f["_dr"]]
    below = _below_policy_notes(hit, fired, config)
    hit = hit[[tuple(k) in fired for k in hit[WINDOW].itertuples(index=False)]]
    if not hit.empty:
        eff = metrics[metrics["role"] == "effect"].merge(hit[[*WINDOW, "feature"]],
                                                         on=[*WINDOW, "feature"])
        eff = eff.sort_values("exceeded", ascending=False).drop_duplicates([*WINDOW, "feature"])
        for r in eff.itertuples(index=False):
            key = tuple(getattr(r, k) for k in WINDOW)
            details.setdefault(key, []).append(
                {"feature": r.feature, "method": r.method, "score": _num(r.score),
                 "lower": _num(r.lower), "upper": _num(r.upper), "threshold": _num(r.threshold)})
            if r.feature in config.critical_features:
                critical.setdefault(key, []).append(r.feature)
    keys = list(zip(*(agg[k] for k in WINDOW), strict=True))
    agg["drifted_features"] = [json.dumps(sorted(details.get(k, []), key=lambda d: d["feature"]))
                               for k in keys]
    agg["critical_hit"] = [json.dumps(sorted(critical.get(k, []))) for k in keys]
    agg["note"] = ["; ".join(x for x in (note, below.get(k, "")) if x)
                   for k, note in zip(keys, agg["note"], strict=True)]
    agg["candidate"] = agg["candidate"].astype(bool)
    return agg.drop(columns=["drifted", "crit"])


def _below_policy_notes(hit: pd.DataFrame, fired: set[tuple], config: AnalyticsConfig
                        ) -> dict[tuple, str]:
    """Notes for windows whose drifted features do not meet the policy (no alert)."""
    notes: dict[tuple, list[str]] = {}
    for r in hit.itertuples(index=False):
        key = tuple(getattr(r, k) for k in WINDOW)
        if key not in fired:
            notes.setdefault(key, []).append(str(r.feature))
    return {k: (f"drifted below the policy (min_drifted_features "
                f"{config.min_drifted_features}, drift_share {config.drift_share}): "
                + ", ".join(sorted(v))) for k, v in notes.items()}


def _with_skipped_windows(agg: pd.DataFrame, skipped: pd.DataFrame) -> pd.DataFrame:
    """``agg`` plus an ``ok`` row (nothing evaluated) for each window that only has skipped
    groups: its verdict then carries the skip reasons."""
    only = skipped[WINDOW].drop_duplicates().merge(agg[WINDOW], on=WINDOW, how="left",
                                                    indicator=True)
    only = only[only["_merge"] == "left_only"].drop(columns="_merge")
    if only.empty:
        return agg
    extra = only.assign(features_evaluated=0, crit=0, candidate=False, share_drifted=0.0,
                        state="ok", kind="drift", note="", drifted=0)
    parts = [agg, extra[agg.columns]] if not agg.empty else [extra[agg.columns]]
    out = pd.concat(parts, ignore_index=True)
    out["features_evaluated"] = out["features_evaluated"].astype(np.int64)
    out["candidate"] = out["candidate"].astype(bool)
    return out.sort_values(WINDOW, kind="stable").reset_index(drop=True)


def _skipped_notes(agg: pd.DataFrame, skipped: pd.DataFrame) -> list[str]:
    """The verdict notes with the skipped groups of each window appended (one per layout)."""
    sk = skipped.sort_values(["feature", "layout"])
    text = sk["feature"] + " [" + sk["layout"].replace("", "(none)") + ", n=" \
        + sk["n"].fillna(0).astype(np.int64).astype(str) + ": " + sk["reason"] + "]"
    per = sk.assign(_t=text).groupby(WINDOW)["_t"].agg("; ".join)
    notes = []
    for key, note in zip(zip(*(agg[k] for k in WINDOW), strict=True), agg["note"], strict=True):
        extra = per.get(key, "")
        extra = f"not scored: {extra}" if extra else ""
        notes.append("; ".join(x for x in (note, extra) if x))
    return notes


def quality_verdicts(quality: pd.DataFrame, history: pd.DataFrame,
                     config: AnalyticsConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(quality rows with candidate/flagged, one quality verdict per window and segment)."""
    if quality.empty:
        return quality, _empty()
    q = quality.copy()
    observed = q["has_ref"] & (q["records"] >= config.min_samples)
    q["candidate"] = observed & (q["excess"] > config.quality_tolerance)
    q["evidence"] = np.where(observed, np.maximum(q["excess_lower"], 0.0)
                             / max(config.quality_tolerance, 1e-3), 0.0)
    q["cusum"] = run_streams(by_index(q, config), by_index(history, config),
                             [*SEGMENT, "feature"], 1, config.cusum_k, config.cusum_max)
    q["flagged"] = q["cusum"] >= config.cusum_h
    q["_crit"] = q["flagged"] & q["feature"].isin(config.critical_features)
    agg = q.groupby(WINDOW, as_index=False, sort=True).agg(
        features_evaluated=("has_ref", "sum"), bad=("flagged", "sum"),
        candidate=("candidate", "any"))
    ev = agg["features_evaluated"].to_numpy()
    agg["share_drifted"] = np.where(ev > 0, agg["bad"] / np.maximum(ev, 1), 0.0)
    agg["state"] = np.where(agg["bad"] > 0, "drift", "ok")
    agg["kind"] = "quality"
    agg["note"] = ""
    details: dict[tuple, list] = {}
    for r in q[q["flagged"]].itertuples(index=False):
        key = tuple(getattr(r, k) for k in WINDOW)
        rate = _num(getattr(r, f"{r.worst}_rate"))
        details.setdefault(key, []).append(
            {"feature": r.feature, "method": f"{r.worst}_rate", "score": rate, "lower": rate,
             "upper": rate, "threshold": _num(np.nan_to_num(getattr(r, f"ref_{r.worst}_rate"))
                                              + config.quality_tolerance)})
    keys = list(zip(*(agg[k] for k in WINDOW), strict=True))
    agg["drifted_features"] = [json.dumps(details.get(k, [])) for k in keys]
    agg["critical_hit"] = [json.dumps(sorted(d["feature"] for d in details.get(k, [])
                                             if d["feature"] in config.critical_features))
                           for k in keys]
    return q.drop(columns=["_crit"]), agg.drop(columns=["bad"])


def latency_verdicts(latency: pd.DataFrame, refs: dict, history: pd.DataFrame,
                     config: AnalyticsConfig) -> pd.DataFrame:
    """p95 latency over a fixed budget or a multiple of the reference's p95 (lower bound)."""
    if latency.empty:
        return _empty()
    lat = latency.copy()
    limits = {mv: _latency_limit(refs.get(mv), config)
              for mv in set(zip(lat["model"], lat["version"], strict=True))}
    limit = np.array([limits[mv] for mv in zip(lat["model"], lat["version"], strict=True)],
                     dtype=float)
    lat = lat[~np.isnan(limit)].copy()
    if lat.empty:
        return _empty()
    limit = limit[~np.isnan(limit)]
    lat["limit"] = limit
    lat["candidate"] = (lat["latency_p95_lower"] > limit) & (lat["latency_n"] >= config.min_samples)
    return _simple(lat, history, "latency", "latency_p95", "limit", config)


def accuracy_verdicts(windows: pd.DataFrame, refs: dict, history: pd.DataFrame,
                      config: AnalyticsConfig) -> pd.DataFrame:
    """Accuracy (Wilson upper bound) under a floor or below the reference by more than the
    allowed drop; regression: MAE over ``mae_ratio_max`` x the reference's MAE.

    With a reference task, each bucket is judged on that task only. Without one (no
    reference, or one without a task), every task that has a limit is judged: classification
    when ``accuracy_min`` is set, regression when the reference has an MAE -- so stray labels
    of the other task, however many, cannot hide the alert (the bucket's majority task
    ``label_task`` is not used). Each task uses its own statistics only
    (``label_n_cls``/``label_correct`` or ``label_n_reg``/``label_abs_err``) and needs
    ``min_labels`` labels; when two tasks are judged in one bucket, one verdict is written,
    the alerting one first.
    """
    if windows.empty or "label_n" not in windows:
        return _empty()
    src = windows.reset_index(drop=True)
    pos, rows = [], []
    for i, r in enumerate(src.itertuples(index=False)):
        ref = refs.get((r.model, r.version))
        for task in _judged_tasks(ref):
            judged = _judge(r, ref, task, config)
            if judged is not None:
                pos.append(i)
                rows.append({"judged_task": task, **judged})
    if not rows:
        return _empty()
    w = pd.concat([src.iloc[pos].reset_index(drop=True), pd.DataFrame(rows)], axis=1)
    w["candidate"] = w["upper"] < w["limit"]
    # one verdict per window: the alerting task first, then classification
    w = w.sort_values(["candidate", "judged_task"], ascending=[False, True], kind="stable")
    w = w.drop_duplicates(WINDOW, keep="first").sort_values(WINDOW, kind="stable")
    return _simple(w, history, "accuracy", "score", "limit", config)


def _judge(r: object, ref: ReferenceProfile | None, task: str,
           config: AnalyticsConfig) -> dict[str, float] | None:
    """score / upper / limit of one task in one bucket, or None (too few labels, no limit)."""
    if task == "regression":
        n = int(_count(getattr(r, "label_n_reg", 0)))
        ref_mae = ref.mae if ref is not None and ref.mae else None
        if n < config.min_labels or not ref_mae:
            return None
        mae = _count(getattr(r, "label_abs_err", 0.0)) / n
        return {"judged_n": n, "score": -mae, "upper": -mae,
                "limit": -ref_mae * config.mae_ratio_max}
    n = int(_count(getattr(r, "label_n_cls", 0)))
    floor = config.accuracy_min or -np.inf
    if ref is not None and ref.accuracy is not None:
        floor = max(floor, ref.accuracy - config.accuracy_drop_max)
    if n < config.min_labels or not np.isfinite(floor):
        return None
    correct = int(_count(getattr(r, "label_correct", 0)))
    return {"judged_n": n, "score": correct / n, "upper": wilson_upper(correct, n),
            "limit": floor}


def _count(x: object) -> float:
    """A nullable aggregate as a number (NULL / NaN -> 0)."""
    v = _num(x)
    return v if v is not None else 0.0


def _judged_tasks(ref: ReferenceProfile | None) -> tuple[str, ...]:
    """The tasks a bucket is judged on: the reference's task, else both (each only where it
    has a limit, see :func:`accuracy_verdicts`).

    >>> _judged_tasks(None)
    ('classification', 'regression')
    """
    ref_task = ref.task if ref is not None else None
    if ref_task:
        return ("regression",) if ref_task == "regression" else ("classification",)
    return ("classification", "regression")


def _latency_limit(ref: ReferenceProfile | None, config: AnalyticsConfig) -> float:
    limits = []
    if config.latency_p95_max_ms > 0:
        limits.append(config.latency_p95_max_ms)
    lat = ref.features.get("__latency__") if ref is not None else None
    if lat is not None and lat.histograms.get("lat1") and config.latency_ratio_max > 0:
        from edge_sdk.layout import LATENCY

        from .metrics import quantiles
        counts = np.array([lat.histograms["lat1"]])
        bounds = np.array([[min(lat.min, LATENCY.edges[0]), *LATENCY.edges,
                            max(lat.max, LATENCY.edges[-1])]])
        limits.append(float(quantiles(counts, bounds, 0.95)[1][0]) * config.latency_ratio_max)
    return min(limits) if limits else np.nan


def _simple(df: pd.DataFrame, history: pd.DataFrame, kind: str, score: str, limit: str,
            config: AnalyticsConfig) -> pd.DataFrame:
    hist = history[history["kind"] == kind] if not history.empty else pd.DataFrame()
    df = df.reset_index(drop=True)
    flagged = persist(by_index(df, config), by_index(hist, config), SEGMENT, 1,
                      config.persistence_k,
                      config.persistence_m)
    rows = []
    for r, hit in zip(df.itertuples(), flagged, strict=True):
        val = _num(getattr(r, score))
        lower_col = f"{score}_lower"
        upper_col = f"{score}_upper"
        detail = {"feature": "__latency__" if kind == "latency" else "__accuracy__",
                  "method": score, "score": abs(val) if val is not None else None,
                  "lower": _num(abs(getattr(r, lower_col))) if hasattr(r, lower_col) else None,
                  "upper": _num(abs(getattr(r, upper_col))) if hasattr(r, upper_col) else
                  _num(abs(getattr(r, "upper", val) or 0.0)),
                  "threshold": _num(abs(getattr(r, limit)))}
        rows.append({**{k: getattr(r, k) for k in WINDOW}, "kind": kind,
                     "state": "drift" if hit else "ok", "candidate": bool(r.candidate),
                     "features_evaluated": 1, "share_drifted": 1.0 if hit else 0.0,
                     "drifted_features": json.dumps([detail] if hit else []),
                     "critical_hit": "[]", "note": ""})
    return pd.DataFrame(rows)


def _num(x: object) -> float | None:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=[*WINDOW, "kind", "state", "candidate", "features_evaluated",
                                 "share_drifted", "drifted_features", "critical_hit", "note"])
