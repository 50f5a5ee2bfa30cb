"""A chunk's sketch sums: its feature and category rows summed as the sink builds them.

A roll-up (analytics/rollups.py) merges every window of an evaluation window. Reading
each window's feature rows back from Parquet costs more CPU than the sink spent writing
them (~17 us a window for the 64 bin columns alone), so the sink adds what it already
holds in memory: per chunk, the rows summed per

* ``feature_sums``: (version, minute, tags, feature, kind, layout), with the row count
  as ``windows``, counts, minimum, maximum, ``sum_x`` (n * mean), ``sum_x2``
  (m2 + n * mean^2), the 64 bins and the slot sums;
* ``category_sums``: (version, minute, tags, feature, category) -> count.

"Minute" is the window start floored to :data:`collector.schema.SUMS_MINUTE_MS`, so any
evaluation window of whole minutes is a union of these groups and merges them exactly as
it merges the rows (sums, minima, maxima; floating-point sums up to rounding). Null
follows SQL: a sum over only nulls is null. The sums are written in the same batch as
the rows, before its ``windows`` files (collector/parquet_files.py), so they exist for
exactly the batches whose windows do.

The grouped reduction is ``collector._sinkfast.group_reduce`` when the C accelerator is
built, else :func:`reduce_py` (numpy); tests hold both equal to DuckDB's ``GROUP BY``.

>>> import pyarrow as pa
>>> from collector.fake_windows import make_window_body
>>> from collector.row_builder import RowBuilder
>>> from edge_sdk.wire import decode_window
>>> b = RowBuilder(sums=True)
>>> for device in ("dev-1", "dev-2"):      # two devices, one window each, the same minute
...     body = make_window_body(device, 7, records=20)
...     b.add(device + "/7", decode_window(body), received_at_ms=1, sent_at_s=2)
>>> t = next(iter(b.tables().values()))
>>> t["features"].num_rows, t["feature_sums"].num_rows
(52, 26)
>>> pa.compute.sum(t["feature_sums"]["windows"]).as_py()
52
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import schema
from .columns_c import native

SUM_I32, SUM_I64, SUM_F64, MIN_F64, MAX_F64 = range(5)      # group_reduce's operations
_INT_SUMS = ("n", "missing", "nan", "inf", "type_mismatch", "out_of_range", "unseen", "other",
             *schema.SUM_COLUMNS[:-3], "sums_n")
_FLOAT_SUMS = ("tail_lo", "tail_hi")
_MINUTE = schema.SUMS_MINUTE_MS
Reduced = tuple[np.ndarray, np.ndarray, list[np.ndarray]]
Spec = tuple[str, int, np.ndarray, "np.ndarray | None"]   # name, operation, values, validity


def window_groups(ident: Sequence[tuple], seen: dict[tuple, int] | None = None) -> np.ndarray:
    """Each window's group of (version, minute, tags), from the chunk's identity tuples
    ``(device, version, seq, start ms, end ms, ingest id, tags)``; ``seen`` keeps the
    numbering across the chunks of one partition.

    >>> window_groups([("a", "1", 0, 60_000, 0, "", {"fw": "2"}),
    ...                ("b", "1", 0, 61_000, 0, "", {"fw": "2"}),
    ...                ("c", "1", 0, 61_000, 0, "", None)]).tolist()
    [0, 0, 1]
    """
    seen = {} if seen is None else seen
    return np.fromiter(
        (seen.setdefault((i[1], i[3] // _MINUTE, tuple(sorted(i[6].items())) if i[6] else ()),
                         len(seen)) for i in ident), np.int64, len(ident))


def feature_sums(rows: pa.Table, owner: np.ndarray, wgroup: np.ndarray) -> pa.Table:
    """``rows`` (features, one part of a chunk; ``owner``: each row's window) summed per
    (window group ``wgroup[owner]``, feature, kind, layout), with the group as ``_group``
    (:func:`merge` sums chunks' sums and drops it)."""
    if not rows.num_rows:
        return _with_group(schema.FEATURE_SUMS).empty_table()
    group = wgroup[owner]
    n = _values(rows["n"], 0)[0].astype(np.float64)
    mean, mean_ok = _values(rows["mean"], 0.0)
    m2, _ = _values(rows["m2"], 0.0)
    specs: list[Spec] = [(name, SUM_I64, *_values(rows[name], 0)) for name in _INT_SUMS[:8]]
    specs += [("min", MIN_F64, *_values(rows["min"], np.inf)),
              ("max", MAX_F64, *_values(rows["max"], -np.inf)),
              ("sum_x", SUM_F64, n * mean, mean_ok),
              ("sum_x2", SUM_F64, m2 + n * mean * mean, mean_ok)]
    specs += _bins_and_slot_sums(rows)
    return _summed(rows, group, ("feature", "kind", "layout"), specs, None, schema.FEATURE_SUMS)


def category_sums(rows: pa.Table, owner: np.ndarray, wgroup: np.ndarray) -> pa.Table:
    """Category rows (``owner``: each row's window) summed per (window group, feature,
    category), with the group as ``_group``."""
    if not rows.num_rows:
        return _with_group(schema.CATEGORY_SUMS).empty_table()
    return _summed(rows, wgroup[owner], ("feature", "category"),
                   [("count", SUM_I64, *_values(rows["count"], 0))], None, schema.CATEGORY_SUMS)


def merge(tables: list[pa.Table]) -> pa.Table:
    """One partition's chunk sums (each with ``_group``) summed once more per key, without
    ``_group``: the batch's ``feature_sums`` or ``category_sums`` table."""
    rows = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    if len(tables) == 1 or not rows.num_rows:
        return rows.drop_columns(["_group"])
    group = rows["_group"].to_numpy()
    if "category" in rows.column_names:
        return _summed(rows, group, ("feature", "category"),
                       [("count", SUM_I64, *_values(rows["count"], 0))], "windows",
                       schema.CATEGORY_SUMS, keep_group=False)
    specs: list[Spec] = [(name, SUM_I64, *_values(rows[name], 0)) for name in _INT_SUMS[:8]]
    specs += [("min", MIN_F64, *_values(rows["min"], np.inf)),
              ("max", MAX_F64, *_values(rows["max"], -np.inf)),
              ("sum_x", SUM_F64, *_values(rows["sum_x"], 0.0)),
              ("sum_x2", SUM_F64, *_values(rows["sum_x2"], 0.0)),
              ("windows", SUM_I64, *_values(rows["windows"], 0))]
    specs += _bins_and_slot_sums(rows)
    return _summed(rows, group, ("feature", "kind", "layout"), specs, "windows",
                   schema.FEATURE_SUMS, keep_group=False)


def reduce_py(groups: np.ndarray, ngroups: int, columns: Sequence[tuple[int, Any]]) -> Reduced:
    """``group_reduce`` in numpy: each group's first row and row count, and per column
    (``(operation, values)``) its sums (int64 for the integer sums), minima or maxima."""
    rows = len(groups)
    first = np.full(ngroups, rows, np.int64)
    np.minimum.at(first, groups, np.arange(rows, dtype=np.int64))
    count = np.bincount(groups, minlength=ngroups).astype(np.int64)
    out: list[np.ndarray] = []
    for op, values in columns:
        v = np.asarray(values)
        if op in (SUM_I32, SUM_I64):
            acc = np.zeros(ngroups, np.int64)
            np.add.at(acc, groups, v.astype(np.int64))
        elif op == SUM_F64:
            acc = np.zeros(ngroups, np.float64)
            np.add.at(acc, groups, v)
        else:
            acc = np.full(ngroups, np.inf if op == MIN_F64 else -np.inf)
            (np.minimum if op == MIN_F64 else np.maximum).at(acc, groups, v)
        out.append(acc)
    return first, count, out


def reduce_c(groups: np.ndarray, ngroups: int, columns: Sequence[tuple[int, Any]]) -> Reduced:
    """``collector._sinkfast.group_reduce`` (ImportError when it is not built)."""
    if native is None:
        raise ImportError("collector._sinkfast is not built (pip install needs a C compiler)")
    first, count, cells = native.group_reduce(groups, ngroups, columns)
    flat = memoryview(cells)
    out = []
    for j, (op, _) in enumerate(columns):
        dtype = np.int64 if op in (SUM_I32, SUM_I64) else np.float64
        out.append(np.frombuffer(flat[j * ngroups * 8:(j + 1) * ngroups * 8], dtype))
    return np.frombuffer(first, np.int64), np.frombuffer(count, np.int64), out


_REDUCERS = [reduce_c if native is not None else reduce_py]


def use_reducer(reducer: Any) -> Any:
    """Set the grouped reduction (``reduce_c`` or ``reduce_py``; tests compare them);
    returns the one it replaces."""
    old, _REDUCERS[0] = _REDUCERS[0], reducer
    return old


# -- plumbing ---------------------------------------------------------------------------
def _summed(rows: pa.Table, group: np.ndarray, key: tuple[str, ...], specs: list[Spec],
            counted: str | None, out_schema: pa.Schema, keep_group: bool = True) -> pa.Table:
    """``rows`` reduced per (``group``, ``key`` columns): the key columns of each group's
    first row (window starts floored to the minute), the row count as ``windows`` (unless
    ``counted``: the column that already holds it is then summed) and ``specs``."""
    codes = [group] + [_codes(rows[k]) for k in key]
    groups, ngroups = _dense(_combine(*codes))
    first, count, cols = _reduce_with_nulls(groups, ngroups, specs)
    firsts = pa.array(first)
    out: dict[str, Any] = {name: rows[name].take(firsts)
                           for name in ("version", "tags", *key)}
    out["window_start"] = _minute(rows["window_start"].take(firsts))
    if counted is None and "windows" in out_schema.names:
        out["windows"] = pa.array(count, pa.int64())
    out.update(cols)
    fields = list(out_schema)
    if keep_group:
        fields.insert(0, pa.field("_group", pa.int64(), nullable=False))
        out["_group"] = pa.array(group[first], pa.int64())
    return pa.Table.from_pydict({f.name: out[f.name] for f in fields}, schema=pa.schema(fields))


def _bins_and_slot_sums(rows: pa.Table) -> list[Spec]:
    specs: list[Spec] = []
    for name in schema.BIN_COLUMNS:
        values = _values(rows[name], 0)[0]
        specs.append((name, SUM_I32 if values.dtype == np.int32 else SUM_I64, values, None))
    specs += [(name, SUM_I64, *_values(rows[name], 0)) for name in _INT_SUMS[8:-1]]
    specs += [(name, SUM_F64, *_values(rows[name], 0.0)) for name in _FLOAT_SUMS]
    specs.append(("sums_n", SUM_I64, *_values(rows["sums_n"], 0)))
    return specs


def _with_group(sch: pa.Schema) -> pa.Schema:
    return sch.insert(0, pa.field("_group", pa.int64(), nullable=False))


def _reduce_with_nulls(groups: np.ndarray, ngroups: int, specs: list[Spec]
                       ) -> tuple[np.ndarray, np.ndarray, dict[str, pa.Array]]:
    """Reduce ``specs`` (name, operation, values with nulls filled, validity or None); a
    column whose group held only nulls is null there, as SQL's ``SUM``/``MIN`` give."""
    columns: list[tuple[int, Any]] = []
    valid_at: dict[str, int] = {}
    for name, op, values, valid in specs:
        columns.append((op, np.ascontiguousarray(values)))
        if valid is not None:
            valid_at[name] = len(columns)
            columns.append((SUM_I32, valid.view(np.int8).astype(np.int32)))
    first, count, reduced = _REDUCERS[0](groups, ngroups, columns)
    out: dict[str, pa.Array] = {}
    j = 0
    for name, _op, _, valid in specs:
        values = reduced[j]
        mask = None if valid is None else reduced[valid_at[name]] == 0
        out[name] = pa.array(values, mask=mask)
        j += 1 if valid is None else 2
    return first, count, out


def _values(column: pa.ChunkedArray | pa.Array, fill: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """A column as numpy with nulls replaced by ``fill``, and its validity (None: no nulls)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if arr.null_count == 0:
        return arr.to_numpy(zero_copy_only=False), None
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    return arr.fill_null(fill).to_numpy(zero_copy_only=False), valid


def _codes(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Small integer codes of a column's values (null is its own code, 0)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_integer(arr.type) and arr.null_count == 0:
        values = arr.to_numpy(zero_copy_only=False).astype(np.int64)
        return values - values.min()
    idx = pc.dictionary_encode(arr).indices
    return idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64) + 1


def _combine(*codes: np.ndarray) -> np.ndarray:
    """One int64 key per row from several code columns (each code < its column's max + 1)."""
    key = codes[0].astype(np.int64)
    for c in codes[1:]:
        key = key * (int(c.max()) + 1) + c
    return key


def _dense(key: np.ndarray) -> tuple[np.ndarray, int]:
    """Group numbers 0 .. k-1 in order of first appearance, and k."""
    enc = pc.dictionary_encode(pa.array(key))
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(enc.dictionary)


def _minute(ts: pa.ChunkedArray | pa.Array) -> pa.Array:
    ms = pc.cast(ts, pa.int64()).to_numpy(zero_copy_only=False)
    return pa.array(ms // _MINUTE * _MINUTE, pa.int64()).cast(schema.FEATURE_SUMS.field(
        "window_start").type)


__all__ = ["category_sums", "feature_sums", "merge", "reduce_c", "reduce_py", "use_reducer",
           "window_groups"]
