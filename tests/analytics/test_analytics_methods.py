"""Golden values of every method against scipy or hand computation, and the sketch KS bound."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from analytics.config import AnalyticsConfig
from analytics.errors import AnalyticsError, UnknownMethodError
from analytics.methods.base import Binned
from analytics.methods.registry import METHODS, get_method
from analytics.metrics import slot_bounds
from edge_sdk.numeric import NumericSketch, ks_interval

CUR = np.array([[30, 50, 20, 0], [10, 10, 10, 10]])
REF = np.array([[25, 25, 25, 25], [10, 10, 10, 10]])


def test_psi_matches_hand_computation():
    r = METHODS["psi"].evaluate(Binned(CUR, REF))
    p, q = np.array([0.3, 0.5, 0.2, 1e-4]), np.full(4, 0.25)
    assert r.score[0] == pytest.approx(np.sum((p - q) * np.log(p / q)))
    assert r.score[1] == pytest.approx(0.0)
    assert r.lower[1] == 0.0 and r.upper[1] > 0.0       # count-noise band
    assert r.lower[0] <= r.score[0] <= r.upper[0]


def test_jensen_shannon_matches_scipy():
    r = METHODS["jensen_shannon"].evaluate(Binned(CUR, REF))
    assert r.score[0] == pytest.approx(jensenshannon(CUR[0], REF[0]))
    assert r.score[1] == pytest.approx(0.0, abs=1e-12)


def test_chi_square_matches_scipy():
    r = METHODS["chi_square"].evaluate(Binned(CUR, REF))
    # by hand on the 2x4 table: the 4th column (0 current, 25 reference) counts too
    table = np.vstack([CUR[0], REF[0]]).astype(float)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    hand = float(((table - expected) ** 2 / expected).sum())
    assert r.score[0] == pytest.approx(hand)
    assert r.p_value[0] == pytest.approx(stats.chi2.sf(hand, df=3))
    full = stats.chi2_contingency(table, correction=False)           # and scipy agrees
    assert (r.score[0], r.p_value[0]) == pytest.approx((full.statistic, full.pvalue))
    assert r.score[1] == pytest.approx(0.0) and r.p_value[1] == pytest.approx(1.0)


def test_wasserstein_matches_scipy_on_uniform_slots():
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0, 1, 4000), rng.uniform(0.2, 1.2, 4000)
    edges = np.linspace(0.0, 1.2, 61)
    ca = np.bincount(np.searchsorted(edges, a, side="right"), minlength=62)
    cb = np.bincount(np.searchsorted(edges, b, side="right"), minlength=62)
    e = np.zeros((1, 64))
    e[0, :61] = edges
    bounds = slot_bounds(e, np.array([61]), np.array([min(a.min(), b.min())]),
                         np.array([max(a.max(), b.max())]))
    cur, ref = np.zeros((1, 64), int), np.zeros((1, 64), int)
    cur[0, :62], ref[0, :62] = ca, cb
    r = METHODS["wasserstein"].evaluate(Binned(cur, ref, bounds, np.array([1.0])))
    exact = stats.wasserstein_distance(a, b)
    assert r.lower[0] <= exact <= r.upper[0]
    assert r.score[0] == pytest.approx(exact, abs=0.01)
    assert r.score[0] == pytest.approx(0.2, abs=0.02)


def test_ks_bounds_match_sdk_and_pvalue_matches_scipy():
    r = METHODS["ks"].evaluate(Binned(CUR, REF))
    lo, hi = ks_interval(CUR[0].tolist(), REF[0].tolist())
    assert (r.lower[0], r.upper[0]) == pytest.approx((lo, hi))
    en = 100 * 100 / 200          # >= ks.LARGE: Kolmogorov's limit, never below kstwo
    assert r.p_value[0] == pytest.approx(stats.kstwobign.sf(lo * np.sqrt(en)))
    assert r.p_value[0] >= stats.kstwo.sf(lo, round(en))
    cur, ref = CUR // 10, REF // 10                                   # small: scipy's kstwo
    small = METHODS["ks"].evaluate(Binned(cur, ref))
    lo_small = ks_interval(cur[0].tolist(), ref[0].tolist())[0]
    en_small = cur[0].sum() * ref[0].sum() / (cur[0].sum() + ref[0].sum())
    assert small.p_value[0] == pytest.approx(stats.kstwo.sf(lo_small, round(en_small)))


def test_sketch_ks_within_bound_of_scipy_on_raw_data(built):
    """With the builder's quantile spec the interval holds the raw KS and is <= 0.02 wide."""
    rng = np.random.default_rng(11)
    layout = built.spec.features["temp"].layout
    for shift in (0.0, 0.3, 1.0):
        cur = rng.normal(20.0 + shift, 2.0, 5000)
        ref = rng.normal(20.0, 2.0, 5000)
        sc, sr = NumericSketch(layout), NumericSketch(layout)
        for x in cur:
            sc.update(float(x))
        for x in ref:
            sr.update(float(x))
        pad = lambda c: np.array([c + [0] * (64 - len(c))])  # noqa: E731
        r = METHODS["ks"].evaluate(Binned(pad(sc.counts), pad(sr.counts)))
        raw = stats.ks_2samp(cur, ref).statistic
        assert r.lower[0] - 1e-12 <= raw <= r.upper[0] + 1e-12
        assert raw - r.lower[0] <= 0.02
        assert r.upper[0] - r.lower[0] <= 0.03


