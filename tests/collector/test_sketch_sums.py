"""The sink's sketch sums (collector/sketch_sums.py) against DuckDB's GROUP BY of the rows.

The roll-ups read these sums instead of every window's feature rows, so they must equal
what SQL gives over the rows the same batch wrote: every column, every group, for both
reducers (the C accelerator and numpy), across chunks, wire versions, tag orders, nulls.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector import sketch_sums
from collector.fake_windows import make_window_body
from collector.row_builder import RowBuilder
from collector.schema import BIN_COLUMNS, SUM_COLUMNS
from edge_sdk.wire import decode_window

ADDERS = [pytest.param(sketch_sums.add_py, id="numpy")]
if sketch_sums.native is not None:
    ADDERS.append(pytest.param(sketch_sums.add_c, id="c"))

_TAGS = ({"fw": "2.1", "region": "eu"}, {"region": "eu", "fw": "2.1"}, {"fw": "2.0"}, {})


def _batch(chunk_windows: int, grain_s: int = 60) -> dict[str, pa.Table]:
    """A batch of 60 windows: 3 versions' worth of tags, two minutes, wire v1 and v2."""
    b = RowBuilder(chunk_windows=chunk_windows, sums=True, sums_grain_s=grain_s)
    for i in range(60):
        body = make_window_body(f"dev-{i % 20}", 100 + i, records=30 + i, seed=i,
                                window_index=i % 2, tags=_TAGS[i % 4],
                                version=1 if i % 5 == 0 else 2)
        w = decode_window(body)
        w["mv"] = f"1.{i % 3}"
        b.add(f"t/0/{i}", w, received_at_ms=1, sent_at_s=2)
    (tables,) = b.tables().values()
    return tables


def _summed_by(adder, batch):
    """``batch()`` with the sums added by ``adder``: C's with C's row grouping, numpy's
    with numpy's (the reducers a sink without the C accelerator runs)."""
    grouper = sketch_sums.group_rows_py if adder is sketch_sums.add_py else sketch_sums.group_rows_c
    old_adder, old_grouper = sketch_sums.use_adder(adder), sketch_sums.use_grouper(grouper)
    try:
        return batch()
    finally:
        sketch_sums.use_adder(old_adder)
        sketch_sums.use_grouper(old_grouper)


