"""The Arrow tables of one chunk of a partition, from the windows' fields gathered as they
came (:class:`Partition`), with every column proven on the way when ``check`` is set.

:func:`build` raises :class:`~collector.chunk_checks.Unproven` (or any error of an
impossible conversion) when a proof fails; :class:`collector.row_builder.RowBuilder`
then checks the chunk's windows one by one. The feature, category and label columns
come from :mod:`collector.columns` (C accelerator or the Python reference).
"""

from __future__ import annotations

import json
from itertools import compress
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from edge_sdk.wire import MAX_TIME_MS, PSEUDO_FEATURES, WireLimits, is_model_name

from . import schema
from .chunk_checks import (
    need,
    need_counter_maps,
    need_tag_maps,
    need_unique_per_window,
    str_array,
    uint_array,
)
from .columns import categorical_columns, label_columns, numeric_columns
from .columns_c import ColumnBlock
from .sketch_sums import PartitionSums

_MAX_INT64 = 2**63 - 1
_NSLOTS = len(schema.BIN_COLUMNS)
_PREDICTION, _LATENCY, _ENERGY = schema.PREDICTION, schema.LATENCY, schema.ENERGY
_RESERVED_NAMES = pa.array(PSEUDO_FEATURES)
NUM_FEATURES, CAT_FEATURES = "features/numeric", "features/categorical"
FEATURE_PARTS = (NUM_FEATURES, CAT_FEATURES)   # a chunk's parts of the features table
_I32, _I64, _F64, _STRING = pa.int32(), pa.int64(), pa.float64(), pa.string()
_COUNTERS = (("q", ("uf", "ut", "br")), ("hl", ("dp", "dc", "rj", "sb", "ie", "sk")))


class Partition:
    """The windows of one (model, date) partition of a chunk, as the wire's own objects."""

    def __init__(self) -> None:
        self.ident: list[tuple] = []       # device, version, seq, ws, we, ingest_id, tags
        self.win: list[tuple] = []         # mh, si, received ms, sent ms, n, q, hl, lb, sdk
        self.entries: list[list] = []      # feature entries: f's, then [pseudo name, *entry]
        self.entry_count: list[int] = []   # entries per window
        self.f_len: list[int] = []         # len(f) per window
        self.record_device: list[Any] = []  # the Kafka record's device id per window
        self.samples: list[tuple] = []     # (window index, row, values_json)
        self.sources: list[tuple] = []     # add() arguments, to re-check window by window
        self.splits: list[tuple] = []      # (window, numeric rows, count, categorical, count)
        self.unchecked = 0                 # windows not validated one by one


def append(p: Partition, source: tuple, fields: tuple) -> None:
    """Gather one window's fields into the partition's lists (no checks, no conversion)."""
    _, w, device_id, checked, ingest_id, received_at_ms, sent_at_s, split = source
    feats, pr, lt, en, lb = fields
    get = w.get
    i = len(p.ident)
    entries = p.entries
    entries += feats
    count = len(feats)
    if pr is not None:
        entries.append([_PREDICTION, *pr])
        count += 1
    if lt is not None:      # (None: packed by unpack_split, with pr and en if numeric)
        entries.append([_LATENCY, *lt])
        count += 1
    if en is not None:
        entries.append([_ENERGY, *en])
        count += 1
    if lb is not None and lb[0] == 3:      # regression: the error histogram is a feature row
        entries.append([schema.LABEL_ERROR, *lb[5]])
        count += 1
    p.entry_count.append(count)
    if split is None:
        p.f_len.append(len(feats))
    else:
        p.f_len.append(split.f_count)
        p.splits.append((i, split.rows, split.count, split.cats, split.cat_count))
    p.ident.append((get("d"), get("mv"), get("sq"), get("ws"), get("we"), ingest_id, get("tg")))
    if split is not None and split.labels is not None:
        lb = split.labels      # packed (gone from w): _labels reads it as a classification
    p.win.append((get("mh"), get("si"), received_at_ms, sent_at_s * 1000, get("n"),
                  get("q"), get("hl"), lb, get("sdk")))
    p.record_device.append(w.get("d") if device_id is None else device_id)
    p.sources.append(source)
    if not checked:
        p.unchecked += 1
    sm = w.get("sm")              # only windows checked one by one carry samples this far
    if sm and sm["r"]:
        cols = sm["c"]
        p.samples.extend((i, r, json.dumps(dict(zip(cols, row, strict=False)),
                                           separators=(",", ":"), allow_nan=False, default=str))
                         for r, row in enumerate(sm["r"]))


def _ts(values: Any) -> pa.Array:
    return pa.array(values, _I64).cast(schema._TS)


