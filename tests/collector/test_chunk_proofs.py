"""The sink's column-wise chunk proofs accept exactly what the per-window validator accepts.

Windows are decoded, then mutated at random places (a value swapped for one of many
wrong or boundary values, a key removed, a feature entry duplicated, an unknown key
added), and fed to :class:`collector.row_builder.RowBuilder` in small chunks. The set of
windows the builder reports invalid must equal the set on which
``edge_sdk.wire.validate_window`` + ``collector.row_builder.check_window`` raise, and the
rows written must be exactly those of the valid windows.
"""

from __future__ import annotations

import copy
from typing import Any

import msgpack
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.errors import RecordError
from collector.fake_windows import make_window_body
from collector.row_builder import RowBuilder, check_window
from collector.row_builder import features_proof as _PROOF
from edge_sdk.errors import WireError
from edge_sdk.numeric import pack_counts
from edge_sdk.wire import validate_window

_BASES = [msgpack.unpackb(make_window_body(f"dev-{i}", i, records=40 + 30 * i, seed=i,
                                           window_index=0))
          for i in range(4)]
_BASES[3]["lb"] = [3, 5, 0, 1.5, 2.25,
                   [0, "e:x", 5, 0, 0, 0, -1.0, 1.0, 0.1, 0.5, pack_counts([1, 3, 1]), 0, 0]]
_BASES[2]["sm"] = {"c": ["x00", "c0"], "r": [[1.5, "front"], [None, "back"]]}

_WRONG = [None, True, False, -1, 0, 1, 2**31, 2**40 - 1, 2**40, 2**62, 2**63 - 1, 2**63,
          2**64 - 1, 1.5, -0.0, float("nan"), float("inf"), "", "x", "é" * 3, "y" * 200, b"",
          b"\x01", b"\x04\xff\xff\xff\xff",
          b"\x02\x01", [], [0], {}, {"a": 1}, {"": "v"}, {"k": -5}, [["a", "b", -1]],
          "__latency__", "__label_error__", "lat1", "p1"]


def _slots(obj: Any, path: tuple = ()) -> list[tuple]:
    """Every (path to container, key) inside a decoded window."""
    out = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) \
        if isinstance(obj, list) else ()
    for k, v in items:
        out.append((path, k))
        out.extend(_slots(v, path + (k,)))
    return out


def _at(obj: Any, path: tuple) -> Any:
    for k in path:
        obj = obj[k]
    return obj


@st.composite
def mutated_window(draw: st.DrawFn) -> dict[str, Any]:
    w = copy.deepcopy(draw(st.sampled_from(_BASES)))
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["swap", "swap", "swap", "drop", "dup", "extra"]))
        slots = _slots(w)
        path, key = draw(st.sampled_from(slots))
        parent = _at(w, path)
        if kind == "swap":
            parent[key] = copy.deepcopy(draw(st.sampled_from(_WRONG)))
        elif kind == "drop":
            del parent[key]
        elif kind == "dup" and isinstance(w.get("f"), list) and w["f"]:
            w["f"].append(copy.deepcopy(w["f"][draw(st.integers(0, len(w["f"]) - 1))]))
        elif kind == "extra":
            w[draw(st.sampled_from(["zz", "q", "tg", "hl"]))] = draw(st.sampled_from(
                [{"uf": 1}, {"sk": -2**62}, {"x": [1, [2, [3]]]}, 7, {"fw": "1"}]))
    return w


def _exact_error(w: Any, device: str) -> bool:
    try:
        validate_window(copy.deepcopy(w), features_proof=_PROOF)
        check_window(w, device)
    except (WireError, RecordError):
        return True
    return False


def _row_count(tables: dict, name: str) -> int:
    return sum(t[name].num_rows for t in tables.values() if name in t)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated_window(), min_size=1, max_size=8), st.integers(1, 4))
