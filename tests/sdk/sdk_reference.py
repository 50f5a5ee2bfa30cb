"""Test helpers for accuracy checks: a spec from a reference sample, sketches of raw
samples, and exact raw-data statistics (KS, rank error).

>>> import numpy as np
>>> edges = quantile_edges(np.arange(1000.0))
>>> len(edges), edges[0] < edges[-1]
(63, True)
>>> quantile_edges(np.array([1, 1, 2, 3, 3, 3]))
(2.0, 3.0)
"""

from __future__ import annotations

import numpy as np

from edge_sdk import NumericSketch, Spec
from edge_sdk.layout import Layout

QUANTILES = np.arange(1, 64) / 64


def quantile_edges(reference: np.ndarray) -> tuple[float, ...]:
    """63 quantile edges of ``reference`` (1/64 .. 63/64), deduplicated; for discrete data
    with few distinct values, one edge per value above the smallest."""
    ref = np.asarray(reference, dtype=float)
    uniq = np.unique(ref)
    if len(uniq) <= 64:
        return tuple(float(v) for v in uniq[1:]) or (float(uniq[0]),)
    return tuple(float(v) for v in np.unique(np.quantile(ref, QUANTILES)))


def is_discrete(reference: np.ndarray) -> bool:
    """Few distinct values: one slot per value (the spec marks the feature ``discrete``)."""
    return len(np.unique(np.asarray(reference, dtype=float))) <= 64


def spec_for(name: str, reference: np.ndarray) -> Spec:
    """A spec with one numeric feature whose layout is ``reference``'s quantile edges."""
    body = {"type": "numeric", "edges": list(quantile_edges(reference))}
    if is_discrete(reference):
        body["discrete"] = True
    return Spec.from_dict({"features": {name: body}})


def sketch_of(values: np.ndarray, layout: Layout | None = None,
              discrete: bool = False) -> NumericSketch:
    s = NumericSketch(layout, discrete=True) if discrete else NumericSketch(layout)
    for v in values.tolist():
        s.update(v)
    return s


def merged_devices(values: np.ndarray, layout: Layout | None, devices: int,
                   discrete: bool = False) -> NumericSketch:
    """Split ``values`` over ``devices`` devices, sketch each, merge the sketches."""
    parts = np.array_split(values, devices)
    total = sketch_of(parts[0], layout, discrete)
    for part in parts[1:]:
        total.merge(sketch_of(part, layout, discrete))
    return total


def rank_error(sorted_raw: np.ndarray, q_est: float, p: float) -> float:
    """Distance from ``p`` to [F(q-), F(q)] of the raw sample (ties allowed)."""
    n = len(sorted_raw)
    below = np.searchsorted(sorted_raw, q_est, side="left") / n
    upto = np.searchsorted(sorted_raw, q_est, side="right") / n
    if below <= p <= upto:
        return 0.0
    return min(abs(p - below), abs(p - upto))


def true_quantile(sorted_raw: np.ndarray, p: float) -> float:
    """Inverse ECDF: the smallest x with F(x) >= p."""
    n = len(sorted_raw)
    k = max(int(np.ceil(p * n - 1e-9)), 1)
    return float(sorted_raw[k - 1])
