"""Column-wise proofs that a chunk of decoded windows is valid, without a per-window walk.

The sink decodes each window with msgpack (explicit limits) and leaves the
schema checks to the chunk: :class:`collector.row_builder.RowBuilder` gathers
the fields of ~512 windows into columns and proves here, one vectorised check
per column, everything :func:`edge_sdk.wire.validate_window` and
:func:`collector.row_builder.check_window` would check window by window (types,
ranges, lengths, finiteness, bin totals, uniqueness). Each check either passes
or raises :class:`Unproven`; then the builder runs the exact per-window checks,
which decide and name the field. So a check here may be stricter than the wire
schema (e.g. category counts below 2^40), never looser: a proof is only used to
skip work, never to accept something the per-window checks would refuse.

>>> need_strs(("kws", "vad"), 128)
>>> uint_array((1, 2, 3)).to_pylist()
[1, 2, 3]
>>> uint_array((1, -2))
Traceback (most recent call last):
...
collector.chunk_checks.Unproven: not all unsigned integers
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from edge_sdk.wire import MAX_UINT

_INT, _DICT = {int}, {dict}
_NUMBERS = {float, int}
_NONE = type(None)
_NULL, _STRING, _INT64 = pa.null(), pa.string(), pa.int64()
# Count values summed as float64 by bincount stay exact below 2^53: with at most 4,096
# values per sum, values below 2^40 keep every total exact.
SAFE_COUNT = 2**40


class Unproven(Exception):
    """A column check failed (or could not be made): validate window by window instead."""


def need(condition: Any, what: str = "a chunk check") -> None:
    """Raise :class:`Unproven` unless ``condition`` holds."""
    if not condition:
        raise Unproven(what)


def need_strs(values: Sequence[Any], max_len: int, allow_empty: bool = False,
              optional: bool = False) -> None:
    """Every value a str of at most ``max_len`` characters (non-empty unless allowed);
    ``optional`` also lets None through (a missing optional key)."""
    if values:
        str_array(values, max_len, allow_empty, optional)


def str_array(values: Sequence[Any], max_len: int, allow_empty: bool = False,
              optional: bool = False) -> pa.Array:
    """:func:`need_strs` that returns the Arrow string array (one conversion does both:
    type inference yields ``string`` only when every value is a str). Lengths are checked
    in UTF-8 bytes, which bound the characters from above (stricter, never looser).

    >>> str_array(["a", "bc"], 4).to_pylist()
    ['a', 'bc']
    >>> str_array(["a", b"b"], 4)
    Traceback (most recent call last):
    ...
    collector.chunk_checks.Unproven: not all strings
    """
    arr = pa.array(values)
    if arr.type == _NULL and optional:
        return pa.nulls(len(arr), pa.string())
    need(arr.type == _STRING and (optional or arr.null_count == 0), "not all strings")
    if len(arr):
        lo, hi = pc.min_max(pc.binary_length(arr)).values()
        if hi.is_valid:
            need(hi.as_py() <= max_len and (allow_empty or lo.as_py() > 0), "string lengths")
    return arr


def uint_array(values: Sequence[Any], top: int = MAX_UINT) -> pa.Array:
    """Every value an int in 0..``top`` (the wire's bound for counts by default), as an
    Arrow int64 array (inference yields int64 only for ints: a bool raises, a float makes
    it double, 2^63 overflows).

    >>> uint_array((3, 4)).to_pylist()
    [3, 4]
    >>> uint_array((3, 4.0))
    Traceback (most recent call last):
    ...
    collector.chunk_checks.Unproven: not all unsigned integers
    """
    if not values:
        return pa.array((), _INT64)
    arr = pa.array(values)
    need(arr.type == _INT64 and arr.null_count == 0, "not all unsigned integers")
    values_np = arr.to_numpy()
    need(values_np.min() >= 0 and values_np.max() <= top, "not all unsigned integers")
    return arr


def need_numbers(*columns: Sequence[Any]) -> None:
    """Every value of every column a float or an int (bools refused): one pass."""
    need(set(map(type, chain(*columns))) <= _NUMBERS, "not all numbers")


def need_dicts(values: Sequence[Any], max_len: int, optional: bool = True) -> list[dict]:
    """Every value a map of at most ``max_len`` entries (or None); returns the maps."""
    types = set(map(type, values))
    if optional:
        types.discard(_NONE)
    need(types <= _DICT, "not all maps")
    maps = [v for v in values if v is not None] if optional else list(values)
    if maps:
        need(max(map(len, maps)) <= max_len, "map sizes")
    return maps


def need_tag_maps(tags: Sequence[Any]) -> None:
    """``tg``: at most 16 tags, names non-empty str <= 64, values str <= 64."""
    maps = need_dicts(tags, 16)
    if maps:
        need_strs(list(chain.from_iterable(maps)), 64)
        need_strs(list(chain.from_iterable(map(dict.values, maps))), 64, allow_empty=True)


def need_counter_maps(maps_or_none: Sequence[Any]) -> None:
    """``q``/``hl``: at most 32 counters, names non-empty str <= 16, values unsigned except
    the signed clock skew ``sk`` (|value| <= the wire's MAX_UINT)."""
    maps = need_dicts(maps_or_none, 32)
    if not maps:
        return
    keys = list(chain.from_iterable(maps))
    need_strs(keys, 16)
    values = list(chain.from_iterable(map(dict.values, maps)))
    if not values:
        return
    need(set(map(type, values)) == _INT, "counter values")
    arr = np.array(values, np.int64)
    need(arr.max() <= MAX_UINT, "counter values")
    negative = np.flatnonzero(arr < 0)
    need(all(keys[j] == "sk" and arr[j] >= -MAX_UINT for j in negative.tolist()),
         "negative counters")


def need_unique_per_window(window_of_row: np.ndarray, codes: np.ndarray) -> None:
    """No two rows of one window share a code (feature names unique within a window)."""
    if len(codes) < 2:
        return
    span = int(codes.max()) + 1
    key = window_of_row.astype(np.int64) * span + codes
    if (int(window_of_row.max()) + 1) * span <= 1 << 22:     # a small table: count in place
        need(np.bincount(key).max() <= 1, "duplicate names in a window")
    else:
        need(np.unique(key).size == key.size, "duplicate names in a window")


def sums_per_owner(owner: np.ndarray, values: np.ndarray, owners: int) -> np.ndarray:
    """Exact int64 sums of ``values`` (each below :data:`SAFE_COUNT`) per owner index."""
    if values.size:
        need(values.max() < SAFE_COUNT, "counts too large for the fast sum")
    return np.bincount(owner, weights=values, minlength=owners).astype(np.int64)


__all__ = ["Unproven", "need", "need_strs", "str_array", "uint_array", "need_numbers", "need_dicts",
           "need_tag_maps", "need_counter_maps", "need_unique_per_window", "sums_per_owner",
           "SAFE_COUNT"]