def test_builder_rejects_exactly_what_the_validator_rejects(windows: list, chunk: int) -> None:
    devices = [w.get("d") if isinstance(w, dict) and isinstance(w.get("d"), str) else "dev-0"
               for w in windows]
    expected = {i for i, (w, d) in enumerate(zip(windows, devices, strict=True))
                if _exact_error(w, d)}
    found: dict[int, str] = {}
    b = RowBuilder(chunk_windows=chunk, on_invalid=lambda tok, why: found.setdefault(tok, why))
    for i, (w, d) in enumerate(zip(windows, devices, strict=True)):
        b.add(f"t/0/{i}", w, 1_764_000_000_000, 1_764_000_000, device_id=d, token=i)
    tables = b.tables()
    assert set(found) == expected
    assert b.windows == len(windows) - len(expected)
    written = sorted(r for t in tables.values() for r in t["windows"]["ingest_id"].to_pylist())
    assert written == sorted(f"t/0/{i}" for i in range(len(windows)) if i not in expected)
    rows = sum(len(w["f"]) + 1 + (w.get("pr") is not None) + (w.get("en") is not None)
               + (w.get("lb") is not None and w["lb"][0] == 3)
               for i, w in enumerate(windows) if i not in expected)
    assert _row_count(tables, "features") == rows


def test_a_bad_window_in_a_chunk_leaves_its_neighbours_rows_identical() -> None:
    good = [copy.deepcopy(_BASES[i % 2]) for i in range(6)]
    bad = copy.deepcopy(_BASES[0])
    bad["f"][3][7] = float("nan")           # min: not finite
    reference = RowBuilder(chunk_windows=8)
    for i, w in enumerate(good):
        reference.add(f"t/0/{i}", w, 1, 2, device_id=w["d"], token=i)
    found = []
    mixed = RowBuilder(chunk_windows=8, on_invalid=lambda tok, why: found.append((tok, why)))
    for i, w in enumerate(good[:3] + [bad] + good[3:]):
        mixed.add(f"t/0/{i if i < 3 else i - 1}" if w is not bad else "t/0/bad", w, 1, 2,
                  device_id=w["d"], token=i)
    assert found == []                      # a chunk is proven (or not) when it is sealed
    (ref,), (got,) = reference.tables().values(), mixed.tables().values()
    assert found == [(3, "w.f[3].min: expected a finite number, got float nan")]
    for name in ref:
        assert got[name].equals(ref[name]), name


@pytest.mark.parametrize("mutate, reason", [
    (lambda w: w["f"][0].__setitem__(3, 2**63), "w.f[0].n: expected an unsigned integer"),
    (lambda w: w["f"][0].__setitem__(3, True), "w.f[0].n: expected an unsigned integer"),
    (lambda w: w["hl"].__setitem__("dp", -1), "w.hl.dp: expected an unsigned integer"),
    (lambda w: w["tg"].__setitem__("fw", b"2.1"), "w.tg.fw: expected a string"),
    (lambda w: w["f"].append(copy.deepcopy(w["f"][0])), "w.f[23].name: expected feature names"),
    (lambda w: w["f"][20][7].__setitem__("zz", 1), "w.f[20].n: expected the sum of counts"),
])
def test_each_rejection_names_the_field(mutate: Any, reason: str) -> None:
    w = copy.deepcopy(_BASES[1])
    mutate(w)
    found = []
    b = RowBuilder(on_invalid=lambda tok, why: found.append(why))
    b.add("t/0/0", w, 1, 2, device_id=w["d"], token=0)
    assert b.tables() == {} and len(found) == 1 and found[0].startswith(reason), found


def test_proven_chunks_keep_types_of_the_parquet_schema() -> None:
    b = RowBuilder(chunk_windows=2)
    for i in range(5):
        w = copy.deepcopy(_BASES[i % 2])
        b.add(f"t/0/{i}", w, 1, 2, device_id=w["d"])
    (tables,) = b.tables().values()
    from collector import schema
    for name, table in tables.items():
        assert table.schema.equals(schema.SCHEMAS[name]), name
    assert tables["features"]["b00"].type == pa.int32()


def test_a_window_from_beyond_the_calendar_is_a_dead_letter_not_a_crash() -> None:
    w = copy.deepcopy(_BASES[0])
    w["ws"] = w["we"] = 2**62            # a broken device clock: no calendar date to file under
    found = []
    b = RowBuilder(on_invalid=lambda tok, why: found.append(why))
    b.add("t/0/0", w, 1, 2, device_id=w["d"], token=0)
    assert b.tables() == {}
    assert found == [f"w.we: expected a Unix time in ms before the year 10000, got {2**62}"]


