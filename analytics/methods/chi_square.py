"""Pearson chi-square test of homogeneity between current and reference category counts.

Counts are exact (no layout), so ``lower == upper == score``; equal to
``scipy.stats.chi2_contingency([cur, ref], correction=False)`` over the
categories either side saw. Threshold on the p-value (Evidently's 0.05).

>>> import numpy as np
>>> from analytics.methods.base import Binned
>>> r = DESCRIPTOR.evaluate(Binned(np.array([[30, 70, 0]]), np.array([[50, 50, 0]])))
>>> round(float(r.score[0]), 4), round(float(r.p_value[0]), 6)
(8.3333, 0.003892)
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .base import Binned, Computed, MethodDescriptor


def _compute(data: Binned) -> Computed:
    cur = data.cur.astype(np.float64)
    ref = data.ref.astype(np.float64)
    n, m = data.n_cur, data.n_ref
    total = n + m
    col = cur + ref
    with np.errstate(divide="ignore", invalid="ignore"):
        e_cur = col * (n / np.where(total > 0, total, 1.0))[:, None]
        e_ref = col * (m / np.where(total > 0, total, 1.0))[:, None]
        t_cur = np.where(e_cur > 0, (cur - e_cur) ** 2 / e_cur, 0.0)
        t_ref = np.where(e_ref > 0, (ref - e_ref) ** 2 / e_ref, 0.0)
    stat = t_cur.sum(axis=1) + t_ref.sum(axis=1)
    dof = np.maximum(data.used_slots - 1, 1)
    p = np.where((n > 0) & (m > 0) & (data.used_slots > 1), stats.chi2.sf(stat, dof), 1.0)
    return stat, stat, stat, p


DESCRIPTOR = MethodDescriptor(
    name="chi_square", display_name="chi-square test", kinds=("categorical",),
    default_threshold=0.05, threshold_on="p_value", compute=_compute,
    description="Pearson chi-square on the 2 x categories table; exact counts")
