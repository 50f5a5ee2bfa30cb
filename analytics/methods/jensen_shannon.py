"""Jensen-Shannon distance (natural log, in [0, sqrt(ln 2)]) between current and reference masses.

Equal to ``scipy.spatial.distance.jensenshannon(p, q)`` with scipy's default (natural
log) units, the units Evidently's ``jensenshannon`` test and its 0.1 threshold use, so a
score can be checked by hand against either. (Base 2 would be ``1 / sqrt(ln 2)`` = 1.2x
larger for the same data.) Like PSI it
is an f-divergence, so merging slots can only shrink it; the interval is the
finite-count band (the divergence of two samples of one distribution is about
``chi2(used slots - 1) * (1/n + 1/m) / 8`` nats).

>>> import numpy as np
>>> from analytics.methods.base import Binned
>>> r = DESCRIPTOR.evaluate(Binned(np.array([[10, 0]]), np.array([[0, 10]])))
>>> round(float(r.score[0]), 6), round(float(np.sqrt(np.log(2))), 6)
(0.832555, 0.832555)
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .base import Binned, Computed, MethodDescriptor, nan_array

MAX_DISTANCE = float(np.sqrt(np.log(2.0)))   # disjoint supports


def _compute(data: Binned) -> Computed:
    p, q = data.p, data.q
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        kp = np.where(p > 0, p * np.log(p / m), 0.0)
        kq = np.where(q > 0, q * np.log(q / m), 0.0)
    jsd = np.maximum(0.5 * (kp.sum(axis=1) + kq.sum(axis=1)), 0.0)   # nats
    dof = np.maximum(data.used_slots - 1, 1)
    inv = 1.0 / np.maximum(data.n_cur, 1.0) + 1.0 / np.maximum(data.n_ref, 1.0)
    band = stats.chi2.ppf(0.975, dof) * inv / 8.0
    score = np.sqrt(jsd)
    lower = np.sqrt(np.maximum(jsd - band, 0.0))
    upper = np.minimum(np.sqrt(jsd + band), MAX_DISTANCE)
    return score, lower, upper, nan_array(data.groups)


DESCRIPTOR = MethodDescriptor(
    name="jensen_shannon", display_name="Jensen-Shannon distance",
    kinds=("numeric", "categorical"), default_threshold=0.1, threshold_on="score",
    compute=_compute,
    description="sqrt of the JS divergence in nats (scipy's default units); Evidently's 0.1")
