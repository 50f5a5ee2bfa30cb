"""Sketch intervals against raw data: the SDK's sketches, the sink's slot-sum columns and
the analysis' methods on generated data (used by tests/analytics/test_interval_coverage.py
and by ``python -m bench detection`` for the interval widths).

Sketches are the SDK's own ``NumericSketch`` (values logged one by one, merged across
"devices"); the current side's slot sums go the way of the pipeline: each device's wire
bytes, the sink's columns (collector/slot_sums.py) summed over devices, then
analytics/slot_sums.py; the reference's are exact, as ``edgedrift reference build`` stores
them.

>>> rng = np.random.default_rng(0)
>>> ref = draw("normal", rng, 2_000, 0.0, 1.0)
>>> got = intervals(draw("normal", rng, 2_000, 0.0, 1.5), ref, quantile_layout(ref))
>>> w = got["wasserstein"]
>>> bool(w.lower[0] <= w.score[0] <= w.upper[0])
True
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from analytics.methods.base import Binned
from analytics.methods.registry import METHODS
from analytics.metrics import NSLOTS, slot_bounds
from analytics.slot_sums import exact_distances, profile_distances, telemetry_distances
from collector.slot_sums import sums_columns
from edge_sdk.layout import REGIONS, Layout
from edge_sdk.numeric import NumericSketch

SHAPES = ("normal", "lognormal", "pareto", "integers", "two_points", "mixture", "student_t")


def draw(shape: str, rng: np.random.Generator, n: int, shift: float, scale: float) -> np.ndarray:
    if shape == "normal":
        x = rng.normal(0.0, 1.0, n)
    elif shape == "lognormal":
        x = rng.lognormal(0.0, 1.5, n)
    elif shape == "pareto":
        x = rng.pareto(1.2, n)               # heavy tail: no finite variance
    elif shape == "integers":
        x = rng.poisson(3.0, n).astype(float)  # ties on every value
    elif shape == "two_points":
        x = rng.choice([0.0, 5.0], n, p=[0.8, 0.2])
    elif shape == "mixture":
        x = np.where(rng.random(n) < 0.3, rng.normal(-4, 0.5, n), rng.normal(2, 1, n))
    else:
        x = rng.standard_t(2.0, n)
    return x * scale + shift


def sketch(values: np.ndarray, layout: Layout, devices: int = 2,
           sink: list | None = None) -> NumericSketch:
    """The merged sketch; ``sink`` receives each device's slot-sum columns as the sink
    writes them (collector/slot_sums.py)."""
    parts = np.array_split(values, devices)
    merged = NumericSketch(layout)
    for part in parts:
        s = NumericSketch(layout)
        for v in part.tolist():
            s.update(v)
        if sink is not None:
            bins = [pa.array([c]) for c in s.counts] + [pa.array([0])] * (NSLOTS - layout.slots)
            sums = s.slot_sums()
            cols = sums_columns([(sums, layout.slots) if sums else None], bins,
                                np.array([s.n]), check=True)
            sink.append([c.to_pylist()[0] for c in cols])
        merged.merge(s)
    return merged


def intervals(cur: np.ndarray, ref: np.ndarray, layout: Layout, devices: int = 2) -> dict:
    rows: list = []
    a, b = sketch(cur, layout, devices, sink=rows), sketch(ref, layout, devices=1)
    edges = np.zeros((1, NSLOTS))
    edges[0, :len(layout.edges)] = layout.edges
    bounds = slot_bounds(edges, np.array([len(layout.edges)]), np.array([min(a.min, b.min)]),
                         np.array([max(a.max, b.max)]))
    cur_c, ref_c = np.zeros((1, NSLOTS), int), np.zeros((1, NSLOTS), int)
    cur_c[0, :layout.slots], ref_c[0, :layout.slots] = a.counts, b.counts
    std = float(np.std(ref)) or 1.0
    merged = np.sum(np.asarray(rows, dtype=np.float64), axis=0)
    covered = np.array([merged[-1] == a.n and a.n > 0])
    dist_cur = telemetry_distances(cur_c, edges, np.array([len(layout.edges)]),
                                   merged[None, :REGIONS], merged[None, REGIONS:REGIONS + 2],
                                   covered)
    fin = ref[np.isfinite(ref)]
    dist_ref = profile_distances(tuple(map(tuple, exact_distances(fin, layout.edges))),
                                 layout.slots)[None]
    means = (np.array([a.mean]), np.array([b.mean]))
    data = Binned(cur_c, ref_c, bounds, np.array([std]), *means, None, None, dist_cur,
                  dist_ref, np.array([layout.slots]))
    means_only = Binned(cur_c, ref_c, bounds, np.array([std]), *means)
    no_means = Binned(cur_c, ref_c, bounds, np.array([std]))
    return {name: METHODS[name].evaluate(data) for name in ("wasserstein", "ks")} | {
        "std": std, "lower_without_means": METHODS["wasserstein"].evaluate(no_means).lower[0],
        "lower_without_sums": METHODS["wasserstein"].evaluate(means_only).lower[0]}


def quantile_layout(ref: np.ndarray) -> Layout:
    edges = np.unique(np.quantile(ref, np.arange(1, 64) / 64))
    return Layout.from_edges([float(e) for e in edges])
