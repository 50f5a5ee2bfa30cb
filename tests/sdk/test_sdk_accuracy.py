"""Accuracy of merged sketches against scipy on the raw values.

With a spec built from a REFERENCE sample (63 quantile edges), a CURRENT sample sketched
on 5 "devices" and merged must give (a) a KS interval containing scipy's ks_2samp whose
lower bound is within 0.02 of it, (b) quantiles with <= 1% rank error. Without a spec
(universal layout) the documented bound is checked instead: the true KS lies inside
ks_interval and quantile_bounds contains the true quantile.
"""

from __future__ import annotations

import numpy as np
import pytest
from sdk_reference import merged_devices, rank_error, sketch_of, spec_for, true_quantile

from edge_sdk.numeric import ks_interval

stats = pytest.importorskip("scipy.stats")

N_REF = 20_000
N_CUR = 20_000
DEVICES = 5
PS = np.arange(1, 100) / 100
DISTRIBUTIONS = ["normal", "lognormal", "bimodal", "poisson", "pareto", "student_t2"]
# (shift, scale) of the current sample; Poisson uses integer shifts and rate factors
VARIANTS = [(0.0, 1.0), (0.3, 1.0), (0.0, 1.5), (1.0, 1.0), (0.0, 0.7)]


def draw(kind: str, n: int, rng: np.random.Generator, shift: float = 0.0,
         scale: float = 1.0) -> np.ndarray:
    if kind == "poisson":                      # integer counts: scale the rate, shift by ints
        return rng.poisson(4.0 * scale, n).astype(float) + round(shift)
    if kind == "normal":
        x = rng.normal(0.0, 1.0, n)
    elif kind == "lognormal":
        x = rng.lognormal(0.0, 1.0, n)
    elif kind == "bimodal":
        x = np.where(rng.random(n) < 0.6, rng.normal(-2.0, 0.5, n), rng.normal(3.0, 1.0, n))
    elif kind == "pareto":
        x = rng.pareto(1.5, n) + 1.0
    else:
        x = rng.standard_t(2, n)
    return x * scale + shift


def ks_true(ref: np.ndarray, cur: np.ndarray) -> float:
    return float(stats.ks_2samp(ref, cur).statistic)


@pytest.fixture(scope="module", params=DISTRIBUTIONS)
def case(request):
    kind = request.param
    rng = np.random.default_rng(DISTRIBUTIONS.index(kind) + 7)
    ref = draw(kind, N_REF, rng)
    fs = spec_for("x", ref).features["x"]
    currents = {v: draw(kind, N_CUR, rng, *v) for v in VARIANTS}
    return kind, ref, fs, currents


def test_spec_ks_within_interval_and_002_of_scipy(case):
    kind, ref, fs, currents = case
    ref_counts = sketch_of(ref, fs.layout).counts
    for variant, cur in currents.items():
        merged = merged_devices(cur, fs.layout, DEVICES)
        lo, hi = ks_interval(ref_counts, merged.counts)
        ks = ks_true(ref, cur)
        assert lo - 1e-9 <= ks <= hi + 1e-9, (kind, variant, ks, lo, hi)
        assert ks - lo <= 0.02, (kind, variant, ks, lo)


def test_spec_quantiles_within_1pct_rank_error(case):
    kind, ref, fs, currents = case
    cur = currents[(0.0, 1.0)]                      # current data like the reference
    merged = merged_devices(cur, fs.layout, DEVICES, getattr(fs, "discrete", False))
    raw = np.sort(cur)
    errors = {float(p): rank_error(raw, merged.quantile(float(p)), float(p)) for p in PS}
    worst = max(errors, key=errors.get)
    assert errors[worst] <= 0.01, (kind, worst, errors[worst], merged.quantile(worst))


def test_spec_quantile_error_never_exceeds_its_slot_mass(case):
    """Drifted data piles into few slots: the 1% claim needs data like the reference, but
    the error stays below the mass of the slot holding the rank (what the sketch reports)."""
    kind, ref, fs, currents = case
    for variant, cur in currents.items():
        merged = merged_devices(cur, fs.layout, DEVICES, getattr(fs, "discrete", False))
        raw = np.sort(cur)
        counts = np.array(merged.counts)
        cum = np.cumsum(counts) / merged.n
        for p in PS:
            slot = int(np.searchsorted(cum, p - 1e-12))
            mass = counts[slot] / merged.n
            assert rank_error(raw, merged.quantile(float(p)), float(p)) <= mass + 1e-9, \
                (kind, variant, float(p))


