"""The Wilson score interval of a proportion (99% by default): one statement of the formula
for the quality rates (metrics), the accuracy verdicts and the accuracy bounds (job).

>>> lower, upper = wilson_bounds(np.array([10, 90, 0]), np.array([100, 100, 0]))
>>> lower.round(3).tolist(), upper.round(3).tolist()
([0.046, 0.796, 0.0], [0.204, 0.954, 1.0])
"""

from __future__ import annotations

import numpy as np

Z_99 = 2.576


def wilson_bounds(successes: np.ndarray, n: np.ndarray, z: float = Z_99
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` ends of the Wilson score interval of ``successes / n``, vectorised
    (``[0, 1]`` where ``n`` is 0: nothing is known)."""
    n = np.asarray(n, dtype=float)
    safe = np.maximum(n, 1.0)
    p = np.asarray(successes, dtype=float) / safe
    centre = p + z * z / (2 * safe)
    half = z * np.sqrt(p * (1 - p) / safe + z * z / (4 * safe * safe))
    denom = 1 + z * z / safe
    lower = np.where(n > 0, np.maximum((centre - half) / denom, 0.0), 0.0)
    upper = np.where(n > 0, np.minimum((centre + half) / denom, 1.0), 1.0)
    return lower, upper


def wilson_lower(successes: np.ndarray, n: np.ndarray, z: float = Z_99) -> np.ndarray:
    """Lower ends (0 where n=0).

    >>> wilson_lower(np.array([10, 0]), np.array([100, 0])).round(3).tolist()
    [0.046, 0.0]
    """
    return wilson_bounds(successes, n, z)[0]


def wilson_upper(successes: int, n: int, z: float = Z_99) -> float:
    """Upper end of one proportion (1 where n=0).

    >>> round(wilson_upper(90, 100), 3)
    0.954
    """
    return float(wilson_bounds(np.array([successes]), np.array([n]), z)[1][0])