def _sql(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return sorted(con.sql(sql).fetchall(), key=repr)


_TAG_KEY = "list_sort(map_entries(tags))"      # (tags listed in another order: one group)


def _start(grain_s: int) -> str:
    return f"(epoch_ms(window_start) // {grain_s * 1000}) * {grain_s * 1000}"


@pytest.mark.parametrize("adder", ADDERS)
@pytest.mark.parametrize(("chunk_windows", "grain_s"), [(7, 60), (512, 60), (7, 3600)])
def test_feature_sums_equal_sql_over_the_rows(adder, chunk_windows, grain_s):
    t = _summed_by(adder, lambda: _batch(chunk_windows, grain_s))
    con = duckdb.connect()
    con.register("f", t["features"])
    con.register("s", t["feature_sums"])
    ints = ["n", "missing", "nan", "inf", "type_mismatch", "out_of_range", "unseen", "other",
            *BIN_COLUMNS, *SUM_COLUMNS[:-3], "sums_n"]
    key = f"version, {_start(grain_s)}, {_TAG_KEY}, feature, kind, layout"
    floats = ["min", "max", "sum_x", "sum_x2", "tail_lo", "tail_hi"]
    raw = _sql(con, f"""SELECT {key}, count(*), {', '.join(f'SUM({c})' for c in ints)},
                   MIN(min), MAX(max), SUM(n * mean), SUM(m2 + n * mean * mean),
                   SUM(tail_lo), SUM(tail_hi) FROM f GROUP BY ALL""")
    summed = _sql(con, f"""SELECT {key}, windows, {', '.join(ints)}, {', '.join(floats)}
                      FROM s""")
    assert len(summed) == len(raw) < t["features"].num_rows        # it does reduce
    for got, want in zip(summed, raw, strict=True):
        n_exact = 7 + len(ints)
        assert got[:n_exact] == want[:n_exact]
        for g, w in zip(got[n_exact:], want[n_exact:], strict=True):
            assert (g is None) == (w is None)
            if g is not None:
                assert g == pytest.approx(w, rel=1e-12, abs=1e-9)
    assert t["feature_sums"].schema.equals(sketch_sums.schema.FEATURE_SUMS)
    assert set(t["feature_sums"]["grain_s"].to_pylist()) == {grain_s}


@pytest.mark.parametrize("adder", ADDERS)
@pytest.mark.parametrize("grain_s", [60, 900])
def test_category_sums_equal_sql_over_the_rows(adder, grain_s):
    t = _summed_by(adder, lambda: _batch(5, grain_s))
    con = duckdb.connect()
    con.register("c", t["categories"])
    con.register("s", t["category_sums"])
    key = f"version, {_start(grain_s)}, {_TAG_KEY}, feature, category"
    raw = _sql(con, f"SELECT {key}, SUM(count) FROM c GROUP BY ALL")
    assert raw and _sql(con, f"SELECT {key}, count FROM s") == raw
    assert t["category_sums"].schema.equals(sketch_sums.schema.CATEGORY_SUMS)
    assert set(t["category_sums"]["grain_s"].to_pylist()) == {grain_s}


def test_a_batch_without_features_still_has_its_sums_tables():
    """The roll-ups tell a batch written with sums from one written before them by the
    sums files being there, so a batch always has both, empty or not."""
    b = RowBuilder(sums=True)
    w = decode_window(make_window_body("dev-1", 1, records=5, numeric=0, categorical=0))
    b.add("t/0/1", w, received_at_ms=1, sent_at_s=2)
    (tables,) = b.tables().values()
    assert tables["category_sums"].num_rows == 0
    assert "_group" not in tables["feature_sums"].column_names
    assert RowBuilder().tables() == {}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(-2**31, 2**31 - 1),
                          st.integers(-2**40, 2**40),
                          st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=80))
def test_the_adders_agree(rows):
    """Hypothesis: numpy and C add the same sums, minima and maxima into each group."""
    if sketch_sums.native is None:
        pytest.skip("collector._sinkfast is not built")
    g = np.array([r[0] for r in rows], np.int64)
    i32 = np.array([r[1] for r in rows], np.int32)
    i64 = np.array([r[2] for r in rows], np.int64)
    f64 = np.array([r[3] for r in rows], np.float64)
    ops = [(sketch_sums.SUM_I32, i32, 0), (sketch_sums.SUM_I64, i64, 0),
           (sketch_sums.SUM_F64, f64, 0.0), (sketch_sums.MIN_F64, f64, np.inf),
           (sketch_sums.MAX_F64, f64, -np.inf),
           (sketch_sums.SUM_NX, (f64, i64 % 1000), 0.0),
           (sketch_sums.SUM_NXX, ([f64[:1], f64[1:]], [i64[:1] % 1000, i64[1:] % 1000],
                                  [f64[:1], f64[1:]]), 0.0)]
    cells = {}
    for name, adder in (("py", sketch_sums.add_py), ("c", sketch_sums.add_c)):
        accs = [np.full(7, start, np.int64 if isinstance(start, int) else np.float64)
                for _, _, start in ops]
        adder(g, [(op, v, acc) for (op, v, _), acc in zip(ops, accs, strict=True)])
        adder(g, [(op, v, acc) for (op, v, _), acc in zip(ops, accs, strict=True)])  # twice
        cells[name] = accs
    want_i32 = [2 * int(i32[g == k].astype(np.int64).sum()) for k in range(7)]
    assert cells["py"][0].tolist() == cells["c"][0].tolist() == want_i32
    assert cells["py"][1].tolist() == cells["c"][1].tolist()
    assert np.allclose(cells["py"][2], cells["c"][2], rtol=1e-12, atol=1e-6)
    for k in (3, 4):
        assert cells["py"][k].tolist() == cells["c"][k].tolist()
    assert cells["c"][3].tolist() == [f64[g == k].min() if (g == k).any() else np.inf
                                      for k in range(7)]
    n = (i64 % 1000).astype(np.float64)
    assert cells["py"][5].tolist() == cells["c"][5].tolist()      # the same order: exact
    assert cells["py"][6].tolist() == cells["c"][6].tolist()
    assert np.allclose(cells["c"][5], [2 * (n * f64)[g == k].sum() for k in range(7)],
                       rtol=1e-9, atol=1e-3)
    assert np.allclose(cells["c"][6], [2 * (f64 + n * f64 * f64)[g == k].sum()
                                       for k in range(7)], rtol=1e-9, atol=1e-3)


