"""Normalised Wasserstein-1 distance: ``integral |F - G| dx / reference std``.

The sketch knows both CDFs exactly at the slot boundaries; inside a slot each
CDF can move anywhere between its boundary values. The point value assumes
values spread uniformly inside a slot; the interval is exact for what the
bins allow: inside a slot of width ``w`` where F goes ``a0 -> a1`` and G
``c0 -> c1``, ``|F - G|`` is at least ``max(c0 - a1, a0 - c1, 0)`` and at most
``max(|a0 - c1|, |a1 - c0|)``. The outer slots run to the smallest / largest
value either side saw.

>>> import numpy as np
>>> from analytics.methods.base import Binned
>>> bounds = np.array([[0.0, 1.0, 2.0]])
>>> r = DESCRIPTOR.evaluate(Binned(np.array([[10, 0]]), np.array([[0, 10]]), bounds,
...                                np.array([1.0])))
>>> float(r.score[0]), float(r.lower[0]), float(r.upper[0])
(1.0, 0.0, 2.0)
"""

from __future__ import annotations

import numpy as np

from .base import Binned, Computed, MethodDescriptor, nan_array


def _compute(data: Binned) -> Computed:
    if data.bounds is None:
        raise ValueError("wasserstein: needs slot bounds (numeric features only)")
    g = data.groups
    zeros = np.zeros((g, 1))
    fp = np.hstack([zeros, np.cumsum(data.p, axis=1)])   # CDF at the S + 1 boundaries
    fq = np.hstack([zeros, np.cumsum(data.q, axis=1)])
    width = np.maximum(np.diff(data.bounds, axis=1), 0.0)
    a0, a1, c0, c1 = fp[:, :-1], fp[:, 1:], fq[:, :-1], fq[:, 1:]
    d0, d1 = a0 - c0, a1 - c1
    same = (d0 * d1) >= 0
    s = np.abs(d0) + np.abs(d1)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(s > 0, (d0 * d0 + d1 * d1) / (2.0 * s), 0.0)
    point = width * np.where(same, s / 2.0, crossing)
    low = width * np.maximum(np.maximum(c0 - a1, a0 - c1), 0.0)
    high = width * np.maximum(np.abs(a0 - c1), np.abs(a1 - c0))
    scale = data.scale if data.scale is not None else np.ones(g)
    scale = np.where(scale > 0, scale, 1.0)
    return (point.sum(axis=1) / scale, low.sum(axis=1) / scale, high.sum(axis=1) / scale,
            nan_array(g))


DESCRIPTOR = MethodDescriptor(
    name="wasserstein", display_name="Wasserstein distance (normalised by reference std)",
    kinds=("numeric",), default_threshold=0.1, threshold_on="score", compute=_compute,
    description="earth mover's distance in reference standard deviations; Evidently's 0.1")
