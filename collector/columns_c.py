"""Chunk columns by the C accelerator ``collector._sinkfast`` (built by setup.py when a C
compiler is there): the adapter from its buffers to Arrow arrays, no copy.

Every function here answers what its ``*_py`` twin in :mod:`collector.columns_py`
answers (tests/collector/test_sinkfast.py holds them equal); :mod:`collector.columns`
picks one of the two. :data:`native` is None when the module is not built, and each
function then raises ImportError.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pyarrow as pa

from edge_sdk.wire import BUILTIN_SLOTS, DEFAULT_LIMITS, WireLimits

from . import schema
from .columns_py import CategoricalColumns, LabelColumns, NumericColumns

native: Any
try:    # optional C accelerator (setup.py; needs a C compiler)
    native = importlib.import_module(f"{__package__}._sinkfast")
except ImportError:
    native = None

_I32, _I64, _F64, _STRING = pa.int32(), pa.int64(), pa.float64(), pa.string()
# the window sketches split_numeric packs as rows (bits of its ``packed``), by row name
PACKED_NAMES = (schema.PREDICTION, schema.LATENCY, schema.ENERGY)


def split_numeric(data: bytes | memoryview, limits: WireLimits = DEFAULT_LIMITS) -> tuple | None:
    """``_sinkfast.split_numeric`` on a window body: ``(rest, rows, count, f_count, packed,
    cats, cat_count, labels, version)`` with the numeric entries checked and packed, or
    None when the window must be decoded whole (unusual shape, other limits, too big)."""
    if type(data) not in (bytes, memoryview) or len(data) > limits.max_window_bytes \
            or not (limits is DEFAULT_LIMITS or limits == DEFAULT_LIMITS):   # (C: the defaults)
        return None
    return _built().split_numeric(data, limits.max_name_len, BUILTIN_SLOTS, PACKED_NAMES)


def numeric_columns_c(nums: list, limits: WireLimits = DEFAULT_LIMITS,
                      check: bool = True) -> NumericColumns | None:
    """:func:`numeric_columns` by ``collector._sinkfast`` (raises ImportError if it is
    not built): Arrow arrays over the buffers it fills, no copy."""
    out = _built().numeric_columns(nums, check, limits.max_name_len, BUILTIN_SLOTS)
    if out is None:
        return None
    ints, floats, name_off, name_data, lay_off, lay_data, bins, order, sum_ints, tails = out
    rows = len(name_off) // 4 - 1
    slots = _buffer_columns(sum_ints, _I64, rows)      # pos0 .. pos7, sums_n
    tail = _buffer_columns(tails, _F64, rows)
    return (None if order is None else np.frombuffer(order, np.int64),
            _string_array(name_off, name_data), _string_array(lay_off, lay_data),
            _buffer_columns(ints, _I64, rows), _buffer_columns(floats, _F64, rows),
            _buffer_columns(bins, _I32, rows),
            ColumnBlock([*slots[:-1], *tail, slots[-1]],
                        [*slots.numpy[:-1], *tail.numpy, slots.numpy[-1]]))


def categorical_columns_c(cats: list, limits: WireLimits = DEFAULT_LIMITS,
                          check: bool = True) -> CategoricalColumns | None:
    """:func:`categorical_columns` by ``collector._sinkfast`` (ImportError if not built)."""
    out = _built().categorical_columns(cats, check, limits.max_name_len)
    if out is None:
        return None
    ints, name_off, name_data, cat_entry, cat_off, cat_data, cat_counts = out
    rows, ncat = len(name_off) // 4 - 1, len(cat_off) // 4 - 1
    return (_string_array(name_off, name_data), _buffer_columns(ints, _I64, rows),
            np.frombuffer(cat_entry, np.int32), _string_array(cat_off, cat_data),
            pa.Array.from_buffers(_I64, ncat, [None, pa.py_buffer(cat_counts)]))


def label_columns_c(sets: list, limits: WireLimits = DEFAULT_LIMITS,
                    check: bool = True) -> LabelColumns | None:
    """:func:`label_columns` by ``collector._sinkfast`` (ImportError if not built)."""
    out = _built().label_columns(sets, check, limits.max_str_len)
    if out is None:
        return None
    ints, cell_src, pred_off, pred_data, actual_off, actual_data, counts = out
    n = len(cell_src) // 4
    n_, mm_, _, good = np.frombuffer(ints, np.int64).reshape(4, len(sets)).tolist() \
        if sets else ([], [], [], [])
    return ((n_, mm_, good), np.frombuffer(cell_src, np.int32),
            _string_array(pred_off, pred_data), _string_array(actual_off, actual_data),
            pa.Array.from_buffers(_I64, n, [None, pa.py_buffer(counts)]))


def _built() -> Any:
    """The C accelerator, or ImportError if it is not built."""
    if native is None:
        raise ImportError("collector._sinkfast is not built (pip install needs a C compiler)")
    return native


def _string_array(offsets: bytearray, data: bytearray) -> pa.Array:
    """An Arrow string array over int32 offsets and UTF-8 data filled by the C path."""
    return pa.Array.from_buffers(_STRING, len(offsets) // 4 - 1,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


class ColumnBlock(list):     # type: ignore[type-arg]
    """Arrow arrays (the list) over columns of the buffers the C path fills, and the same
    columns as numpy views (``numpy``): what the sketch sums read (collector/sketch_sums.py)
    without converting each array (~2 us a call, 87 columns a chunk).

    >>> b = _buffer_columns(bytearray(np.arange(6, dtype=np.int64).tobytes()), _I64, 3)
    >>> [a.to_pylist() for a in b], [v.tolist() for v in b.numpy]
    ([[0, 1, 2], [3, 4, 5]], [[0, 1, 2], [3, 4, 5]])
    """

    def __init__(self, arrays: list[pa.Array], numpy: list[np.ndarray]) -> None:
        super().__init__(arrays)
        self.numpy = numpy


def _buffer_columns(data: bytearray, dtype: pa.DataType, rows: int) -> ColumnBlock:
    """Arrow arrays over consecutive ``rows``-long columns of one buffer (no copy)."""
    buf = pa.py_buffer(data)
    ncols = len(data) // (rows * dtype.byte_width) if rows else 0
    views = np.frombuffer(data, dtype.to_pandas_dtype(), ncols * rows).reshape(ncols, rows)
    return ColumnBlock([pa.Array.from_buffers(dtype, rows, [None, buf], offset=j * rows)
                        for j in range(ncols)], list(views))