def test_group_add_rejects_bad_groups_and_short_cells():
    if sketch_sums.native is None:
        pytest.skip("collector._sinkfast is not built")
    acc = np.zeros(2, np.int64)
    with pytest.raises(ValueError, match="expected >= 0"):
        sketch_sums.add_c(np.array([0, -1], np.int64),
                          [(sketch_sums.SUM_I64, np.array([1, 2], np.int64), acc)])
    with pytest.raises(ValueError, match="at least 3 cells"):
        sketch_sums.add_c(np.array([0, 2], np.int64),
                          [(sketch_sums.SUM_I64, np.array([1, 2], np.int64), acc)])
    with pytest.raises(ValueError, match="column 0"):
        sketch_sums.add_c(np.array([0, 1], np.int64),
                          [(sketch_sums.SUM_I64, np.array([1], np.int64), acc)])
    assert acc.tolist() == [0, 0]                    # a refused call adds nothing
    first = np.zeros(2, np.int64)
    with pytest.raises(ValueError, match="column 1"):  # ... also to the columns before
        sketch_sums.add_c(np.array([0, 1], np.int64),
                          [(sketch_sums.SUM_I64, np.array([5, 6], np.int64), first),
                           (sketch_sums.SUM_I64, np.array([1], np.int64), acc)])
    assert first.tolist() == [0, 0]
    cell = np.zeros(2)
    with pytest.raises(ValueError, match="column 0"):  # n in other pieces than x
        sketch_sums.add_c(np.array([0, 1], np.int64),
                          [(sketch_sums.SUM_NX, ([np.ones(2)], [np.ones(1, np.int64)] * 2),
                            cell)])
    with pytest.raises(ValueError, match="column 0"):  # x^2's a missing
        sketch_sums.add_c(np.array([0, 1], np.int64),
                          [(sketch_sums.SUM_NXX, (np.ones(2), np.ones(2, np.int64)), cell)])
    assert cell.tolist() == [0.0, 0.0]


_TAG_TEXT = st.sampled_from(["a", "b", "fw", ""])


@pytest.mark.parametrize("path", ["tuples", "table"])
@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["1.0", "2.0"]), st.integers(0, 10_000_000),
                          st.none() | st.dictionaries(_TAG_TEXT, _TAG_TEXT, max_size=3)),
                min_size=1, max_size=40),
       st.sampled_from([60, 600, 3600]))
@example([("1.0", 0, {"a": "b"}), ("1.0", 0, {}), ("1.0", 0, None), ("1.0", 59_999, None),
          ("1.0", 60_000, None)], 60)
@example([("1.0", 0, {"a": "b", "fw": ""}), ("1.0", 0, {"fw": "", "a": "b"}),
          ("1.0", 0, {"a": "b"}), ("1.0", 0, {"fw": "", "a": "b"}), ("2.0", 0, {"a": "b"})], 60)
