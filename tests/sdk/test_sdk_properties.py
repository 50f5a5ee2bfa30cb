"""Hypothesis: merge(A, B) == sketch(A ∪ B); merge is commutative and associative; update
order does not matter. Counts and extremes exactly, mean/variance up to float rounding."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st
from sdk_compare import label_diff, num_diff, window_diff
from sdk_strategies import (
    SETTINGS,
    SPEC,
    FloatRaises,
    any_records,
    cat_values,
    finite,
    layouts,
    sketch,
    typed_records,
    value_lists,
    window,
)

from edge_sdk import CategoricalSketch, LabelSketch, WindowSketch


@SETTINGS
@given(layouts(), value_lists, value_lists, st.integers(1, 4))
def test_numeric_merge_equals_union(lay_rng, xs, ys, reps):
    xs = xs * reps                                            # crosses the 256-value buffer
    merged = sketch(lay_rng, xs).merge(sketch(lay_rng, ys))
    union = sketch(lay_rng, xs + ys)
    assert num_diff(merged, union) == []
    assert merged.n + merged.nan + merged.inf + merged.missing + merged.type_mismatch \
        == len(xs) + len(ys)


@SETTINGS
@given(layouts(), value_lists, value_lists, value_lists)
def test_numeric_merge_commutative_associative(lay_rng, xs, ys, zs):
    ab = sketch(lay_rng, xs).merge(sketch(lay_rng, ys))
    ba = sketch(lay_rng, ys).merge(sketch(lay_rng, xs))
    assert num_diff(ab, ba) == []
    left = sketch(lay_rng, xs).merge(sketch(lay_rng, ys)).merge(sketch(lay_rng, zs))
    right = sketch(lay_rng, xs).merge(sketch(lay_rng, ys).merge(sketch(lay_rng, zs)))
    assert num_diff(left, right) == []


@SETTINGS
@given(layouts(), value_lists, st.randoms(use_true_random=False))
def test_numeric_update_order_does_not_matter(lay_rng, xs, rnd):
    shuffled = list(xs)
    rnd.shuffle(shuffled)
    assert num_diff(sketch(lay_rng, xs), sketch(lay_rng, shuffled)) == []


@SETTINGS
@given(layouts(), st.lists(finite, min_size=1, max_size=60))
def test_numeric_exact_fields_against_python(lay_rng, xs):
    s = sketch(lay_rng, xs)
    kept = [x for x in xs if abs(x) <= 1e100]                 # beyond: counted as inf
    assert s.inf == len(xs) - len(kept) and s.n == len(kept)
    if kept:
        assert (s.min, s.max) == (min(kept), max(kept))
        lay = lay_rng[0]
        assert s.counts == [sum(1 for x in kept if lay.slot_of(x) == i) for i in range(lay.slots)]
        mean = math.fsum(kept) / len(kept)
        assert abs(s.mean - mean) <= 1e-9 * max(map(abs, kept))


# -- categorical -------------------------------------------------------------------
def cat_sketch(values, capacity=64, known=None) -> CategoricalSketch:
    s = CategoricalSketch(known=known, capacity=capacity)
    for v in values:
        s.update(v)
    return s


@SETTINGS
@given(st.lists(cat_values, max_size=60), st.lists(cat_values, max_size=60),
       st.lists(cat_values, max_size=60),
       st.one_of(st.none(), st.lists(st.sampled_from(list("abcxyz")), max_size=4, unique=True)))
def test_categorical_merge_exact_within_capacity(xs, ys, zs, known):
    known = tuple(known) if known else None
    mk = lambda v: cat_sketch(v, capacity=64, known=known)   # noqa: E731 - capacity > distinct
    assert mk(xs).merge(mk(ys)) == mk(xs + ys)
    assert mk(xs).merge(mk(ys)) == mk(ys).merge(mk(xs))
    assert mk(xs).merge(mk(ys)).merge(mk(zs)) == mk(xs).merge(mk(ys).merge(mk(zs)))
    assert mk(xs) == mk(list(reversed(xs)))


@SETTINGS
@given(st.lists(st.lists(st.integers(0, 40), max_size=80), min_size=1, max_size=4),
       st.integers(1, 8))
def test_categorical_beyond_capacity_totals_and_tracked_counts_exact(parts, capacity):
    sketches = [cat_sketch(p, capacity=capacity) for p in parts]
    for p, s in zip(parts, sketches, strict=True):
        truth = Counter(str(v) for v in p)
        assert len(s.counts) <= capacity
        assert s.n == len(p)
        for k, c in s.counts.items():                          # every tracked count is exact
            assert c == truth[k]
        assert s.other == len(p) - sum(s.counts.values())
    merged = sketches[0]
    for s in sketches[1:]:
        merged.merge(s)
    allv = [v for p in parts for v in p]
    truth = Counter(str(v) for v in allv)
    assert merged.n == len(allv)                               # totals exact
    for k, c in merged.counts.items():
        assert c <= truth[k]                                   # never over-counted
    assert sum(merged.counts.values()) + merged.other == len(allv)


# -- labels --------------------------------------------------------------------------
cls_pairs = st.tuples(st.one_of(st.sampled_from(["cat", "dog", "owl"]), st.integers(0, 2),
                                st.booleans(), st.none(), st.floats()),
                      st.one_of(st.sampled_from(["cat", "dog", "owl"]), st.integers(0, 2),
                                st.none(), st.builds(dict)))
reg_pairs = st.tuples(st.one_of(finite, st.none(), st.text(max_size=2), st.builds(FloatRaises)),
                      st.one_of(finite, st.integers(-10, 10), st.just(math.nan)))


def label_sketch(task, pairs) -> LabelSketch:
    s = LabelSketch(task)
    for p, y in pairs:
        s.update(p, y)
    return s


@SETTINGS
@given(st.sampled_from(["classification", "binary", "regression"]), st.data())
def test_label_merge_equals_union_commutative_associative(task, data):
    pairs = cls_pairs if task != "regression" else reg_pairs
    if task == "binary":
        pairs = st.tuples(st.one_of(st.floats(0, 1), st.sampled_from(["yes", "no"])),
                          st.one_of(st.integers(0, 1), st.booleans()))
    xs, ys, zs = (data.draw(st.lists(pairs, max_size=40)) for _ in range(3))
    mk = lambda v: label_sketch(task, v)  # noqa: E731
    assert label_diff(mk(xs).merge(mk(ys)), mk(xs + ys)) == []
    assert label_diff(mk(xs).merge(mk(ys)), mk(ys).merge(mk(xs))) == []
    assert label_diff(mk(xs).merge(mk(ys)).merge(mk(zs)), mk(xs).merge(mk(ys).merge(mk(zs)))) == []
    assert label_diff(mk(xs), mk(list(reversed(xs)))) == []
    assert mk(xs).n + mk(xs).mismatch == len(xs)


# -- windows -------------------------------------------------------------------------
@SETTINGS
@given(st.lists(typed_records(), max_size=30), st.lists(typed_records(), max_size=30),
       st.lists(typed_records(), max_size=30))
def test_window_merge_without_spec(xs, ys, zs):
    assert window_diff(window(xs).merge(window(ys)), window(xs + ys)) == []
    assert window_diff(window(xs).merge(window(ys)), window(ys).merge(window(xs))) == []
    assert window_diff(window(xs).merge(window(ys)).merge(window(zs)),
                       window(xs).merge(window(ys).merge(window(zs)))) == []


@SETTINGS
@given(st.lists(any_records(), max_size=30), st.lists(any_records(), max_size=30),
       st.lists(any_records(), max_size=30), st.randoms(use_true_random=False))
def test_window_merge_with_spec_any_values(xs, ys, zs, rnd):
    assert window_diff(window(xs, SPEC).merge(window(ys, SPEC)), window(xs + ys, SPEC)) == []
    assert window_diff(window(xs, SPEC).merge(window(ys, SPEC)),
                       window(ys, SPEC).merge(window(xs, SPEC))) == []
    assert window_diff(window(xs, SPEC).merge(window(ys, SPEC)).merge(window(zs, SPEC)),
                       window(xs, SPEC).merge(window(ys, SPEC).merge(window(zs, SPEC)))) == []
    shuffled = list(xs)
    rnd.shuffle(shuffled)
    assert window_diff(window(xs, SPEC), window(shuffled, SPEC)) == []


@SETTINGS
@given(st.lists(typed_records(), max_size=30), st.randoms(use_true_random=False))
def test_window_update_order_without_spec(xs, rnd):
    shuffled = list(xs)
    rnd.shuffle(shuffled)
    assert window_diff(window(xs), window(shuffled)) == []


def test_window_merge_type_conflict_is_resolved_not_raised():
    def a():
        return window([({"x": 1.0}, None, None, None)])

    def b():
        return window([({"x": "s"}, None, None, None), ({"x": "t"}, None, None, None)])

    merged = a().merge(b())              # keep the type with more values, count the others
    assert isinstance(merged.features["x"], CategoricalSketch)
    assert merged.features["x"].type_mismatch == 1 and merged.n == 3
    assert window_diff(b().merge(a()), merged) == []
    assert window_diff(WindowSketch().merge(b()).merge(a()), merged) == []


def test_window_merge_prediction_layout_conflict():
    """Device A's first prediction is in [0, 1] (p1 layout), device B's is not (u1)."""
    a, b = WindowSketch(), WindowSketch()
    a.add_record({"x": 1.0}, prediction=0.3)
    b.add_record({"x": 1.0}, prediction=1.7)
    merged = a.merge(b)
    assert merged.n == 2
    assert merged.prediction.n + merged.prediction.type_mismatch == 2


def test_window_merge_prediction_type_conflict():
    a, b = WindowSketch(), WindowSketch()
    a.add_record({"x": 1.0}, prediction="cat")
    b.add_record({"x": 1.0}, prediction=0.4)
    merged = a.merge(b)
    assert merged.n == 2


def test_none_as_first_value_is_missing_not_untyped():
    """A None before the feature's first real value must not depend on arrival order."""
    a, b = WindowSketch(), WindowSketch()
    a.add_record({"x": 1.0})
    b.add_record({"x": None})
    b.add_record({"x": 2.0})
    union = WindowSketch()
    for rec in ({"x": 1.0}, {"x": None}, {"x": 2.0}):
        union.add_record(rec)
    assert window_diff(a.merge(b), union) == []