def build(p: Partition, model: str, limits: WireLimits, check: bool,
          sums: PartitionSums | None = None) -> dict[str, pa.Table]:
    """The chunk's tables; with ``check`` every column is proven first (else Unproven).
    Given ``sums`` (the partition's sketch sums, collector/sketch_sums.py), the chunk's
    feature and category rows are added to them once every proof passed."""
    dev, ver, seq, ws, we, ing, tags = zip(*p.ident, strict=True)
    mh, si, received, sent, n, q, hl, lbs, sdk = zip(*p.win, strict=True)
    name_len = limits.max_name_len
    if check:
        need(is_model_name(model), "model name")      # it names a directory
        need(dev == tuple(p.record_device), "window device ids equal the record keys")
        ws_arr, we_arr = uint_array(ws, MAX_TIME_MS), uint_array(we, MAX_TIME_MS)
        need((we_arr.to_numpy() >= ws_arr.to_numpy()).all(), "window end >= start")
        need_tag_maps(tags)
        need_counter_maps(q)
        need_counter_maps(hl)
        need(max(p.f_len) <= limits.max_features, "features per window")
        win_strs = [str_array(mh, 128, True, True), str_array(si, 64, True, True)]
        sdk_arr = str_array(sdk, 64, True, True)
        ident = [str_array(dev, name_len), str_array(ver, name_len),
                 uint_array(seq, _MAX_INT64).cast(pa.uint64()), ws_arr.cast(schema._TS),
                 we_arr.cast(schema._TS)]
        n_arr = uint_array(n)
    else:
        win_strs = [pa.array(mh, _STRING), pa.array(si, _STRING)]
        sdk_arr = pa.array(sdk, _STRING)
        ident = [pa.array(dev, _STRING), pa.array(ver, _STRING), pa.array(seq, pa.uint64()),
                 _ts(ws), _ts(we)]
        n_arr = pa.array(n, _I64)
    ident += [pa.array(ing, _STRING), pa.array(tags, schema.WINDOWS.field("tags").type)]
    out: dict[str, pa.Table] = {}
    label_cols, label_rows = _labels(lbs, limits, check)
    counters = {k: [m.get(k) if m is not None else None for m in maps]
                for maps, keys in ((q, _COUNTERS[0][1]), (hl, _COUNTERS[1][1])) for k in keys}
    wcols = ident + win_strs + [
        _ts(received), _ts(sent), n_arr,
        *(pa.array(counters[k], _I64) for k in _COUNTERS[0][1]),
        *label_cols,
        *(pa.array(counters[k], _I64) for k in _COUNTERS[1][1]),
        sdk_arr,
    ]
    out["windows"] = pa.Table.from_arrays(wcols, schema=schema.WINDOWS)
    owners: dict[str, np.ndarray] = {}
    views: dict[str, dict[str, np.ndarray]] = {}
    out.update(_features(p, ident, limits, check, n_arr.to_numpy(), owners, views))
    if label_rows is not None:
        win, pred, actual, count = label_rows
        out["labels"] = _with_ident(ident, win, schema.LABELS, [pred, actual, count])
    if p.samples:
        win, row, values = zip(*p.samples, strict=True)
        out["samples"] = _with_ident(ident, win, schema.SAMPLES, [
            pa.array(row, pa.int32()), pa.array(values, _STRING)])
    if sums is not None:                  # (every proof passed: added exactly once)
        sums.add_chunk(p.ident, {k: (out[k], owners[k], views.get(k)) for k in FEATURE_PARTS
                                 if k in out},
                       (out["categories"], owners["categories"]) if "categories" in out
                       else None, out["windows"])
    return out


def _with_ident(ident: list[pa.Array], win: Any, sch: pa.Schema, cols: list[pa.Array]) -> pa.Table:
    idx = pa.array(win, pa.int32())
    return pa.Table.from_arrays([a.take(idx) for a in ident] + cols, schema=sch)


def _labels(lbs: tuple, limits: WireLimits, check: bool) -> tuple[list[pa.Array], tuple | None]:
    """Window label columns and the label-cell rows ``(win, predicted, actual, count)``."""
    nw = len(lbs)
    task: list[str | None] = [None] * nw
    total: list[int | None] = [None] * nw
    correct: list[int | None] = [None] * nw
    mismatch: list[int | None] = [None] * nw
    abs_err: list[float | None] = [None] * nw
    sq_err: list[float | None] = [None] * nw
    rows = None
    # classification: a decoded [2, ...] or the packed labels of unpack_split (bytes)
    cls = [i for i, lb in enumerate(lbs) if lb is not None and (type(lb) is bytes or lb[0] == 2)]
    for i, lb in enumerate(lbs):        # regression labels were checked one by one
        if lb is not None and type(lb) is not bytes and lb[0] != 2:
            task[i], total[i], mismatch[i] = "regression", lb[1], lb[2]
            abs_err[i], sq_err[i] = float(lb[3]), float(lb[4])
    if cls:
        built = label_columns([lbs[i] for i in cls], limits, check)
        need(built is not None, "label cells")
        (n_, mm_, good), cell_of, pred, actual, counts = built     # type: ignore[misc]
        if len(counts):
            rows = (np.asarray(cls, np.int32)[cell_of], pred, actual, counts)
        for j, i in enumerate(cls):
            task[i], total[i], mismatch[i], correct[i] = "classification", n_[j], mm_[j], good[j]
    cols = [pa.array(task, _STRING), pa.array(total, _I64), pa.array(correct, _I64),
            pa.array(mismatch, _I64), pa.array(abs_err, _F64), pa.array(sq_err, _F64)]
    return cols, rows


