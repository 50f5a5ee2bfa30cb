"""Mergeable sketch of one categorical stream: bounded per-category counts plus "other".

On a device the sketch tracks at most ``capacity`` distinct categories (in
order of first appearance, or the spec's known categories first); further new
categories are counted in ``other``. Every tracked count is exact. When a
stream has at most ``capacity`` distinct values the sketch is exact and
merging equals sketching the union; beyond that, the union's tracked set may
differ (documented in docs/sdk.md). Server-side merges are unbounded.

>>> a, b, both = CategoricalSketch(), CategoricalSketch(), CategoricalSketch()
>>> for v in ("front", "rear", "front"):
...     a.update(v); both.update(v)
>>> for v in ("rear", None, 3.5):
...     b.update(v); both.update(v)
>>> a.merge(b) == both
True
>>> both.counts, both.missing, both.type_mismatch
({'front': 2, 'rear': 2}, 1, 1)
>>> CategoricalSketch.from_msgpack(both.to_msgpack()) == both
True
"""

from __future__ import annotations

from typing import Any

from .errors import WireError
from .values import MAX_CATEGORY_LEN, category_key, is_missing

__all__ = ["CATEGORICAL_KIND", "CategoricalSketch", "MAX_CATEGORY_LEN", "category_key"]

CATEGORICAL_KIND = 1
DEFAULT_CAPACITY = 32


class CategoricalSketch:
    """Exact counts of up to ``capacity`` categories, an ``other`` bucket and quality counters.

    ``known`` (the spec's categories) are tracked from the start; a value not
    in ``known`` increments ``unseen`` (it is still counted).

    >>> s = CategoricalSketch(known=("front", "rear"), capacity=3)
    >>> for v in ("front", "side", "top", "roof"):
    ...     s.update(v)
    >>> s.counts, s.other, s.unseen
    ({'front': 1, 'rear': 0, 'side': 1}, 2, 3)
    >>> s.n
    4
    """

    __slots__ = ("counts", "other", "missing", "type_mismatch", "unseen", "capacity", "known")

    def __init__(self, known: tuple[str, ...] | None = None,
                 capacity: int = DEFAULT_CAPACITY) -> None:
        self.known = frozenset(known) if known else None
        self.capacity = max(capacity, len(known) if known else 0)
        self.counts: dict[str, int] = dict.fromkeys(known, 0) if known else {}
        self.other = 0
        self.missing = 0
        self.type_mismatch = 0
        self.unseen = 0

    def update(self, value: Any) -> None:
        """Add one value; missing values (:mod:`edge_sdk.values`) count as ``missing``, values
        with no category key as ``type_mismatch``."""
        short_str = type(value) is str and len(value) <= MAX_CATEGORY_LEN
        key = value if short_str else category_key(value)
        if key is None:
            if is_missing(value):
                self.missing += 1
            else:
                self.type_mismatch += 1
            return
        self.add(key, 1)

    def add(self, key: str, count: int) -> None:
        """Add ``count`` occurrences of an already-canonical category."""
        counts = self.counts
        if self.known is not None and key not in self.known:
            self.unseen += count
        if key in counts:
            counts[key] += count
        elif len(counts) < self.capacity:
            counts[key] = count
        else:
            self.other += count

    def merge(self, other: CategoricalSketch) -> CategoricalSketch:
        """Fold ``other`` in (unbounded: the union of tracked categories) and return self."""
        counts = self.counts
        for key, c in other.counts.items():
            counts[key] = counts.get(key, 0) + c
        self.capacity = max(self.capacity, len(counts))
        self.other += other.other
        self.missing += other.missing
        self.type_mismatch += other.type_mismatch
        self.unseen += other.unseen
        return self

    @property
    def n(self) -> int:
        """Number of categorical values counted (tracked + other)."""
        return sum(self.counts.values()) + self.other

    def is_empty(self) -> bool:
        """True when nothing at all was seen."""
        return not (self.n or self.missing or self.type_mismatch)

    def frequency(self, key: str) -> float:
        """Share of ``key`` among counted values (an under-estimate only via ``other``)."""
        n = self.n
        return self.counts.get(key, 0) / n if n else 0.0

    def _state(self) -> tuple:
        nonzero = {k: c for k, c in self.counts.items() if c}
        return (nonzero, self.other, self.missing, self.type_mismatch, self.unseen)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CategoricalSketch):
            return NotImplemented
        return self._state() == other._state()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CategoricalSketch(n={self.n}, categories={len(self.counts)}, other={self.other})"

    def to_msgpack(self) -> list:
        """Positional entry body (docs/wire-format.md, "categorical entry")."""
        nonzero = {k: c for k, c in self.counts.items() if c}
        return [CATEGORICAL_KIND, self.n, self.missing, self.type_mismatch, self.unseen,
                self.other, nonzero]

    @classmethod
    def from_msgpack(cls, entry: list, path: str = "entry") -> CategoricalSketch:
        """Inverse of :meth:`to_msgpack`."""
        if not isinstance(entry, list) or len(entry) != 7 or entry[0] != CATEGORICAL_KIND:
            raise WireError(path, "a 7-element categorical entry [1, n, missing, ...]")
        _, n, missing, mismatch, unseen, other, counts = entry
        if not isinstance(counts, dict):
            raise WireError(f"{path}.counts", "a map of category -> count")
        s = cls(capacity=max(DEFAULT_CAPACITY, len(counts)))
        s.counts = dict(counts)
        s.other, s.missing, s.type_mismatch, s.unseen = other, missing, mismatch, unseen
        if s.n != n:
            raise WireError(f"{path}.n", f"the sum of counts plus other ({s.n})", got=str(n))
        return s
