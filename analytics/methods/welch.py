"""Welch's two-sample test of the means, from the sketches' exact moments (large samples).

``z = |mean(G) - mean(F)| / sqrt(var(G)/n + var(F)/m)`` and the two-sided normal p-value
(Welch's t with the large-sample normal limit, as ``scipy.stats.ttest_ind(...,
equal_var=False)`` gives for thousands of values). The moments are exact in the sketch, so
``lower == upper == score``. It complements the KS test, whose sketch bound is loose when a
change moves values inside their slots (a shift of integer data by a fraction of a unit:
the histograms look alike, the means do not).

>>> import numpy as np
>>> from analytics.methods.base import Binned
>>> d = Binned(np.array([[500, 500]]), np.array([[500, 500]]), mean_cur=np.array([0.1]),
...            mean_ref=np.array([0.0]), var_cur=np.array([1.0]), var_ref=np.array([1.0]))
>>> r = DESCRIPTOR.evaluate(d)
>>> round(float(r.score[0]), 3), round(float(r.p_value[0]), 4)
(2.236, 0.0253)
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .base import Binned, Computed, MethodDescriptor, nan_array


def _compute(data: Binned) -> Computed:
    g = data.groups
    if data.mean_cur is None or data.mean_ref is None or data.var_cur is None \
            or data.var_ref is None:
        return nan_array(g), nan_array(g), nan_array(g), nan_array(g)
    n, m = data.n_cur, data.n_ref
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(np.asarray(data.var_cur, float) / n + np.asarray(data.var_ref, float) / m)
        z = np.abs(np.asarray(data.mean_cur, float) - np.asarray(data.mean_ref, float)) / se
    usable = (n > 1) & (m > 1) & np.isfinite(z)
    z = np.where(usable, z, np.nan)
    return z, z, z, np.where(usable, 2.0 * stats.norm.sf(z), np.nan)


DESCRIPTOR = MethodDescriptor(
    name="welch", display_name="Welch test of the means", kinds=("numeric",),
    default_threshold=0.05, threshold_on="p_value", compute=_compute,
    description="difference of the exact means over its standard error; normal p-value")
