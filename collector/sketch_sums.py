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
per table part, keyed by value across chunks. The adding is
``collector._sinkfast.group_add`` when the C accelerator is built, else :func:`add_py`
(numpy); tests hold both equal to DuckDB's ``GROUP BY`` over the rows.

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
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import schema
from .columns_c import native
from .sink_config import SUMS_GRAIN_S

log = logging.getLogger(__name__)
SUM_I32, SUM_I64, SUM_F64, MIN_F64, MAX_F64 = range(5)      # group_add's operations
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
# bits of each key column's global code in the packed int64 group keys (per partition)
_WINDOW_BITS, _FEATURE_BITS, _KIND_BITS, _LAYOUT_BITS, _CATEGORY_BITS = 24, 18, 2, 12, 21
# op, the values of each chunk (None: every row null), each chunk's validity (None: no nulls)
Column = tuple[int, "list[np.ndarray] | None", "list[np.ndarray] | None"]
GroupAdd = Any


def add_py(groups: np.ndarray, columns: Sequence[tuple[int, Any, np.ndarray]]) -> None:
    """``group_add`` in numpy: add each column's rows (an array, or a list of arrays one
    after another) into its group's cell of ``acc``."""
    for op, values, acc in columns:
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


class SumsOverflow(Exception):
    """A batch partition with more distinct keys than the sums' key bits hold (then it is
    written without sums, and roll-ups read its rows)."""