def _features(p: Partition, ident: list[pa.Array], limits: WireLimits, check: bool,
              records: np.ndarray, owners: dict[str, np.ndarray],
              views: dict[str, dict[str, np.ndarray]]) -> dict[str, pa.Table]:
    """Numeric and categorical feature rows apart (a batch's features table lists all numeric
    rows, then all categorical ones, however it was chunked), and the category rows; the
    window of each table's rows goes into ``owners``, a table's value columns as numpy
    views (when the C path built them) into ``views``."""
    entries = p.entries
    if not entries and not p.splits:
        return {}
    owner = np.repeat(np.arange(len(p.entry_count), dtype=np.int32), p.entry_count)
    if check:
        need(set(map(type, entries)) <= {list}, "feature entries are arrays")
    lens = np.fromiter(map(len, entries), np.int64, len(entries))
    is_num = (lens == 14) | (lens == 15)       # wire v1 / v2 (with slot sums)
    if is_num.all():
        nums, cats, num_owner, cat_owner = entries, [], owner, owner[:0]
    else:
        if check:
            need((is_num | (lens == 8)).all(), "feature entry lengths")
        flags = is_num.tolist()
        nums = list(compress(entries, flags))
        cats = list(compress(entries, (~is_num).tolist()))
        num_owner, cat_owner = owner[is_num], owner[~is_num]
    out: dict[str, pa.Table] = {}
    names: list[pa.Array] = []
    split_rows = sum(count + cat_count for _, _, count, _, cat_count in p.splits)
    if p.splits:
        nums, num_owner = _with_splits(nums, num_owner, p.splits, 1, 2)
        cats, cat_owner = _with_splits(cats, cat_owner, p.splits, 3, 4)
    if nums:
        table, name_arr, num_owner, numbers = _numeric(nums, num_owner, ident, limits, check,
                                                       records)
        out[NUM_FEATURES] = table
        names.append(name_arr)
        owners[NUM_FEATURES] = num_owner
        if numbers is not None:
            views[NUM_FEATURES] = numbers
    if cats:
        table, name_arr, cat_table, cat_rows_owner = _categorical(
            cats, cat_owner, ident, limits, check, records)
        out[CAT_FEATURES] = table
        names.append(name_arr)
        owners[CAT_FEATURES] = cat_owner
        if cat_table is not None:
            out["categories"] = cat_table
            owners["categories"] = cat_rows_owner
    if check:    # feature names unique within a window (pseudo-feature names included)
        all_names = pa.concat_arrays(names)
        codes = all_names.dictionary_encode().indices.to_numpy()
        need_unique_per_window(np.concatenate([owners[k] for k in FEATURE_PARTS
                                               if k in owners]), codes)
        # the reserved names appear exactly as often as the pseudo-feature entries
        reserved = pc.sum(pc.is_in(all_names, value_set=_RESERVED_NAMES)).as_py() or 0
        need(reserved == len(entries) + split_rows - sum(p.f_len), "reserved feature names")
    return out


def _with_splits(nums: list, owner: np.ndarray, splits: list[tuple], rows_at: int,
                 count_at: int) -> tuple[list, np.ndarray]:
    """The numeric (or categorical) sources of a chunk in window order: each split window's
    packed rows (``splits[i][rows_at]``, ``splits[i][count_at]`` rows: its ``f`` entries
    first) before its decoded entries, as the entries of an unsplit window come; and the
    window index of every row."""
    own = owner.tolist()
    sources: list = []
    src_owner: list[int] = []
    src_rows: list[int] = []
    j, m = 0, len(nums)
    for split in splits:
        i, rows, count = split[0], split[rows_at], split[count_at]
        while j < m and own[j] < i:
            sources.append(nums[j])
            src_owner.append(own[j])
            src_rows.append(1)
            j += 1
        if not count:
            continue
        sources.append(rows)
        src_owner.append(i)
        src_rows.append(count)
    sources += nums[j:]
    src_owner += own[j:]
    src_rows += [1] * (m - j)
    return sources, np.repeat(np.asarray(src_owner, np.int32), src_rows)


