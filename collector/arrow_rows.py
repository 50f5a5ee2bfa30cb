"""Decoded windows -> Arrow tables of :mod:`collector.schema`, column by column.

:class:`RowBuilder` collects windows (already decoded by
:func:`edge_sdk.wire.decode_window`) per ``(model, date)`` partition and turns
them into one Arrow table per schema table. The hot parts are vectorised:
numeric entries are transposed with ``zip(*rows)``, the 64 bin columns come
from the packed bin bytes through ``numpy.frombuffer`` (grouped by width and
slot count), and per-row tables repeat the identity columns with ``take``. Every 512
windows of a partition are turned into Arrow chunks as they arrive (while still in
cache, and then freed); a batch's tables concatenate them in the same row order.

>>> from collector.fake_windows import make_window_body
>>> from edge_sdk.wire import decode_window
>>> b = RowBuilder()
>>> b.add("edgedrift.windows/0/7", decode_window(make_window_body("dev-1", 7, records=20)),
...       received_at_ms=1, sent_at_s=2)
>>> [(key, t["windows"].num_rows, t["features"].num_rows) for key, t in b.tables().items()]
[(('kws', '2025-11-24'), 1, 26)]
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pyarrow as pa

from . import schema
from .errors import RecordError

_I32_MAX = 2**31 - 1
_DAY_MS = 86_400_000
_NSLOTS = len(schema.BIN_COLUMNS)
_date_cache: dict[int, str] = {}
_PSEUDO = ((schema.PREDICTION, "pr"), (schema.LATENCY, "lt"), (schema.ENERGY, "en"))


def utc_date(ms: int) -> str:
    """``YYYY-MM-DD`` of a Unix-ms timestamp in UTC.

    >>> utc_date(1_764_000_000_000)
    '2025-11-24'
    """
    day = ms // _DAY_MS
    text = _date_cache.get(day)
    if text is None:
        text = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
        _date_cache[day] = text
    return text


def warm_up() -> None:
    """Pay pyarrow's one-time lazy imports (its first ``pa.array`` loads pandas, ~0.3 s) now.

    >>> warm_up()
    """
    pa.array(np.zeros(1, np.int64))


def bin_sums(packed: list[bytes], width: int) -> list[int]:
    """Count totals of packed bins of one shape (same width byte and length), vectorised;
    the :data:`edge_sdk.wire.BinSums` that the sink hands to ``decode_window``.

    >>> bin_sums([bytes([2, 1, 0, 44, 1]), bytes([2, 0, 0, 7, 0])], 2)
    [301, 7]
    """
    length = len(packed[0])
    arr = np.ndarray((len(packed), (length - 1) // width), _DTYPES[width], b"".join(packed), 1,
                     (length, width))
    return np.add.reduce(arr, 1, np.uint64).tolist()


def check_window(w: dict[str, Any], device_id: str) -> None:
    """Checks beyond the wire schema that the Parquet schema needs (raise RecordError)."""
    if w["d"] != device_id:
        raise RecordError("record.key", f"the window's device id ({w['d']!r})", got=repr(device_id))
    if w["sq"] > 2**64 - 1 or w["we"] >= 2**63 or w["n"] >= 2**63:
        raise RecordError("w", "seq < 2^64 and times/counts < 2^63")
    for i, entry in enumerate(w["f"]):
        if entry[1] == 0 and entry[11][0] == 4:
            _check_i32(entry[11], f"w.f[{i}].bins")
    for key in ("pr", "lt", "en"):
        entry = w.get(key)
        if entry is not None and entry[0] == 0 and entry[10][0] == 4:
            _check_i32(entry[10], f"w.{key}.bins")
    lb = w.get("lb")
    if lb is not None and lb[0] == 3 and lb[5][10][0] == 4:
        _check_i32(lb[5][10], "w.lb.err.bins")


def _check_i32(packed: bytes, field: str) -> None:
    top = int(np.frombuffer(packed, dtype="<u4", offset=1).max()) if len(packed) > 1 else 0
    if top > _I32_MAX:
        raise RecordError(field, "bin counts below 2^31", got=str(top))


class _Partition:
    """Columns of one (model, date) partition of a batch."""

    def __init__(self) -> None:
        self.ident: list[tuple] = []      # device, version, seq, ws, we, ingest_id, tags
        self.win: list[tuple] = []        # windows-table extras
        # numeric entries [name, 0, layout, n, missing, nan, inf, min, max, mean, m2, bins, tm,
        # oor] (the wire's own lists, not copied) and the window index of each
        self.num: list[list] = []
        self.num_win: list[int] = []
        self.cat: list[list] = []         # [name, 1, n, missing, tm, unseen, other, counts]
        self.cat_win: list[int] = []
        self.cats: list[tuple] = []       # (win, feature, category, count)
        self.labels: list[tuple] = []     # (win, predicted, actual, count)
        self.samples: list[tuple] = []    # (win, row, values_json)


class RowBuilder:
    """Accumulates decoded windows and builds the Arrow tables of a batch."""

    def __init__(self, chunk_windows: int = 512) -> None:
        self._parts: dict[tuple[str, str], _Partition] = {}
        # Every ``chunk_windows`` windows of a partition become Arrow chunks right away: the
        # decoded windows are converted while still in cache and then freed (memory stays
        # bounded by the Arrow data); the batch's tables are those chunks concatenated.
        self._chunks: dict[tuple[str, str], list[dict[str, pa.Table]]] = {}
        self._chunk_windows = chunk_windows
        self.windows = 0

    def __len__(self) -> int:
        return self.windows

    def add(self, ingest_id: str, w: dict[str, Any], received_at_ms: int, sent_at_s: int) -> None:
        """Add one decoded, validated window (see :func:`check_window`)."""
        key = (w["m"], utc_date(w["ws"]))
        part = self._parts.get(key)
        if part is None:
            part = self._parts[key] = _Partition()
        i = len(part.ident)
        tags = w.get("tg")
        part.ident.append((w["d"], w["mv"], w["sq"], w["ws"], w["we"], ingest_id,
                           list(tags.items()) if tags else None))
        q = w.get("q") or {}
        hl = w.get("hl") or {}
        lb = w.get("lb")
        label = (None, None, None, None, None, None)
        if lb is not None:
            if lb[0] == 2:
                correct = sum(c for p, y, c in lb[4] if p == y)
                label = ("classification", lb[1], correct, lb[2], None, None)
                part.labels.extend((i, p, y, c) for p, y, c in lb[4])
            else:
                label = ("regression", lb[1], None, lb[2], float(lb[3]), float(lb[4]))
                part.num.append([schema.LABEL_ERROR, *lb[5]])
                part.num_win.append(i)
        part.win.append((w.get("mh"), w.get("si"), received_at_ms, sent_at_s * 1000, w["n"],
                         q.get("uf"), q.get("ut"), q.get("br"), *label,
                         hl.get("dp"), hl.get("dc"), hl.get("rj"), hl.get("sb"), hl.get("ie"),
                         hl.get("sk"), w.get("sdk")))
        feats = w["f"]
        nums = [e for e in feats if e[1] == 0]
        part.num += nums
        part.num_win += [i] * len(nums)
        if len(nums) != len(feats):
            cats = [e for e in feats if e[1] != 0]
            part.cat += cats
            part.cat_win += [i] * len(cats)
        for name, key_ in _PSEUDO:
            entry = w.get(key_)
            if entry is not None:
                if entry[0] == 0:
                    part.num.append([name, *entry])
                    part.num_win.append(i)
                else:
                    part.cat.append([name, *entry])
                    part.cat_win.append(i)
        sm = w.get("sm")
        if sm and sm["r"]:
            cols = sm["c"]
            part.samples.extend((i, r, json.dumps(dict(zip(cols, row)), separators=(",", ":"),
                                                  allow_nan=False, default=str))
                                for r, row in enumerate(sm["r"]))
        self.windows += 1
        if len(part.ident) >= self._chunk_windows:
            self._chunks.setdefault(key, []).append(_build(part))
            del self._parts[key]

    def tables(self) -> dict[tuple[str, str], dict[str, pa.Table]]:
        """{(model, date): {table name: Arrow table}} (empty tables omitted), in key order."""
        out = {}
        for key in sorted(set(self._parts) | set(self._chunks)):
            chunks = list(self._chunks.get(key, ()))
            if key in self._parts:
                chunks.append(_build(self._parts[key]))
            merged = {}
            for name in schema.TABLES:
                parts = _FEATURE_PARTS if name == "features" else (name,)
                found = [c[part] for part in parts for c in chunks if part in c]
                if found:
                    merged[name] = found[0] if len(found) == 1 else pa.concat_tables(found)
            out[key] = merged
        return out


# -- building -------------------------------------------------------------------------
_NUM_FEATURES, _CAT_FEATURES = "features/numeric", "features/categorical"
_FEATURE_PARTS = (_NUM_FEATURES, _CAT_FEATURES)


def _ts(values: Any) -> pa.Array:
    return pa.array(values, pa.int64()).cast(schema._TS)


def _build(p: _Partition) -> dict[str, pa.Table]:
    dev, ver, seq, ws, we, ing, tags = zip(*p.ident)
    ident = [pa.array(dev, pa.string()), pa.array(ver, pa.string()), pa.array(seq, pa.uint64()),
             _ts(ws), _ts(we), pa.array(ing, pa.string()),
             pa.array(tags, schema.WINDOWS.field("tags").type)]
    n_ident = len(ident)
    out: dict[str, pa.Table] = {}
    extra = list(zip(*p.win))
    wcols = ident + [pa.array(col, schema.WINDOWS.field(i + n_ident).type)
                     if schema.WINDOWS.field(i + n_ident).type != schema._TS else _ts(col)
                     for i, col in enumerate(extra)]
    out["windows"] = pa.Table.from_arrays(wcols, schema=schema.WINDOWS)
    # numeric and categorical feature rows apart: a batch's features table lists all numeric
    # rows (in window order) and then all categorical rows, however it was chunked
    kept = p.num, p.num_win, p.cat, p.cat_win
    p.cat, p.cat_win = [], []
    feats = _features(p, ident)
    if feats is not None:
        out[_NUM_FEATURES] = feats
    p.num, p.num_win, p.cat, p.cat_win = [], [], kept[2], kept[3]
    feats = _features(p, ident)
    if feats is not None:
        out[_CAT_FEATURES] = feats
    p.num, p.num_win = kept[0], kept[1]
    if p.cats:
        win, feat, category, count = zip(*p.cats)
        out["categories"] = _with_ident(ident, win, schema.CATEGORIES, [
            pa.array(feat, pa.string()), pa.array(category, pa.string()),
            pa.array(count, pa.int64())])
    if p.labels:
        win, pred, actual, count = zip(*p.labels)
        out["labels"] = _with_ident(ident, win, schema.LABELS, [
            pa.array(pred, pa.string()), pa.array(actual, pa.string()),
            pa.array(count, pa.int64())])
    if p.samples:
        win, row, values = zip(*p.samples)
        out["samples"] = _with_ident(ident, win, schema.SAMPLES, [
            pa.array(row, pa.int32()), pa.array(values, pa.string())])
    return out


def _with_ident(ident: list[pa.Array], win: Any, sch: pa.Schema, cols: list[pa.Array]) -> pa.Table:
    idx = pa.array(win, pa.int32())
    return pa.Table.from_arrays([a.take(idx) for a in ident] + cols, schema=sch)


def _features(p: _Partition, ident: list[pa.Array]) -> pa.Table | None:
    nn, nc = len(p.num), len(p.cat)
    if not nn + nc:
        return None
    if nn:   # one transpose of the wire entries; nulls of the other kind appended as arrays
        (name_n, _, layout, n_n, miss_n, nan, inf, vmin, vmax, mean, m2, packed, tm_n,
         oor) = zip(*p.num)
    else:
        name_n = layout = n_n = miss_n = nan = inf = vmin = vmax = mean = m2 = tm_n = oor = ()
        packed = ()
    if nc:
        name_c, _, n_c, miss_c, tm_c, unseen, other, counts = zip(*p.cat)
        for w, name, cnt in zip(p.cat_win, name_c, counts):   # category rows, in entry order
            p.cats.extend((w, name, k, c) for k, c in cnt.items())
    else:
        name_c = n_c = miss_c = tm_c = unseen = other = ()

    def num_only(values: tuple, typ: pa.DataType) -> pa.Array:
        arr = pa.array(values, typ)
        return pa.concat_arrays([arr, pa.nulls(nc, typ)]) if nc else arr

    def cat_only(values: tuple, typ: pa.DataType) -> pa.Array:
        arr = pa.array(values, typ)
        return pa.concat_arrays([pa.nulls(nn, typ), arr]) if nn else arr

    i64, f64 = pa.int64(), pa.float64()
    kind = np.concatenate([np.zeros(nn, np.int8), np.ones(nc, np.int8)])
    cols = [
        pa.array(name_n + name_c, pa.string()),
        pa.array(kind, pa.int8()),
        num_only(layout, pa.string()),
        pa.array(n_n + n_c, i64),
        pa.array(miss_n + miss_c, i64),
        num_only(nan, i64),
        num_only(inf, i64),
        pa.array(tm_n + tm_c, i64),
        num_only(oor, i64),
        cat_only(unseen, i64),
        cat_only(other, i64),
        num_only(vmin, f64),
        num_only(vmax, f64),
        num_only(mean, f64),
        num_only(m2, f64),
    ]
    bins = np.zeros((nn + nc, _NSLOTS), dtype=np.int32, order="F")
    if nn:
        _fill_bins(bins, packed)
    cols += [pa.array(bins[:, j]) for j in range(_NSLOTS)]
    return _with_ident(ident, p.num_win + p.cat_win, schema.FEATURES, cols)


_DTYPES = {1: np.dtype("<u1"), 2: np.dtype("<u2"), 4: np.dtype("<u4")}


def _fill_bins(out: np.ndarray, packed: tuple[bytes, ...]) -> None:
    """Unpack bin bytes into rows of ``out`` (int32), grouped by (width, slots)."""
    groups: dict[int, list[int]] = {}
    for row, b in enumerate(packed):
        groups.setdefault(len(b) * 8 + b[0], []).append(row)   # length and width
    for code, rows in groups.items():
        width, length = code % 8, code // 8
        slots = (length - 1) // width
        blob = b"".join([packed[r] for r in rows])   # a strided view skips each width byte
        arr = np.ndarray((len(rows), slots), _DTYPES[width], blob, 1, (length, width))
        out[np.asarray(rows), :slots] = arr
