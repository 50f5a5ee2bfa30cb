"""Population Stability Index: ``sum((p - q) * ln(p / q))`` over the sketch's slots.

Empty slots get mass 1e-4 on the side that has none (as Evidently does).
Merging slots can only shrink this f-divergence, so a coarse layout never
inflates PSI; the interval is the finite-count band: under no change
``PSI * (1/n + 1/m)^-1`` is about chi-square with (used slots - 1) degrees of
freedom, and ``[score - q97.5, score + q97.5]`` (floored at 0) is reported.

>>> import numpy as np
>>> from analytics.methods.base import Binned
>>> r = DESCRIPTOR.evaluate(Binned(np.array([[300, 700]]), np.array([[500, 500]])))
>>> round(float(r.score[0]), 4)
0.1695
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .base import Binned, Computed, MethodDescriptor, nan_array

EPS = 1e-4


def _compute(data: Binned) -> Computed:
    p = np.where(data.p == 0, EPS, data.p)
    q = np.where(data.q == 0, EPS, data.q)
    both_empty = (data.cur + data.ref) == 0
    terms = np.where(both_empty, 0.0, (p - q) * np.log(p / q))
    score = terms.sum(axis=1)
    band = null_band(data)
    return score, np.maximum(score - band, 0.0), score + band, nan_array(data.groups)


def null_band(data: Binned) -> np.ndarray:
    """97.5% quantile of PSI between two samples of one distribution (count noise)."""
    dof = np.maximum(data.used_slots - 1, 1)
    inv = 1.0 / np.maximum(data.n_cur, 1.0) + 1.0 / np.maximum(data.n_ref, 1.0)
    return stats.chi2.ppf(0.975, dof) * inv


DESCRIPTOR = MethodDescriptor(
    name="psi", display_name="Population Stability Index", kinds=("numeric", "categorical"),
    default_threshold=0.2, threshold_on="score", compute=_compute,
    description="symmetric KL over slots; 0.1 moderate, 0.2 significant shift (industry rule)")
