"""Slot sums for the analysis: where the values lie inside groups of histogram slots.

Wire-v2 sketches (edge_sdk.layout.regions) carry, per region of inner slots, the mean's
position inside the region (one byte) and the exact distances of the outer slots' values
from the first / last edge. Merged over windows (collector/slot_sums.py) they bound, per
region, the sum of distances ``D = sum(x - lo)`` of the values from the region's lower edge
``lo`` (for the lower tail: ``T0 = sum(e0 - x)``, the distance below the first edge). A
reference profile built from raw data has them exactly.

``distances`` below are (G, REGIONS + 2, 2) arrays of [low, high] per region in the order
lower tail, inner regions, upper tail; NaN where unknown (a v1 window in the merge, no
edges, an old reference). The Wasserstein bound turns them into the exact integral of each
CDF over each region (analytics/methods/wasserstein.py).

>>> d = exact_distances(np.array([-2.0, 0.25, 0.75, 1.25, 9.0]), (0.0, 1.0, 2.0))
>>> d[:, 0].tolist()
[2.0, 1.0, 0.25, 7.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_sdk.layout import REGIONS, regions

WIDTH = REGIONS + 2
# relative slack: the position byte's float rounding, float32 tails, float64 sums
_SLACK = 1e-6


def region_slots(slots: int) -> list[tuple[int, int]]:
    """(first, last) slot of each region: the lower tail, the inner regions, the upper tail.

    >>> region_slots(5)
    [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]
    """
    return [(0, 0), *regions(slots), (slots - 1, slots - 1)]


def exact_distances(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """(R + 2, 2) exact distance sums of raw finite ``values`` for a layout's ``edges``."""
    e = np.asarray(edges, dtype=np.float64)
    slot = np.searchsorted(e, values, side="right")
    slots = len(e) + 1
    out = np.zeros((len(region_slots(slots)), 2))
    for r, (first, last) in enumerate(region_slots(slots)):
        inside = values[(slot >= first) & (slot <= last)]
        if r == 0:
            out[r] = float(np.sum(e[0] - inside))
        else:
            out[r] = float(np.sum(inside - e[first - 1]))
    return out


def telemetry_distances(bins: np.ndarray, edges: np.ndarray, nedges: np.ndarray,
                        pos: np.ndarray, tails: np.ndarray, covered: np.ndarray
                        ) -> np.ndarray:
    """(G, WIDTH, 2) distance intervals of merged telemetry groups: ``bins`` (G, 64),
    ``edges`` (G, 64) with ``nedges`` valid, ``pos`` (G, REGIONS) summed count x position
    bytes, ``tails`` (G, 2) summed tail distances, ``covered``: every value of the group came
    with slot sums (else the row is NaN)."""
    g = len(bins)
    out = np.full((g, WIDTH, 2), np.nan)
    ok = covered & (nedges > 0)
    for slots in np.unique(nedges[ok] + 1):
        rows = np.flatnonzero(ok & (nedges + 1 == slots))
        regs = region_slots(int(slots))
        t = tails[rows]
        out[rows, 0, 0] = t[:, 0] * (1 - _SLACK)
        out[rows, 0, 1] = t[:, 0] * (1 + _SLACK)
        last = len(regs) - 1
        out[rows, last, 0] = t[:, 1] * (1 - _SLACK)
        out[rows, last, 1] = t[:, 1] * (1 + _SLACK)
        for r, (first, end) in enumerate(regs[1:-1], 1):
            count = bins[rows, first:end + 1].sum(axis=1).astype(np.float64)
            width = edges[rows, end] - edges[rows, first - 1]
            step = width / 256.0
            p = pos[rows, r - 1].astype(np.float64)
            out[rows, r, 0] = np.maximum(step * (p - _SLACK * count), 0.0)
            out[rows, r, 1] = step * (p + count * (1 + _SLACK))
    return out


def profile_distances(stored: tuple[tuple[float, float], ...] | None, slots: int) -> np.ndarray:
    """(WIDTH, 2) intervals from a reference profile's stored slot sums (NaN if absent)."""
    out = np.full((WIDTH, 2), np.nan)
    if stored and len(stored) == len(region_slots(slots)):
        arr = np.asarray(stored, dtype=np.float64)
        out[:len(arr), 0] = arr[:, 0] - np.abs(arr[:, 0]) * _SLACK
        out[:len(arr), 1] = arr[:, 1] + np.abs(arr[:, 1]) * _SLACK
    return out


def merged_sums(row: Any, counts: np.ndarray, edges: tuple[float, ...]
                ) -> tuple[tuple[float, float], ...]:
    """A merged telemetry row's slot sums as a reference profile stores them
    (``row``: a mapping with ``pos0 ..``, ``tail_lo``, ``tail_hi``)."""
    e = np.zeros((1, len(counts)))
    e[0, :len(edges)] = edges
    pos = np.array([[row[f"pos{r}"] or 0 for r in range(REGIONS)]], dtype=np.float64)
    tails = np.array([[row["tail_lo"] or 0.0, row["tail_hi"] or 0.0]])
    dist = telemetry_distances(counts[None, :], e, np.array([len(edges)]), pos, tails,
                               np.array([True]))[0]
    used = len(region_slots(len(edges) + 1))
    return tuple((float(a), float(b)) for a, b in dist[:used])
