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
import functools
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from edge_sdk.errors import WireError
from edge_sdk.wire import (
    DEFAULT_LIMITS,
    MAX_TIME_MS,
    WINDOW_VERSIONS,
    WireLimits,
    unpack_window,
    validate_window,
)

from . import schema, sketch_sums
from .chunk_tables import FEATURE_PARTS, Partition, append, build
from .columns import Split
from .columns_py import bin_sums
from .errors import RecordError
from .sink_config import SUMS_GRAIN_S
from .window_proof import features_ok

log = logging.getLogger(__name__)

OnInvalid = Callable[[Any, str], None]     # (the token given to add(), the reason)

_DAY_MS = 86_400_000
# the sink's exact per-window check: validate_window with the window proof (numpy bin sums)
features_proof = functools.partial(features_ok, bin_sums=bin_sums)
_date_cache: dict[int, str] = {}
_PACKED_LT = 2        # Split.packed's bit of the latency sketch
# Keys a window may carry and still be checked column-wise; others (samples, keys of a
# newer SDK) make the window take the exact per-window check when it is added.
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


def check_window(w: dict[str, Any], device_id: str | None) -> None:
    """The check beyond the wire schema (raise RecordError): the window names the record's
    device. (That 4-byte bin counts fit the int32 columns is a wire rule now.)"""
    if device_id is not None and w["d"] != device_id:
        raise RecordError("record.key", f"the window's device id ({w['d']!r})", got=repr(device_id))


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


class RowBuilder:
    """Accumulates decoded windows and builds the Arrow tables of a batch.

    ``on_invalid(token, reason)`` receives the windows found invalid (by default the
    :class:`~edge_sdk.errors.WireError` or :class:`~collector.errors.RecordError` is raised).
    """

    def __init__(self, chunk_windows: int = 512, on_invalid: OnInvalid | None = None,
                 limits: WireLimits = DEFAULT_LIMITS, sums: bool = False,
                 sums_grain_s: int = SUMS_GRAIN_S) -> None:
        self._parts: dict[tuple[str, str], Partition] = {}
        # Every ``chunk_windows`` windows of a partition become Arrow chunks right away: the
        # decoded windows are converted while still in cache and then freed (memory stays
        # bounded by the Arrow data); the batch's tables are those chunks concatenated.
        self._chunks: dict[tuple[str, str], list[dict[str, pa.Table]]] = {}
        self._chunk_windows = chunk_windows
        self.on_invalid = on_invalid
        self.limits = limits
        # ``sums``: also the sketch sums tables (collector/sketch_sums.py), numbered by
        # window group per partition across its chunks
        self._sums: dict[tuple[str, str], sketch_sums.PartitionSums] | None = \
            {} if sums else None
        self._sums_grain_s = sums_grain_s
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
            fields: tuple | None = (w["f"], w.get("pr"), w.get("lt"), w.get("en"),
                                    w.get("lb"))
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
            part = self._parts[key] = Partition()
        assert fields is not None
        append(part, (token, w, device_id, checked, ingest_id, received_at_ms, sent_at_s,
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
                parts = FEATURE_PARTS if name == "features" else (name,)
                found = [c[part] for part in parts for c in chunks if part in c]
                if found:
                    merged[name] = found[0] if len(found) == 1 else pa.concat_tables(found)
            sums = None if self._sums is None else self._sums.get(key)
            summed = None if sums is None or not merged else sums.tables()
            if summed is not None:
                merged.update(zip(schema.SUMS_TABLES, summed, strict=True))
            if merged:
                out[key] = merged
        return out

    # -- checking -------------------------------------------------------------------
    def _check_one(self, w: Any, device_id: str | None, token: Any,
                   validated: bool = False) -> bool:
        """The exact per-window checks; an invalid window goes to ``on_invalid``."""
        try:
            if not validated:
                validate_window(w, self.limits, features_proof=features_proof)
            check_window(w, device_id)
        except (WireError, RecordError) as exc:
            if self.on_invalid is None:
                raise
            self.invalid += 1
            self.on_invalid(token, str(exc))
            return False
        return True

    def _seal(self, key: tuple[str, str], part: Partition) -> None:
        """Prove and build one chunk (re-checking window by window if a proof fails)."""
        if part.unchecked:
            try:
                self._chunks.setdefault(key, []).append(
                    build(part, key[0], self.limits, True, self._sums_groups(key)))
                return
            except Exception as exc:   # noqa: BLE001 - any failed or impossible proof
                log.debug("chunk of %d windows not proven (%s): checking one by one",
                          len(part.ident), exc)
            fresh = Partition()
            for source in part.sources:
                token, w, device_id, checked = source[:4]
                split = source[7]
                if split is not None:       # the exact check reads the whole window
                    w = unpack_window(split.raw, self.limits)
                if checked or self._check_one(w, device_id, token):
                    append(fresh, (token, w, device_id, True, *source[4:7], None),
                            (w["f"], w.get("pr"), w["lt"], w.get("en"), w.get("lb")))
                else:
                    self.windows -= 1
            part = fresh
        if part.ident:
            self._chunks.setdefault(key, []).append(
                build(part, key[0], self.limits, False, self._sums_groups(key)))

    def _sums_groups(self, key: tuple[str, str]) -> sketch_sums.PartitionSums | None:
        return None if self._sums is None else self._sums.setdefault(
            key, sketch_sums.PartitionSums(self._sums_grain_s))
