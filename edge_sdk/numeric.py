"""Mergeable sketch of one numeric stream: moments, extremes and a fixed-layout histogram.

Values are buffered in a small ``array('d')`` and folded into the histogram
and moments in bulk (sort once, bisect each edge), which keeps the per-value
cost of :meth:`NumericSketch.update` to an append. Every query flushes first,
so results never depend on buffering.

>>> from edge_sdk.layout import Layout
>>> lay = Layout.from_edges([0.0, 1.0, 2.0])
>>> a, b, both = NumericSketch(lay), NumericSketch(lay), NumericSketch(lay)
>>> for x in (0.5, 1.5, 3.0):
...     a.update(x); both.update(x)
>>> for x in (-1.0, float("nan"), 1.2):
...     b.update(x); both.update(x)
>>> a.merge(b) == both
True
>>> both.n, both.missing, both.min, both.max, both.counts
(5, 1, -1.0, 3.0, [1, 1, 2, 1])
>>> NumericSketch.from_msgpack(both.to_msgpack(), lay) == both
True
"""

from __future__ import annotations

import math
import operator
import struct
from array import array
from bisect import bisect_left, bisect_right
from itertools import repeat
from typing import Any

from .errors import WireError
from .layout import MAX_SLOTS, Layout, regions
from .values import as_number, is_missing

BUFFER_SIZE = 256
_INF = math.inf
_NINF = -math.inf
# Values beyond +-1e100 count as "inf": squares of larger values overflow the moments.
MAX_MAGNITUDE = 1e100
NUMERIC_KIND = 0