def test_max_features_bound_holds_on_device_and_merges_unbounded():
    recs = [({f"f{i}": 1.0}, None, None, None) for i in range(6)]
    w = window(recs, max_features=4)
    assert len(w.features) == 4 and w.unknown_feature == 2
    merged = w.merge(window([({"g": 1.0}, None, None, None)]))   # server side: unbounded
    assert len(merged.features) == 5


# -- the error bounds the queries report ------------------------------------------------
def exact_ks(xs: list[float], ys: list[float]) -> float:
    from bisect import bisect_right
    sx, sy = sorted(xs), sorted(ys)
    return max(abs(bisect_right(sx, v) / len(sx) - bisect_right(sy, v) / len(sy)) for v in sx + sy)


sample_values = st.one_of(st.floats(-1e4, 1e4), st.integers(-20, 20).map(float),
                          st.sampled_from([0.0, 1e-3, -1e-3, 1.0]))


@SETTINGS
@given(layouts(), st.lists(sample_values, min_size=1, max_size=120),
       st.lists(sample_values, min_size=1, max_size=120))
def test_ks_interval_contains_the_exact_statistic(lay_rng, xs, ys):
    from edge_sdk.numeric import ks_interval
    lo, hi = ks_interval(sketch(lay_rng, xs).counts, sketch(lay_rng, ys).counts)
    ks = exact_ks(xs, ys)
    assert 0.0 <= lo <= hi <= 1.0
    assert lo - 1e-12 <= ks <= hi + 1e-12


