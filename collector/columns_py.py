"""Chunk columns in pure Python: the reference the C accelerator is held equal to.

Each function turns a chunk's decoded entries (numeric feature entries, categorical
ones, classification label sets) into Arrow columns with one transpose, one Arrow
conversion and one vectorised proof per column (:mod:`collector.chunk_checks`). With
``check`` an entry that breaks a rule makes the answer None (as the C path answers);
:mod:`collector.columns` picks this module or :mod:`collector.columns_c`.

>>> from collector.fake_windows import make_window_body
>>> from edge_sdk.wire import decode_window
>>> cats = [e for e in decode_window(make_window_body("d", 1, records=5))["f"] if e[1] == 1]
>>> names, ints, entry_of, keys, values = categorical_columns_py(cats)
>>> names.to_pylist(), ints[0].to_pylist(), sum(values.to_pylist())
(['c0', 'c1', 'c2'], [5, 5, 5], 15)
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from itertools import chain
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from edge_sdk.wire import BUILTIN_SLOTS, DEFAULT_LIMITS, WireLimits

from . import schema
from .chunk_checks import need, need_numbers, str_array, sums_per_owner, uint_array
from .slot_sums import sums_columns, sums_of

_I32_MAX = 2**31 - 1
_NSLOTS = len(schema.BIN_COLUMNS)
_DTYPES: dict[int, np.dtype] = {1: np.dtype("<u1"), 2: np.dtype("<u2"), 4: np.dtype("<u4")}
_I32, _I64, _F64, _STRING = pa.int32(), pa.int64(), pa.float64(), pa.string()


# (order or None, names, layout ids, [n, missing, nan, inf, type_mismatch, out_of_range],
#  [min, max, mean, m2], the 64 bin columns, the slot-sum columns of schema.SUM_COLUMNS);
# None: an entry breaks a rule (check only)
NumericColumns = tuple[np.ndarray | None, pa.Array, pa.Array, list[pa.Array], list[pa.Array],
                       list[pa.Array], list[pa.Array]]

# (names, [n, missing, type_mismatch, unseen, other], the entry of each category, categories,
#  counts); None: an entry breaks a rule (check only)
CategoricalColumns = tuple[pa.Array, list[pa.Array], np.ndarray, pa.Array, pa.Array]

# ([n, mismatch, correct] per label set (ints), the set of each cell, predicted, actual,
#  count); None: a label set breaks a rule (check only)
LabelColumns = tuple[tuple[list[int], list[int], list[int]], np.ndarray, pa.Array, pa.Array,
                     pa.Array]


def bin_sums(packed: list[bytes], width: int) -> list[int]:
    """Count totals of packed bins of one shape (same width byte and length), vectorised;
    the :data:`collector.window_proof.BinSums` the sink's window proofs use.

    >>> bin_sums([bytes([2, 1, 0, 44, 1]), bytes([2, 0, 0, 7, 0])], 2)
    [301, 7]
    """
    length = len(packed[0])
    arr = np.ndarray((len(packed), (length - 1) // width), _DTYPES[width], b"".join(packed), 1,
                     (length, width))
    return np.add.reduce(arr, 1, np.uint64).tolist()


def numeric_columns_py(nums: list[list], limits: WireLimits = DEFAULT_LIMITS,
                       check: bool = True) -> NumericColumns | None:
    """:func:`numeric_columns` in Python: one transpose, one Arrow conversion and one
    vectorised proof per column (the reference the C accelerator is held equal to).
    ``nums``: lists of 14 items, or 15 (wire v2: the slot sums last; the caller proved
    that much)."""
    return _proven(_numeric_py, nums, limits, check)


def _numeric_py(nums: list[list], limits: WireLimits, check: bool) -> NumericColumns:
    shape = _bin_shapes([e[11] for e in nums], check)
    order = None
    if shape.size and not (shape[1:] >= shape[:-1]).all():
        order = np.argsort(shape, kind="stable")
        nums = [nums[i] for i in order.tolist()]
        shape = shape[order]
    # (zip stops at the 14 items of wire v1 if the entries are mixed)
    (name, kind, layout, n, missing, nan, inf, vmin, vmax, mean, m2, packed, type_mismatch,
     oor) = list(zip(*nums, strict=False))[:14] if nums else ((),) * 14
    sums = [sums_of(e, check) if len(e) == 15 else None for e in nums]
    if check:
        need(set(kind) <= {0} and set(map(type, kind)) <= {int}, "numeric kind")
        need_numbers(vmin, vmax, mean, m2)
    name_arr = _strings(name, limits.max_name_len, check)
    n_arr = _uints(n, check)
    layout_arr = _strings(layout, 32, check)
    ints = [n_arr, _uints(missing, check), _uints(nan, check), _uints(inf, check),
            _uints(type_mismatch, check), _uints(oor, check)]
    floats = [_finite(vmin, check), _finite(vmax, check), _finite(mean, check),
              _finite(m2, check)]
    bins = _unpack_bins(packed, shape, n_arr.to_numpy(), check)
    if check and nums:    # a built-in layout id names its slot count (shapes proven by now)
        slots = (shape // 8 - 1) // (shape % 8)
        for layout_id, want in BUILTIN_SLOTS.items():
            mask = pc.equal(layout_arr, layout_id).to_numpy(zero_copy_only=False)
            need((slots[mask] == want).all(), "built-in layout slots")
    bin_cols = _matrix_columns(bins)
    return order, name_arr, layout_arr, ints, floats, bin_cols, \
        sums_columns(sums, bin_cols, n_arr.to_numpy(), check)


def categorical_columns_py(cats: list, limits: WireLimits = DEFAULT_LIMITS,
                           check: bool = True) -> CategoricalColumns | None:
    """:func:`categorical_columns` in Python (the reference of the C path); ``cats``: lists
    of 8 items (the caller proved that much)."""
    return _proven(_categorical_py, cats, limits, check)


def _categorical_py(cats: list, limits: WireLimits, check: bool) -> CategoricalColumns:
    name, kind, n, missing, type_mismatch, unseen, other, counts = \
        zip(*cats, strict=False) if cats else ((),) * 8
    if check:
        need(set(kind) <= {1} and set(map(type, kind)) <= {int}, "categorical kind")
        need(set(map(type, counts)) <= {dict}, "category counts are maps")
    rows = len(cats)
    name_arr = _strings(name, limits.max_name_len, check)
    n_arr, other_arr = _uints(n, check), _uints(other, check)
    keys = tuple(chain.from_iterable(counts))
    values = _uints(tuple(chain.from_iterable(map(dict.values, counts))), check)
    per = np.fromiter(map(len, counts), np.int64, rows)
    entry_of = np.repeat(np.arange(rows, dtype=np.int32), per)
    missing_arr, mismatch_arr, unseen_arr = (_uints(missing, check), _uints(type_mismatch, check),
                                             _uints(unseen, check))
    if check:
        n_np = n_arr.to_numpy()
        need((sums_per_owner(entry_of, values.to_numpy(), rows) + other_arr.to_numpy()
              == n_np).all(), "category counts + other == n")
        need((unseen_arr.to_numpy() <= n_np).all(), "unseen <= n")
    key_arr = (_strings(keys, 64, check) if check and keys else pa.array(keys, _STRING))
    return (name_arr, [n_arr, missing_arr, mismatch_arr, unseen_arr, other_arr], entry_of,
            key_arr, values)


def label_columns_py(sets: list, limits: WireLimits = DEFAULT_LIMITS,
                     check: bool = True) -> LabelColumns | None:
    """:func:`label_columns` in Python (the reference of the C path)."""
    return _proven(_label_columns_py, sets, limits, check)


def _label_columns_py(sets: list, limits: WireLimits, check: bool) -> LabelColumns:
    if check:
        need(set(map(type, sets)) <= {list} and set(map(len, sets)) <= {5}, "label sets")
    _, n_, mm_, other_, cells_ = zip(*sets, strict=False) if sets else ((),) * 5
    n_arr, other_arr = _uints(n_, check).to_numpy(), _uints(other_, check).to_numpy()
    if check:
        uint_array(mm_)
        need(set(map(type, cells_)) <= {list}, "label cells")
    per = np.fromiter(map(len, cells_), np.int64, len(sets))
    flat = list(chain.from_iterable(cells_))
    owner = np.repeat(np.arange(len(sets), dtype=np.int32), per)
    sums = np.zeros(len(sets), np.int64)
    good = np.zeros(len(sets), np.int64)
    pred_arr = actual_arr = pa.array((), _STRING)
    c_arr = pa.array((), _I64)
    if flat:
        if check:
            need(set(map(type, flat)) == {list} and set(map(len, flat)) == {3}, "label cells")
        pred, actual, count = zip(*flat, strict=False)
        c_arr = _uints(count, check)
        counts = c_arr.to_numpy()
        if check:
            sums = sums_per_owner(owner, counts, len(sets))
        diag = np.fromiter(map(operator.eq, pred, actual), bool, len(flat))
        np.add.at(good, owner[diag], counts[diag])
        pred_arr = _strings(pred, limits.max_str_len, check)
        actual_arr = _strings(actual, limits.max_str_len, check)
    if check:
        need((sums + other_arr == n_arr).all(), "label cells + other == n")
    return (list(n_), list(mm_), good.tolist()), owner, pred_arr, actual_arr, c_arr


def _proven(build: Callable[[list, WireLimits, bool], Any], items: list, limits: WireLimits,
            check: bool) -> Any:
    """``build(items, limits, check)``; with ``check``, None instead of any failed or
    impossible proof (e.g. an int too large for a float), as the C path answers."""
    try:
        return build(items, limits, check)
    except Exception:   # noqa: BLE001 - any failed or impossible proof
        if not check:
            raise
        return None


def _uints(values: tuple, check: bool) -> pa.Array:
    return uint_array(values) if check else pa.array(values, _I64)


def _strings(values: tuple, max_len: int, check: bool) -> pa.Array:
    return str_array(values, max_len) if check else pa.array(values, _STRING)


def _finite(values: tuple, check: bool) -> pa.Array:
    """A float64 column; with ``check`` all finite (the types were checked by the caller)."""
    try:
        arr = pa.array(values, _F64)
    except pa.ArrowInvalid:      # an int beyond 2^53: numpy rounds it as float() does
        arr = pa.array(np.array(values, np.float64))
    if check:
        need(arr.null_count == 0 and np.isfinite(arr.to_numpy()).all(), "not all finite")
    return arr


def _matrix_columns(matrix: np.ndarray) -> list[pa.Array]:
    """The columns of a Fortran-ordered int32 matrix as Arrow arrays over its one buffer
    (no copy; ``pa.array`` per numpy column costs ~100x more).

    >>> [c.to_pylist() for c in _matrix_columns(np.asfortranarray([[1, 2], [3, 4]], np.int32))]
    [[1, 3], [2, 4]]
    """
    rows, ncols = matrix.shape
    buf = pa.py_buffer(matrix.reshape(-1, order="F"))
    return [pa.Array.from_buffers(_I32, rows, [None, buf], offset=j * rows) for j in range(ncols)]


def _bin_shapes(packed: list, check: bool) -> np.ndarray:
    """``length * 8 + width byte`` of each entry's bin bytes (the grouping key)."""
    if check:
        need(set(map(type, packed)) == {bytes}, "bins are bytes")
    lens = np.fromiter(map(len, packed), np.int64, len(packed))
    if check:
        need(lens.min() >= 2, "bin bytes")
    return lens * 8 + np.fromiter(map(operator.itemgetter(0), packed), np.int64, len(packed))


def _unpack_bins(packed: tuple, shape: np.ndarray, n: np.ndarray, check: bool) -> np.ndarray:
    """Bin bytes (sorted by shape) -> an int32 (rows, 64) matrix; with ``check`` also proves
    the shapes, that each row's counts sum to its ``n``, and that 4-byte counts fit int32."""
    rows = len(packed)
    out = np.zeros((rows, _NSLOTS), np.int32, order="F")
    bounds = np.flatnonzero(shape[1:] != shape[:-1]) + 1
    for a, b in zip([0, *bounds.tolist()], [*bounds.tolist(), rows], strict=True):
        code = int(shape[a])
        width, length = code % 8, code // 8
        if check:
            need(width in _DTYPES and (length - 1) % width == 0
                 and 1 <= (length - 1) // width <= _NSLOTS, "bin shape")
        slots = (length - 1) // width
        group = b"".join(packed[a:b])
        mat = np.ndarray((b - a, slots), _DTYPES[width], group, 1, (length, width))
        if check:
            need((mat.sum(1, dtype=np.uint64) == n[a:b].astype(np.uint64)).all(), "bin totals")
            if width == 4:
                need(mat.max() <= _I32_MAX, "4-byte counts fit int32")
        out[a:b, :slots] = mat
    return out
