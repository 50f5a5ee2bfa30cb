"""Bin layouts: the fixed edges that make histograms mergeable.

A layout is a strictly increasing tuple of at most 63 finite edges. A value
``x`` falls in slot ``bisect_left(edges, x)`` counted from the right, i.e.

* slot 0 holds ``x < edges[0]`` (underflow),
* slot ``i`` holds ``edges[i-1] <= x < edges[i]``,
* the last slot holds ``x >= edges[-1]`` (overflow),

so a layout with ``k`` edges has ``k + 1`` slots (at most ``MAX_SLOTS``).
Two sketches merge exactly when their layouts are identical, which is why a
layout is identified by a short, stable id: ``spec`` layouts come from the
model's spec file (quantiles of training data), the built-in ones below are
the same on every device.

>>> lay = universal_layout()
>>> lay.slots
64
>>> lay.slot_of(0.0) == lay.slot_of(1e-9)
True
>>> LATENCY.slot_of(4.1) < LATENCY.slot_of(40.0)
True
"""

from __future__ import annotations

import functools
import hashlib
import math
import struct
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import pairwise

from .errors import ConfigError

MAX_EDGES = 63
MAX_SLOTS = MAX_EDGES + 1
# Wire v2 numeric entries carry, per group of inner slots ("region"), where the mean of its
# values lies (one byte), plus the exact distances of the two outer slots' values from their
# edge: what bounds the Wasserstein distance tightly (docs/wire-format.md, "slot sums").
REGIONS = 8
TAIL_BYTES = 8          # two little-endian float32: sum(e0 - x) below e0, sum(x - e_last) above


@functools.cache
def regions(slots: int) -> tuple[tuple[int, int], ...]:
    """The inner slots ``1 .. slots - 2`` split into at most :data:`REGIONS` runs of
    consecutive slots, as ``(first, last)`` pairs; the two outer slots are the tails.

    >>> regions(64)[:2], len(regions(64)), regions(64)[-1]
    (((1, 7), (8, 15)), 8, (55, 62))
    >>> regions(5), regions(2)
    (((1, 1), (2, 2), (3, 3)), ())
    """
    inner = max(slots - 2, 0)
    count = min(REGIONS, inner)
    cuts = [1 + r * inner // count for r in range(count + 1)] if count else []
    return tuple((cuts[r], cuts[r + 1] - 1) for r in range(count))


@functools.cache
def sums_length(slots: int) -> int:
    """Bytes of a v2 entry's slot sums for ``slots`` slots (one per region + the tails).

    >>> sums_length(64), sums_length(2)
    (16, 8)
    """
    return len(regions(slots)) + TAIL_BYTES


@dataclass(frozen=True)
class Layout:
    """Edges of a mergeable histogram plus a stable identifier.

    >>> lay = Layout.from_edges([0.0, 1.0, 2.0])
    >>> [lay.slot_of(x) for x in (-1, 0, 0.5, 1, 2, 9)]
    [0, 1, 1, 2, 3, 3]
    >>> lay.layout_id.startswith("e:")
    True
    """

    edges: tuple[float, ...]
    layout_id: str = field(default="")
    opaque_slots: int = 0  # >0: edges unknown here (decoded from the wire without the spec)

    @classmethod
    def opaque(cls, layout_id: str, slots: int) -> Layout:
        """A layout known only by id and slot count (server-side decode without the spec).

        >>> Layout.opaque("e:abc", 5).slots
        5
        """
        return cls((), layout_id, slots)

    @classmethod
    def from_edges(cls, edges: list[float] | tuple[float, ...], layout_id: str = "",
                   field_name: str = "edges") -> Layout:
        """Validate ``edges`` and build a layout (id derived from the edges if not given)."""
        try:
            es = tuple(float(e) for e in edges)
        except (TypeError, ValueError):
            raise ConfigError(field_name, edges, "a list of numbers") from None
        if not 1 <= len(es) <= MAX_EDGES:
            raise ConfigError(field_name, len(es), f"between 1 and {MAX_EDGES} edges")
        if not all(math.isfinite(e) for e in es):
            raise ConfigError(field_name, edges, "finite numbers (no NaN or infinity)")
        if any(b <= a for a, b in pairwise(es)):
            raise ConfigError(field_name, edges, "strictly increasing edges")
        return cls(es, layout_id or edges_id(es))

    @property
    def slots(self) -> int:
        """Number of histogram slots (edges + 1)."""
        return self.opaque_slots or len(self.edges) + 1

    def slot_of(self, x: float) -> int:
        """Slot index of one finite value."""
        return bisect_right(self.edges, x)


def edges_id(edges: tuple[float, ...]) -> str:
    """Stable id of an edge tuple: ``e:`` + 12 hex chars of blake2b over float64 LE."""
    digest = hashlib.blake2b(struct.pack(f"<{len(edges)}d", *edges), digest_size=6)
    return "e:" + digest.hexdigest()


def _symmetric_log_edges(lo_exp: float, step: float, per_side: int) -> tuple[float, ...]:
    pos = [10.0 ** (lo_exp + step * k) for k in range(per_side)]
    return tuple([-p for p in reversed(pos)] + [0.0] + pos)


def _log_edges(lo_exp: float, step: float, count: int) -> tuple[float, ...]:
    return tuple(10.0 ** (lo_exp + step * k) for k in range(count))


# Universal default for numeric features without a spec: sign-symmetric,
# 4 bins per decade for |x| in [1e-3, ~3.2e4], an exact-zero edge in the middle.
_UNIVERSAL = Layout(_symmetric_log_edges(-3.0, 0.25, 31), "u1")
# Latency in milliseconds: 10 us .. ~70 s, 7 bins per decade (ratio ~1.39).
LATENCY = Layout(_log_edges(-2.0, 1.0 / 7.0, 48), "lat1")
# Energy per inference in millijoules: 1 uJ .. ~720 J, 7 bins per decade.
ENERGY = Layout(_log_edges(-3.0, 1.0 / 7.0, 63), "en1")
# Probability-like predictions in [0, 1]: 50 equal-width bins.
PROBABILITY = Layout(tuple(k / 50.0 for k in range(51)), "p1")

BUILTIN_LAYOUTS: dict[str, Layout] = {
    lay.layout_id: lay for lay in (_UNIVERSAL, LATENCY, ENERGY, PROBABILITY)
}


def universal_layout() -> Layout:
    """The default numeric layout used when no spec is given."""
    return _UNIVERSAL
