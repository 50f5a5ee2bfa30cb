"""The slot sums of wire-v2 numeric entries as Parquet columns the analysis can add up.

A v2 entry ends with one byte ``k`` per region of inner slots (the region's mean lies in
``[lo + w k / 256, lo + w (k + 1) / 256)``, ``lo`` and ``w`` the region's lower edge and
width: :func:`edge_sdk.layout.regions`) and two float32 tail distances. The sink does not
know a spec layout's edges, so it stores what sums across windows without them:

* ``pos0 .. pos7``: per region, ``count * k`` (the analysis turns the summed value back into
  an interval for the region's sum of values, knowing the edges: ``C lo + w pos / 256`` to
  ``C lo + w (pos + C) / 256``);
* ``tail_lo``, ``tail_hi``: the distances ``sum(e0 - x)`` below the first edge and
  ``sum(x - e_last)`` above the last one;
* ``sums_n``: the entry's ``n`` when it carried slot sums, else 0 (wire v1, or an SDK that
  could not represent them), so a merge knows whether every value it holds is covered.

>>> import struct
>>> bins = [pa.array([2, 0])] + [pa.array([1, 0])] * 2 + [pa.array([0, 0])] * 61
>>> cols = sums_columns([(bytes([128, 64]) + struct.pack("<2f", 1.5, 0.0), 4), None],
...                     bins, np.array([4, 0]), check=True)
>>> [c.to_pylist() for c in cols[:3]], cols[8].to_pylist(), cols[10].to_pylist()
([[128, 0], [64, 0], [0, 0]], [1.5, 0.0], [4, 0])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from edge_sdk.layout import REGIONS, TAIL_BYTES, regions

from .chunk_checks import need
from .schema import SUM_COLUMNS

__all__ = ["SUM_COLUMNS", "EntrySums", "sums_columns", "sums_of"]
# (slot sums bytes, the entry's slot count), or None for an entry without them
EntrySums = tuple[bytes, int] | None


def sums_of(entry: list, check: bool) -> EntrySums:
    """The slot sums of a 15-element v2 feature entry ``[name, 0, ..., bins, .., sums]``
    (None when it has none); with ``check`` the shapes are proven (else Unproven)."""
    sums, packed = entry[14], entry[11]
    if check:
        need(type(sums) is bytes and type(packed) is bytes and len(packed) >= 2
             and packed[0] in (1, 2, 4), "slot sums bytes")
    if not sums:
        return None
    return sums, (len(packed) - 1) // packed[0]


def sums_columns(sums: Sequence[EntrySums], bins: list[pa.Array], n: np.ndarray,
                 check: bool) -> list[pa.Array]:
    """The :data:`SUM_COLUMNS` of the rows whose slot sums are ``sums`` (row order), given
    their bin columns and ``n``; with ``check`` every length and tail is proven."""
    rows = len(sums)
    pos = np.zeros((rows, REGIONS), np.int64)
    tails = np.zeros((rows, 2), np.float64)
    covered = np.zeros(rows, np.int64)
    by_slots: dict[int, list[int]] = {}
    for i, s in enumerate(sums):
        if s is not None:
            by_slots.setdefault(s[1], []).append(i)
    for slots, idx in by_slots.items():
        regs = regions(slots)
        width = len(regs) + TAIL_BYTES
        if check:
            need(all(len(sums[i][0]) == width for i in idx), "slot sums length")  # type: ignore[index]
        raw = np.frombuffer(b"".join(sums[i][0] for i in idx), np.uint8)  # type: ignore[index]
        raw = raw.reshape(len(idx), width)
        tail = raw[:, len(regs):].copy().view("<f4").astype(np.float64)
        if check:
            need(bool(np.isfinite(tail).all() and (tail >= 0).all()), "finite tail sums >= 0")
        at = np.asarray(idx)
        for r, (first, last) in enumerate(regs):
            count = sum(bins[j].to_numpy(zero_copy_only=False)[at].astype(np.int64)
                        for j in range(first, last + 1))
            pos[at, r] = count * raw[:, r]
        tails[at] = tail
        covered[at] = n[at]
    return [*(pa.array(pos[:, r]) for r in range(REGIONS)), pa.array(tails[:, 0]),
            pa.array(tails[:, 1]), pa.array(covered)]