class NumericSketch:
    """Count, missing/NaN/inf, min, max, mean, variance and a histogram over ``layout``.

    Merging two sketches of the same layout gives the sketch of the union of
    their values (exactly for counts and extremes, up to float rounding for
    mean and variance; Chan et al.'s parallel update).

    ``valid_range`` (from a spec) makes values outside ``[lo, hi]`` count as
    ``out_of_range``; they are still sketched.

    >>> s = NumericSketch()
    >>> for x in range(1, 101):
    ...     s.update(float(x))
    >>> s.n, round(s.mean, 6), round(s.variance, 4)
    (100, 50.5, 833.25)
    >>> lo, hi = s.quantile_bounds(0.5)
    >>> lo <= 50.5 <= hi
    True
    """

    __slots__ = ("layout", "_counts", "_n", "nan", "_inf", "missing", "_min", "_max", "_mean",
                 "_m2", "type_mismatch", "_out_of_range", "valid_range", "buf", "fold_at",
                 "discrete", "_dist", "_regions")

    def __init__(self, layout: Layout | None = None,
                 valid_range: tuple[float, float] | None = None, discrete: bool = False) -> None:
        if layout is None:
            from .layout import universal_layout
            layout = universal_layout()
        self.layout = layout
        self._counts = [0] * layout.slots
        self._n = 0            # finite values folded into the histogram/moments
        self.nan = 0
        self._inf = 0             # +-inf, and finite values beyond +-MAX_MAGNITUDE
        self.missing = 0
        self._min = _INF
        self._max = _NINF
        self._mean = 0.0
        self._m2 = 0.0
        self.type_mismatch = 0
        self._out_of_range = 0
        self.valid_range = valid_range
        self.discrete = discrete  # spec: one value per slot (integer data), so no interpolation
        self.buf = array("d")
        # Buffer length that triggers a fold. A window staggers its features' first fold
        # (see WindowSketch) so that 20 features never all fold in the same log() call.
        self.fold_at = BUFFER_SIZE
        # Slot sums (wire v2): distances of the values from an edge, per region of inner
        # slots (from the region's lower edge) and for the two outer slots (from the first /
        # last edge): [below e0, region 1 .. region R, above e_last]. None when unknown (a
        # sketch decoded without its layout's edges, or merged with one).
        self._regions = regions(layout.slots) if layout.edges else ()
        self._dist: list[float] | None = [0.0] * (len(self._regions) + 2) \
            if layout.edges else None

    # -- flushed views of the folded state ---------------------------------
    def _flushed(name: str):  # type: ignore[misc]
        def get(self: NumericSketch):
            if self.buf:
                self.flush()
            return getattr(self, name)
        return property(get, doc=f"{name[1:]} (buffered values are folded in first)")

    counts = _flushed("_counts")
    n = _flushed("_n")
    inf = _flushed("_inf")
    min = _flushed("_min")
    max = _flushed("_max")
    mean = _flushed("_mean")
    m2 = _flushed("_m2")
    out_of_range = _flushed("_out_of_range")
    del _flushed

    # -- updates -------------------------------------------------------
    def update(self, x: Any) -> None:
        """Add one value. Missing values (None, NaN, pandas' NA: :mod:`edge_sdk.values`)
        count as ``missing``, non-numbers as ``type_mismatch``."""
        if type(x) is float:
            if x != x:
                self.missing += 1
                return
            buf = self.buf
            buf.append(x)
            if len(buf) >= self.fold_at:
                self.flush()
            return
        self.update_other(x)

    def update_other(self, x: Any) -> None:
        """Slow path of :meth:`update` for values that are not plain floats."""
        v = as_number(x)
        if v is None:
            if is_missing(x):
                self.missing += 1
            else:
                self.type_mismatch += 1
            return
        if v != v:
            self.missing += 1
            return
        self.buf.append(v)
        if len(self.buf) >= self.fold_at:
            self.flush()

    def flush(self) -> None:
        """Fold buffered values into histogram and moments."""
        buf = self.buf
        self.fold_at = BUFFER_SIZE
        if not buf:
            return
        try:
            vals = sorted(buf)
        finally:
            del buf[:]
        lo = bisect_left(vals, -MAX_MAGNITUDE) if vals[0] < -MAX_MAGNITUDE else 0
        hi = bisect_right(vals, MAX_MAGNITUDE) if vals[-1] > MAX_MAGNITUDE else len(vals)
        self._inf += lo + (len(vals) - hi)
        if lo or hi != len(vals):
            vals = vals[lo:hi]
        k = len(vals)
        if not k:
            return
        counts = self._counts
        edges = self.layout.edges
        prev = 0
        cuts = [0]                     # cuts[i]: index of slot i's first value in vals
        for i, edge in enumerate(edges):
            pos = bisect_left(vals, edge, prev)
            counts[i] += pos - prev
            prev = pos
            cuts.append(pos)
        counts[-1] += k - prev
        cuts.append(k)
        if self._dist is not None:
            self._fold_sums(vals, cuts, edges)
        if self.valid_range is not None:
            rlo, rhi = self.valid_range
            above = k - bisect_left(vals, math.nextafter(rhi, _INF))
            self._out_of_range += bisect_left(vals, rlo) + above
        bmean = math.fsum(vals) / k
        if not math.isfinite(bmean):  # overflowing sums of huge values
            bmean = math.fsum(v / k for v in vals)
        dev = list(map(operator.sub, vals, repeat(bmean)))
        bm2 = math.fsum(map(operator.mul, dev, dev))
        self._combine(k, vals[0], vals[-1], bmean, bm2)

    def _fold_sums(self, vals: list[float], cuts: list[int], edges: tuple[float, ...]) -> None:
        """Add sorted ``vals`` (slot ``i`` = ``vals[cuts[i]:cuts[i + 1]]``) to the slot sums."""
        dist = self._dist
        assert dist is not None
        fsum, sub = math.fsum, operator.sub
        if cuts[1]:
            dist[0] += fsum(map(sub, repeat(edges[0], cuts[1]), vals[:cuts[1]]))
        for r, (first, last) in enumerate(self._regions, 1):
            a, b = cuts[first], cuts[last + 1]
            if b > a:
                dist[r] += fsum(map(sub, vals[a:b], repeat(edges[first - 1], b - a)))
        a = cuts[-2]
        if a < cuts[-1]:
            dist[-1] += fsum(map(sub, vals[a:], repeat(edges[-1], cuts[-1] - a)))

    def _combine(self, k: int, vmin: float, vmax: float, mean: float, m2: float) -> None:
        n = self._n
        if vmin < self._min:
            self._min = vmin
        if vmax > self._max:
            self._max = vmax
        if n == 0:
            self._n, self._mean, self._m2 = k, mean, m2
            return
        total = n + k
        delta = mean - self._mean
        self._mean += delta * k / total
        self._m2 += m2 + delta * delta * n * k / total
        self._n = total

    def merge(self, other: NumericSketch) -> NumericSketch:
        """Fold ``other`` into this sketch (same layout required) and return self."""
        if other.layout.layout_id != self.layout.layout_id:
            raise ValueError(f"cannot merge layouts {self.layout.layout_id!r} and "
                             f"{other.layout.layout_id!r}: merge sketches of the same layout")
        self.flush()
        other.flush()
        for i, c in enumerate(other._counts):
            self._counts[i] += c
        self.nan += other.nan
        self._inf += other._inf
        self.missing += other.missing
        self.type_mismatch += other.type_mismatch
        self._out_of_range += other._out_of_range
        if self._dist is not None and other._dist is not None:
            self._dist = list(map(operator.add, self._dist, other._dist))
        else:
            self._dist = None
        if other._n:
            self._combine(other._n, other._min, other._max, other._mean, other._m2)
        return self

    # -- queries -------------------------------------------------------
    def is_empty(self) -> bool:
        """True when no value (finite or not) was seen."""
        self.flush()
        return not (self._n or self.nan or self._inf or self.missing or self.type_mismatch)

    @property
    def variance(self) -> float:
        """Population variance of the finite values (0.0 when empty)."""
        self.flush()
        return self._m2 / self._n if self._n else 0.0

    def cdf_at_edges(self) -> list[float]:
        """Exact empirical CDF evaluated just below each layout edge."""
        self.flush()
        out, acc = [], 0
        total = self._n or 1
        for c in self._counts[:-1]:
            acc += c
            out.append(acc / total)
        return out

    def quantile_bounds(self, q: float) -> tuple[float, float]:
        """Interval certain to contain the ``q``-quantile (slot edges, clipped to min/max)."""
        self.flush()
        if not self._n:
            return (math.nan, math.nan)
        slot = self._slot_of_rank(q)
        return self._slot_range(slot)

    def quantile(self, q: float) -> float:
        """Quantile estimate, linear interpolation inside the slot that holds rank ``q``.

        The rank error is at most the mass of that slot (see docs/sdk.md). For a
        ``discrete`` feature (the spec gave one slot per value) it is the slot's value.
        """
        self.flush()
        if not self._n:
            return math.nan
        q = min(max(q, 0.0), 1.0)
        target = q * self._n
        acc = 0
        for slot, c in enumerate(self._counts):
            if c and acc + c >= target:
                lo, hi = self._slot_range(slot)
                if self.discrete:  # the slot holds a single value: its lower edge
                    return lo
                frac = (target - acc) / c
                return min(hi, max(lo, lo + (hi - lo) * frac))
            acc += c
        return self._max

    def _slot_of_rank(self, q: float) -> int:
        target = min(max(q, 0.0), 1.0) * self._n
        acc = 0
        for slot, c in enumerate(self._counts):
            acc += c
            if c and acc >= target:
                return slot
        return len(self._counts) - 1

    def _slot_range(self, slot: int) -> tuple[float, float]:
        edges = self.layout.edges
        lo = edges[slot - 1] if slot > 0 else self._min
        hi = edges[slot] if slot < len(edges) else self._max
        return (max(lo, self._min), min(hi, self._max))

    # -- equality / serialisation -----------------------------------------
    def _state(self) -> tuple:
        self.flush()
        return (self.layout.layout_id, tuple(self._counts), self._n, self.nan, self._inf,
                self.missing, self._min, self._max, self.type_mismatch, self._out_of_range)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumericSketch):
            return NotImplemented
        if self._state() != other._state():
            return False
        return (math.isclose(self._mean, other._mean, rel_tol=1e-9, abs_tol=1e-9)
                and math.isclose(self._m2, other._m2, rel_tol=1e-7, abs_tol=1e-6))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        self.flush()
        return (f"NumericSketch(layout={self.layout.layout_id!r}, n={self._n}, "
                f"min={self._min}, max={self._max}, mean={self._mean:.6g})")

    def to_msgpack(self) -> list:
        """Positional msgpack entry body, wire v2 (see docs/wire-format.md, "numeric entry")."""
        self.flush()
        return [NUMERIC_KIND, self.layout.layout_id, self._n, self.missing, self.nan, self._inf,
                self._min if self._n else 0.0, self._max if self._n else 0.0, self._mean, self._m2,
                pack_counts(self._counts), self.type_mismatch, self._out_of_range,
                self.slot_sums()]

    def slot_sums(self) -> bytes:
        """The v2 entry's slot sums: per region the byte ``k`` with the region's mean in
        ``[lo + w k / 256, lo + w (k + 1) / 256)`` (``lo``, ``w``: the region's lower edge and
        width), then the two tail distances as little-endian float32; ``b""`` when unknown.

        >>> s = NumericSketch(Layout.from_edges([0.0, 1.0, 2.0]))
        >>> for x in (-2.0, 0.25, 0.75, 1.25, 9.0):
        ...     s.update(x)
        >>> sums = s.slot_sums()
        >>> list(sums[:2]), struct.unpack("<2f", sums[2:])
        ([128, 64], (2.0, 7.0))
        """
        self.flush()
        dist = self._dist
        if dist is None:
            return b""
        edges, counts = self.layout.edges, self._counts
        pos = bytearray()
        for r, (first, last) in enumerate(self._regions, 1):
            c = sum(counts[first:last + 1])
            width = edges[last] - edges[first - 1]
            pos.append(min(255, max(0, int(dist[r] / (c * width) * 256.0))) if c else 0)
        try:
            return bytes(pos) + struct.pack("<2f", dist[0], dist[-1])
        except OverflowError:     # tails beyond float32 (values near +-1e38 and more)
            return b""

    @classmethod
    def from_msgpack(cls, entry: list, layout: Layout, path: str = "entry") -> NumericSketch:
        """Inverse of :meth:`to_msgpack` (``layout`` resolved by the caller from the id); a
        v1 entry (13 elements, no slot sums) too. Decoded slot sums are the middles of the
        quantisation steps (re-encoding gives the same bytes)."""
        if not isinstance(entry, list) or len(entry) not in (13, 14) or entry[0] != NUMERIC_KIND:
            raise WireError(path, "a numeric entry [0, layout, n, ...] of 13 (wire v1) or 14 "
                                  "(v2) elements")
        s = cls(layout)
        (_, _, s._n, s.missing, s.nan, s._inf, vmin, vmax, s._mean, s._m2, packed,
         s.type_mismatch, s._out_of_range) = entry[:13]
        s._counts = unpack_counts(packed, layout.slots, f"{path}.bins")
        if s._n:
            s._min, s._max = float(vmin), float(vmax)
        s._mean, s._m2 = float(s._mean), float(s._m2)
        sums = entry[13] if len(entry) == 14 else b""
        if not sums or not layout.edges or len(sums) != len(s._regions) + 8:
            s._dist = None
            return s
        edges, dist = layout.edges, [0.0] * (len(s._regions) + 2)
        for r, (first, last) in enumerate(s._regions, 1):
            c = sum(s._counts[first:last + 1])
            dist[r] = c * (edges[last] - edges[first - 1]) * (sums[r - 1] + 0.5) / 256.0
        dist[0], dist[-1] = struct.unpack("<2f", sums[-8:])
        s._dist = dist
        return s