def test_merge_over_devices_equals_one_sketch(case):
    kind, ref, fs, currents = case
    cur = currents[(0.3, 1.0)]
    one = sketch_of(cur, fs.layout)
    merged = merged_devices(cur, fs.layout, DEVICES)
    assert merged.counts == one.counts and merged.n == one.n
    assert (merged.min, merged.max) == (float(cur.min()), float(cur.max()))
    assert merged.mean == pytest.approx(float(np.mean(cur)), rel=1e-9, abs=1e-12)
    assert merged.variance == pytest.approx(float(np.var(cur)), rel=1e-8)


def test_universal_layout_bounds_always_hold(case):
    kind, ref, _fs, currents = case
    ref_counts = sketch_of(ref).counts
    for variant, cur in currents.items():
        merged = merged_devices(cur, None, DEVICES)
        lo, hi = ks_interval(ref_counts, merged.counts)
        ks = ks_true(ref, cur)
        assert lo - 1e-9 <= ks <= hi + 1e-9, (kind, variant, ks, lo, hi)
        raw = np.sort(cur)
        for p in PS:
            q = true_quantile(raw, float(p))
            qlo, qhi = merged.quantile_bounds(float(p))
            assert qlo <= q <= qhi, (kind, variant, float(p), q, qlo, qhi)
            if 1e-3 <= qlo and qhi <= 3e4:          # 4 bins per decade: a factor 10**0.25
                assert qhi / qlo <= 10 ** 0.25 * (1 + 1e-12)


def test_reference_builder_spec_meets_the_same_bounds():
    """The analytics reference builder's spec (if present) gives the same accuracy."""
    rb = pytest.importorskip("analytics.reference_build")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    for kind in ("lognormal", "bimodal", "student_t2"):
        ref, cur = draw(kind, N_REF, rng), draw(kind, N_CUR, rng, 0.3, 1.0)
        built = rb.build_reference(pd.DataFrame({"x": ref}), "kws", "1.0")
        layout = built.spec.features["x"].layout
        lo, hi = ks_interval(sketch_of(ref, layout).counts,
                             merged_devices(cur, layout, DEVICES).counts)
        ks = ks_true(ref, cur)
        assert lo - 1e-9 <= ks <= hi + 1e-9 and ks - lo <= 0.02, (kind, ks, lo, hi)
        same = draw(kind, N_CUR, rng)
        merged = merged_devices(same, layout, DEVICES)
        raw = np.sort(same)
        assert max(rank_error(raw, merged.quantile(float(p)), float(p)) for p in PS) <= 0.01


def test_discrete_spec_end_to_end_through_monitor_and_wire(make_monitor):
    """Integer counts: the spec marks the feature discrete; the server decodes two windows
    with the spec and merges them; quantiles are values of the data (<= 1% rank error)."""
    from edge_sdk import WindowSketch
    from edge_sdk.wire import decode_window, encode_window

    rng = np.random.default_rng(11)
    ref, cur = rng.poisson(4.0, N_REF).astype(float), rng.poisson(4.0, 5_000)
    spec = spec_for("count", ref)
    assert spec.features["count"].discrete
    mon = make_monitor(spec=spec)
    bodies = []
    for half in np.array_split(cur, 2):
        for v in half.tolist():                      # ints, as an app would log them
            mon.log({"count": v})
        bodies.append(encode_window(mon.seal_window()))
    first, second = (WindowSketch.from_wire(decode_window(b), spec) for b in bodies)
    sk = first.merge(second).features["count"]
    raw = np.sort(cur.astype(float))
    assert max(rank_error(raw, sk.quantile(float(p)), float(p)) for p in PS) <= 0.01
    lo, hi = ks_interval(sketch_of(ref, spec.features["count"].layout).counts, sk.counts)
    assert lo - 1e-9 <= ks_true(ref, cur.astype(float)) <= lo + 1e-9   # exact: atoms on edges
