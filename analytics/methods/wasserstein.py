"""Normalised Wasserstein-1 distance: ``integral |F - G| dx / reference std``.

The sketch knows both CDFs exactly at the slot boundaries; inside a slot each
CDF can move anywhere between its boundary values. The outer slots run to the
smallest / largest value either side saw.

Bounds, valid for any data the sketches could have come from:

* per slot of width ``w`` where F goes ``a0 -> a1`` and G ``c0 -> c1``, the
  integral ``y`` of ``F - G`` over the slot lies in ``[w (a0 - c1), w (a1 - c0)]``
  and ``|F - G|`` is at most ``max(|a0 - c1|, |a1 - c0|)``;
* the integral of ``F - G`` over the whole range is ``mean(G) - mean(F)``, known
  exactly from the sketches' moments.

``W >= sum |y_j|``, minimised over the slot boxes under that one sum constraint:
with ``p_j`` the point of box ``j`` nearest 0, the minimum is
``sum |p_j| + |(mean(G) - mean(F)) - sum p_j|`` (moving any ``y_j`` away from
``p_j`` costs exactly the distance moved). Without the means the lower bound is
``sum |p_j|``. A mean shift, where ``F - G`` keeps one sign, then has a lower
bound equal to the exact distance up to rounding. The point value assumes values
spread uniformly inside a slot, clipped into the interval.

>>> import numpy as np
>>> from analytics.methods.base import Binned
>>> bounds = np.array([[0.0, 1.0, 2.0]])
>>> r = DESCRIPTOR.evaluate(Binned(np.array([[10, 0]]), np.array([[0, 10]]), bounds,
...                                np.array([1.0])))
>>> float(r.score[0]), float(r.lower[0]), float(r.upper[0])
(1.0, 0.0, 2.0)
>>> r = DESCRIPTOR.evaluate(Binned(np.array([[10, 0]]), np.array([[0, 10]]), bounds,
...                                np.array([1.0]), np.array([0.5]), np.array([1.5])))
>>> [round(float(x[0]), 6) for x in (r.score, r.lower, r.upper)]  # the means fix the bound
[1.0, 1.0, 2.0]
"""

from __future__ import annotations

import numpy as np

from .base import Binned, Computed, MethodDescriptor, nan_array

# relative slack for float rounding in the means (keeps the bound conservative)
_ROUNDING = 1e-9


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
    point = (width * np.where(same, s / 2.0, crossing)).sum(axis=1)
    nearest = np.clip(0.0, width * (a0 - c1), width * (a1 - c0))  # p_j of each slot's box
    low = np.abs(nearest).sum(axis=1)
    if data.mean_cur is not None and data.mean_ref is not None:
        gap = np.asarray(data.mean_ref, float) - np.asarray(data.mean_cur, float)
        span = data.bounds[:, -1] - data.bounds[:, 0]
        extra = np.abs(gap - nearest.sum(axis=1)) - _ROUNDING * np.abs(span)
        low = low + np.where(np.isfinite(extra), np.maximum(extra, 0.0), 0.0)
    high = (width * np.maximum(np.abs(a0 - c1), np.abs(a1 - c0))).sum(axis=1)
    low = np.minimum(low, high)
    point = np.clip(point, low, high)
    scale = data.scale if data.scale is not None else np.ones(g)
    scale = np.where(scale > 0, scale, 1.0)
    return point / scale, low / scale, high / scale, nan_array(g)


DESCRIPTOR = MethodDescriptor(
    name="wasserstein", display_name="Wasserstein distance (normalised by reference std)",
    kinds=("numeric",), default_threshold=0.1, threshold_on="score", compute=_compute,
    description="earth mover's distance in reference standard deviations; Evidently's 0.1")
