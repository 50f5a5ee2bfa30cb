"""Two-sample Kolmogorov-Smirnov statistic with bounds from bin masses, and a p-value.

The lower bound is the largest CDF gap at the slot edges (exact there); inside
a slot each CDF moves by at most that slot's mass, which gives the upper
bound (:func:`edge_sdk.numeric.ks_interval`, vectorised). The score is the
lower bound, and the p-value (scipy's ``kstwo`` with ``n*m/(n+m)``, as
``scipy.stats.ks_2samp(method="asymp")``) is computed from it: the
conservative side, so a coarse layout can only make the test less eager.

>>> import numpy as np
>>> from analytics.methods.base import Binned
>>> r = DESCRIPTOR.evaluate(Binned(np.array([[5, 5]]), np.array([[5, 5]])))
>>> float(r.lower[0]), float(r.upper[0]), bool(r.drifted[0])
(0.0, 0.5, False)
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .base import Binned, Computed, MethodDescriptor

LARGE = 50


def bounds(data: Binned) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) KS bounds for every group."""
    fp = np.cumsum(data.p, axis=1)
    fq = np.cumsum(data.q, axis=1)
    gap_after = fp - fq
    gap_before = np.hstack([np.zeros((data.groups, 1)), gap_after[:, :-1]])
    lower = np.abs(gap_after).max(axis=1)
    upper = np.maximum(np.abs(gap_before + data.p), np.abs(gap_before - data.q)).max(axis=1)
    return lower, np.minimum(np.maximum(upper, lower), 1.0)


def p_value(d: np.ndarray, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Two-sample p-value of statistic ``d``: scipy's ``kstwo`` with ``n*m/(n+m)`` (as
    ``ks_2samp(method="asymp")``); from an effective size of ``LARGE`` on, Kolmogorov's
    limit ``kstwobign``: closed-form (``kstwo`` costs ~0.5 ms per group there) and never
    smaller than ``kstwo`` (checked from 20 to 500 on a grid of statistics), so the test
    stays conservative.

    >>> p = p_value(np.array([0.2, 0.2]), np.array([30.0, 500.0]), np.array([30.0, 500.0]))
    >>> bool(p[0] > p[1] > 0)
    True
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        en = np.where((n > 0) & (m > 0), n * m / (n + m), 0.0)
    out = np.ones_like(d, dtype=np.float64)
    small = (en >= 1) & (en < LARGE)
    out[small] = stats.kstwo.sf(d[small], np.round(en[small]))
    large = en >= LARGE
    out[large] = stats.kstwobign.sf(d[large] * np.sqrt(en[large]))
    return np.clip(out, 0.0, 1.0)


def _compute(data: Binned) -> Computed:
    lower, upper = bounds(data)
    empty = (data.n_cur == 0) | (data.n_ref == 0)
    lower = np.where(empty, 0.0, lower)
    upper = np.where(empty, 1.0, upper)
    return lower, lower, upper, p_value(lower, data.n_cur, data.n_ref)


DESCRIPTOR = MethodDescriptor(
    name="ks", display_name="Kolmogorov-Smirnov", kinds=("numeric",), default_threshold=0.05,
    threshold_on="p_value", compute=_compute,
    description="max CDF gap; p-value from the lower bound (scipy kstwo)")
