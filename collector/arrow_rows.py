"""Decoded windows -> Arrow tables of :mod:`collector.schema`, checked and built column by column.

:class:`RowBuilder` takes windows as msgpack decoded them (untrusted: the sink
does not trust that a record passed the gateway) and collects them per
``(model, date)`` partition. Every ``chunk_windows`` windows of a partition (and
at :meth:`RowBuilder.tables`) the chunk is proven valid by the column-wise
checks of :mod:`collector.chunk_checks` while its Arrow columns are built: one
transpose of all feature entries (``zip(*rows)``), the 64 bin columns from the
packed bin bytes through ``numpy`` (grouped by width and slot count), category
and label cells flattened with ``itertools.chain``. When a check fails, the
chunk's windows are validated one by one with :func:`edge_sdk.wire.validate_window`
(the one parser's exact rules); the invalid ones go to ``on_invalid`` with the
reason and the rest are built. Windows of an unusual shape (samples, unknown
keys, regression labels) take the exact check when added.

>>> from collector.fake_windows import make_window_body
>>> from edge_sdk.wire import decode_window
>>> b = RowBuilder()
>>> b.add("edgedrift.windows/0/7", decode_window(make_window_body("dev-1", 7, records=20)),
...       received_at_ms=1, sent_at_s=2)
>>> [(key, t["windows"].num_rows, t["features"].num_rows) for key, t in b.tables().items()]
[(('kws', '2025-11-24'), 1, 26)]
>>> bad = decode_window(make_window_body("dev-1", 8, records=20))
>>> bad["f"][0][3] += 1                   # n no longer equals the bin total
>>> found = []
>>> b = RowBuilder(on_invalid=lambda token, reason: found.append((token, reason)))
>>> b.add("t/0/8", bad, 1, 2, device_id="dev-1", token=8)
>>> b.tables(), found
({}, [(8, 'w.f[0].bins: expected bin counts summing to n (21), got 20')])
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import operator
from collections.abc import Callable
from itertools import chain, compress
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from edge_sdk.errors import WireError
from edge_sdk.wire import (
    BUILTIN_SLOTS,
    DEFAULT_LIMITS,
    MAX_TIME_MS,
    PSEUDO_FEATURES,
    WINDOW_VERSIONS,
    WireLimits,
    is_model_name,
    unpack_window,
    validate_window,
)

from . import schema
from .chunk_checks import (
    need,
    need_counter_maps,
    need_numbers,
    need_tag_maps,
    need_unique_per_window,
    str_array,
    sums_per_owner,
    uint_array,
)
from .errors import RecordError
from .slot_sums import sums_columns, sums_of

try:    # optional C accelerator of the numeric columns (setup.py; needs a C compiler)
    from . import _sinkfast as _native
except ImportError:
    _native = None

log = logging.getLogger(__name__)

OnInvalid = Callable[[Any, str], None]     # (the token given to add(), the reason)

_I32_MAX = 2**31 - 1
_MAX_INT64 = 2**63 - 1
_DAY_MS = 86_400_000
_NSLOTS = len(schema.BIN_COLUMNS)
_date_cache: dict[int, str] = {}
_PREDICTION, _LATENCY, _ENERGY = schema.PREDICTION, schema.LATENCY, schema.ENERGY
_RESERVED_NAMES = pa.array(PSEUDO_FEATURES)
# Keys a window may carry and still be checked column-wise; others (samples, keys of a
# newer SDK) make the window take the exact per-window check when it is added.
# the window sketches unpack_split packs as rows (bits of Split.packed), and their rows' names
_PACKED_NAMES = (_PREDICTION, _LATENCY, _ENERGY)
_PACKED_LT = 2
_FAST_KEYS = frozenset(("v", "d", "m", "mv", "mh", "si", "sdk", "sq", "ws", "we", "n", "tg",
                        "f", "lt", "pr", "en", "lb", "q", "hl"))


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
    the :data:`edge_sdk.wire.BinSums` handed to ``validate_window``.

    >>> bin_sums([bytes([2, 1, 0, 44, 1]), bytes([2, 0, 0, 7, 0])], 2)
    [301, 7]
    """
    length = len(packed[0])
    arr = np.ndarray((len(packed), (length - 1) // width), _DTYPES[width], b"".join(packed), 1,
                     (length, width))
    return np.add.reduce(arr, 1, np.uint64).tolist()


def check_window(w: dict[str, Any], device_id: str | None) -> None:
    """The check beyond the wire schema (raise RecordError): the window names the record's
    device. (That 4-byte bin counts fit the int32 columns is a wire rule now.)"""
    if device_id is not None and w["d"] != device_id:
        raise RecordError("record.key", f"the window's device id ({w['d']!r})", got=repr(device_id))


class Split(NamedTuple):
    """A window's sketch entries and labels, taken out of it and packed as checked rows by
    the C accelerator (see :func:`unpack_split`); what :meth:`RowBuilder.add` takes with the
    rest of the window.

    >>> from collector.fake_windows import make_window_body
    >>> rest, split = unpack_split(make_window_body("dev-1", 1, records=10))
    >>> split.count, split.cat_count, split.packed, sorted(rest)[:3]
    (23, 3, 7, ['d', 'f', 'hl'])
    """

    rows: bytes        # packed rows (collector/_sinkfast.c): ``f``'s, then pr, lt, en
    count: int         # rows in ``rows``
    f_count: int       # entries in the original ``f`` (numeric ones included)
    packed: int        # which of pr, lt, en were packed (bits 1, 2, 4): gone from the window
    cats: bytes        # packed categorical rows, in the order of ``f``
    cat_count: int     # rows in ``cats``
    labels: bytes | None   # packed classification labels (then gone from the window)
    raw: bytes | memoryview    # the whole window body, for the exact per-window check
    version: int = 1   # the packed numeric entries' wire version (must be the window's)


def unpack_split(data: bytes | memoryview,
                 limits: WireLimits = DEFAULT_LIMITS) -> tuple[Any, Split | None]:
    """:func:`edge_sdk.wire.unpack_window`, except that the numeric feature entries are
    checked and packed in C instead of becoming ~14 Python objects each (when the
    accelerator is built and the window is ordinary): returns ``(window, split)``, the
    window's ``f`` then holding only its other entries. ``split`` is None when the whole
    window was decoded by msgpack (and any WireError is the one msgpack's decode gives).

    >>> from collector.fake_windows import make_window_body
    >>> w, split = unpack_split(make_window_body("dev-1", 1, records=10))
    >>> len(w["f"]), split.f_count, split.count, split.cat_count, "lt" in w
    (0, 23, 23, 3, False)
    """
    if _native is not None and type(data) in (bytes, memoryview) \
            and len(data) <= limits.max_window_bytes \
            and (limits is DEFAULT_LIMITS or limits == DEFAULT_LIMITS):   # (C: the defaults)
        parts = _native.split_numeric(data, limits.max_name_len, BUILTIN_SLOTS,
                                      _PACKED_NAMES)
        if parts is not None:
            rest, rows, count, f_count, packed, cats, cat_count, labels, version = parts
            try:
                return unpack_window(rest, limits), Split(rows, count, f_count, packed, cats,
                                                          cat_count, labels, data, version)
            except WireError:
                pass              # the plain decode below gives (and names) the error
    return unpack_window(data, limits), None


def _fast_fields(w: Any, packed: int = 0, split_version: int = 0) -> tuple | None:
    """The fields :func:`_append` reads, if a decoded window may skip the per-window check
    (the chunk proves the rest); None if it needs the per-window check. ``packed``: the
    window sketches :func:`unpack_split` took out (their fields are None);
    ``split_version``: the wire version of the numeric entries it took (0: none)."""
    if type(w) is not dict or not w.keys() <= _FAST_KEYS or None in w.values():
        return None
    get = w.get
    ws, feats, lt, pr, en, lb = get("ws"), get("f"), get("lt"), get("pr"), get("en"), get("lb")
    version = get("v")
    if version not in WINDOW_VERSIONS or type(version) is not int or type(get("m")) is not str \
            or type(ws) is not int or not 0 <= ws <= MAX_TIME_MS or type(feats) is not list:
        return None
    if split_version and split_version != version:
        return None       # v2 entries in a v1 window or the reverse: the exact check names it
    numeric_len = 12 + version        # v2 numeric entries end with their slot sums
    if not packed & _PACKED_LT and (type(lt) is not list or len(lt) != numeric_len
                                    or lt[0] != 0):
        return None
    if en is not None and (type(en) is not list or len(en) != numeric_len or en[0] != 0):
        return None
    if pr is not None and (type(pr) is not list or not (
            (len(pr) == numeric_len and pr[0] == 0) or (len(pr) == 7 and pr[0] == 1))):
        return None
    other_len = 14 if version == 2 else 15     # a numeric entry of the other version
    if any(len(e) == other_len for e in feats if type(e) is list):
        return None       # the exact check names the field
    if lb is not None and (type(lb) is not list or len(lb) != 5 or lb[0] != 2):
        return None
    return feats, pr, lt, en, lb


class _Partition:
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


class RowBuilder:
    """Accumulates decoded windows and builds the Arrow tables of a batch.

    ``on_invalid(token, reason)`` receives the windows found invalid (by default the
    :class:`~edge_sdk.errors.WireError` or :class:`~collector.errors.RecordError` is raised).
    """

    def __init__(self, chunk_windows: int = 512, on_invalid: OnInvalid | None = None,
                 limits: WireLimits = DEFAULT_LIMITS) -> None:
        self._parts: dict[tuple[str, str], _Partition] = {}
        # Every ``chunk_windows`` windows of a partition become Arrow chunks right away: the
        # decoded windows are converted while still in cache and then freed (memory stays
        # bounded by the Arrow data); the batch's tables are those chunks concatenated.
        self._chunks: dict[tuple[str, str], list[dict[str, pa.Table]]] = {}
        self._chunk_windows = chunk_windows
        self.on_invalid = on_invalid
        self.limits = limits
        self.windows = 0       # windows added and not (yet) found invalid
        self.invalid = 0

    def __len__(self) -> int:
        return self.windows

    def add(self, ingest_id: str, w: Any, received_at_ms: int, sent_at_s: int,
            device_id: str | None = None, token: Any = None, validated: bool = False,
            split: Split | None = None) -> None:
        """Add one decoded window; ``device_id`` is the record's (the window must name it).

        ``validated``: ``w`` already passed :func:`edge_sdk.wire.validate_window` in this
        process (the embedded gateway's); only :func:`check_window` runs. ``split``: ``w``
        came from :func:`unpack_split` without its numeric entries, packed there.
        """
        if validated:         # only check_window; the chunk needs no proofs for it
            if not self._check_one(w, device_id, token, validated=True):
                return
            checked = True    # (a sketch packed by unpack_split is gone from w: None)
            fields = w["f"], w.get("pr"), w.get("lt"), w.get("en"), w.get("lb")
        else:
            fields = _fast_fields(w, split.packed if split else 0,
                                  split.version if split else 0)
            if fields is None and split is not None:   # the exact check reads it all
                w, split = unpack_window(split.raw, self.limits), None
            checked = fields is None
            if checked:
                if not self._check_one(w, device_id, token):
                    return
                fields = w["f"], w.get("pr"), w["lt"], w.get("en"), w.get("lb")
        key = (w["m"], utc_date(w["ws"]))
        part = self._parts.get(key)
        if part is None:
            part = self._parts[key] = _Partition()
        _append(part, (token, w, device_id, checked, ingest_id, received_at_ms, sent_at_s,
                       split), fields)
        self.windows += 1
        if len(part.ident) >= self._chunk_windows:
            del self._parts[key]
            self._seal(key, part)

    def tables(self) -> dict[tuple[str, str], dict[str, pa.Table]]:
        """{(model, date): {table name: Arrow table}} (empty tables omitted), in key order."""
        for key in list(self._parts):
            self._seal(key, self._parts.pop(key))
        out = {}
        for key in sorted(self._chunks):
            chunks = self._chunks[key]
            merged = {}
            for name in schema.TABLES:
                parts = _FEATURE_PARTS if name == "features" else (name,)
                found = [c[part] for part in parts for c in chunks if part in c]
                if found:
                    merged[name] = found[0] if len(found) == 1 else pa.concat_tables(found)
            if merged:
                out[key] = merged
        return out

    # -- checking -------------------------------------------------------------------
    def _check_one(self, w: Any, device_id: str | None, token: Any,
                   validated: bool = False) -> bool:
        """The exact per-window checks; an invalid window goes to ``on_invalid``."""
        try:
            if not validated:
                validate_window(w, self.limits, bin_sums=bin_sums)
            check_window(w, device_id)
        except (WireError, RecordError) as exc:
            if self.on_invalid is None:
                raise
            self.invalid += 1
            self.on_invalid(token, str(exc))
            return False
        return True

    def _seal(self, key: tuple[str, str], part: _Partition) -> None:
        """Prove and build one chunk (re-checking window by window if a proof fails)."""
        if part.unchecked:
            try:
                self._chunks.setdefault(key, []).append(_build(part, key[0], self.limits, True))
                return
            except Exception as exc:   # noqa: BLE001 - any failed or impossible proof
                log.debug("chunk of %d windows not proven (%s): checking one by one",
                          len(part.ident), exc)
            fresh = _Partition()
            for source in part.sources:
                token, w, device_id, checked = source[:4]
                split = source[7]
                if split is not None:       # the exact check reads the whole window
                    w = unpack_window(split.raw, self.limits)
                if checked or self._check_one(w, device_id, token):
                    _append(fresh, (token, w, device_id, True, *source[4:7], None),
                            (w["f"], w.get("pr"), w["lt"], w.get("en"), w.get("lb")))
                else:
                    self.windows -= 1
            part = fresh
        if part.ident:
            self._chunks.setdefault(key, []).append(_build(part, key[0], self.limits, False))


def _append(p: _Partition, source: tuple, fields: tuple) -> None:
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
        p.samples.extend((i, r, json.dumps(dict(zip(cols, row)), separators=(",", ":"),
                                           allow_nan=False, default=str))
                         for r, row in enumerate(sm["r"]))


# -- building -------------------------------------------------------------------------
_NUM_FEATURES, _CAT_FEATURES = "features/numeric", "features/categorical"
_FEATURE_PARTS = (_NUM_FEATURES, _CAT_FEATURES)
_DTYPES = {1: np.dtype("<u1"), 2: np.dtype("<u2"), 4: np.dtype("<u4")}
_I32, _I64, _F64, _STRING = pa.int32(), pa.int64(), pa.float64(), pa.string()
_COUNTERS = (("q", ("uf", "ut", "br")), ("hl", ("dp", "dc", "rj", "sb", "ie", "sk")))


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


def _ts(values: Any) -> pa.Array:
    return pa.array(values, _I64).cast(schema._TS)


def _build(p: _Partition, model: str, limits: WireLimits, check: bool) -> dict[str, pa.Table]:
    """The chunk's tables; with ``check`` every column is proven first (else Unproven)."""
    dev, ver, seq, ws, we, ing, tags = zip(*p.ident)
    mh, si, received, sent, n, q, hl, lbs, sdk = zip(*p.win)
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
    out.update(_features(p, ident, limits, check, n_arr.to_numpy()))
    if label_rows is not None:
        win, pred, actual, count = label_rows
        out["labels"] = _with_ident(ident, win, schema.LABELS, [pred, actual, count])
    if p.samples:
        win, row, values = zip(*p.samples)
        out["samples"] = _with_ident(ident, win, schema.SAMPLES, [
            pa.array(row, pa.int32()), pa.array(values, _STRING)])
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


# ([n, mismatch, correct] per label set (ints), the set of each cell, predicted, actual,
#  count); None: a label set breaks a rule (check only)
LabelColumns = tuple[tuple[list[int], list[int], list[int]], np.ndarray, pa.Array, pa.Array,
                     pa.Array]


def label_columns(sets: list, limits: WireLimits = DEFAULT_LIMITS,
                  check: bool = True) -> LabelColumns | None:
    """Classification label sets ``[2, n, mismatch, other, [[predicted, actual, count], ...]]``
    (and, C only, the packed labels of :func:`unpack_split`) -> columns; C if built.

    >>> (n, mm, good), cell_of, pred, actual, counts = label_columns(
    ...     [[2, 5, 0, 1, [["a", "a", 3], ["a", "b", 1]]]])
    >>> n, good, cell_of.tolist(), actual.to_pylist()
    ([5], [3], [0, 0], ['a', 'b'])
    """
    if _native is None:
        return label_columns_py(sets, limits, check)
    return label_columns_c(sets, limits, check)


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


def label_columns_py(sets: list, limits: WireLimits = DEFAULT_LIMITS,
                     check: bool = True) -> LabelColumns | None:
    """:func:`label_columns` in Python (the reference of the C path)."""
    return _proven(_label_columns_py, sets, limits, check)


def _label_columns_py(sets: list, limits: WireLimits, check: bool) -> LabelColumns:
    if check:
        need(set(map(type, sets)) <= {list} and set(map(len, sets)) <= {5}, "label sets")
    _, n_, mm_, other_, cells_ = zip(*sets) if sets else ((),) * 5
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
        pred, actual, count = zip(*flat)
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


def _features(p: _Partition, ident: list[pa.Array], limits: WireLimits, check: bool,
              records: np.ndarray) -> dict[str, pa.Table]:
    """Numeric and categorical feature rows apart (a batch's features table lists all numeric
    rows, then all categorical ones, however it was chunked), and the category rows."""
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
    owners: list[np.ndarray] = []
    split_rows = sum(count + cat_count for _, _, count, _, cat_count in p.splits)
    if p.splits:
        nums, num_owner = _with_splits(nums, num_owner, p.splits, 1, 2)
        cats, cat_owner = _with_splits(cats, cat_owner, p.splits, 3, 4)
    if nums:
        table, name_arr, num_owner = _numeric(nums, num_owner, ident, limits, check, records)
        out[_NUM_FEATURES] = table
        names.append(name_arr)
        owners.append(num_owner)
    if cats:
        table, name_arr, cat_table = _categorical(cats, cat_owner, ident, limits, check,
                                                  records)
        out[_CAT_FEATURES] = table
        names.append(name_arr)
        owners.append(cat_owner)
        if cat_table is not None:
            out["categories"] = cat_table
    if check:    # feature names unique within a window (pseudo-feature names included)
        all_names = pa.concat_arrays(names)
        codes = all_names.dictionary_encode().indices.to_numpy()
        need_unique_per_window(np.concatenate(owners), codes)
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
             check: bool, records: np.ndarray) -> tuple[pa.Table, pa.Array, np.ndarray]:
    """Numeric feature rows, ordered by bin shape (so each shape's bins are one slice) and
    then by window; returns the table, its feature names and its rows' window indices.

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
    return _with_ident(ident, owner, schema.FEATURES, cols), name_arr, owner


# (order or None, names, layout ids, [n, missing, nan, inf, mismatch, out_of_range],
#  [min, max, mean, m2], the 64 bin columns, the slot-sum columns of schema.SUM_COLUMNS);
# None: an entry breaks a rule (check only)
NumericColumns = tuple[np.ndarray | None, pa.Array, pa.Array, list[pa.Array], list[pa.Array],
                       list[pa.Array], list[pa.Array]]


def numeric_columns(nums: list, limits: WireLimits = DEFAULT_LIMITS,
                    check: bool = True) -> NumericColumns | None:
    """The numeric entries' columns, by the C accelerator if it is built, else in Python.
    ``nums``: decoded entries, and (C only) the packed rows of :func:`unpack_split`.

    >>> from collector.fake_windows import make_window_body
    >>> from edge_sdk.wire import decode_window
    >>> nums = [e for e in decode_window(make_window_body("d", 1, records=5))["f"] if e[1] == 0]
    >>> order, names, layouts, ints, floats, bins, sums = numeric_columns(nums)
    >>> ints[0].to_pylist()[:3], len(bins), sums[-1].to_pylist()[:3]     # sums_n: n
    ([5, 5, 5], 64, [5, 5, 5])
    """
    if _native is None:
        return numeric_columns_py(nums, limits, check)
    return numeric_columns_c(nums, limits, check)


def numeric_columns_c(nums: list, limits: WireLimits = DEFAULT_LIMITS,
                      check: bool = True) -> NumericColumns | None:
    """:func:`numeric_columns` by ``collector._sinkfast`` (raises ImportError if it is
    not built): Arrow arrays over the buffers it fills, no copy."""
    out = _built().numeric_columns(nums, check, limits.max_name_len, BUILTIN_SLOTS)
    if out is None:
        return None
    ints, floats, name_off, name_data, lay_off, lay_data, bins, order, sum_ints, tails = out
    rows = len(name_off) // 4 - 1
    sum_cols = _buffer_columns(sum_ints, _I64, rows)      # pos0 .. pos7, sums_n
    return (None if order is None else np.frombuffer(order, np.int64),
            _string_array(name_off, name_data), _string_array(lay_off, lay_data),
            _buffer_columns(ints, _I64, rows), _buffer_columns(floats, _F64, rows),
            _buffer_columns(bins, _I32, rows),
            [*sum_cols[:-1], *_buffer_columns(tails, _F64, rows), sum_cols[-1]])


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
    (name, kind, layout, n, missing, nan, inf, vmin, vmax, mean, m2, packed, mismatch,
     oor) = list(zip(*nums))[:14] if nums else ((),) * 14     # (zip stops at 14 if mixed)
    sums = [sums_of(e, check) if len(e) == 15 else None for e in nums]
    if check:
        need(set(kind) <= {0} and set(map(type, kind)) <= {int}, "numeric kind")
        need_numbers(vmin, vmax, mean, m2)
    name_arr = _strings(name, limits.max_name_len, check)
    n_arr = _uints(n, check)
    layout_arr = _strings(layout, 32, check)
    ints = [n_arr, _uints(missing, check), _uints(nan, check), _uints(inf, check),
            _uints(mismatch, check), _uints(oor, check)]
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


def _built() -> Any:
    """The C accelerator, or ImportError if it is not built."""
    if _native is None:
        raise ImportError("collector._sinkfast is not built (pip install needs a C compiler)")
    return _native


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


def _string_array(offsets: bytearray, data: bytearray) -> pa.Array:
    """An Arrow string array over int32 offsets and UTF-8 data filled by the C path."""
    return pa.Array.from_buffers(_STRING, len(offsets) // 4 - 1,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _buffer_columns(data: bytearray, dtype: pa.DataType, rows: int) -> list[pa.Array]:
    """Arrow arrays over consecutive ``rows``-long columns of one buffer (no copy)."""
    buf = pa.py_buffer(data)
    ncols = len(data) // (rows * dtype.byte_width) if rows else 0
    return [pa.Array.from_buffers(dtype, rows, [None, buf], offset=j * rows)
            for j in range(ncols)]


def _categorical(cats: list, owner: np.ndarray, ident: list[pa.Array], limits: WireLimits,
                 check: bool, records: np.ndarray) -> tuple[pa.Table, pa.Array, pa.Table | None]:
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
    if len(keys):
        cat_table = _with_ident(ident, owner[entry_of], schema.CATEGORIES, [
            name_arr.take(pa.array(entry_of)), keys, values])
    return table, name_arr, cat_table


# (names, [n, missing, mismatch, unseen, other], the entry of each category, categories,
#  counts); None: an entry breaks a rule (check only)
CategoricalColumns = tuple[pa.Array, list[pa.Array], np.ndarray, pa.Array, pa.Array]


def categorical_columns(cats: list, limits: WireLimits = DEFAULT_LIMITS,
                        check: bool = True) -> CategoricalColumns | None:
    """The categorical entries' columns (C if built, else Python); ``cats``: decoded entries
    and (C only) the packed rows of :func:`unpack_split`.

    >>> from collector.fake_windows import make_window_body
    >>> from edge_sdk.wire import decode_window
    >>> cats = [e for e in decode_window(make_window_body("d", 1, records=5))["f"] if e[1] == 1]
    >>> names, ints, entry_of, keys, values = categorical_columns(cats)
    >>> names.to_pylist(), ints[0].to_pylist(), sum(values.to_pylist())
    (['c0', 'c1', 'c2'], [5, 5, 5], 15)
    """
    if _native is None:
        return categorical_columns_py(cats, limits, check)
    return categorical_columns_c(cats, limits, check)


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


def categorical_columns_py(cats: list, limits: WireLimits = DEFAULT_LIMITS,
                           check: bool = True) -> CategoricalColumns | None:
    """:func:`categorical_columns` in Python (the reference of the C path); ``cats``: lists
    of 8 items (the caller proved that much)."""
    return _proven(_categorical_py, cats, limits, check)


def _categorical_py(cats: list, limits: WireLimits, check: bool) -> CategoricalColumns:
    name, kind, n, missing, mismatch, unseen, other, counts = zip(*cats) if cats else ((),) * 8
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
    missing_arr, mismatch_arr, unseen_arr = (_uints(missing, check), _uints(mismatch, check),
                                             _uints(unseen, check))
    if check:
        n_np = n_arr.to_numpy()
        need((sums_per_owner(entry_of, values.to_numpy(), rows) + other_arr.to_numpy()
              == n_np).all(), "category counts + other == n")
        need((unseen_arr.to_numpy() <= n_np).all(), "unseen <= n")
    key_arr = (_strings(keys, 64, check) if check and keys else pa.array(keys, _STRING))
    return (name_arr, [n_arr, missing_arr, mismatch_arr, unseen_arr, other_arr], entry_of,
            key_arr, values)


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
    for a, b in zip([0, *bounds.tolist()], [*bounds.tolist(), rows]):
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
