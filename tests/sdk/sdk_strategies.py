"""Hypothesis strategies shared by the SDK property and codec tests.

>>> from hypothesis import find
>>> isinstance(find(numbers, lambda x: True), (int, float))
True
"""

from __future__ import annotations

import math
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from edge_sdk import NumericSketch, Spec, WindowSketch
from edge_sdk.layout import LATENCY, PROBABILITY, Layout, universal_layout

# SDK_HYPOTHESIS_EXAMPLES=1000 for a deeper (slower) run; 60 keeps tests/sdk under ~30 s.
SETTINGS = settings(max_examples=int(os.environ.get("SDK_HYPOTHESIS_EXAMPLES", "60")),
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class FloatRaises:
    def __float__(self) -> float:
        raise RuntimeError("boom")

    def __repr__(self) -> str:
        return "FloatRaises()"


finite = st.floats(allow_nan=False, allow_infinity=False)
numbers = st.one_of(
    finite,
    st.floats(min_value=-1e3, max_value=1e3),                # lots of ties with the edges
    st.sampled_from([0.0, -0.0, 1.0, 1e-3, 5e-324, 1e100, -1e100, 1.7976931348623157e308]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.just(10**400),
)
junk = st.one_of(
    st.none(), st.just(math.nan), st.just(math.inf), st.just(-math.inf), st.text(max_size=5),
    st.booleans(), st.binary(max_size=3), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2), st.builds(FloatRaises),
)
numeric_values = st.one_of(numbers, numbers, junk)          # mostly numbers


@st.composite
def layouts(draw) -> tuple[Layout, tuple[float, float] | None]:
    kind = draw(st.sampled_from(["universal", "latency", "probability", "edges"]))
    if kind == "universal":
        lay = universal_layout()
    elif kind == "latency":
        lay = LATENCY
    elif kind == "probability":
        lay = PROBABILITY
    else:
        edges = draw(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=63,
                              unique=True))
        lay = Layout.from_edges(sorted(edges))
    rng = None
    if draw(st.booleans()):
        lo, hi = sorted(draw(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=2)))
        rng = (lo, hi)
    return lay, rng


def sketch(lay_rng, values) -> NumericSketch:
    s = NumericSketch(*lay_rng)
    for v in values:
        s.update(v)
    return s


value_lists = st.lists(numeric_values, max_size=80)


cat_values = st.one_of(st.sampled_from(list("abcdefghijkl")), st.sampled_from(list("abcdefghijkl")),
                       st.none(), st.integers(-3, 3), st.booleans(), st.floats(), st.builds(list),
                       st.text(min_size=60, max_size=70))


NUM_FEATURES = ("a", "b")
CAT_FEATURES = ("c",)
typed_num = st.one_of(numbers, st.just(math.nan), st.just(math.inf))
typed_cat = st.one_of(st.sampled_from(["front", "rear", "side"]), st.booleans())


@st.composite
def typed_records(draw):
    """Records whose present values fit their feature's type (schema-less inference)."""
    rec = {}
    for name in NUM_FEATURES:
        if draw(st.booleans()):
            rec[name] = draw(typed_num)
    for name in CAT_FEATURES:
        if draw(st.booleans()):
            rec[name] = draw(typed_cat)
    return (rec, draw(st.one_of(st.none(), st.floats(0, 1))),
            draw(st.one_of(st.none(), st.floats(0, 1e4), st.just(math.nan))),
            draw(st.one_of(st.none(), st.floats(0, 100))))


SPEC = Spec.from_dict({
    "features": {"a": {"type": "numeric", "edges": [-10, -1, 0, 0.5, 1, 10, 1e6], "range": [-1, 1]},
                 "b": {"type": "numeric"},
                 "c": {"type": "categorical", "categories": ["front", "rear"]}},
    "prediction": {"type": "numeric", "layout": "p1"}})


@st.composite
def any_records(draw):
    """Anything at all: wrong types, unknown names, non-dict records."""
    if draw(st.integers(0, 9)) == 0:
        return (draw(st.one_of(st.none(), st.integers(), st.text(max_size=3), st.builds(list))),
                None, None, None)
    rec = draw(st.dictionaries(
        st.one_of(st.sampled_from(["a", "b", "c", "zzz"]), st.integers(0, 2)),
        st.one_of(numeric_values, cat_values), max_size=5))
    return (rec, draw(st.one_of(st.none(), numeric_values)),
            draw(st.one_of(st.none(), numeric_values)), draw(st.one_of(st.none(), numeric_values)))


def window(records, spec=None, max_features=64) -> WindowSketch:
    w = WindowSketch(spec, max_features=max_features)
    for rec, pred, lat, en in records:
        w.add_record(rec, prediction=pred, latency_ms=lat, energy_mj=en)
    return w.finalize()


