"""A batch's sketch sums: its feature and category rows summed as the sink writes them.

A roll-up (analytics/rollups.py) merges every window of an evaluation window. Reading
each window's feature rows back from Parquet costs more CPU than the sink spent writing
them (~17 us a window for the 64 bin columns alone), so the sink adds what it already
holds in memory: per batch and (model, date) partition, the rows summed per

* ``feature_sums``: (version, start, tags, feature, kind, layout), with the row count
  as ``windows``, counts, minimum, maximum, ``sum_x`` (n * mean), ``sum_x2``
  (m2 + n * mean^2), the 64 bins and the slot sums;
* ``category_sums``: (version, start, tags, feature, category) -> count.

"Start" is the window start floored to the grain (``[sink] sums_grain_s``, recorded in
each row as ``grain_s``), so any evaluation window that is a multiple of the grain is a
union of these groups and merges them exactly as it merges the rows (sums, minima,
maxima; floating-point sums up to rounding). A coarser grain reduces more (a fleet whose
groups hold few windows per minute: many segments, few devices); the default is the
analysis's default window, an hour. Null
follows SQL: a sum over only nulls is null. The sums are written in the same batch as
the rows, before its ``windows`` files (collector/parquet_files.py), so they exist for
exactly the batches whose windows do.

:class:`PartitionSums` takes each chunk of a partition once its proofs passed (its
windows' groups are numbered as they come) and sums all of them at the end, in one pass
per table part. With the C accelerator built, ``collector._sinkfast`` does the three
steps that cost: ``group_rows`` numbers the rows' keys (window group, feature, layout
...; :func:`group_rows_py` in numpy), ``group_add`` adds the value columns into their
groups (:func:`add_py`), and the C path's chunks hand their value columns over as numpy
views (``Numbers``), not converted one by one. Tests hold every pair equal, and the sums
equal to DuckDB's ``GROUP BY`` over the rows.

>>> import pyarrow as pa
>>> from collector.fake_windows import make_window_body
>>> from collector.row_builder import RowBuilder
>>> from edge_sdk.wire import decode_window
>>> b = RowBuilder(sums=True)          # (grain: an hour)
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

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import schema
from .columns_c import native
from .sink_config import SUMS_GRAIN_S

log = logging.getLogger(__name__)
# group_add's operations (SUM_NX: n * x, SUM_NXX: a + n * x^2, from (x, n[, a]) values)
SUM_I32, SUM_I64, SUM_F64, MIN_F64, MAX_F64, SUM_NX, SUM_NXX = range(7)
_FEATURE_INTS = ("n", "missing", "nan", "inf", "type_mismatch", "out_of_range", "unseen",
                 "other")
_SLOT_INTS = (*schema.SUM_COLUMNS[:-3], "sums_n")
# output column -> operation, in FEATURE_SUMS order (bins: SUM_I64 cells from int32 rows)
_FEATURE_OPS: dict[str, int] = {
    **dict.fromkeys(_FEATURE_INTS, SUM_I64), "min": MIN_F64, "max": MAX_F64,
    "sum_x": SUM_F64, "sum_x2": SUM_F64, **dict.fromkeys(schema.BIN_COLUMNS, SUM_I64),
    **dict.fromkeys(schema.SUM_COLUMNS[:-3], SUM_I64), "tail_lo": SUM_F64,
    "tail_hi": SUM_F64, "sums_n": SUM_I64}
_CATEGORY_OPS = {"count": SUM_I64}
# op, the values of each chunk (None: every row null), each chunk's validity (None: no nulls)
# (SUM_NX, SUM_NXX: the values a tuple of such lists, x, n and a)
Column = tuple[int, "list[np.ndarray] | tuple[list[np.ndarray], ...] | None",
               "list[np.ndarray] | None"]
# a value column's chunks and their validity (as :func:`_values` returns them)
_Values = tuple["list[np.ndarray] | None", "list[np.ndarray] | None"]
# a chunk's value columns as numpy views by name (no nulls; a column absent: all null)
Numbers = dict[str, np.ndarray]
GroupAdd = Any


def add_py(groups: np.ndarray, columns: Sequence[tuple[int, Any, np.ndarray]]) -> None:
    """``group_add`` in numpy: add each column's rows (an array, or a list of arrays one
    after another) into its group's cell of ``acc``."""
    for op, values, acc in columns:
        if op in (SUM_NX, SUM_NXX):
            x, n, *a = (np.concatenate(v) if isinstance(v, list) else np.asarray(v)
                        for v in values)
            np.add.at(acc.view(np.float64), groups, n * x if op == SUM_NX else a[0] + n * x * x)
            continue
        v = np.concatenate(values) if isinstance(values, list) else np.asarray(values)
        if op in (SUM_I32, SUM_I64):
            np.add.at(acc.view(np.int64), groups, v.astype(np.int64))
        elif op == SUM_F64:
            np.add.at(acc.view(np.float64), groups, v)
        else:
            (np.minimum if op == MIN_F64 else np.maximum).at(acc.view(np.float64), groups, v)


