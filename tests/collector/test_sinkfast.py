"""The C accelerator of the numeric feature columns equals the pure-Python path.

``collector._sinkfast`` (built by setup.py when a C compiler is there) turns a
chunk's numeric feature entries into column buffers and proves them in one pass.
The pure-Python path (``numeric_columns_py``) is the reference: on random and
mutated entries both must refuse the same chunks and, when they accept, give
identical columns in the identical row order; the whole RowBuilder must write
identical tables either way.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import shutil
from collections.abc import Iterator
from typing import Any

import msgpack
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from collector import columns, columns_c
from collector.columns_c import categorical_columns_c, label_columns_c, numeric_columns_c
from collector.columns_py import categorical_columns_py, label_columns_py, numeric_columns_py
from collector.fake_windows import make_window_body
from collector.row_builder import RowBuilder
from edge_sdk.numeric import pack_counts

# where a C compiler is, the module must have been built (its build is optional in setup.py)
native = importlib.import_module("collector._sinkfast") if shutil.which("cc") \
    else pytest.importorskip("collector._sinkfast")

# wire-v2 windows (numeric entries ending with slot sums), then v1 ones (devices upgrade
# slowly): both go through the C split and column builders
_WINDOWS = [msgpack.unpackb(make_window_body(f"dev-{i}", i, records=30 + 40 * i, seed=i,
                                             window_index=0, version=v))
            for v, i in ((2, 0), (2, 1), (2, 2), (1, 1), (1, 2))]
_ENTRIES = [e for w in _WINDOWS for e in w["f"] if e[1] == 0]
_WRONG = [None, True, False, -1, 0, 1, 7, 2**31, 2**40 - 1, 2**40, 2**53 + 1, 2**63, 2**1100,
          1.5, -0.0, 1e308, float("nan"), float("inf"), -float("inf"), "", "x", "é" * 40,
          "y" * 129, "u1", "p1", "lat1", "e:x", b"", b"\x01", b"\x03\x01\x02\x03",
          b"\x04\xff\xff\xff\xff", b"\x04\x00\x00\x00\x80", b"\x02\x01", b"\x01" + b"\x00" * 65,
          b"\x01" + b"\x01" * 64, pack_counts([1, 2, 3]), [], {}, "__latency__"]


def test_the_sink_uses_the_accelerator_when_it_is_built() -> None:
    """setup.py marks the extension optional: a failed build would silently leave only the
    slow path, so where a compiler exists the module must be there and in use."""
    assert columns_c.native is native and columns.active() is columns.C


@contextlib.contextmanager
def pure_python() -> Iterator[None]:
    with columns.use(columns.PYTHON):
        yield


def _same(a: Any, b: Any) -> None:
    """The C and Python results are equal: None alike, Arrow arrays by type and values,
    numpy arrays by values, tuples and lists item by item."""
    if a is None or b is None:
        assert a is b
    elif isinstance(a, pa.Array):
        assert a.type == b.type and a.to_pylist() == b.to_pylist()
    elif isinstance(a, np.ndarray):
        assert a.tolist() == b.tolist()
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        assert a == b


@st.composite
def mutated_copies(draw: st.DrawFn, pool: list[list], wrong: list, max_size: int) -> list[list]:
    """Copies of entries from ``pool``, up to two items of them swapped for a ``wrong`` value."""
    picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=max_size))
    entries = [copy.deepcopy(pool[i]) for i in picks]
    for _ in range(draw(st.integers(0, 2))):
        entry = entries[draw(st.integers(0, len(entries) - 1))]
        entry[draw(st.integers(0, len(entry) - 1))] = copy.deepcopy(draw(st.sampled_from(wrong)))
    return entries


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_copies(_ENTRIES, _WRONG, 40))
def test_c_and_python_refuse_the_same_entries_and_build_the_same_columns(entries) -> None:
    _same(numeric_columns_c(entries), numeric_columns_py(entries))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, len(_ENTRIES) - 1), min_size=1, max_size=60))
def test_unchecked_valid_entries_build_the_same_columns(picks: list[int]) -> None:
    entries = [_ENTRIES[i] for i in picks]
    c, py = numeric_columns_c(entries, check=False), numeric_columns_py(entries, check=False)
    assert c is not None
    _same(c, py)


def test_rows_are_ordered_by_bin_shape_then_by_entry() -> None:
    both = copy.deepcopy([e for e in _ENTRIES if e[2] == "u1"][:4])
    narrow, wide = both[:2], both[2:]
    for e in wide:                       # 2-byte counts: a longer bin shape
        e[3], e[11] = 300, pack_counts([300] + [0] * 63)
    assert [e[11][0] for e in both] == [1, 1, 2, 2]
    entries = [wide[0], narrow[0], wide[1], narrow[1]]
    order, names, _, ints, _, _, _ = numeric_columns_c(entries)
    assert ints[0].to_pylist() == [e[3] for e in (narrow[0], narrow[1], wide[0], wide[1])]
    assert order.tolist() == sorted(range(4), key=lambda i: (len(entries[i][11]) * 8
                                                            + entries[i][11][0], i))


@pytest.mark.parametrize("position, value", [
    (3, 2**40), (4, -1), (7, float("nan")), (1, True), (0, ""), (2, "z" * 33),
    (11, b"\x04\x00\x00\x00\x80"), (11, b"\x03\x00\x00\x00")])
def test_each_broken_rule_refuses_the_chunk(position: int, value: Any) -> None:
    entries = copy.deepcopy(_ENTRIES[:5])
    entries[2][position] = value
    assert numeric_columns_c(entries) is None
    assert numeric_columns_py(entries) is None


def test_a_wrong_type_raises_when_unchecked() -> None:
    entries = copy.deepcopy(_ENTRIES[:2])
    entries[1][5] = "x"
    with pytest.raises(TypeError):
        numeric_columns_c(entries, check=False)


def test_entries_that_are_not_14_item_lists_are_refused() -> None:
    assert native.numeric_columns([["x", 0]], True, 128, {}) is None
    assert native.numeric_columns([("x",) * 14], True, 128, {}) is None
    with pytest.raises(TypeError):
        native.numeric_columns([("x",) * 14], False, 128, {})


@st.composite
def mutated_windows(draw: st.DrawFn) -> list[dict]:
    out = []
    for _ in range(draw(st.integers(1, 6))):
        w = copy.deepcopy(draw(st.sampled_from(_WINDOWS)))
        for _ in range(draw(st.integers(0, 2))):
            entry = w["f"][draw(st.integers(0, len(w["f"]) - 1))]
            entry[draw(st.integers(0, len(entry) - 1))] = copy.deepcopy(
                draw(st.sampled_from(_WRONG)))
        out.append(w)
    return out


def _build(windows: list[dict], chunk: int) -> tuple[dict, dict]:
    found: dict[int, str] = {}
    b = RowBuilder(chunk_windows=chunk, on_invalid=lambda tok, why: found.setdefault(tok, why))
    for i, w in enumerate(windows):
        b.add(f"t/0/{i}", copy.deepcopy(w), 1_764_000_000_000, 1_764_000_000,
              device_id=w["d"], token=i)
    return b.tables(), found


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_windows(), st.integers(1, 4))
def test_the_builder_writes_identical_tables_with_or_without_the_accelerator(windows, chunk):
    tables_c, found_c = _build(windows, chunk)
    with pure_python():
        tables_py, found_py = _build(windows, chunk)
    assert found_c == found_py
    assert tables_c.keys() == tables_py.keys()
    for key in tables_c:
        assert tables_c[key].keys() == tables_py[key].keys()
        for name in tables_c[key]:
            assert tables_c[key][name].equals(tables_py[key][name]), (key, name)


# -- split_numeric: numeric entries packed straight from the msgpack bytes -----------------
from collector.columns import unpack_split  # noqa: E402
from edge_sdk.errors import WireError  # noqa: E402
from edge_sdk.wire import BUILTIN_SLOTS, PSEUDO_FEATURES, unpack_window  # noqa: E402


def _plain_builder(windows: list[bytes], chunk: int, split: bool) -> tuple[dict, dict]:
    found: dict[int, str] = {}
    b = RowBuilder(chunk_windows=chunk, on_invalid=lambda tok, why: found.setdefault(tok, why))
    for i, raw in enumerate(windows):
        try:
            w, parts = unpack_split(raw) if split else (unpack_window(raw), None)
        except WireError as exc:
            found[i] = f"undecodable: {exc}"
            continue
        device = w.get("d") if isinstance(w, dict) and isinstance(w.get("d"), str) else "dev-0"
        b.add(f"t/0/{i}", w, 1_764_000_000_000, 1_764_000_000, device_id=device, token=i,
              split=parts)
    return b.tables(), found


def _assert_same_tables(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert a[key][name].equals(b[key][name]), (key, name)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_windows(), st.integers(1, 4))
def test_windows_split_in_c_give_the_tables_and_rejections_of_the_plain_decode(windows, chunk):
    try:
        raw = [msgpack.packb(w, use_bin_type=True) for w in windows]
    except OverflowError:        # e.g. 2**1100: no msgpack encoding (it tests the objects path)
        assume(False)
    tables_split, found_split = _plain_builder(raw, chunk, split=True)
    tables_plain, found_plain = _plain_builder(raw, chunk, split=False)
    assert found_split == found_plain
    _assert_same_tables(tables_split, tables_plain)


def _removed(full: list, kept: list) -> list:
    """The entries of ``full`` that are not in its subsequence ``kept`` (in order)."""
    out, j = [], 0
    for entry in full:
        if j < len(kept) and kept[j] == entry:
            j += 1
        else:
            out.append(entry)
    assert j == len(kept), "kept is not a subsequence of the window's f"
    return out


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    data = bytearray(msgpack.packb(draw(st.sampled_from(_WINDOWS)), use_bin_type=True))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "byte", "cut", "insert", "delete"]))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            data[at] = draw(st.sampled_from([0x00, 0x7f, 0xc0, 0xc1, 0xc2, 0xca, 0xcb, 0xcc,
                                             0xcf, 0xd3, 0xd4, 0xd9, 0xdc, 0xdd, 0xde, 0xdf,
                                             0xc4, 0xc7, 0xff, 0x9e, 0x9d, 0xa1]))
        elif op == "cut":
            del data[at:]
            if not data:
                data.append(0x80)
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=6))
        else:
            del data[at:at + draw(st.integers(1, 8))]
            if not data:
                data.append(0x80)
    return bytes(data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_bytes())
def test_split_never_crashes_and_loses_or_invents_nothing(data: bytes) -> None:
    """Any bytes: the split either declines, or its rest decodes to the window minus exactly
    the entries its rows hold; unpack_split raises exactly what the plain decode raises."""
    try:
        plain = unpack_window(data)
    except WireError as exc:
        with pytest.raises(WireError) as caught:
            unpack_split(data)
        assert str(caught.value) == str(exc)
        return
    parts = native.split_numeric(data, 128, BUILTIN_SLOTS, PSEUDO_FEATURES[:3])
    if parts is None:
        return
    rest_bytes, rows, count, f_count, packed, cat_rows, cat_count, labels, version = parts
    rest = msgpack.unpackb(bytes(rest_bytes), raw=False, strict_map_key=False)
    taken = [key for bit, key in enumerate(("pr", "lt", "en", "lb")) if packed & (1 << bit)]
    assert rest.keys() == plain.keys() - set(taken)
    assert {k: v for k, v in rest.items() if k != "f"} == \
        {k: v for k, v in plain.items() if k != "f" and k not in taken}
    assert f_count == len(plain["f"])
    removed = _removed(plain["f"], rest["f"])
    numeric = [e for e in removed if len(e) in (14, 15)]
    categorical = [e for e in removed if len(e) not in (14, 15)]
    assert {len(e) - 13 for e in numeric} <= {version}      # one version per window
    numeric += [[PSEUDO_FEATURES[("pr", "lt", "en").index(key)], *plain[key]]
                for key in taken if key != "lb"]
    assert (labels is not None) == ("lb" in taken)
    if labels is not None:
        _same(label_columns_c([labels], check=False), label_columns_py([plain["lb"]]))
    assert len(numeric) == count > 0 and len(categorical) == cat_count
    _same(numeric_columns_c([rows], check=False), numeric_columns_py(numeric, check=True))
    _same(categorical_columns_c([cat_rows], check=False),
                      categorical_columns_py(categorical, check=True))


_CATS = [e for w in _WINDOWS for e in w["f"] if e[1] == 1]
_CAT_WRONG = _WRONG + [{"a": 1, "b": -1}, {"a": 2**40}, {"": 3}, {"k" * 65: 1}, {1: 2},
                       {"a": 1.0}, {"a": True}]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_copies(_CATS, _CAT_WRONG, 20))
def test_c_and_python_categorical_columns_agree(entries) -> None:
    _same(categorical_columns_c(entries), categorical_columns_py(entries))


def _split(w: dict) -> Any:
    return native.split_numeric(msgpack.packb(w, use_bin_type=True), 128, BUILTIN_SLOTS,
                                PSEUDO_FEATURES[:3])


@pytest.mark.parametrize("version", [1, 2])
def test_split_and_plain_windows_give_the_same_slot_sum_columns(version: int) -> None:
    raw = make_window_body("dev-9", 9, records=200, seed=4, window_index=0, version=version)
    assert _split(msgpack.unpackb(raw))[-1] == version
    tables = []
    for w, split in (unpack_split(raw), (unpack_window(raw), None)):
        b = RowBuilder()
        b.add("t/0/0", w, 1, 1, split=split)
        (_, t), = b.tables().items()
        tables.append(t["features"])
    assert tables[0].equals(tables[1])
    feats = tables[0].to_pylist()
    numeric = [r for r in feats if r["kind"] == 0]
    assert all(r["sums_n"] == (r["n"] if version == 2 else 0) for r in numeric)
    assert all(r["sums_n"] == 0 for r in feats if r["kind"] == 1)
    assert any(r["pos3"] > 0 for r in numeric) == (version == 2)


def test_a_window_mixing_entry_versions_is_left_to_the_exact_check() -> None:
    w = msgpack.unpackb(make_window_body("dev-9", 9, records=50, seed=4, window_index=0))
    w["f"][0] = w["f"][0][:14]                          # one v1-shaped entry in a v2 body
    assert _split(w) is None
    w = msgpack.unpackb(make_window_body("dev-9", 9, records=50, seed=4, window_index=0))
    w["v"] = 1                                          # v2 entries under "v": 1
    b = RowBuilder(on_invalid=lambda token, why: found.append(why))
    found: list[str] = []
    decoded, split = unpack_split(msgpack.packb(w, use_bin_type=True))
    assert split is not None and split.version == 2
    b.add("t/0/0", decoded, 1, 1, split=split)
    b.tables()
    assert found and "w.f[0]" in found[0]


def test_an_ordinary_window_is_split_whole() -> None:
    parts = _split(_WINDOWS[1])
    assert parts is not None
    assert parts[2] == sum(e[1] == 0 for e in _WINDOWS[1]["f"]) + 3     # + pr, lt, en
    assert parts[4] == 1 | 2 | 4 | 8                                     # + the labels
    assert parts[6] == sum(e[1] == 1 for e in _WINDOWS[1]["f"])
    assert msgpack.unpackb(parts[0]).keys() == _WINDOWS[1].keys() - {"pr", "lt", "en", "lb"}


@pytest.mark.parametrize("where, index, change", [
    ("cat", 2, 1), ("cat", 6, 1), ("cat", 5, 10**6), ("cat", 7, "count+1"), ("cat", 7, "dup"),
    ("num", 3, 1), ("num", 4, -10**9), ("num", 7, float("inf")), ("num", 11, "bin+1"),
    ("num", 2, "p1"), ("num", 0, "\udc80"), ("lt", 2, 1), ("lt", 6, float("nan")),
    ("lb", 1, 1), ("lb", 3, 1), ("lb", 4, "count+1"), ("lb", 4, "empty"),
])
def test_a_window_breaking_a_rule_is_left_to_the_plain_decode(where, index, change) -> None:
    """Every rule of the C split, broken once: it declines (the plain path then names the
    field), so the C path never accepts what the column proofs would refuse."""
    w = copy.deepcopy(_WINDOWS[1])
    if where in ("lt", "lb"):
        entry = w[where]
    else:
        entry = next(e for e in w["f"] if e[1] == (1 if where == "cat" else 0))
    if change == "count+1" and where == "lb":
        entry[4][0][2] += 1
    elif change == "empty":            # an empty predicted class
        entry[4][0][0] = ""
    elif change == "count+1":
        first = next(iter(entry[7]))
        entry[7][first] += 1
    elif change == "dup":     # a key twice in one map: msgpack keeps one, the plain path rules
        raw = msgpack.packb(w, use_bin_type=True)
        key = next(iter(entry[7])).encode()
        pair = bytes([0xa0 | len(key)]) + key
        at = raw.index(pair)
        doubled = bytearray(raw)
        head = raw.rindex(bytes([0x80 | len(entry[7])]), 0, at)
        doubled[head] += 1
        doubled[at:at] = pair + b"\x00"
        assert msgpack.unpackb(bytes(doubled))["f"] == w["f"]    # still decodes, one key
        assert native.split_numeric(bytes(doubled), 128, BUILTIN_SLOTS,
                                    PSEUDO_FEATURES[:3]) is None
        return
    elif change == "bin+1":
        packed = bytearray(entry[11])
        packed[1] += 1
        entry[11] = bytes(packed)
    elif change == "\udc80":
        entry[0] = "ok"
        raw = msgpack.packb(w, use_bin_type=True).replace(b"\xa2ok", b"\xa2\xed\xb2", 1)
        with pytest.raises(WireError, match="UTF-8"):
            unpack_window(raw)
        assert native.split_numeric(raw, 128, BUILTIN_SLOTS, PSEUDO_FEATURES[:3]) is None
        return
    elif isinstance(change, int) and not isinstance(change, bool):
        entry[index] += change
    else:
        entry[index] = change
    assert _split(w) is None


_LABELS = [w["lb"] for w in _WINDOWS if w.get("lb")]
_LABEL_WRONG = _WRONG + [[["a", "b"]], [["a", "b", -1]], [["a", 1, 2]], [[" ", "", 1]], [],
                         [["é", "é", 3]], [["a", "b", 2**40]]]


@st.composite
def mutated_labels(draw: st.DrawFn) -> list[list]:
    picks = draw(st.lists(st.integers(0, len(_LABELS) - 1), min_size=1, max_size=10))
    sets = [copy.deepcopy(_LABELS[i]) for i in picks]
    for _ in range(draw(st.integers(0, 2))):
        chosen = sets[draw(st.integers(0, len(sets) - 1))]
        cells = chosen[4]
        if draw(st.booleans()) and type(cells) is list and cells \
                and all(type(c) is list and len(c) == 3 for c in cells):
            cell = cells[draw(st.integers(0, len(cells) - 1))]
            cell[draw(st.integers(0, 2))] = copy.deepcopy(draw(st.sampled_from(_WRONG)))
        else:
            chosen[draw(st.integers(1, 4))] = copy.deepcopy(draw(st.sampled_from(_LABEL_WRONG)))
    return sets


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_labels())
def test_c_and_python_label_columns_agree(sets) -> None:
    _same(label_columns_c(sets), label_columns_py(sets))


@st.composite
def mutated_records(draw: st.DrawFn) -> bytes:
    from collector.records import IngestRecord

    w = msgpack.packb(draw(st.sampled_from(_WINDOWS)), use_bin_type=True)
    value = IngestRecord("dev-1", w, draw(st.integers(0, 2**40)),
                         draw(st.integers(0, 2**62))).kafka_value()
    data = bytearray(value)
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, min(len(data) - 1, 40)))     # the envelope's keys and ints
        data[at] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(mutated_records())
def test_parse_record_agrees_with_msgpack_or_declines(value: bytes) -> None:
    parsed = native.parse_record(value, 256 << 10)
    if parsed is None:
        return
    r, t, start, end = parsed
    assert msgpack.unpackb(value, raw=False) == {"v": 1, "r": r, "t": t, "w": value[start:end]}


@pytest.mark.parametrize("record", [
    {"v": 2, "r": 1, "t": 1, "w": b"x"}, {"v": True, "r": 1, "t": 1, "w": b"x"},
    {"v": 1, "r": 1, "t": 2**63 // 1000 + 1, "w": b"x"}, {"v": 1, "r": -1, "t": 1, "w": b"x"},
    {"v": 1, "r": 1, "t": 1, "w": "x"}, {"v": 1, "r": 1, "t": 1}, {"v": 1, "r": 1, "t": 1.0,
                                                                     "w": b"x"},
    {"v": 1, "r": 1, "t": 1, "w": b"x", "z": 0}, {"v": 1, "r": 1, "t": 1, "w": b"x" * 300_000},
])
def test_parse_record_declines_every_other_envelope(record: dict) -> None:
    assert native.parse_record(msgpack.packb(record, use_bin_type=True), 256 << 10) is None


def test_parse_record_declines_a_key_twice() -> None:
    raw = msgpack.packb({"v": 1, "r": 1, "t": 1, "w": b"x"}, use_bin_type=True)
    twice = raw.replace(b"\xa1r\x01", b"\xa1v\x01", 1)      # "v" twice, no "r"
    assert msgpack.unpackb(twice)["v"] == 1
    assert native.parse_record(twice, 256 << 10) is None
    assert native.parse_record(raw, 256 << 10) is not None


def test_the_c_region_rule_is_the_python_one_for_every_slot_count() -> None:
    """The slot-sum regions the C path sums bins over are edge_sdk.layout.regions (the one
    Python statement of the rule), for every slot count a layout can have and beyond."""
    from edge_sdk.layout import MAX_SLOTS, regions

    for slots in range(0, 4 * MAX_SLOTS):
        assert native.region_bounds(slots) == regions(slots), slots
