"""A window's feature entries proven valid column by column: the gateway's fast path.

:func:`features_ok` is the :data:`edge_sdk.wire.FeaturesProof` the collector hands to
:func:`edge_sdk.wire.validate_window`: one transpose of all entries and one check per
column instead of ~20 named checks per entry. It only skips work: False (or any
exception) means "run the named checks", which decide and name the field, so what is
accepted or rejected does not change (tests/collector/test_window_proof.py holds it to
the named checks on valid and mutated windows). The sink proves whole chunks instead
(:mod:`collector.chunk_checks`).

>>> ok = ["x", 0, "e:q", 2, 0, 0, 0, 0.0, 1.0, 0.5, 0.5, bytes([1, 1, 1]), 0, 0]
>>> features_ok([ok, ["c", 1, 1, 0, 0, 0, 0, {"a": 1}]], 128, 2, 1)
True
>>> features_ok([ok, ok], 128, 2, 1), features_ok([ok[:3] + [3] + ok[4:]], 128, 3, 1)
(False, False)
>>> features_ok([ok + [b""]], 128, 2, 2), features_ok([ok], 128, 2, 2)
(True, False)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import chain
from operator import itemgetter
from operator import le as _le

from edge_sdk.layout import MAX_SLOTS
from edge_sdk.wire import (
    BUILTIN_SLOTS,
    MAX_UINT,
    PSEUDO_FEATURES,
    bin_total,
    sums_ok,
)

# (packed bins of one shape: same width byte and length, width) -> the total of each
BinSums = Callable[[list[bytes], int], list[int]]

_MAX_I32 = 2**31 - 1
_RESERVED = frozenset(PSEUDO_FEATURES)
_BUILTIN_IDS = frozenset(BUILTIN_SLOTS)
_INT_T, _STR_T, _BYTES_T, _LIST_T, _NUMBER_T = {int}, {str}, {bytes}, {list}, {float, int}
_ZERO = {0}
_first = itemgetter(0)


def features_ok(feats: list, max_name_len: int, records: int, version: int,
                bin_sums: BinSums | None = None) -> bool:
    """True if every feature entry of a window of ``version`` with ``records`` records is
    valid; ``bin_sums``: a vectorised stand-in for summing bins one by one."""
    try:
        return _features_ok(feats, max_name_len, records, version, bin_sums)
    except Exception:      # noqa: BLE001 - anything odd: let the named checks decide
        return False


def _features_ok(feats: list, max_name_len: int, records: int, version: int,
                 bin_sums: BinSums | None) -> bool:
    if not feats:
        return True
    if set(map(type, feats)) != _LIST_T:
        return False
    names = set(map(_first, feats))
    if len(names) != len(feats) or not names.isdisjoint(_RESERVED):
        return False                                    # names not unique, or reserved
    numeric_len = 13 + version                          # v2: the slot sums last
    nums = [e for e in feats if len(e) == numeric_len]
    if len(nums) != len(feats):
        cats = [e for e in feats if len(e) != numeric_len]
        if not _categoricals_ok(cats, max_name_len, records):
            return False
    return not nums or _numerics_ok(nums, max_name_len, bin_sums, records, version)


def _numerics_ok(nums: list[list], max_name_len: int, bin_sums: BinSums | None,
                 records: int, version: int) -> bool:
    """The numeric entries ``[name, 0, layout, n, missing, nan, inf, min, max, mean, m2,
    bins, type_mismatch, out_of_range(, sums)]``, one column at a time."""
    name, kind, lay, n, missing, nan, inf, vmin, vmax, mean, m2, packed, mm, oor, *rest = \
        zip(*nums, strict=True)
    if set(map(type, name + lay)) != _STR_T or set(kind) != _ZERO:
        return False
    ints = kind + n + missing + nan + inf + mm + oor
    if set(map(type, ints)) != _INT_T or min(ints) < 0 or max(ints) > MAX_UINT:
        return False
    if not all(name) or max(map(len, name)) > max_name_len or not all(lay) \
            or max(map(len, lay)) > 32:
        return False
    floats = vmin + vmax + mean + m2
    try:
        if not set(map(type, floats)) <= _NUMBER_T or not math.isfinite(sum(floats)):
            return False     # a finite sum means no inf/nan among them
    except OverflowError:    # an int too large for a float: the named checks name it
        return False
    if not all(map(_le, vmin, vmax)) \
            and any(c and a > b for a, b, c in zip(vmin, vmax, n, strict=True)):
        return False
    if not all(map(_le, oor, n)) \
            or max(map(sum, zip(n, missing, nan, inf, mm, strict=True))) > records:
        return False     # out of range beyond n, or more values than the window's records
    if 0 in n and any(not c and (a or b) for a, b, c in zip(vmin, vmax, n, strict=True)):
        return False     # an empty histogram with a min or max
    if set(map(type, packed)) != _BYTES_T:
        return False
    builtin = _BUILTIN_IDS.intersection(lay)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, p in enumerate(packed):
        groups.setdefault((len(p), p[0]), []).append(i)
    for (length, width), rows in groups.items():
        if width not in (1, 2, 4) or (length - 1) % width \
                or not 1 <= (length - 1) // width <= MAX_SLOTS:
            return False
        slots = (length - 1) // width
        if builtin and any(BUILTIN_SLOTS[b] != slots
                           for b in builtin.intersection(map(lay.__getitem__, rows))):
            return False        # a built-in layout id with another slot count
        if len(rows) < 4 or bin_sums is None:
            totals = [bin_total(packed[i]) for i in rows]
        else:
            totals = bin_sums([packed[i] for i in rows], width)
        if totals != [n[i] for i in rows] or max(totals) > _MAX_I32:
            return False        # (a total above 2^31: the named checks look at each count)
        if version >= 2 and not all(sums_ok(rest[0][i], slots) for i in rows):
            return False        # the slot sums: none, or a byte per region + 2 tails
    return True


def _categoricals_ok(cats: list[list], max_name_len: int, records: int) -> bool:
    """The categorical entries ``[name, 1, n, missing, type_mismatch, unseen, other,
    counts]``, one column at a time."""
    if set(map(len, cats)) != {8}:
        return False
    name, kind, n, missing, mismatch, unseen, other, counts = zip(*cats, strict=True)
    ints = kind + n + missing + mismatch + unseen + other
    if set(map(type, name)) != _STR_T or not all(name) or max(map(len, name)) > max_name_len \
            or set(kind) != {1} or set(map(type, ints)) != _INT_T or min(ints) < 0 \
            or max(ints) > MAX_UINT or set(map(type, counts)) != {dict}:
        return False
    keys = list(chain.from_iterable(counts))
    if keys:
        values = list(chain.from_iterable(map(dict.values, counts)))
        if set(map(type, keys)) != _STR_T or max(map(len, keys)) > 64 \
                or set(map(type, values)) != _INT_T or min(values) < 0 or max(values) > MAX_UINT:
            return False
    if not all(map(_le, unseen, n)) \
            or max(map(sum, zip(n, missing, mismatch, strict=True))) > records:
        return False
    return list(map(sum, map(dict.values, counts))) == \
        [a - b for a, b in zip(n, other, strict=True)]
