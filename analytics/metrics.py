"""Per-feature statistics of merged sketches against the reference, vectorised over all groups.

Input: the merged groups from :class:`analytics.dataset.Dataset` (one row per
model, version, feature, layout, evaluation window and segment) and the
reference profiles. Output: long tables (pandas) of method results with their
sketch intervals, data-quality rates against the reference, and latency
percentiles with the interval their histogram allows. Every method runs once
over a (groups x slots) matrix -- no per-window Python loop.

>>> import numpy as np
>>> lo, mid, hi = quantiles(np.array([[0, 10, 10, 0]]), np.array([[0., 1., 2., 3., 4.]]), 0.5)
>>> float(lo[0]), float(mid[0]), float(hi[0])
(1.0, 2.0, 2.0)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from collector.schema import BIN_COLUMNS, ENERGY, LABEL_ERROR, LATENCY
from edge_sdk.layout import LATENCY as LATENCY_LAYOUT
from edge_sdk.layout import REGIONS

from .config import AnalyticsConfig
from .dataset import BAD_SLOTS
from .methods.base import Binned
from .methods.registry import get_method
from .reference import FeatureProfile, ReferenceProfile
from .slot_sums import profile_distances, telemetry_distances
from .wilson import wilson_lower

log = logging.getLogger(__name__)
NSLOTS = len(BIN_COLUMNS)
OTHER = "__other__"
NOT_DRIFT = (LATENCY, ENERGY, LABEL_ERROR)
KEYS = ["model", "version", "segment_tag", "segment_value", "bucket"]
QUALITY = ("missing", "nan", "inf", "type_mismatch", "out_of_range", "unseen")

RefLookup = dict[tuple[str, str], ReferenceProfile | None]


@dataclass
class FeatureTables:
    """What :func:`compute` returns: method rows, quality rows, latency/energy per group."""

    metrics: pd.DataFrame
    quality: pd.DataFrame
    latency: pd.DataFrame
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)  # layouts not scored (why)


def decode_segments(df: pd.DataFrame, tags: tuple[str, ...]) -> pd.DataFrame:
    """Turn the GROUPING bitmask + seg columns into ``segment_tag``/``segment_value``
    ('' and '' for the whole fleet) and drop them.

    >>> df = pd.DataFrame({"grp": [1, 0], "seg0": [None, "2.1"]})
    >>> decode_segments(df, ("firmware",))[["segment_tag", "segment_value"]].values.tolist()
    [['', ''], ['firmware', '2.1']]
    """
    n = len(tags)
    grp = df["grp"].to_numpy() if "grp" in df else np.zeros(len(df), dtype=int)
    seg_tag = np.full(len(df), "", dtype=object)
    seg_val = np.full(len(df), "", dtype=object)
    full = (1 << n) - 1
    for i, tag in enumerate(tags):
        mask = grp == (full ^ (1 << (n - 1 - i)))
        seg_tag[mask] = tag
        seg_val[mask] = df[f"seg{i}"].to_numpy()[mask]
    out = df.drop(columns=[c for c in df.columns if c == "grp" or c.startswith("seg")])
    out["segment_tag"] = seg_tag
    out["segment_value"] = seg_val
    return out


def bins_of(table: pa.Table) -> np.ndarray:
    """The 64 bin columns as one (rows, 64) int64 matrix."""
    return np.column_stack([table[c].to_numpy(zero_copy_only=False).astype(np.int64)
                            for c in BIN_COLUMNS])


def quantiles(counts: np.ndarray, bounds: np.ndarray, q: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower, estimate, upper) of the ``q``-quantile of each histogram row: the slot that
    holds rank q*n bounds it; the estimate interpolates linearly inside that slot."""
    n = counts.sum(axis=1)
    cum = np.cumsum(counts, axis=1)
    target = q * n
    slot = np.argmax(cum >= target[:, None], axis=1)
    rows = np.arange(len(counts))
    lo = bounds[rows, slot]
    hi = bounds[rows, slot + 1]
    before = cum[rows, slot] - counts[rows, slot]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.clip((target - before) / counts[rows, slot], 0.0, 1.0)
    mid = lo + (hi - lo) * np.nan_to_num(frac)
    empty = n == 0
    return (np.where(empty, np.nan, lo), np.where(empty, np.nan, mid), np.where(empty, np.nan, hi))


