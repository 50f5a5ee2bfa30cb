"""Bad values of every kind never raise from Monitor.log() and land in the quality counters."""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest

from edge_sdk.wire import decode_window, encode_window


class FloatRaises:
    def __init__(self, exc: type[BaseException]) -> None:
        self.exc = exc

    def __float__(self) -> float:
        raise self.exc("no float for you")


def entry(body: dict, name: str) -> list:
    """Feature entry of ``name`` (without the name) from a sealed window body."""
    for e in body["f"]:
        if e[0] == name:
            return e[1:]
    raise KeyError(name)


def num(body: dict, name: str) -> dict:
    e = entry(body, name)
    assert e[0] == 0, f"{name} is not numeric"
    keys = ("kind", "layout", "n", "missing", "nan", "inf", "min", "max", "mean", "m2", "bins",
            "type_mismatch", "out_of_range")
    return dict(zip(keys, e, strict=False))     # names the leading fields (v2 adds slot sums)


def cat(body: dict, name: str) -> dict:
    e = entry(body, name)
    assert e[0] == 1, f"{name} is not categorical"
    keys = ("kind", "n", "missing", "type_mismatch", "unseen", "other", "counts")
    return dict(zip(keys, e, strict=True))


def sealed(mon) -> dict:
    body = mon.seal_window()
    decode_window(encode_window(body))   # whatever was logged, the window stays valid wire v1
    return body


def test_numeric_bad_values_are_counted(make_monitor):
    mon = make_monitor()
    good = {"x": 1.0, "c": "front"}
    bad_values = [None, math.nan, math.inf, -math.inf, "1.5", b"raw", True, [1.0], {"a": 1},
                  (1, 2), {1, 2}, object(), "x" * 100_000]
    ids = [mon.log(dict(good))]
    for v in bad_values:
        ids.append(mon.log({"x": v, "c": "front"}))
    assert all(i > 0 for i in ids)
    body = sealed(mon)
    x = num(body, "x")
    assert body["n"] == 1 + len(bad_values)
    assert x["n"] == 1
    assert x["missing"] == 2 and x["nan"] == 0 and x["inf"] == 2   # NaN is missing
    assert x["type_mismatch"] == len(bad_values) - 4
    assert cat(body, "c")["counts"] == {"front": 1 + len(bad_values)}


def test_categorical_bad_values_are_counted(make_monitor):
    mon = make_monitor()
    mon.log({"c": "front"})
    for v in (None, 1.5, math.nan, [1], {"k": "v"}, object(), b"bytes"):
        assert mon.log({"c": v}) > 0
    mon.log({"c": "y" * 1_000_000})                   # huge string: truncated, counted
    body = sealed(mon)
    c = cat(body, "c")
    assert c["missing"] == 2 and c["type_mismatch"] == 5           # NaN is missing
    assert c["counts"] == {"front": 1, "y" * 64: 1}


def test_new_features_beyond_max_features_are_unknown(make_monitor):
    mon = make_monitor(max_features=4)
    for i in range(10):
        assert mon.log({f"f{j}": float(j) for j in range(i + 1)}) > 0
    body = sealed(mon)
    assert len(body["f"]) == 4
    assert body["q"]["uf"] == sum(max(0, i + 1 - 4) for i in range(10))


def test_weird_names_and_untyped_first_values(make_monitor):
    mon = make_monitor()
    rec = {1: 2.0, None: "a", ("t",): 1.0, "": 1.0, "n" * 65: 1.0, "nested": {"a": [1, {"b": 2}]},
           "lst": [1, 2], "ok": 3.0}
    assert mon.log(rec) > 0
    body = sealed(mon)
    assert [e[0] for e in body["f"]] == ["ok"]
    assert body["q"]["uf"] == 5        # non-str / empty / too long names
    assert body["q"]["ut"] == 2        # first value not a scalar


def test_non_dict_records_are_bad_records(make_monitor):
    mon = make_monitor()
    for rec in (None, 42, "text", [("x", 1.0)], object()):
        assert mon.log(rec, prediction=0.5) > 0
    mon.log(OrderedDict(x=1.0))        # a mapping that is not a dict is fine
    body = sealed(mon)
    assert body["q"]["br"] == 5
    assert body["n"] == 6
    assert num(body, "x")["n"] == 1


def test_bad_prediction_latency_energy(make_monitor):
    mon = make_monitor()
    mon.log({"x": 1.0}, prediction=0.9, latency_ms=3.0, energy_mj=1.0)
    for v in (math.nan, math.inf, "slow", [1], object()):
        assert mon.log({"x": 1.0}, prediction=v, latency_ms=v, energy_mj=v) > 0
    body = sealed(mon)
    lt = dict(zip(("kind", "layout", "n", "missing", "nan", "inf"), body["lt"], strict=False))
    assert lt["n"] == 1 and lt["missing"] == 1 and lt["inf"] == 1 and body["lt"][11] == 3
    assert body["en"][2] == 1 and body["en"][11] == 3
    assert body["pr"][2] == 1          # prediction sketch counted only the usable one


def test_numpy_scalars(make_monitor):
    np = pytest.importorskip("numpy")
    mon = make_monitor()
    mon.log({"x": np.float64(1.5), "y": np.int64(3), "z": np.float32("nan")},
            prediction=np.float32(0.25), latency_ms=np.float64(2.0))
    mon.log({"x": np.float32(2.5), "y": np.int32(4), "z": np.float64(1.0)})
    body = sealed(mon)
    assert num(body, "x")["n"] == 2 and num(body, "x")["max"] == 2.5
    assert num(body, "y")["n"] == 2
    assert body["lt"][2] == 1 and body["pr"][2] == 1