def _numeric(nums: list[list], owner: np.ndarray, ident: list[pa.Array], limits: WireLimits,
             check: bool, records: np.ndarray
             ) -> tuple[pa.Table, pa.Array, np.ndarray, dict[str, np.ndarray] | None]:
    """Numeric feature rows, ordered by bin shape (so each shape's bins are one slice) and
    then by window; returns the table, its feature names, its rows' window indices and
    (C path) its value columns as numpy views by name.

    The columns come from the C accelerator when it is built, else from the pure-Python
    path (the same rows, proven by the same rules: see :func:`numeric_columns_py`)."""
    built = numeric_columns(nums, limits, check)
    need(built is not None, "numeric entries")
    order, name_arr, layout_arr, ints, floats, bins, sums = built    # type: ignore[misc]
    if order is not None:
        owner = owner[order]
    n_arr, counts = ints[0], ints[1:]
    mins, maxs = floats[0], floats[1]
    rows = len(owner)
    if check:    # the wire's bounds between counts (see edge_sdk.wire._sketch_entry)
        n_np, lo, hi = n_arr.to_numpy(), mins.to_numpy(), maxs.to_numpy()
        need(((lo <= hi) | (n_np == 0)).all(), "min <= max")
        need((counts[4].to_numpy() <= n_np).all(), "out_of_range <= n")
        need(((n_np > 0) | ((lo == 0) & (hi == 0))).all(), "min = max = 0 when n is 0")
        seen = n_np + sum(c.to_numpy() for c in counts[:4])
        label_error = pc.equal(name_arr, schema.LABEL_ERROR).to_numpy(zero_copy_only=False)
        need(((seen <= records[owner]) | label_error).all(), "counts <= the window's records")
    cols = [name_arr, pa.array(np.zeros(rows, np.int8)), layout_arr,
            n_arr, *counts, pa.nulls(rows, _I64),
            pa.nulls(rows, _I64), *floats, *bins, *sums]
    table = _with_ident(ident, owner, schema.FEATURES, cols)
    numbers = None            # the value columns as numpy views, for the sketch sums (C)
    if isinstance(ints, ColumnBlock) and isinstance(floats, ColumnBlock) \
            and isinstance(bins, ColumnBlock) and isinstance(sums, ColumnBlock):
        arrays = [*ints.numpy, None, None, *floats.numpy, *bins.numpy, *sums.numpy]
        numbers = {name: v for name, v in zip(table.column_names[len(ident) + 3:], arrays,
                                              strict=True) if v is not None}  # (not unseen, other)
    return table, name_arr, owner, numbers


def _categorical(cats: list, owner: np.ndarray, ident: list[pa.Array], limits: WireLimits,
                 check: bool, records: np.ndarray
                 ) -> tuple[pa.Table, pa.Array, pa.Table | None, np.ndarray]:
    """Categorical feature rows, their names, the category rows (None if there are none)
    and each category row's window."""
    built = categorical_columns(cats, limits, check)
    need(built is not None, "categorical entries")
    name_arr, ints, entry_of, keys, values = built     # type: ignore[misc]
    n_arr, missing_arr, mismatch_arr, unseen_arr, other_arr = ints
    rows = len(owner)
    if check:
        n_np = n_arr.to_numpy()
        need((n_np + missing_arr.to_numpy() + mismatch_arr.to_numpy() <= records[owner]).all(),
             "counts <= the window's records")
    cols = [name_arr, pa.array(np.ones(rows, np.int8)), pa.nulls(rows, _STRING),
            n_arr, missing_arr, pa.nulls(rows, _I64),
            pa.nulls(rows, _I64), mismatch_arr, pa.nulls(rows, _I64),
            unseen_arr, other_arr]
    cols += [pa.nulls(rows, _F64)] * 4
    zeros = pa.array(np.zeros(rows, np.int32))
    cols += [zeros] * _NSLOTS
    cols += [pa.nulls(rows, _I64)] * (len(schema.SUM_COLUMNS) - 3)
    cols += [pa.nulls(rows, _F64)] * 2 + [pa.array(np.zeros(rows, np.int64))]   # sums_n 0
    table = _with_ident(ident, owner, schema.FEATURES, cols)
    cat_table = None
    cat_owner = owner[entry_of] if len(keys) else owner[:0]
    if len(keys):
        cat_table = _with_ident(ident, cat_owner, schema.CATEGORIES, [
            name_arr.take(pa.array(entry_of)), keys, values])
    return table, name_arr, cat_table, cat_owner