def slot_bounds(edges: np.ndarray, nedges: np.ndarray, lo: np.ndarray, hi: np.ndarray
                ) -> np.ndarray:
    """(G, 65) slot boundaries: [min, e0 .. e_{k-1}, max, max ...] with the outer slots
    clipped to the smallest/largest value seen (zero width when nothing lies beyond)."""
    g = len(nedges)
    out = np.empty((g, NSLOTS + 1))
    first = edges[:, 0]
    last = edges[np.arange(g), np.maximum(nedges - 1, 0)]
    lo = np.where(np.isfinite(lo), np.minimum(lo, first), first)
    hi = np.where(np.isfinite(hi), np.maximum(hi, last), last)
    out[:, 0] = lo
    cols = np.arange(NSLOTS)[None, :]
    inner = np.where(cols < nedges[:, None], edges, hi[:, None])
    out[:, 1:] = inner
    return out


def compute(groups: pa.Table, categories: pa.Table, refs: RefLookup, config: AnalyticsConfig,
            known_edges: dict[str, tuple[float, ...]] | None = None) -> FeatureTables:
    """Method, quality and latency tables for all groups (see the module docstring)."""
    if groups.num_rows == 0:
        return FeatureTables(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    bins = bins_of(groups)
    df = decode_segments(groups.drop_columns(BIN_COLUMNS).to_pandas(), config.segment_tags)
    df["row"] = np.arange(len(df))
    latency = _latency(df, bins)
    drift_rows = df[~df["feature"].isin(NOT_DRIFT)]
    quality = _quality(drift_rows, refs)
    scored, skipped = pick_layouts(drift_rows, refs)
    parts = [_numeric(scored[scored["kind"] == 0], bins, refs, config, known_edges or {}),
             _categorical(scored[scored["kind"] == 1], categories, refs, config)]
    parts = [p for p in parts if not p.empty]
    metrics = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not skipped.empty:
        log.warning("%d merged groups not scored (layout/kind does not match the reference, or "
                    "another layout of the same feature was scored): %s", len(skipped),
                    sorted(set(zip(skipped["feature"], skipped["layout"], skipped["reason"],
                                   strict=True)))[:5])
    return FeatureTables(metrics, quality, latency, skipped)


def pick_layouts(df: pd.DataFrame, refs: RefLookup) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(groups to score, groups skipped with a ``reason``): at most one group per
    (model, version, segment, window, feature) is scored.

    Devices may send one feature in different layouts (a device without the spec sends
    ``u1`` where the others send the spec's quantile layout) or even kinds; the SQL merge
    keeps those apart, and only one of them may enter the drift score, else the feature
    counts twice and a handful of devices can tip the fleet verdict. A group is comparable
    when the reference has a histogram in its layout (numeric) or is categorical too. Among
    the comparable groups the one with the most values is scored, so the fleet is judged on
    what most of it sends (a few devices in another layout, the reference's own included,
    can neither hide nor decide the verdict); ties go to the reference's own layout, then
    the layout id. Groups of features without any reference are left to the methods
    (nothing to compare with: not de-duplicated, not reported here). Too few values for a
    verdict is the verdict's business (``min_samples``), not a reason to score another layout.

    >>> from analytics.reference import FeatureProfile, ReferenceProfile
    >>> fp = FeatureProfile("t", "numeric", histograms={"e:q": (1, 2), "u1": (3,)},
    ...                     edges={"e:q": (0.5,)})
    >>> refs = {("m", "1"): ReferenceProfile("m", "1", 3, {"t": fp})}
    >>> g = pd.DataFrame({"model": "m", "version": "1", "segment_tag": "", "segment_value": "",
    ...                   "bucket": 0, "feature": "t", "kind": 0, "layout": ["e:q", "u1", "x"],
    ...                   "n": [500, 20, 7]})
    >>> scored, skipped = pick_layouts(g, refs)
    >>> scored["layout"].tolist(), skipped[["layout", "reason"]].values.tolist()
    (['e:q'], [['u1', 'another layout scored'], ['x', 'no reference histogram for this layout']])
    >>> scored, skipped = pick_layouts(g.assign(n=[250, 1000, 7]), refs)
    >>> scored["layout"].tolist(), skipped["layout"].tolist()
    (['u1'], ['e:q', 'x'])
    """
    if df.empty:
        return df, pd.DataFrame()
    checked = [_comparable(_ref_feature(refs, m, v, f), int(k), lay) for m, v, f, k, lay in
               zip(df["model"], df["version"], df["feature"], df["kind"], df["layout"],
                   strict=True)]
    own, comparable, reason, noref = (list(c) for c in zip(*checked, strict=True))
    d = df.assign(_own=own, _cmp=comparable, _reason=reason, _noref=noref)
    d["_n"] = d["n"].fillna(0)
    d["_pos"] = np.arange(len(d))
    cmp_rows = d[d["_cmp"] & ~d["_noref"]].sort_values(
        ["_n", "_own", "layout"], ascending=[False, False, True], kind="stable")
    first = cmp_rows.drop_duplicates([*KEYS, "feature"], keep="first")
    keep = d["_noref"].to_numpy(dtype=bool).copy()
    keep[first["_pos"].to_numpy()] = True
    d.loc[~keep & d["_cmp"].to_numpy(), "_reason"] = "another layout scored"
    cols = [c for c in d.columns if not c.startswith("_")]
    skipped = d.loc[~keep, [*KEYS, "feature", "kind", "layout", "n", "_reason"]]
    skipped = skipped.rename(columns={"_reason": "reason"}).reset_index(drop=True)
    return d.loc[keep, cols], skipped


def _ref_feature(refs: RefLookup, model: str, version: str, feature: str) -> FeatureProfile | None:
    prof = refs.get((model, version))
    return prof.features.get(feature) if prof is not None else None


def _comparable(fp: FeatureProfile | None, kind: int, layout: str
                ) -> tuple[bool, bool, str, bool]:
    """(the reference's own layout, comparable with the reference, why not, no reference)."""
    if fp is None:
        return False, True, "", True
    if kind == 1:
        ok = fp.type == "categorical"
        return ok, ok, "" if ok else "categorical here, numeric in the reference", False
    if fp.type != "numeric":
        return False, False, "numeric here, categorical in the reference", False
    if layout.endswith(BAD_SLOTS):
        return False, False, "more non-zero slots than the built-in layout has", False
    if layout not in fp.histograms:
        return False, False, "no reference histogram for this layout", False
    return layout in fp.edges or len(fp.histograms) == 1, True, "", False


def _numeric(df: pd.DataFrame, bins: np.ndarray, refs: RefLookup, config: AnalyticsConfig,
             known_edges: dict[str, tuple[float, ...]]) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame()
    keys = df[["model", "version", "feature", "layout"]].drop_duplicates().reset_index(drop=True)
    ref_rows, edge_rows, nedges, ref_lo, ref_hi, ref_std, ref_mean, ok, ref_sums = (
        [] for _ in range(9))
    for model, version, feature, layout in keys.itertuples(index=False):
        fp = _ref_feature(refs, model, version, feature)
        hist = fp.histograms.get(layout) if fp is not None and fp.type == "numeric" else None
        edges = (fp.layout_edges(layout) if fp is not None else None) or known_edges.get(layout)
        ok.append(hist is not None)
        row = np.zeros(NSLOTS, dtype=np.int64)
        erow = np.full(NSLOTS, np.nan)
        if hist is not None:
            row[:len(hist)] = hist[:NSLOTS]
        if edges:
            erow[:len(edges)] = edges
        ref_rows.append(row)
        edge_rows.append(erow)
        nedges.append(len(edges) if edges else 0)
        ref_lo.append(fp.min if fp is not None else math.nan)
        ref_hi.append(fp.max if fp is not None else math.nan)
        ref_std.append(fp.std if fp is not None else math.nan)
        # the mean of exactly the values in the histogram (the Wasserstein bound relies on it)
        ref_mean.append(fp.mean if fp is not None and sum(hist or ()) == fp.n else math.nan)
        ref_sums.append(profile_distances(fp.slot_sums.get(layout) if fp is not None else None,
                                          len(edges) + 1 if edges else 0))
    keys["key"] = np.arange(len(keys))
    keys["has_ref"] = ok
    df = df.merge(keys, on=["model", "version", "feature", "layout"], how="left")
    missing = df[~df["has_ref"]]
    if not missing.empty:
        log.info("no reference histogram for %d numeric groups (features/layouts: %s)",
                 len(missing),
                 sorted(set(zip(missing["feature"], missing["layout"], strict=True)))[:5])
    df = df[df["has_ref"]].reset_index(drop=True)
    if df.empty:
        return pd.DataFrame()
    k = df["key"].to_numpy()
    cur = bins[df["row"].to_numpy()]
    ref = np.stack(ref_rows)[k]
    nedge = np.asarray(nedges)[k]
    has_edges = nedge > 0
    lo = np.fmin(df["min"].to_numpy(dtype=float), np.asarray(ref_lo)[k])
    hi = np.fmax(df["max"].to_numpy(dtype=float), np.asarray(ref_hi)[k])
    edges = np.nan_to_num(np.stack(edge_rows)[k], nan=0.0)
    bounds = slot_bounds(edges, np.maximum(nedge, 1), lo, hi)
    n_cur = df["n"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_cur = np.where(n_cur > 0, df["sum_x"].to_numpy(dtype=float) / n_cur, np.nan) \
            if "sum_x" in df else np.full(len(df), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw_var = df["sum_x2"].to_numpy(dtype=float) / n_cur - mean_cur ** 2 \
            if "sum_x2" in df else np.full(len(df), np.nan)
        # E[x^2] - mean^2 cancels when |mean| >> sd: trust it only well above rounding
        second = df["sum_x2"].to_numpy(dtype=float) / n_cur if "sum_x2" in df else raw_var
        var_cur = np.where(raw_var > 1e-9 * np.abs(second), raw_var, np.nan)
    ref_var = np.asarray(ref_std, dtype=float)[k] ** 2
    data = Binned(cur, ref, bounds, np.asarray(ref_std)[k], mean_cur, np.asarray(ref_mean)[k],
                  var_cur, ref_var, *_slot_sums(df, cur, edges, nedge, np.stack(ref_sums)[k]))
    names = _methods(config.numeric_methods, config.numeric_effect, config.numeric_test)
    out = []
    for name in names:
        desc = get_method(name, "numeric")
        if name == "wasserstein" and not has_edges.all():
            res = desc.evaluate(data, config.threshold(name))
            score = np.where(has_edges, res.score, np.nan)
            res = type(res)(name, score, np.where(has_edges, res.lower, np.nan),
                            np.where(has_edges, res.upper, np.nan), res.p_value, res.threshold,
                            res.drifted & has_edges)
        else:
            res = desc.evaluate(data, config.threshold(name))
        out.append(_rows(df, "numeric", res, data, name, config))
    return pd.concat(out, ignore_index=True)


def _slot_sums(df: pd.DataFrame, cur: np.ndarray, edges: np.ndarray, nedge: np.ndarray,
               ref_sums: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None,
                                              np.ndarray | None]:
    """(dist_cur, dist_ref, nslots) for :class:`Binned` (all None without slot sums)."""
    if "sums_n" not in df or not np.isfinite(ref_sums[:, 0, 0]).any():
        return None, None, None
    n = df["n"].to_numpy(dtype=np.int64)
    covered = (df["sums_n"].fillna(0).to_numpy(dtype=np.int64) == n) & (n > 0)
    if not covered.any():
        return None, None, None
    pos = df[[f"pos{r}" for r in range(REGIONS)]].fillna(0).to_numpy(dtype=np.float64)
    tails = df[["tail_lo", "tail_hi"]].fillna(0.0).to_numpy(dtype=np.float64)
    dist = telemetry_distances(cur, edges, nedge, pos, tails, covered)
    return dist, ref_sums, nedge + 1


def _methods(methods: tuple[str, ...], effect: tuple[str, ...],
             tests: str | tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys([*methods, *effect, *((tests,) if isinstance(tests, str)
                                                     else tests)]))


def _role(name: str, config: AnalyticsConfig, kind: str) -> str:
    effect = config.numeric_effect if kind == "numeric" else config.categorical_effect
    tests = config.numeric_test if kind == "numeric" else config.categorical_test
    return "effect" if name in effect else "test" if name in tests else "info"


def _rows(df: pd.DataFrame, kind: str, res, data: Binned, name: str,
          config: AnalyticsConfig) -> pd.DataFrame:
    return pd.DataFrame({
        "model": df["model"].to_numpy(), "version": df["version"].to_numpy(),
        "segment_tag": df["segment_tag"].to_numpy(),
        "segment_value": df["segment_value"].to_numpy(),
        "bucket": df["bucket"].to_numpy(dtype=np.int64), "feature": df["feature"].to_numpy(),
        "kind": kind, "layout": df["layout"].to_numpy() if "layout" in df else "",
        "method": name, "role": _role(name, config, kind),
        "n": data.n_cur.astype(np.int64), "n_ref": data.n_ref.astype(np.int64),
        "score": res.score, "lower": res.lower, "upper": res.upper, "p_value": res.p_value,
        "threshold": res.threshold, "exceeded": res.drifted})


def _categorical(df: pd.DataFrame, cats: pa.Table, refs: RefLookup,
                 config: AnalyticsConfig) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame()
    df = df.reset_index(drop=True).copy()
    df["gidx"] = np.arange(len(df))
    group_keys = ["model", "version", "feature", "bucket", "segment_tag", "segment_value"]
    if cats.num_rows:
        cdf = decode_segments(cats.to_pandas(), config.segment_tags)
        cdf = cdf.merge(df[group_keys + ["gidx"]], on=group_keys, how="inner")
    else:
        cdf = pd.DataFrame(columns=group_keys + ["gidx", "category", "count"])
    feats = df[["model", "version", "feature"]].drop_duplicates()
    index: dict[tuple[str, str, str], dict[str, int]] = {}
    refvec: dict[tuple[str, str, str], dict[str, int]] = {}
    width = 1
    for model, version, feature in feats.itertuples(index=False):
        fp = _ref_feature(refs, model, version, feature)
        if fp is None or fp.type != "categorical":
            continue
        seen = cdf.loc[(cdf["model"] == model) & (cdf["version"] == version)
                       & (cdf["feature"] == feature), "category"].unique()
        names = list(dict.fromkeys([*fp.categories, *map(str, seen), OTHER]))
        index[(model, version, feature)] = {c: i for i, c in enumerate(names)}
        refvec[(model, version, feature)] = fp.categories
        width = max(width, len(names))
    has = np.array([(m, v, f) in index for m, v, f in
                    zip(df["model"], df["version"], df["feature"], strict=True)], dtype=bool)
    if not has.any():
        return pd.DataFrame()
    cur = np.zeros((len(df), width), dtype=np.int64)
    ref = np.zeros((len(df), width), dtype=np.int64)
    if not cdf.empty:
        cidx = np.array([index.get((m, v, f), {}).get(str(c), -1) for m, v, f, c in
                         zip(cdf["model"], cdf["version"], cdf["feature"], cdf["category"],
                             strict=True)],
                        dtype=np.int64)
        keep = cidx >= 0
        np.add.at(cur, (cdf["gidx"].to_numpy()[keep], cidx[keep]),
                  cdf["count"].to_numpy(dtype=np.int64)[keep])
    for i, (m, v, f, other) in enumerate(zip(df["model"], df["version"], df["feature"],
                                             df["other"].fillna(0), strict=True)):
        idx = index.get((m, v, f))
        if idx is None:
            continue
        cur[i, idx[OTHER]] += int(other)
        for c, count in refvec[(m, v, f)].items():
            ref[i, idx[c]] = count
    sel = np.flatnonzero(has)
    df = df.iloc[sel].reset_index(drop=True)
    data = Binned(cur[sel], ref[sel])
    out = []
    for name in _methods(config.categorical_methods, config.categorical_effect,
                         config.categorical_test):
        res = get_method(name, "categorical").evaluate(data, config.threshold(name))
        rows = _rows(df, "categorical", res, data, name, config)
        rows["layout"] = ""
        out.append(rows)
    return pd.concat(out, ignore_index=True)


def _quality(df: pd.DataFrame, refs: RefLookup) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame()
    cols = ["n", "missing", "nan", "inf", "type_mismatch", "out_of_range", "unseen"]
    agg = df.groupby(["model", "version", "segment_tag", "segment_value", "bucket", "feature"],
                     as_index=False)[cols].sum()
    agg = agg.merge(df.groupby(["model", "version", "feature"], as_index=False)["kind"].first(),
                    on=["model", "version", "feature"])
    records = agg[["n", "missing", "nan", "inf", "type_mismatch"]].sum(axis=1).to_numpy(float)
    out = agg[["model", "version", "segment_tag", "segment_value", "bucket", "feature"]].copy()
    out["records"] = records.astype(np.int64)
    safe = np.maximum(records, 1.0)
    excess = np.full(len(agg), -np.inf)
    excess_lower = np.full(len(agg), -np.inf)
    worst = np.full(len(agg), "", dtype=object)
    profiles = [_ref_feature(refs, m, v, f)
                for m, v, f in zip(agg["model"], agg["version"], agg["feature"], strict=True)]
    ref_rates = {q: np.array([p.rate(q) if p is not None else np.nan for p in profiles])
                 for q in QUALITY}
    for q in QUALITY:
        rate = agg[q].fillna(0).to_numpy(float) / safe
        out[f"{q}_rate"] = rate
        out[f"ref_{q}_rate"] = ref_rates[q]
        ref_rate = np.nan_to_num(ref_rates[q], nan=0.0)
        gap = rate - ref_rate
        bigger = gap > excess
        worst[bigger] = q
        excess = np.maximum(excess, gap)
        # the conservative side: the rate's 99% Wilson lower bound (sequential evidence)
        excess_lower = np.maximum(excess_lower,
                                  wilson_lower(agg[q].fillna(0).to_numpy(float), records)
                                  - ref_rate)
    out["worst"] = worst
    out["excess"] = excess
    out["excess_lower"] = excess_lower
    out["has_ref"] = ~np.isnan(ref_rates["missing"])
    return out


def _latency(df: pd.DataFrame, bins: np.ndarray) -> pd.DataFrame:
    rows = df[(df["feature"] == LATENCY) & (df["layout"] == LATENCY_LAYOUT.layout_id)]
    out = rows[["model", "version", "segment_tag", "segment_value", "bucket"]].copy()
    if rows.empty:
        return out
    counts = bins[rows["row"].to_numpy()][:, :LATENCY_LAYOUT.slots]
    edges = np.asarray(LATENCY_LAYOUT.edges)
    g = len(rows)
    bounds = np.empty((g, len(edges) + 2))
    bounds[:, 1:-1] = edges
    bounds[:, 0] = np.fmin(rows["min"].to_numpy(float), edges[0])
    bounds[:, -1] = np.fmax(rows["max"].to_numpy(float), edges[-1])
    for q, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        lo, mid, hi = quantiles(counts, bounds, q)
        out[f"latency_{label}"] = mid
        out[f"latency_{label}_lower"] = lo
        out[f"latency_{label}_upper"] = hi
    out["latency_n"] = counts.sum(axis=1)
    return out