def add_c(groups: np.ndarray, columns: Sequence[tuple[int, Any, np.ndarray]]) -> None:
    """``collector._sinkfast.group_add`` (ImportError when it is not built)."""
    if native is None:
        raise ImportError("collector._sinkfast is not built (pip install needs a C compiler)")
    native.group_add(groups, columns)


_ADDERS: list[GroupAdd] = [add_c if native is not None else add_py]


def use_adder(adder: GroupAdd) -> GroupAdd:
    """Set the grouped adding (``add_c`` or ``add_py``; tests compare them); returns the one
    it replaces."""
    old, _ADDERS[0] = _ADDERS[0], adder
    return old


def group_rows_py(lead: np.ndarray, texts: Sequence[pa.Array]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's group of (``lead``, each text column's value: a string, or a map of
    strings, its entries in order; null its own key), numbered in order of first
    appearance, and each group's first row: ``group_rows`` in numpy."""
    if not len(lead):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    codes = [np.asarray(lead, np.int64)]
    for text in texts:
        if pa.types.is_map(text.type):          # (no Arrow kernel encodes maps)
            seen: dict[Any, int] = {}
            codes.append(np.array([seen.setdefault(None if v is None else tuple(v), len(seen))
                                   for v in text.to_pylist()], np.int64))
            continue
        enc = pc.dictionary_encode(text, null_encoding="encode")
        codes.append(enc.indices.to_numpy(zero_copy_only=False).astype(np.int64))
    _, first, inverse = np.unique(np.stack(codes, axis=1), axis=0, return_index=True,
                                  return_inverse=True)
    order = np.argsort(first)                     # groups in order of first appearance
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank[inverse.reshape(-1)], first[order].astype(np.int64)