class _Labels:
    """Global codes of one key column's values (per partition): a lookup in the values
    seen so far (``index_in``: ~half the cost of hashing each chunk anew, after learning
    the first chunk's), and for a column holding new values, each chunk's own dictionary
    mapped to global codes."""

    def __init__(self, bits: int) -> None:
        self.bits, self.codes, self.values = bits, {}, []   # type: ignore[var-annotated]
        self._known: pa.Array | None = None     # self.values as an array (None: stale)

    def of(self, column: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Each row's global code."""
        if not self.values and isinstance(column, pa.ChunkedArray) and column.num_chunks > 1:
            self._learn(column.chunk(0))      # the values a chunk has: mostly all there are
        if self.values:
            if self._known is None:
                self._known = pa.array(self.values, column.type)
            idx = pc.index_in(column, value_set=self._known, skip_nulls=False)
            if not idx.null_count:                # every value known (nulls included)
                return idx.to_numpy().astype(np.int64)
        self._known = None
        return self._learn(column)

    def _learn(self, column: pa.ChunkedArray | pa.Array) -> np.ndarray:
        if isinstance(column, pa.ChunkedArray):
            if column.num_chunks != 1:
                return np.concatenate([self._learn(c) for c in column.chunks] or
                                      [np.zeros(0, np.int64)])
            column = column.chunk(0)
        enc = pc.dictionary_encode(column)
        local = enc.dictionary.to_pylist()
        idx = enc.indices
        if idx.null_count:
            local.append(None)
            idx = idx.fill_null(len(local) - 1)
        mapping = np.empty(len(local), np.int64)
        for i, value in enumerate(local):
            code = self.codes.get(value)
            if code is None:
                code = self.codes[value] = len(self.values)
                self.values.append(value)
            mapping[i] = code
        if len(self.values) > 1 << self.bits:
            raise SumsOverflow(f"more than {1 << self.bits} distinct values of a key column")
        return mapping[idx.to_numpy(zero_copy_only=False)]


class _Accumulator:
    """Per-group cells of named columns, grown as groups appear. A group is a key packed
    into an int64 from global codes of ``bits`` bits each (window group first)."""

    def __init__(self, ops: dict[str, int], bits: tuple[int, ...]) -> None:
        self.ops, self.bits = ops, bits
        self.known = np.zeros(0, np.int64)       # packed keys, sorted
        self.known_ids = np.zeros(0, np.int64)   # their group numbers
        self.packed: list[np.ndarray] = []       # packed keys in group-number order
        self.size = 0
        self.rows = np.zeros(0, np.int64)
        # the cells in two blocks (a row per column: grown with two copies, not one per
        # column), null counts in a third
        self._int_rows = [n for n, op in ops.items() if op in (SUM_I32, SUM_I64)]
        self._float_rows = [n for n, op in ops.items() if op not in (SUM_I32, SUM_I64)]
        self._float_init = np.array([np.inf if ops[n] == MIN_F64 else -np.inf
                                     if ops[n] == MAX_F64 else 0.0 for n in self._float_rows])
        self._ints = np.zeros((len(self._int_rows), 0), np.int64)
        self._floats = np.zeros((len(self._float_rows), 0), np.float64)
        self._nulls = np.zeros((len(ops), 0), np.int64)
        self._views()

    def _views(self) -> None:
        self.cells = {**{n: self._ints[i] for i, n in enumerate(self._int_rows)},
                      **{n: self._floats[i] for i, n in enumerate(self._float_rows)}}
        self.nulls = {n: self._nulls[i] for i, n in enumerate(self.ops)}

    def ids(self, codes: list[np.ndarray]) -> np.ndarray:
        """Each row's group, from per-row global codes (one array per key column)."""
        key = np.zeros(len(codes[0]), np.int64)
        for c, bits in zip(reversed(codes), reversed(self.bits), strict=True):
            if len(c) and (int(c.max()) >= 1 << bits or int(c.min()) < 0):
                raise SumsOverflow(f"a key code outside 0 .. 2^{bits} - 1")
            key = (key << bits) | c     # (the window group lowest: Arrow's hash needs the
            #                              varying bits low, else it slows ~20x)
        enc = pc.dictionary_encode(pa.array(key))
        unique = enc.dictionary.to_numpy(zero_copy_only=False)
        inverse = enc.indices.to_numpy(zero_copy_only=False)
        pos = np.searchsorted(self.known, unique)
        hit = pos < len(self.known)
        hit[hit] = self.known[pos[hit]] == unique[hit]
        ids = np.empty(len(unique), np.int64)
        ids[hit] = self.known_ids[pos[hit]]
        fresh = unique[~hit]
        if len(fresh):
            new_ids = np.arange(self.size, self.size + len(fresh))
            ids[~hit] = new_ids
            self.packed.append(fresh)
            self.size += len(fresh)
            order = np.argsort(fresh)                 # merged in: the known keys stay sorted
            at = np.searchsorted(self.known, fresh[order])
            self.known = np.insert(self.known, at, fresh[order])
            self.known_ids = np.insert(self.known_ids, at, new_ids[order])
            self._grow(self.size)
        return ids[inverse]

    def keys(self) -> list[np.ndarray]:
        """Each group's codes per key column, in group-number order."""
        packed = np.concatenate(self.packed) if self.packed else np.zeros(0, np.int64)
        out = []
        for bits in self.bits:
            out.append(packed & ((1 << bits) - 1))
            packed = packed >> bits
        return out

    def _grow(self, size: int) -> None:
        have = len(self.rows)
        if size <= have:
            return
        new = size if not have else max(size, 2 * have)   # (one call per part: exact)
        self.rows = np.concatenate([self.rows, np.zeros(new - have, np.int64)])
        ints = np.zeros((len(self._int_rows), new), np.int64)
        ints[:, :have] = self._ints
        floats = np.empty((len(self._float_rows), new), np.float64)
        floats[:, :have] = self._floats
        floats[:, have:] = self._float_init[:, None]
        nulls = np.zeros((len(self.ops), new), np.int64)
        nulls[:, :have] = self._nulls
        self._ints, self._floats, self._nulls = ints, floats, nulls
        self._views()

    def add(self, groups: np.ndarray, columns: dict[str, Column]) -> None:
        """Add one chunk's rows (``groups``: each row's group) of ``columns``."""
        counts = np.bincount(groups, minlength=len(self.rows))
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
        size = self.size
        rows = self.rows[:size]
        return {name: pa.array(self.cells[name][:size], mask=self.nulls[name][:size] == rows)
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
        self._names = _Labels(_FEATURE_BITS)
        self._layouts, self._kinds = _Labels(_LAYOUT_BITS), _Labels(_KIND_BITS)
        self._kinds.values = list(range(1 << _KIND_BITS))       # a kind is its own code
        self._category_values = _Labels(_CATEGORY_BITS)
        self._features = _Accumulator(_FEATURE_OPS, (_WINDOW_BITS, _FEATURE_BITS,
                                                     _KIND_BITS, _LAYOUT_BITS))
        self._categories = _Accumulator(_CATEGORY_OPS, (_WINDOW_BITS, _FEATURE_BITS,
                                                        _CATEGORY_BITS))
        self._pending_features: dict[str, list[tuple[pa.Table, np.ndarray]]] = {}
        self._pending_categories: list[tuple[pa.Table, np.ndarray]] = []
        self._overflowed = False

    def window_groups(self, ident: Sequence[tuple]) -> np.ndarray:
        """Each window's group of (version, start floored to the grain, tags), from a
        chunk's identity tuples ``(device, version, seq, start ms, end ms, ingest id,
        tags)``. (A loop: 0.2-0.4 us a window, cheaper than Arrow kernels on a chunk's few
        hundred windows; a window like the one before costs a comparison.)"""
        seen, keys, grain = self._windows, self._window_keys, self._grain_ms
        known = seen.get
        out: list[int] = []
        append = out.append
        last: tuple = ()                 # (version, start, tags, group) of the window before
        for w in ident:
            version, start, tags = w[1], w[3] // grain, w[6]
            if last and last[0] == version and last[1] == start and last[2] == tags:
                append(last[3])          # (a run of one group: no key built)
                continue
            # (the same tags in any order: one group, as dict equality above has it)
            key = (version, start, None if tags is None else frozenset(tags.items()))
            gid = known(key)
            if gid is None:
                gid = seen[key] = len(keys)
                keys.append((version, start * grain, tags))
            append(gid)
            last = (version, start, tags, gid)
        return np.array(out, np.int64)

    def add_chunk(self, ident: Sequence[tuple], features: dict[str, tuple[pa.Table, np.ndarray]],
                  categories: tuple[pa.Table, np.ndarray] | None) -> None:
        """A chunk whose proofs passed: its identity tuples, feature tables (by part:
        numeric, categorical) and category rows, each with its rows' windows (kept until
        :meth:`tables`, which sums all chunks at once: far fewer calls than per chunk)."""
        wgroup = self.window_groups(ident)
        for part, (rows, owner) in features.items():
            if rows.num_rows:
                self._pending_features.setdefault(part, []).append((rows, wgroup[owner]))
        if categories is not None and categories[0].num_rows:
            self._pending_categories.append((categories[0], wgroup[categories[1]]))

    def _add_features(self, rows: pa.Table, wrow: np.ndarray) -> None:
        """Feature rows (``wrow``: each row's window group)."""
        kinds = np.concatenate(_values(rows["kind"], 0)[0] or [np.zeros(0, np.int8)])
        kind = kinds.astype(np.int64)            # (0 numeric, 1 categorical: its own code)
        groups = self._features.ids([wrow, self._names.of(rows["feature"]), kind,
                                     self._layouts.of(rows["layout"])])
        cols: dict[str, Column] = {name: (SUM_I64, *_values(rows[name], 0))
                                   for name in _FEATURE_INTS}
        cols["min"] = (MIN_F64, *_values(rows["min"], np.inf))
        cols["max"] = (MAX_F64, *_values(rows["max"], -np.inf))
        n, _ = _values(rows["n"], 0)
        mean, mean_valid = _values(rows["mean"], 0.0)
        m2, _ = _values(rows["m2"], 0.0)
        if mean is None or n is None or m2 is None:
            cols["sum_x"] = cols["sum_x2"] = (SUM_F64, None, None)
        else:
            nf = [c.astype(np.float64) for c in n]
            cols["sum_x"] = (SUM_F64, [a * b for a, b in zip(nf, mean, strict=True)],
                             mean_valid)
            cols["sum_x2"] = (SUM_F64, [c + a * b * b for a, b, c in zip(nf, mean, m2,
                                                                        strict=True)],
                              mean_valid)
        categorical = bool(len(kind)) and bool((kind == 1).all())
        for name in schema.BIN_COLUMNS:
            if categorical:                    # a categorical row's bins are 0 (schema)
                cols[name] = (SUM_I64, [], None)
                continue
            values, valid = _values(rows[name], 0)
            int32 = values is not None and all(v.dtype == np.int32 for v in values)
            cols[name] = (SUM_I32 if int32 else SUM_I64, values if int32 or values is None
                          else [v.astype(np.int64) for v in values], valid)
        for name in _SLOT_INTS:
            cols[name] = (SUM_I64, *_values(rows[name], 0))
        for name in ("tail_lo", "tail_hi"):
            cols[name] = (SUM_F64, *_values(rows[name], 0.0))
        self._features.add(groups, cols)

    def _add_categories(self, rows: pa.Table, wrow: np.ndarray) -> None:
        """Category rows (``wrow``: each row's window group)."""
        groups = self._categories.ids([wrow, self._names.of(rows["feature"]),
                                       self._category_values.of(rows["category"])])
        self._categories.add(groups, {"count": (SUM_I64, *_values(rows["count"], 0))})

    def tables(self) -> tuple[pa.Table, pa.Table] | None:
        """``(feature_sums, category_sums)`` of every chunk added; None when a key column
        overflowed its bits (:class:`SumsOverflow`: the partition then goes without)."""
        if self._overflowed:
            return None
        try:
            # numeric and categorical parts apart: their columns are null in one, not the
            # other, and a column null in some chunks only needs a validity pass
            parts = [*self._pending_features.values(), self._pending_categories]
            adds = [self._add_features] * len(self._pending_features) + [self._add_categories]
            for pending, add in zip(parts, adds, strict=True):
                if pending:
                    add(pa.concat_tables([t for t, _ in pending]),
                        np.concatenate([w for _, w in pending]))
                    pending.clear()
        except SumsOverflow as exc:
            log.warning("a batch partition is written without sketch sums (%s): roll-ups "
                        "read its rows", exc)
            self._overflowed = True
            return None
        return self._tables()

    def _tables(self) -> tuple[pa.Table, pa.Table]:
        keys = self._window_keys
        windows = {
            "version": pa.array([w[0] for w in keys], pa.string()),
            "window_start": pa.array([w[1] for w in keys], pa.int64()).cast(
                schema.FEATURE_SUMS.field("window_start").type),
            "grain_s": pa.array([self._grain_s] * len(keys), pa.int32()),
            "tags": pa.array([w[2] for w in keys], schema.FEATURE_SUMS.field("tags").type)}
        out = []
        for acc, sch, labels in ((self._features, schema.FEATURE_SUMS,
                                  (("feature", self._names), ("kind", self._kinds),
                                   ("layout", self._layouts))),
                                 (self._categories, schema.CATEGORY_SUMS,
                                  (("feature", self._names),
                                   ("category", self._category_values)))):
            codes = acc.keys()
            win = pa.array(codes[0])
            cols: dict[str, Any] = {
                "version": windows["version"].take(win),
                "window_start": windows["window_start"].take(win),
                "grain_s": windows["grain_s"].take(win),
                "tags": windows["tags"].take(win)}
            for (name, lab), c in zip(labels, codes[1:], strict=True):
                cols[name] = pa.array(lab.values, sch.field(name).type).take(pa.array(c))
            cols["windows"] = pa.array(acc.rows[:acc.size], pa.int64())
            cols.update(acc.columns())
            out.append(pa.Table.from_pydict({f.name: cols[f.name] for f in sch}, schema=sch))
        return out[0], out[1]


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


__all__ = ["PartitionSums", "SumsOverflow", "add_c", "add_py", "use_adder"]