def test_windows_share_a_group_exactly_when_their_keys_are_equal(path, windows, grain_s):
    """Hypothesis: two windows share a group iff version, start floored to the grain and
    tags (in any order) are equal; a group's key is its first window's. Both ways: from
    the identity tuples, and (C) from the chunk's windows table."""
    if path == "table" and sketch_sums.native is None:
        pytest.skip("collector._sinkfast is not built")
    ident = [("d", v, i, s, s + 60_000, "x", t) for i, (v, s, t) in enumerate(windows)]
    table = pa.table({
        "version": pa.array([v for v, _, _ in windows], pa.string()),
        "window_start": pa.array([s for _, s, _ in windows], pa.int64()).cast(
            sketch_sums.schema.WINDOWS.field("window_start").type),
        "tags": pa.array([t for _, _, t in windows], sketch_sums.schema.WINDOWS.field(
            "tags").type)})
    sums = sketch_sums.PartitionSums(grain_s)
    half = len(windows) // 2                     # two chunks: groups numbered across them
    groups = []
    for lo, hi in ((0, half), (half, len(windows))):
        chunk = table.slice(lo, hi - lo) if path == "table" else None
        groups += sums.window_groups(ident[lo:hi], chunk).tolist()
    keys = [(v, s // (grain_s * 1000), None if t is None else frozenset(t.items()))
            for v, s, t in windows]
    for i in range(len(windows)):
        for j in range(len(windows)):
            assert (groups[i] == groups[j]) == (keys[i] == keys[j])
    for (v, s, t), g in zip(windows, groups, strict=True):
        assert sums._window_keys[g] == (v, s // (grain_s * 1000) * grain_s * 1000, t)


_STRINGS = st.sampled_from(["", "a", "b", "fw", "feature_01", "feature_01x", "é",
                           "0123456789abcdef"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.none() | _STRINGS,
                          st.none() | st.lists(st.tuples(_STRINGS, _STRINGS), max_size=3)),
                max_size=60),
       st.integers(0, 5))
@example([(0, "a", [("a", "b"), ("fw", "")]), (0, "a", [("fw", ""), ("a", "b")]),
          (0, "a", [("a", "b"), ("fw", "")]), (0, None, None), (0, "", []), (1, "a", None)], 2)
def test_the_row_groupers_agree_and_group_by_equal_keys(rows, skip):
    """Hypothesis: numpy and C number rows' groups the same way: two rows share a group
    iff lead, string (null its own value) and map (its entries in order) are equal;
    groups numbered in order of first appearance, each with its first row. The arrays
    are slices (``skip`` rows off), as a chunk's columns can be."""
    keys = [(0, "", [])] * skip + rows
    lead = np.array([k[0] for k in keys], np.int64)[skip:]
    text = pa.array([k[1] for k in keys], pa.string()).slice(skip)
    tags = pa.array([k[2] for k in keys], pa.map_(pa.string(), pa.string())).slice(skip)
    tags = sketch_sums._rebased(tags)
    out = {"py": sketch_sums.group_rows_py(lead, [text, tags])}
    if sketch_sums.native is not None:
        out["c"] = sketch_sums.group_rows_c(lead, [text, tags])
    for ids, first in out.values():
        assert ids.tolist() == out["py"][0].tolist() and first.tolist() == out["py"][1].tolist()
        seen: dict = {}
        for i, key in enumerate(rows):
            k = (key[0], key[1], None if key[2] is None else tuple(key[2]))
            assert ids[i] == seen.setdefault(k, len(seen))
            if ids[i] == len(seen) - 1 and list(seen)[-1] == k:
                assert first[ids[i]] <= i
        assert [ids[f] for f in first.tolist()] == list(range(len(first)))
        assert sorted(set(ids.tolist())) == list(range(len(first)))


def test_group_rows_refuses_offsets_outside_its_data():
    """Untrusted buffers: an offset past the data, or the wrong number of them, raises."""
    if sketch_sums.native is None:
        pytest.skip("collector._sinkfast is not built")
    lead = np.zeros(2, np.int64)
    with pytest.raises(ValueError, match="outside its 3 bytes"):
        sketch_sums.native.group_rows(lead, [(np.array([0, 1, 9], np.int32), b"abc", None)])
    with pytest.raises(ValueError, match="expected 3 int32 offsets"):
        sketch_sums.native.group_rows(lead, [(np.array([0, 1], np.int32), b"abc", None)])
    with pytest.raises(ValueError, match="outside its 1 strings"):
        sketch_sums.native.group_rows(lead, [(np.array([0, 1], np.int32), b"abc", None,
                                              np.array([0, 1, 2], np.int32))])
    with pytest.raises(ValueError, match="null flags"):
        sketch_sums.native.group_rows(lead, [(np.array([0, 1, 2], np.int32), b"ab",
                                              np.zeros(1, np.uint8))])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.sampled_from([0, 0, 0, 0, 1, -7, 2**31 - 1]),
                          st.sampled_from([0.0, -0.0, 0.0, 1.5, -2.25])),
                min_size=1, max_size=300),
       st.integers(1, 4))
