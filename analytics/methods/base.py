"""The shared shapes of every statistical method: input, descriptor and result.

>>> import numpy as np
>>> data = Binned(cur=np.array([[5, 5]]), ref=np.array([[5, 5]]))
>>> data.groups, data.slots
(1, 2)
>>> data.p.tolist(), data.n_cur.tolist()
([[0.5, 0.5]], [10.0])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# (score, lower, upper, p_value) arrays, one value per group
Computed = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Binned:
    """Current and reference histograms of G groups over S aligned slots.

    ``cur`` and ``ref`` are (G, S) counts (numeric: layout slots, zero-padded;
    categorical: one column per category). For numeric groups ``bounds`` is
    (G, S + 1): slot ``j`` spans ``[bounds[:, j], bounds[:, j + 1]]`` (the
    outer slots are clipped to the smallest/largest value either side saw,
    padding slots have zero width) and ``scale`` is the reference standard
    deviation used to normalise distances. ``mean_cur`` / ``mean_ref`` (numeric, optional,
    NaN where unknown) are the exact means of the values in each histogram; the Wasserstein
    bound uses them (they fix the integral of the CDF gap over the whole range);
    ``var_cur`` / ``var_ref`` (optional) their variances, for the test of the means.
    ``dist_cur`` / ``dist_ref`` / ``nslots`` (optional): the slot sums of wire-v2 sketches
    and of reference profiles, which tighten the Wasserstein bound region by region.
    """

    cur: np.ndarray
    ref: np.ndarray
    bounds: np.ndarray | None = None
    scale: np.ndarray | None = None
    mean_cur: np.ndarray | None = None
    mean_ref: np.ndarray | None = None
    var_cur: np.ndarray | None = None      # population variances of the same values
    var_ref: np.ndarray | None = None
    # slot sums (analytics/slot_sums.py): (G, REGIONS + 2, 2) distance intervals per region,
    # NaN where unknown, and each group's slot count (the regions follow from it)
    dist_cur: np.ndarray | None = None
    dist_ref: np.ndarray | None = None
    nslots: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def groups(self) -> int:
        return int(self.cur.shape[0])

    @property
    def slots(self) -> int:
        return int(self.cur.shape[1])

    @property
    def n_cur(self) -> np.ndarray:
        return self._get("n_cur", lambda: self.cur.sum(axis=1).astype(np.float64))

    @property
    def n_ref(self) -> np.ndarray:
        return self._get("n_ref", lambda: self.ref.sum(axis=1).astype(np.float64))

    @property
    def p(self) -> np.ndarray:
        """Current slot masses (rows of an empty histogram are all 0)."""
        return self._get("p", lambda: self.cur / np.maximum(self.n_cur, 1.0)[:, None])

    @property
    def q(self) -> np.ndarray:
        """Reference slot masses."""
        return self._get("q", lambda: self.ref / np.maximum(self.n_ref, 1.0)[:, None])

    @property
    def used_slots(self) -> np.ndarray:
        """Slots with mass on either side (the degrees of freedom + 1 of count tests)."""
        return self._get("used", lambda: ((self.cur + self.ref) > 0).sum(axis=1))

    def _get(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


@dataclass(frozen=True)
class MethodResult:
    """Uniform result of every method: arrays of one value per group.

    ``lower``/``upper`` bound the statistic as far as the sketch allows; the
    verdict reads the conservative side (``lower`` for distances, the p-value
    of the lower statistic for tests).

    >>> import numpy as np
    >>> r = MethodResult("psi", np.array([0.3]), np.array([0.2]), np.array([0.4]),
    ...                  np.array([np.nan]), 0.1, np.array([True]))
    >>> r.rows()[0]["drifted"]
    True
    """

    method: str
    score: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    p_value: np.ndarray
    threshold: float
    drifted: np.ndarray

    def rows(self) -> list[dict]:
        """One plain dict per group (for small result sets and tests)."""
        return [{"method": self.method, "score": float(s), "lower": float(lo),
                 "upper": float(hi), "p_value": float(p), "threshold": self.threshold,
                 "drifted": bool(d)}
                for s, lo, hi, p, d in zip(self.score, self.lower, self.upper, self.p_value,
                                           self.drifted, strict=True)]


@dataclass(frozen=True)
class MethodDescriptor:
    """Declarative description of one method (what the registry maps a name to).

    ``threshold_on`` is ``"score"`` for effect sizes (drifted when the lower
    bound reaches the threshold) or ``"p_value"`` for tests (drifted when the
    conservative p-value is below it).
    """

    name: str
    display_name: str
    kinds: tuple[str, ...]
    default_threshold: float
    threshold_on: str
    compute: Callable[[Binned], Computed]
    description: str = ""

    def evaluate(self, data: Binned, threshold: float | None = None) -> MethodResult:
        """Run the method on ``data`` and apply ``threshold`` (default: the method's)."""
        thr = self.default_threshold if threshold is None else float(threshold)
        score, lower, upper, p_value = self.compute(data)
        if self.threshold_on == "p_value":
            drifted = p_value < thr
        else:
            drifted = lower >= thr
        empty = (data.n_cur == 0) | (data.n_ref == 0)
        drifted = np.where(empty, False, drifted)
        return MethodResult(self.name, score, lower, upper, p_value, thr, drifted)


def nan_array(g: int) -> np.ndarray:
    """An array of ``g`` NaNs (the p-value of a method that has none)."""
    return np.full(g, np.nan)