@SETTINGS
@given(layouts(), st.lists(sample_values, min_size=1, max_size=120), st.floats(0.0, 1.0))
def test_quantile_bounds_contain_the_true_quantile(lay_rng, xs, p):
    s = sketch(lay_rng, xs)
    lo, hi = s.quantile_bounds(p)
    srt = sorted(xs)
    k = max(math.ceil(p * len(srt) - 1e-9), 1)
    assert lo <= srt[k - 1] <= hi
    assert lo <= s.quantile(p) <= hi


# -- the Monitor's inlined hot path equals the readable WindowSketch.add_record ------------
@SETTINGS
@given(st.lists(any_records(), max_size=40), st.sampled_from([None, SPEC]))
def test_monitor_hot_path_equals_add_record(records, spec):
    import tempfile

    from edge_sdk import Monitor
    from edge_sdk.wire import decode_window, encode_window

    with tempfile.TemporaryDirectory() as tmp:
        mon = Monitor(model="kws", version="1", device_id="dev-1", key="edk_k1_secret-secret",
                      endpoint="http://127.0.0.1:9/v1/telemetry", spool_dir=tmp, start=False,
                      spec=spec)
        try:
            for rec, pred, lat, en in records:
                mon.log(rec, prediction=pred, latency_ms=lat, energy_mj=en)
            body = decode_window(encode_window(mon.seal_window()))
        finally:
            mon.close(timeout_s=0)
    assert body["hl"]["ie"] == 0
    assert window_diff(WindowSketch.from_wire(body, spec), window(records, spec)) == []