def test_conservative_side_never_manufactures_drift_on_a_coarse_layout():
    # 2 slots: everything in one slot on both sides though values differ inside it
    cur, ref = np.array([[0, 100] + [0] * 62]), np.array([[0, 100] + [0] * 62])
    bounds = slot_bounds(np.array([[0.0] + [0.0] * 63]), np.array([1]), np.array([0.0]),
                         np.array([10.0]))
    data = Binned(cur, ref, bounds, np.array([1.0]))
    for name in ("psi", "jensen_shannon", "wasserstein", "ks"):
        assert not METHODS[name].evaluate(data).drifted[0], name
    assert METHODS["wasserstein"].evaluate(data).upper[0] > 0.1   # it could be far apart


def test_unknown_method_lists_valid_ones():
    with pytest.raises(UnknownMethodError, match="chi_square, jensen_shannon, ks, psi"):
        get_method("hellinger")
    with pytest.raises(AnalyticsError, match="numeric features"):
        AnalyticsConfig(numeric_effect=("chi_square",))
    with pytest.raises(AnalyticsError, match="persistence_k"):
        AnalyticsConfig(persistence_k=4, persistence_m=3)


def test_welch_matches_scipy_on_raw_data_through_the_sdk_moments():
    """The test of the means from two sketches' exact moments equals scipy's Welch t-test
    on the raw values (large samples: the normal limit of t)."""
    rng = np.random.default_rng(4)
    a, b = rng.poisson(4.0, 8000).astype(float) + 0.05, rng.poisson(4.0, 9000).astype(float)
    sa, sb = NumericSketch(), NumericSketch()
    for x in a:
        sa.update(float(x))
    for x in b:
        sb.update(float(x))
    data = Binned(np.array([[sa.n]]), np.array([[sb.n]]), mean_cur=np.array([sa.mean]),
                  mean_ref=np.array([sb.mean]), var_cur=np.array([sa.variance]),
                  var_ref=np.array([sb.variance]))
    r = METHODS["welch"].evaluate(data)
    exact = stats.ttest_ind(a, b, equal_var=False)
    assert r.score[0] == pytest.approx(abs(exact.statistic), rel=1e-3)
    assert r.p_value[0] == pytest.approx(exact.pvalue, rel=0.05)
    assert ks_interval(sa.counts, sb.counts)[0] < 0.03       # the histograms barely differ
