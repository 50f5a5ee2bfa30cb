"""Sequential evidence across windows: Page's one-sided CUSUM on each feature stream.

A fixed "k of m windows" rule costs a window on every detection and still alerts on
a lucky pair of noisy windows. CUSUM (E. S. Page, "Continuous inspection schemes",
Biometrika 41, 1954) accumulates evidence instead: per stream (model, version,
segment, feature) and window,

    S_t = min(cap, max(0, S_{t-1} + e_t - k)),      drifted while S_t >= h,

where ``e_t`` is the window's *evidence*: the conservative side of the effect size
(the sketch interval's lower bound) in units of its threshold, counted only when the
window has ``min_samples`` values and its test survives Benjamini-Hochberg at
``evidence_alpha``; otherwise ``e_t = 0``. ``k`` is Page's reference value and ``h`` his
decision interval, both in threshold units (defaults 0.5 and 0.5): an effect at its
threshold alerts in the window it appears, one at 0.75x its threshold in the second
window, one at 0.625x in the fourth, and anything below ``k`` (half the threshold) never
accumulates. ``cap`` (0.75) bounds how long a stream stays drifted once the evidence
stops: a window without evidence brings the statistic below ``h``, while weak evidence
(``e_t`` above ``cap - h`` = 0.25) keeps an ongoing drift from flapping. A window in which
a stream has no observation counts as ``e_t = 0``.

Why CUSUM on the lower bound rather than an e-process on p-values: on fleets of
thousands of devices every real change is significant, so the question is whether the
change is *large enough*; the lower bound is a deterministic bound on the sample's
effect size, which keeps the statistic at 0 on stationary data whatever the fleet size
(measured in ``python -m bench detection``), while significance gating keeps small
samples from accumulating noise. docs/analytics.md gives the measured false-alarm rates.

>>> c = Cusum()
>>> [c.update(e) for e in (0.2, 0.8, 0.8, 2.0, 0.3, 0.0)]
[False, False, True, True, True, False]
>>> Cusum().update(1.0)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Cusum:
    """One stream's CUSUM; ``update(e)`` adds a window's evidence and says if it is drifted.

    >>> c = Cusum(k=0.5, h=0.5, cap=0.75)
    >>> c.update(3.0), c.statistic
    (True, 0.75)
    """

    k: float = 0.5
    h: float = 0.5
    cap: float = 0.75
    statistic: float = 0.0

    def update(self, evidence: float) -> bool:
        self.statistic = step(self.statistic, evidence, self.k, self.cap)
        return self.drift_detected

    @property
    def drift_detected(self) -> bool:
        return self.statistic >= self.h


def step(previous: float, evidence: float, k: float, cap: float) -> float:
    """One CUSUM step (the rule in the module docstring, stated once)."""
    return min(cap, max(0.0, previous + evidence - k))


def run_streams(current: pd.DataFrame, history: pd.DataFrame, series: list[str],
                window_ms: int, k: float, cap: float) -> np.ndarray:
    """The CUSUM statistic after each row of ``current`` (``series + [bucket, evidence]``).

    ``history`` holds ``series + [bucket, statistic]`` of windows computed earlier; each
    stream starts from its latest earlier statistic, decayed by ``k`` for every window
    without an observation in between. Rows of ``current`` win over history for the same
    bucket (a recomputed window). Later history rows are used as stored.

    >>> cur = pd.DataFrame({"f": ["a"] * 3, "bucket": [20, 30, 40], "evidence": [2.0, 0.0, 0.7]})
    >>> hist = pd.DataFrame({"f": ["a"], "bucket": [0], "statistic": [1.5]})
    >>> run_streams(cur, hist, ["f"], 10, 0.5, 1.5).tolist()
    [1.5, 1.0, 1.2]
    """
    if current.empty:
        return np.zeros(0)
    cur = current[[*series, "bucket", "evidence"]].reset_index(drop=True).assign(
        _pos=np.arange(len(current)), statistic=np.nan)
    if not history.empty:
        hist = history[[*series, "bucket", "statistic"]].assign(_pos=-1, evidence=np.nan)
        hist = hist.merge(cur[[*series, "bucket"]], on=[*series, "bucket"], how="left",
                          indicator=True)
        hist = hist[hist["_merge"] == "left_only"].drop(columns="_merge")
        both = pd.concat([cur, hist[cur.columns]], ignore_index=True)
    else:
        both = cur
    both = both.sort_values([*series, "bucket"], kind="stable")
    out = np.zeros(len(cur))
    keys = both.groupby(series, sort=False).ngroup().to_numpy() if series else \
        np.zeros(len(both), dtype=np.int64)
    prev_key, prev_bucket, stat = None, 0, 0.0
    for key, bucket, pos, ev, stored in zip(keys, both["bucket"].to_numpy(np.int64),
                                            both["_pos"].to_numpy(), both["evidence"].to_numpy(),
                                            both["statistic"].to_numpy(), strict=False):
        if key != prev_key:
            stat = 0.0
        else:
            missed = max(int((bucket - prev_bucket) // window_ms) - 1, 0)
            stat = max(0.0, stat - k * missed)
        if pos >= 0:
            stat = step(stat, float(ev), k, cap)
            out[pos] = stat
        else:
            stat = float(stored) if np.isfinite(stored) else 0.0
        prev_key, prev_bucket = key, bucket
    return out