def test_missing_markers_of_numpy_and_pandas_are_missing_on_both_kinds(make_monitor):
    """None, NaN (float, numpy), pandas' NA and NaT, Decimal NaN: missing, never mismatches."""
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    from decimal import Decimal

    mon = make_monitor()
    mon.log({"x": 1.0, "c": "a"})
    markers = [None, math.nan, np.nan, np.float32("nan"), pd.NA, pd.NaT, Decimal("NaN")]
    for v in markers:
        mon.log({"x": v, "c": v})
    body = sealed(mon)
    x, c = num(body, "x"), cat(body, "c")
    assert (x["missing"], x["nan"], x["type_mismatch"]) == (len(markers), 0, 0)
    assert (c["missing"], c["type_mismatch"]) == (len(markers), 0)


def test_integer_codes_are_one_category_however_they_arrive(make_monitor):
    """int, numpy integers, integral floats (a CSV column with gaps) and digit strings."""
    np = pytest.importorskip("numpy")
    mon = make_monitor()
    for v in ("16", 16, np.int64(16), np.int8(16), np.uint16(16), 16.0, np.float64(16.0),
              np.float32(16.0)):
        mon.log({"c": v})
    mon.log({"c": np.bool_(True)})
    mon.log({"c": 16.5})
    c = cat(sealed(mon), "c")
    assert c["counts"] == {"16": 8, "true": 1}
    assert c["type_mismatch"] == 1


def test_numpy_bools_are_not_numbers(make_monitor):
    np = pytest.importorskip("numpy")
    mon = make_monitor()
    mon.log({"x": 1.0})
    mon.log({"x": np.bool_(True)})
    mon.log({"x": True})
    x = num(sealed(mon), "x")
    assert x["n"] == 1 and x["type_mismatch"] == 2


def test_numpy_strings_are_categories(make_monitor):
    np = pytest.importorskip("numpy")
    mon = make_monitor()
    mon.log({"c": np.str_("front")})
    mon.log({"c": np.str_("rear")})
    assert cat(sealed(mon), "c")["counts"] == {"front": 1, "rear": 1}


def test_huge_int_does_not_abort_the_record(make_monitor):
    """B1: 10**400 overflows float(); it must be counted, not lose the rest of the record."""
    mon = make_monitor()
    mon.log({"big": 1.0, "after": 1.0})
    pid = mon.log({"big": 10**400, "after": 2.0}, prediction=0.5, latency_ms=1.0)
    assert pid > 0
    body = sealed(mon)
    big = num(body, "big")
    assert big["n"] == 1 and big["inf"] + big["type_mismatch"] == 1
    assert num(body, "after")["n"] == 2
    assert body["hl"]["ie"] == 0


@pytest.mark.parametrize("exc", [RuntimeError, ZeroDivisionError, TypeError, OverflowError])
def test_float_raising_objects_do_not_abort_the_record(make_monitor, exc):
    """B2: an object whose __float__ raises anything is a type mismatch (it is not a
    number: edge_sdk.values)."""
    mon = make_monitor()
    mon.log({"x": 1.0, "after": 1.0})
    assert mon.log({"x": FloatRaises(exc), "after": 2.0, "new": FloatRaises(exc)}) > 0
    body = sealed(mon)
    x = num(body, "x")
    assert (x["inf"], x["type_mismatch"]) == (0, 1)
    assert num(body, "after")["n"] == 2
    assert body["hl"]["ie"] == 0


def test_extreme_floats_keep_window_valid(make_monitor):
    """B3: ±1e308 must not turn mean/m2 into inf (which makes the whole window invalid)."""
    mon = make_monitor()
    for v in (1e308, -1e308, 1.7976931348623157e308, 5e-324, -5e-324, 0.0, -0.0, 1e200, -1e200):
        assert mon.log({"x": v}) > 0
    sealed(mon)                                      # raises WireError today


def test_bad_label_values_never_raise(make_monitor):
    mon = make_monitor()
    pid = mon.log({"x": 1.0}, prediction=0.3)
    pid2 = mon.log({"x": 1.0}, prediction=0.4)
    assert mon.label(pid, object()) is True                  # known predictions: attached,
    assert mon.label(pid2, FloatRaises(RuntimeError)) is True
    assert mon.label("not-an-id", 1) is False
    assert mon.label(None, 1) is False
    lb = sealed(mon)["lb"]
    assert (lb[1], lb[2]) == (0, 2)                          # counted as mismatches, not labels


def test_bad_feature_names_are_logged_once_each_with_the_reason(make_monitor, caplog):
    mon = make_monitor(max_features=2)
    with caplog.at_level("WARNING", logger="edge_sdk.window"):
        for _ in range(50):
            mon.log({"": 1.0, "n" * 300: 2.0, "a": 1.0, "b": 1.0, "c": 3.0, 7: 1.0})
        mon.seal_window()
        mon.log({"": 1.0})               # a later window: still reported only once
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4, lines
    assert any("'' " in m and "1 to 64 characters, got 0" in m for m in lines)
    assert any("got 300" in m for m in lines)
    assert any("'c'" in m and "max_features=2" in m for m in lines)
    assert any("must be a string, got int" in m for m in lines)