def test_a_sampled_row_with_nan_is_a_dead_letter_not_a_crash() -> None:
    w = copy.deepcopy(_BASES[2])
    w["sm"]["r"][0][0] = float("nan")   # the SDK sends None; JSON has no NaN
    found = []
    b = RowBuilder(on_invalid=lambda tok, why: found.append(why))
    b.add("t/0/0", w, 1, 2, device_id=w["d"], token=0)
    assert b.tables() == {}
    assert found == ["w.sm.r[0]: expected scalar values (finite number, string, bool, nil), "
                     "got float nan"]


@pytest.mark.parametrize("model", ["a/../../../../tmp/evil", "..", "x/y", "a\x00b", " kws"])
def test_a_model_name_that_is_not_a_safe_directory_name_is_refused(model: str, tmp_path) -> None:
    from collector.records import IngestRecord
    from collector.sink import ParquetSink
    from collector.sink_config import SinkConfig
    from edge_sdk.wire import encode_window

    w = copy.deepcopy(_BASES[0])
    w["m"] = model
    dead = []
    sink = ParquetSink(SinkConfig(dataset=str(tmp_path / "ds")), topic="t",
                       on_dead_letter=dead.append)
    sink.open_partition(0)
    rec = IngestRecord(w["d"], encode_window(w), 1, 1_764_000_000_000)
    sink.add(0, 0, rec.kafka_key(), rec.kafka_value())
    sink.flush(0)
    assert [d.reason.split(":")[0] for d in dead] == ["w.m"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]      # nothing written outside
    assert not list((tmp_path / "ds").rglob("*.parquet"))



@pytest.mark.parametrize("mutate, reason", [
    # a count the analytics could not sum over a fleet (found by review: SUM(n)::BIGINT)
    (lambda w: w.__setitem__("n", 2**40), "w.n: expected an unsigned integer"),
    (lambda w: w["hl"].__setitem__("dp", 2**40), "w.hl.dp: expected an unsigned integer"),
    # a 4-byte bin count that does not fit the int32 bin columns: refused at the gateway too
    (lambda w: w["f"].__setitem__(0, ["x00", 0, "e:x", 2**31, 0, 0, 0, 0.0, 1.0, 0.5, 0.1,
                                      b"\x04" + (2**31).to_bytes(4, "little"), 0, 0, b""]),
     "w.f[0].bins: expected bin counts below 2^31"),
    # a feature under a name the dataset gives a window-level sketch
    (lambda w: w["f"][0].__setitem__(0, "__label_error__"), "w.f[0].name: expected a feature name"),
    # counts one device could use to outweigh the fleet's quality rates (found by review)
    (lambda w: w["f"][0].__setitem__(13, w["f"][0][3] + 1),
     "w.f[0].out_of_range: expected at most n"),
    (lambda w: w["f"][0].__setitem__(4, w["n"]), "w.f[0].n: expected n + missing + nan + inf"),
    (lambda w: w["f"][20].__setitem__(5, w["f"][20][2] + 1), "w.f[20].unseen: expected at most n"),
    (lambda w: w["f"][20].__setitem__(3, w["n"]),
     "w.f[20].n: expected n + missing + type_mismatch"),
    # a built-in layout id with bins of another length (found by the analytics audit: the
    # rows were merged with well-formed ones of that layout)
    (lambda w: w["f"][0].__setitem__(2, "p1"),
     "w.f[0].bins: expected 52 counts (the slots of the built-in layout 'p1'), got 64 counts"),
    (lambda w: w["lt"].__setitem__(10, pack_counts([w["n"]] + [0] * 63)),
     "w.lt.bins: expected 49 counts (the slots of the built-in layout 'lat1')"),
])
def test_the_validator_and_the_sink_refuse_what_the_dataset_cannot_hold(mutate, reason) -> None:
    w = copy.deepcopy(_BASES[1])
    mutate(w)
    with pytest.raises(WireError) as exc:
        validate_window(copy.deepcopy(w))
    assert str(exc.value).startswith(reason)
    found = []
    b = RowBuilder(on_invalid=lambda tok, why: found.append(why))
    b.add("t/0/0", w, 1, 2, device_id=w["d"], token=0)
    assert b.tables() == {} and len(found) == 1 and found[0].startswith(reason), found