def test_the_adders_agree_on_mostly_zero_columns(rows, pieces):
    """Hypothesis: C skips blocks of zeros (most of a batch's cells are); numpy and C still
    add the same sums into each group, whatever pieces the rows come in."""
    if sketch_sums.native is None:
        pytest.skip("collector._sinkfast is not built")
    g = np.array([r[0] for r in rows], np.int64)
    i32 = np.array([r[1] for r in rows], np.int32)
    f64 = np.array([r[2] for r in rows], np.float64)
    cuts = sorted({len(rows) * k // pieces for k in range(1, pieces)})
    cells = {}
    for name, adder in (("py", sketch_sums.add_py), ("c", sketch_sums.add_c)):
        accs = [np.zeros(5, np.int64), np.zeros(5, np.int64), np.zeros(5, np.float64)]
        adder(g, [(sketch_sums.SUM_I32, np.split(i32, cuts), accs[0]),
                  (sketch_sums.SUM_I64, np.split(i32.astype(np.int64), cuts), accs[1]),
                  (sketch_sums.SUM_F64, np.split(f64, cuts), accs[2])])
        cells[name] = accs
    want = [int(i32[g == k].astype(np.int64).sum()) for k in range(5)]
    assert cells["c"][0].tolist() == cells["c"][1].tolist() == cells["py"][0].tolist() == want
    assert cells["c"][2].tolist() == cells["py"][2].tolist()


@pytest.mark.parametrize(("chunk_windows", "grain_s"), [(7, 60), (512, 3600)])
def test_the_sums_read_the_c_paths_views_as_they_read_the_tables(chunk_windows, grain_s,
                                                                  monkeypatch):
    """The C path hands the sums its value columns as numpy views (no conversion a column);
    the pure-Python path's Arrow tables are read column by column. Both give the same
    sums, and the views are really taken when the C path builds the rows."""
    from collector import columns

    if columns.C is None:
        pytest.skip("collector._sinkfast is not built")
    seen: list[bool] = []
    add_chunk = sketch_sums.PartitionSums.add_chunk

    def spy(self, ident, features, categories, windows=None):
        seen.extend(numbers is not None for part, (_, _, numbers) in features.items()
                    if part.endswith("numeric"))
        return add_chunk(self, ident, features, categories, windows)

    monkeypatch.setattr(sketch_sums.PartitionSums, "add_chunk", spy)
    out = {}
    for backend in (columns.C, columns.PYTHON):
        seen.clear()
        with columns.use(backend):
            out[backend.name] = _batch(chunk_windows, grain_s)
        assert seen and all(seen) == (backend is columns.C) and any(seen) == all(seen)
    for table in ("feature_sums", "category_sums"):
        c, py = (out[k][table] for k in ("c", "python"))
        assert c.num_rows and c.equals(py), table