def group_rows_c(lead: np.ndarray, texts: Sequence[pa.Array]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`group_rows_py` by ``collector._sinkfast.group_rows`` (ImportError when it is
    not built)."""
    if native is None:
        raise ImportError("collector._sinkfast is not built (pip install needs a C compiler)")
    columns: list[tuple] = []
    for text in texts:
        nulls = text.is_null().to_numpy(zero_copy_only=False).view(np.uint8) \
            if text.null_count else None
        if pa.types.is_map(text.type):          # keys and values: lists of strings a row
            lists = np.asarray(text.offsets, np.int32)
            columns += [(*_string_buffers(child), nulls, lists)
                        for child in (text.keys, text.items)]
        else:
            columns.append((*_string_buffers(text), nulls))
    ids, first = native.group_rows(np.ascontiguousarray(lead, np.int64), columns)
    return np.frombuffer(ids, np.int64), np.frombuffer(first, np.int64)


def _string_buffers(text: pa.Array) -> tuple[np.ndarray, Any]:
    """A string array's offsets (its own ``len + 1``) and data."""
    _, offsets, data = text.buffers()
    return (np.frombuffer(offsets, np.int32, len(text) + 1, text.offset * 4),
            b"" if data is None else data)


_GROUPERS: list[Any] = [group_rows_c if native is not None else group_rows_py]


def use_grouper(grouper: Any) -> Any:
    """Set the row grouping (``group_rows_c`` or ``group_rows_py``; tests compare them);
    returns the one it replaces."""
    old, _GROUPERS[0] = _GROUPERS[0], grouper
    return old


def _one_array(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column as one array (the groupers take one)."""
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def _rebased(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column as one array without an offset (a map's ``keys`` and ``items`` are its
    children whole, so its offsets must index them from the start)."""
    arr = _one_array(column)
    return arr if arr.offset == 0 else pa.concat_arrays([arr])


class _Accumulator:
    """Per-group cells of named columns, for ``size`` groups numbered 0 .. size - 1."""

    def __init__(self, ops: dict[str, int], size: int) -> None:
        self.ops, self.size = ops, size
        self.rows = np.zeros(size, np.int64)
        # the cells in two blocks (a row per column), null counts in a third
        int_rows = [n for n, op in ops.items() if op in (SUM_I32, SUM_I64)]
        float_rows = [n for n, op in ops.items() if op not in (SUM_I32, SUM_I64)]
        ints = np.zeros((len(int_rows), size), np.int64)
        floats = np.empty((len(float_rows), size), np.float64)
        floats[:] = np.array([np.inf if ops[n] == MIN_F64 else -np.inf if ops[n] == MAX_F64
                              else 0.0 for n in float_rows])[:, None]
        nulls = np.zeros((len(ops), size), np.int64)
        self.cells = {**{n: ints[i] for i, n in enumerate(int_rows)},
                      **{n: floats[i] for i, n in enumerate(float_rows)}}
        self.nulls = {n: nulls[i] for i, n in enumerate(ops)}

    def add(self, groups: np.ndarray, columns: dict[str, Column]) -> None:
        """Add rows (``groups``: each row's group) of ``columns``."""
        counts = np.bincount(groups, minlength=self.size)
        self.rows += counts
        work: list[tuple[int, Any, np.ndarray]] = []
        for name, (op, values, valid) in columns.items():
            if values is None:                         # every row null
                self.nulls[name] += counts
                continue
            if isinstance(values, list) and not values:    # known zeros: nothing to add
                continue
            work.append((op, values, self.cells[name]))
            if valid is not None:
                work.append((SUM_I32, [(~v).astype(np.int32) for v in valid], self.nulls[name]))
        _ADDERS[0](groups, work)

    def columns(self) -> dict[str, pa.Array]:
        return {name: pa.array(self.cells[name], mask=self.nulls[name] == self.rows)
                for name in self.ops}


class PartitionSums:
    """The sketch sums of one (model, date) partition of a batch: chunks taken as they are
    built, summed once at the end (:meth:`tables`).

    >>> sums = PartitionSums(grain_s=600)
    >>> sums.window_groups([("d", "1.0", 1, 60_000, 120_000, "i", {"fw": "2"}),
    ...                     ("e", "1.0", 1, 540_000, 600_000, "i", {"fw": "2"}),
    ...                     ("d", "1.0", 2, 600_000, 660_000, "i", {"fw": "2"})]).tolist()
    [0, 0, 1]
    >>> [t.num_rows for t in sums.tables()]
    [0, 0]
    """

    def __init__(self, grain_s: int = SUMS_GRAIN_S) -> None:
        self._grain_s, self._grain_ms = grain_s, grain_s * 1000
        self._windows: dict[tuple, int] = {}
        self._window_keys: list[tuple[str, int, Any]] = []    # (version, start ms, tags)
        self._pending_features: dict[str, list[tuple[pa.Table, np.ndarray,
                                                      Numbers | None]]] = {}
        self._pending_categories: list[tuple[pa.Table, np.ndarray]] = []

    def window_groups(self, ident: Sequence[tuple], windows: pa.Table | None = None
                      ) -> np.ndarray:
        """Each window's group of (version, start floored to the grain, tags: the same in
        any order), from a chunk's identity tuples ``(device, version, seq, start ms, end
        ms, ingest id, tags)`` or, when given and the C accelerator is there, from its
        ``windows`` table (the same windows in the same order): grouped there in C and
        only each of its few groups looked up here, where a loop over the tuples costs
        ~0.4 us a window in the sink (the tuples and tags dicts are out of the CPU cache
        by then)."""
        if windows is not None and windows.num_rows and _GROUPERS[0] is group_rows_c:
            start = _one_array(windows["window_start"])         # (timestamps: int64 ms)
            starts = np.frombuffer(start.buffers()[1], np.int64, len(start),
                                   start.offset * 8) // self._grain_ms
            version, tags = _one_array(windows["version"]), _rebased(windows["tags"])
            local, first = group_rows_c(starts, [version, tags])
            groups = []
            for f in first.tolist():                # (a group or a few: scalars)
                t = tags[f].as_py()
                groups.append(self._group(version[f].as_py(), int(starts[f]),
                                          None if t is None else dict(t)))
            return np.array(groups, np.int64)[local]
        return np.array([self._group(w[1], w[3] // self._grain_ms, w[6]) for w in ident],
                        np.int64)

    def _group(self, version: str, start: int, tags: dict | None) -> int:
        """The number of the window group (``start``: in grains)."""
        key = (version, start, None if tags is None else frozenset(tags.items()))
        gid = self._windows.get(key)
        if gid is None:
            gid = self._windows[key] = len(self._window_keys)
            self._window_keys.append((version, start * self._grain_ms, tags))
        return gid

    def add_chunk(self, ident: Sequence[tuple],
                  features: dict[str, tuple[pa.Table, np.ndarray, Numbers | None]],
                  categories: tuple[pa.Table, np.ndarray] | None,
                  windows: pa.Table | None = None) -> None:
        """A chunk whose proofs passed: its identity tuples (and ``windows`` table), feature
        tables (by part: numeric, categorical) with their rows' windows and, when the C
        path built them, their value columns as numpy views (``Numbers``: read instead of
        converting each column), and category rows with their windows. Kept until
        :meth:`tables`, which sums all chunks at once: far fewer calls than per chunk."""
        wgroup = self.window_groups(ident, windows)
        for part, (rows, owner, numbers) in features.items():
            if rows.num_rows:
                self._pending_features.setdefault(part, []).append(
                    (rows, wgroup[owner], numbers))
        if categories is not None and categories[0].num_rows:
            self._pending_categories.append((categories[0], wgroup[categories[1]]))

    def tables(self) -> tuple[pa.Table, pa.Table]:
        """``(feature_sums, category_sums)`` of every chunk added."""
        # numeric and categorical parts apart: their columns are null in one, not the
        # other, and a column null in some chunks only needs a validity pass; grouped
        # together, by (window group, kind, feature, layout)
        parts = [(pa.concat_tables([t for t, _, _ in p]), np.concatenate([w for _, w, _ in p]),
                  [n for _, _, n in p]) for p in self._pending_features.values() if p]
        self._pending_features.clear()
        kinds = np.concatenate([np.zeros(0, np.int8), *(
            np.concatenate(_values(rows["kind"], 0)[0] or [np.zeros(0, np.int8)])
            for rows, _, _ in parts)])
        fwrow = np.concatenate([np.zeros(0, np.int64), *(w for _, w, _ in parts)])
        names = [_one_array(pa.chunked_array([c for rows, _, _ in parts for c in rows[col].chunks],
                                        pa.string())) for col in ("feature", "layout")]
        ids, first = _GROUPERS[0]((fwrow << 8) | (kinds.astype(np.int64) & 0xff), names)
        features = _Accumulator(_FEATURE_OPS, len(first))
        at = 0
        for rows, _, numbers in parts:
            part = slice(at, at + rows.num_rows)
            categorical = rows.num_rows > 0 and bool((kinds[part] == 1).all())
            features.add(ids[part], _feature_columns(
                _numbers_reader(numbers) or _table_reader(rows), categorical))
            at += rows.num_rows
        feature_keys = {"feature": names[0].take(first), "kind": pa.array(kinds[first]),
                        "layout": names[1].take(first)}

        pending = self._pending_categories
        crows = pa.concat_tables([t for t, _ in pending]) if pending else None
        wrow = np.concatenate([w for _, w in pending]) if pending else np.zeros(0, np.int64)
        self._pending_categories = []
        texts = [_one_array(crows[col]) if crows is not None else pa.array([], pa.string())
                 for col in ("feature", "category")]
        ids_c, first_c = _GROUPERS[0](wrow, texts)
        categories = _Accumulator(_CATEGORY_OPS, len(first_c))
        if crows is not None:
            categories.add(ids_c, {"count": (SUM_I64, *_values(crows["count"], 0))})
        category_keys = {"feature": texts[0].take(first_c), "category": texts[1].take(first_c)}
        return (self._table(schema.FEATURE_SUMS, fwrow[first], feature_keys, features),
                self._table(schema.CATEGORY_SUMS, wrow[first_c], category_keys, categories))

    def _table(self, sch: pa.Schema, wgroups: np.ndarray, keys: dict[str, pa.Array],
               acc: _Accumulator) -> pa.Table:
        """One sums table: each group's window key (from its window group), ``keys``, and
        the sums."""
        win = [self._window_keys[g] for g in wgroups.tolist()]
        cols: dict[str, Any] = {
            "version": pa.array([w[0] for w in win], pa.string()),
            "window_start": pa.array([w[1] for w in win], pa.int64()).cast(
                sch.field("window_start").type),
            "grain_s": pa.array(np.full(len(win), self._grain_s, np.int32)),
            "tags": pa.array([w[2] for w in win], sch.field("tags").type),
            **keys, "windows": pa.array(acc.rows, pa.int64()), **acc.columns()}
        return pa.Table.from_pydict({f.name: cols[f.name] for f in sch}, schema=sch)


Reader = Callable[[str, Any], _Values]


def _table_reader(rows: pa.Table) -> Reader:
    """A value column's chunks and validity, from the rows' Arrow table."""
    return lambda name, fill: _values(rows[name], fill)


def _numbers_reader(numbers: list[Numbers | None]) -> Reader | None:
    """A value column's chunks from each chunk's numpy views (None unless every chunk has
    them); a column they lack is null in every row."""
    if not numbers or any(n is None for n in numbers):
        return None
    chunks: list[Numbers] = numbers            # type: ignore[assignment]
    return lambda name, fill: (([c[name] for c in chunks], None) if name in chunks[0]
                               else (None, None))


def _feature_columns(values: Reader, categorical: bool) -> dict[str, Column]:
    """The sums' input columns of some feature rows, each read by ``values(name, fill)``;
    ``categorical``: every row is one (its bins are 0, by the schema: nothing to add)."""
    cols: dict[str, Column] = {name: (SUM_I64, *values(name, 0)) for name in _FEATURE_INTS}
    cols["min"] = (MIN_F64, *values("min", np.inf))
    cols["max"] = (MAX_F64, *values("max", -np.inf))
    n, _ = values("n", 0)
    mean, mean_valid = values("mean", 0.0)
    m2, _ = values("m2", 0.0)
    if mean is None or n is None or m2 is None:
        cols["sum_x"] = cols["sum_x2"] = (SUM_F64, None, None)
    else:                                    # (the products are taken as they are added)
        cols["sum_x"] = (SUM_NX, (mean, n), mean_valid)
        cols["sum_x2"] = (SUM_NXX, (mean, n, m2), mean_valid)
    for name in schema.BIN_COLUMNS:
        if categorical:
            cols[name] = (SUM_I64, [], None)
            continue
        bins, valid = values(name, 0)
        int32 = bins is not None and all(v.dtype == np.int32 for v in bins)
        cols[name] = (SUM_I32 if int32 else SUM_I64, bins if int32 or bins is None
                      else [v.astype(np.int64) for v in bins], valid)
    for name in _SLOT_INTS:
        cols[name] = (SUM_I64, *values(name, 0))
    for name in ("tail_lo", "tail_hi"):
        cols[name] = (SUM_F64, *values(name, 0.0))
    return cols


# -- plumbing ---------------------------------------------------------------------------
def _values(column: pa.ChunkedArray | pa.Array, fill: Any
            ) -> tuple[list[np.ndarray] | None, list[np.ndarray] | None]:
    """A column's chunks as numpy with nulls replaced by ``fill``, and their validity (None:
    no nulls); ``(None, None)`` when every value is null."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    if all(c.null_count == len(c) for c in chunks):
        return None, None
    values, valid = [], []
    for c in chunks:
        if c.null_count:
            valid.append(c.is_valid().to_numpy(zero_copy_only=False))
            c = c.fill_null(fill)
        else:
            valid.append(None)
        values.append(c.to_numpy(zero_copy_only=False))
    if all(v is None for v in valid):
        return values, None
    return values, [np.ones(len(x), bool) if v is None else v
                    for x, v in zip(values, valid, strict=True)]


__all__ = ["PartitionSums", "add_c", "add_py", "group_rows_c", "group_rows_py", "use_adder",
           "use_grouper"]
