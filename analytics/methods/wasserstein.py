"""Normalised Wasserstein-1 distance: ``integral |F - G| dx / reference std``.

The sketch knows both CDFs exactly at the slot boundaries; inside a slot each
CDF can move anywhere between its boundary values. The outer slots run to the
smallest / largest value either side saw.

Bounds, valid for any data the sketches could have come from:

* per slot of width ``w`` where F goes ``a0 -> a1`` and G ``c0 -> c1``, the
  integral ``y`` of ``F - G`` over the slot lies in ``[w (a0 - c1), w (a1 - c0)]``
  and ``|F - G|`` is at most ``max(|a0 - c1|, |a1 - c0|)``;
* the integral of ``F - G`` over the whole range is ``mean(G) - mean(F)``, known
  exactly from the sketches' moments;
* with slot sums (wire v2, analytics/slot_sums.py) the integral of each CDF over each
  region of slots is known up to the sums' quantisation: over ``[lo, hi]`` it is
  ``F(lo) w + P w - D / n`` with ``P`` the region's mass and ``D`` the sum of the values'
  distances from ``lo`` (over the lower tail ``T0 / n``, ``T0`` the distances below the
  first edge). That fixes the integral ``Y_r`` of ``F - G`` over each region to an interval.

``W >= sum |y_j|``, minimised over the slot boxes under that one sum constraint:
with ``p_j`` the point of box ``j`` nearest 0, the minimum is
``sum |p_j| + |(mean(G) - mean(F)) - sum p_j|`` (moving any ``y_j`` away from
``p_j`` costs exactly the distance moved). Without the means the lower bound is
``sum |p_j|``. With slot sums the same holds region by region: ``sum |p_j|`` plus, per
region, the distance from ``sum_{j in r} p_j`` to the interval of ``Y_r``; a change of
spread, where ``F - G`` changes sign only a few times, then gets a lower bound within the
quantisation (about 1/256 of a region's width) of the exact distance. A mean shift, where
``F - G`` keeps one sign, then has a lower bound equal to the exact distance up to rounding.
The point value assumes values spread uniformly inside a slot, clipped into the interval.

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

from ..slot_sums import region_slots
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
    high_slot = width * np.maximum(np.abs(a0 - c1), np.abs(a1 - c0))
    if data.dist_cur is not None and data.dist_ref is not None and data.nslots is not None:
        low = np.fmax(low, _regions_bound(data, fp, fq, nearest))
        _tail_caps(data, high_slot)
    high = high_slot.sum(axis=1)
    low = np.minimum(low, high)
    point = np.clip(point, low, high)
    scale = data.scale if data.scale is not None else np.ones(g)
    scale = np.where(scale > 0, scale, 1.0)
    return point / scale, low / scale, high / scale, nan_array(g)


def _regions_bound(data: Binned, fp: np.ndarray, fq: np.ndarray,
                   nearest: np.ndarray) -> np.ndarray:
    """``sum |p_j|`` plus each region's distance to its ``Y_r`` interval (NaN for groups
    without slot sums on both sides)."""
    assert data.dist_cur is not None and data.dist_ref is not None and data.nslots is not None
    assert data.bounds is not None
    out = np.full(data.groups, np.nan)
    known = np.isfinite(data.dist_cur[:, 0, 0]) & np.isfinite(data.dist_ref[:, 0, 0]) \
        & (data.n_cur > 0) & (data.n_ref > 0)
    for slots in np.unique(data.nslots[known]):
        rows = np.flatnonzero(known & (data.nslots == slots))
        regs = region_slots(int(slots))
        b = data.bounds[rows]
        extra = np.zeros(len(rows))
        for r, (first, last) in enumerate(regs):
            lo, hi = b[:, first], b[:, last + 1]
            w = np.maximum(hi - lo, 0.0)
            ip = _integral(fp[rows], first, last, w, data.dist_cur[rows, r], data.n_cur[rows], r)
            iq = _integral(fq[rows], first, last, w, data.dist_ref[rows, r], data.n_ref[rows], r)
            y_lo, y_hi = ip[0] - iq[1], ip[1] - iq[0]
            s = nearest[rows, first:last + 1].sum(axis=1)
            gap = np.maximum(np.maximum(y_lo - s, s - y_hi), 0.0)
            extra += np.where(np.isfinite(gap), gap, 0.0)
        out[rows] = np.abs(nearest[rows]).sum(axis=1) + extra
    return out


def _tail_caps(data: Binned, high_slot: np.ndarray) -> None:
    """Cap each outer slot's share of the upper bound by ``integral F + integral G`` over it
    (``|F - G| <= F + G`` below the first edge, ``<= (1 - F) + (1 - G)`` above the last), known
    from the tail distances: a heavy tail no longer counts its whole width."""
    assert data.dist_cur is not None and data.dist_ref is not None and data.nslots is not None
    known = np.isfinite(data.dist_cur[:, 0, 1]) & np.isfinite(data.dist_ref[:, 0, 1]) \
        & (data.n_cur > 0) & (data.n_ref > 0)
    for slots in np.unique(data.nslots[known]):
        rows = np.flatnonzero(known & (data.nslots == slots))
        last = len(region_slots(int(slots))) - 1
        for region, slot in ((0, 0), (last, int(slots) - 1)):
            cap = data.dist_cur[rows, region, 1] / data.n_cur[rows] \
                + data.dist_ref[rows, region, 1] / data.n_ref[rows]
            high_slot[rows, slot] = np.fmin(high_slot[rows, slot], cap)


def _integral(cdf: np.ndarray, first: int, last: int, w: np.ndarray, dist: np.ndarray,
              n: np.ndarray, region: int) -> tuple[np.ndarray, np.ndarray]:
    """[low, high] of the integral of one side's CDF over a region (see the module doc)."""
    if region == 0:                     # lower tail: distances below the first edge
        return dist[:, 0] / n, dist[:, 1] / n
    base = cdf[:, first] * w + (cdf[:, last + 1] - cdf[:, first]) * w
    return base - dist[:, 1] / n, base - dist[:, 0] / n


DESCRIPTOR = MethodDescriptor(
    name="wasserstein", display_name="Wasserstein distance (normalised by reference std)",
    kinds=("numeric",), default_threshold=0.1, threshold_on="score", compute=_compute,
    description="earth mover's distance in reference standard deviations; Evidently's 0.1")