def pack_counts(counts: list[int]) -> bytes:
    """Counts as ``[width byte] + little-endian unsigned ints`` of that width (1, 2 or 4).

    >>> pack_counts([1, 2, 300]).hex()
    '02010002002c01'
    >>> unpack_counts(pack_counts([1, 2, 300]), 3)
    [1, 2, 300]
    """
    top = max(counts) if counts else 0
    width = 1 if top < 0x100 else 2 if top < 0x10000 else 4
    return bytes((width,)) + b"".join(c.to_bytes(width, "little") for c in counts)


def unpack_counts(packed: bytes, slots: int | None, path: str = "bins") -> list[int]:
    """Inverse of :func:`pack_counts`, checking width and length (any length up to
    ``MAX_SLOTS`` when ``slots`` is None)."""
    if not isinstance(packed, (bytes, bytearray)) or not packed:
        raise WireError(path, "bin bytes: a width byte followed by the counts")
    width = packed[0]
    if width not in (1, 2, 4):
        raise WireError(path, "width byte 1, 2 or 4", got=str(width))
    if slots is None:
        slots = (len(packed) - 1) // width
        if not 1 <= slots <= MAX_SLOTS:
            raise WireError(path, f"between 1 and {MAX_SLOTS} slots", got=str(slots))
    if len(packed) != 1 + width * slots:
        raise WireError(path, f"{1 + width * slots} bytes for {slots} slots of width {width}",
                        got=f"{len(packed)} bytes")
    return [int.from_bytes(packed[1 + i * width:1 + (i + 1) * width], "little")
            for i in range(slots)]


def ks_interval(p_counts: list[int] | tuple[int, ...],
                q_counts: list[int] | tuple[int, ...]) -> tuple[float, float]:
    """Bounds on the two-sample Kolmogorov-Smirnov statistic from two histograms.

    Both histograms must share one layout. The lower bound is the largest CDF
    gap at the edges (exact there); inside a slot the empirical CDFs move by
    at most that slot's mass, which gives the upper bound.

    >>> ks_interval([10, 0, 0], [0, 0, 10])
    (1.0, 1.0)
    >>> lo, hi = ks_interval([5, 5], [5, 5])
    >>> lo, hi
    (0.0, 0.5)
    """
    np_, nq = sum(p_counts), sum(q_counts)
    if not np_ or not nq:
        return (0.0, 1.0)
    fp = fq = 0.0
    lower = 0.0
    upper = 0.0
    for cp, cq in zip(p_counts, q_counts, strict=True):
        gap = fp - fq
        mp, mq = cp / np_, cq / nq
        upper = max(upper, abs(gap + mp), abs(gap - mq))
        fp += mp
        fq += mq
        lower = max(lower, abs(fp - fq))
    return (lower, min(max(upper, lower), 1.0))
