"""Codec round trips (sketches, windows, counts, envelopes) and decoder fuzzing: only
WireError may ever escape the decoders."""

from __future__ import annotations

import struct
import zlib

import msgpack
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sdk_compare import label_diff, num_diff, window_diff
from sdk_strategies import (
    SETTINGS,
    SPEC,
    any_records,
    cat_values,
    layouts,
    sketch,
    typed_records,
    value_lists,
    window,
)

from edge_sdk import CategoricalSketch, LabelSketch, NumericSketch, WindowSketch, WireError
from edge_sdk.errors import ConfigError
from edge_sdk.layout import MAX_SLOTS
from edge_sdk.monitor import Monitor
from edge_sdk.numeric import pack_counts, unpack_counts
from edge_sdk.signing import verify
from edge_sdk.wire import (
    WIRE_VERSION,
    decode_request,
    decode_window,
    encode_request,
    encode_window,
    make_envelope,
    safe_unpackb,
    validate_window,
)


def wire(obj):
    """Through real msgpack bytes, as on the wire."""
    return msgpack.unpackb(msgpack.packb(obj, use_bin_type=True), raw=False)


@SETTINGS
@given(layouts(), value_lists)
def test_numeric_msgpack_round_trip(lay_rng, xs):
    s = sketch(lay_rng, xs)
    back = NumericSketch.from_msgpack(wire(s.to_msgpack()), lay_rng[0])
    assert num_diff(back, s) == []
    assert back.mean == s.mean and back.m2 == s.m2            # floats are carried exactly


@SETTINGS
@given(st.lists(cat_values, max_size=80), st.integers(1, 40))
def test_categorical_msgpack_round_trip(xs, capacity):
    s = CategoricalSketch(capacity=capacity)
    for v in xs:
        s.update(v)
    assert CategoricalSketch.from_msgpack(wire(s.to_msgpack())) == s


@SETTINGS
@given(st.sampled_from(["classification", "regression"]),
       st.lists(st.tuples(st.one_of(st.sampled_from(["a", "b"]), st.floats(-1e6, 1e6), st.none()),
                          st.one_of(st.sampled_from(["a", "b"]), st.floats(-1e6, 1e6))),
                max_size=50))
def test_label_msgpack_round_trip(task, pairs):
    s = LabelSketch(task)
    for p, y in pairs:
        s.update(p, y)
    assert label_diff(LabelSketch.from_msgpack(wire(s.to_msgpack())), s) == []


HEADER = {"v": WIRE_VERSION, "d": "dev-0042", "m": "kws", "mv": "1.3.0", "sq": 7,
          "ws": 1_700_000_000_000, "we": 1_700_000_060_000}


def body_of(w: WindowSketch, spec=None) -> dict:
    body = {**HEADER, **w.body_fields()}
    if spec is not None:
        body["si"] = spec.spec_id
    return body


def labelled(records, spec=None) -> WindowSketch:
    w = window(records, spec)
    for _rec, pred, _lat, _en in records:
        if pred is not None:
            w.label_sketch(pred, 1).update(pred, 1)
    return w


@SETTINGS
@given(st.lists(typed_records(), max_size=40))
def test_window_round_trip_without_spec(records):
    w = labelled(records)
    data = encode_window(body_of(w))
    decoded = decode_window(data)
    assert window_diff(WindowSketch.from_wire(decoded), w) == []
    assert encode_window(decoded) == data                     # decode/encode is byte-stable


@SETTINGS
@given(st.lists(any_records(), max_size=40))
def test_window_round_trip_with_spec(records):
    w = labelled(records, SPEC)
    decoded = decode_window(encode_window(body_of(w, SPEC)))
    back = WindowSketch.from_wire(decoded, SPEC)
    assert window_diff(back, w) == []
    for name, sk in back.features.items():                     # the spec's edges are resolved
        if isinstance(sk, NumericSketch):
            assert sk.layout == SPEC.features[name].layout
    opaque = WindowSketch.from_wire(decode_window(encode_window(body_of(w, SPEC))))
    assert window_diff(opaque, w) == []                        # without the spec: opaque layout


def test_monitor_sealed_body_round_trips(make_monitor):
    mon = make_monitor(spec=SPEC.to_dict(), sample_rows=3, tags={"fw": "1.2"},
                       model_hash="sha256:ab")
    for i in range(50):
        pid = mon.log({"a": i / 10, "b": float(i), "c": "front" if i % 3 else "side", "zz": 1},
                      prediction=(i % 10) / 10, latency_ms=1.0 + i, energy_mj=0.5)
        mon.label(pid, i % 2)
    body = mon.seal_window()
    decoded = decode_window(encode_window(body))
    assert decoded == wire(body)
    assert decoded["tg"] == {"fw": "1.2"} and decoded["mh"] == "sha256:ab"
    assert decoded["si"] == SPEC.spec_id and decoded["q"]["uf"] == 50
    back = WindowSketch.from_wire(decoded, SPEC)
    assert back.n == 50 and back.labels.n == 50


@SETTINGS
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=MAX_SLOTS))
def test_pack_counts_round_trip(counts):
    packed = pack_counts(counts)
    assert packed[0] in (1, 2, 4)
    assert unpack_counts(packed, len(counts)) == counts
    assert unpack_counts(packed, None) == counts
    top = max(counts)
    assert packed[0] == (1 if top < 256 else 2 if top < 65536 else 4)   # smallest width


@SETTINGS
@given(st.binary(max_size=300), st.one_of(st.none(), st.integers(1, MAX_SLOTS)))
@example(b"\x02\x01\x00\x07", None)          # a trailing byte after one 2-byte count
@example(b"\x01\x05\x06", 1)                  # two counts where one was announced
def test_unpack_counts_rejects_garbage_with_wire_error(data, slots):
    try:
        counts = unpack_counts(data, slots)
    except WireError:
        return
    width = data[0]                                  # accepted: exactly these bytes, re-encoded
    assert slots is None or len(counts) == slots
    assert bytes([width]) + b"".join(c.to_bytes(width, "little") for c in counts) == data


key_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=8, max_size=40)
names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
# model names become dataset directories: letters, digits, '.', '_', '-' (edge_sdk.wire)
model_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}", fullmatch=True)


@SETTINGS
@given(st.one_of(key_text, st.builds(lambda a, b: f"edk_{a}_{b}", st.text("abcdef0123", min_size=1,
                                                                       max_size=32), key_text)),
       names, model_names, st.lists(st.tuples(st.integers(0, 2**63 - 1), st.binary(min_size=1,
                                                                            max_size=200)),
                              min_size=1, max_size=5),
       st.integers(0, 2**40), st.booleans())
def test_envelope_request_round_trip_and_signatures(key, device, model, windows, ts, deflate):
    envs = [make_envelope(key, device, model, seq, body, ts) for seq, body in windows]
    data = encode_request(envs)
    if deflate:                                                 # what the sender does
        data = zlib.decompress(zlib.compress(data))
    back = decode_request(data)
    assert back == envs
    for env, (seq, body) in zip(back, windows, strict=True):
        assert (env["d"], env["m"], env["s"], env["t"], env["w"]) == (device, model, seq, ts, body)
        assert verify(key, env["d"], env["m"], env["t"], env["s"], env["w"], env["g"])
        assert not verify(key, env["d"], env["m"], env["t"] + 1, env["s"], env["w"], env["g"])
        assert not verify(key, env["d"], env["m"], env["t"], env["s"] ^ 1, env["w"], env["g"])
        assert not verify(key + "x", env["d"], env["m"], env["t"], env["s"], env["w"], env["g"])
        assert not verify(key, env["d"], env["m"], env["t"], env["s"], env["w"] + b"\0", env["g"])


# -- fuzzing -------------------------------------------------------------------------
@st.composite
def mutated(draw, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "splice"]))
        if not buf:
            break
        i = draw(st.integers(0, len(buf) - 1))
        if op == "flip":
            buf[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            buf[i] = draw(st.integers(0, 255))
        elif op == "truncate":
            del buf[i:]
        elif op == "insert":
            buf[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del buf[i:i + draw(st.integers(1, 8))]
        else:
            buf[i:i] = buf[draw(st.integers(0, len(buf) - 1)):][:16]
    return bytes(buf)


def only_wire_errors(fn, data):
    try:
        return fn(data)
    except WireError:
        return None


@SETTINGS
@given(st.data())
def test_decode_window_mutations_raise_only_wire_error(data):
    records = data.draw(st.lists(any_records(), max_size=15))
    spec = data.draw(st.sampled_from([None, SPEC]))
    w = labelled(records, spec)
    body = body_of(w, spec)
    body["hl"] = {"dp": 1, "sk": -5}
    body["tg"] = {"fw": "1"}
    body["sm"] = {"c": ["a", "b"], "r": [[1.5, "x"], [None, True]]}
    raw = data.draw(mutated(encode_window(body)))
    decoded = only_wire_errors(decode_window, raw)
    if decoded is not None:                 # still valid: objects must build or say why
        only_wire_errors(lambda d: WindowSketch.from_wire(d, spec), decoded)
        only_wire_errors(lambda d: WindowSketch.from_wire(d), decoded)


@SETTINGS
@given(st.data())
def test_decode_request_mutations_raise_only_wire_error(data):
    envs = [make_envelope("edk_k1_secret-secret", "dev-1", "kws", s, b"\x81\xa1v\x01",
                          1_700_000_000) for s in range(data.draw(st.integers(1, 3)))]
    raw = data.draw(mutated(encode_request(envs)))
    only_wire_errors(decode_request, raw)


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_wire_error(raw):
    only_wire_errors(safe_unpackb, raw)
    only_wire_errors(decode_window, raw)
    only_wire_errors(decode_request, raw)


@SETTINGS
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                              st.floats(), st.text(max_size=5), st.binary(max_size=5)),
                    lambda kids: st.one_of(st.lists(kids, max_size=4),
                                           st.dictionaries(st.text(max_size=3), kids, max_size=4)),
                    max_leaves=30))
def test_any_msgpack_value_is_rejected_cleanly(obj):
    raw = msgpack.packb(obj, use_bin_type=True)
    only_wire_errors(safe_unpackb, raw)
    only_wire_errors(decode_window, raw)
    only_wire_errors(decode_request, raw)
    if isinstance(obj, dict):
        only_wire_errors(validate_window, obj)


@pytest.mark.parametrize("raw", [
    b"\x91" * 100_000 + b"\xc0",                               # nesting bomb
    b"\xdd\xff\xff\xff\xff",                                   # array of 4 billion, no data
    b"\xdf\xff\xff\xff\xff",                                   # map of 4 billion
    b"\xc6\xff\xff\xff\xff",                                   # bin of 4 GB
    b"\xd4\x01\x00",                                           # ext type
    b"\x81\x01\x02",                                           # int map key
    b"\xa2\xff\xfe",                                           # invalid UTF-8
    b"\xc1",                                                   # never-used byte
    msgpack.packb({"a": 1}) + b"\x00",                         # trailing bytes
    msgpack.packb([[[[[[[[[[1]]]]]]]]]]),                      # deeper than the limit
    msgpack.packb({"v": 1, "f": list(range(5000))}),           # array longer than the limit
    struct.pack(">BI", 0xdb, 10_000) + b"x" * 10_000,          # str longer than the limit
])
def test_hostile_inputs_raise_wire_error(raw):
    for fn in (safe_unpackb, decode_window, decode_request):
        with pytest.raises(WireError):
            fn(raw)


@pytest.mark.parametrize("value", [None, 42, "text", [1, 2], 1.5])
def test_decoders_reject_non_bytes_with_wire_error(value):
    for fn in (safe_unpackb, decode_window, decode_request):
        with pytest.raises(WireError):
            fn(value)


@st.composite
def spec_dicts(draw) -> dict:
    feats = {}
    for i in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            body = {"type": "numeric"}
            if draw(st.booleans()):
                body["edges"] = sorted(draw(st.lists(st.floats(-1e9, 1e9), min_size=1,
                                                     max_size=63, unique=True)))
            if draw(st.booleans()):
                body["range"] = sorted(draw(st.lists(st.floats(-1e6, 1e6), min_size=2,
                                                     max_size=2)))
        else:
            body = {"type": "categorical",
                    "categories": draw(st.lists(st.text(max_size=8), max_size=10, unique=True))}
        feats[f"f{i}"] = body
    out = {"format": "edgedrift-spec/1", "model": "kws", "version": "1.0", "features": feats}
    if draw(st.booleans()):
        out["prediction"] = {"type": "numeric", "layout": "p1", "task": "binary",
                             "threshold": draw(st.floats(0, 1))}
    return out


@SETTINGS
@given(spec_dicts())
def test_spec_round_trip(raw):
    from edge_sdk import Spec

    spec = Spec.from_dict(raw)
    again = Spec.from_dict(wire(spec.to_dict()))
    assert again == spec and again.spec_id == spec.spec_id
    for name, fs in spec.features.items():
        if "edges" in raw["features"][name]:
            assert fs.layout.edges == tuple(raw["features"][name]["edges"])


@pytest.mark.parametrize("model", ["../x", "a/b", ".hidden", "a b", "é"])
def test_a_model_name_that_is_not_a_directory_name_is_refused(model):
    env = make_envelope("edk_0a_secret", "dev-1", "kws", 0, b"\x80", ts=1)
    env["m"] = model
    with pytest.raises(WireError, match=r"^body\.m: expected a model name"):
        decode_request(encode_request([env]))
    with pytest.raises(ConfigError, match="model"):
        Monitor(model=model, version="1", device_id="d", endpoint="http://127.0.0.1:9/",
                key="edk_0a_secret", spool_dir="/nonexistent-edgedrift-test")


def test_reserved_feature_names_are_never_sent():
    w = WindowSketch()
    w.add_record({"__latency__": 1.0, "x": 2.0})
    assert list(w.features) == ["x"] and w.unknown_feature == 1
    from edge_sdk.spec import Spec
    with pytest.raises(ConfigError, match="__prediction__"):
        Spec.from_dict({"version": 1, "features": {"__prediction__": {"kind": "numeric"}}})


@pytest.mark.parametrize("position", [7, 8, 9, 10])
def test_an_int_too_large_for_a_float_is_named_not_an_overflow(position):
    """msgpack's ints all fit a float, but a window built in-process may carry any int:
    the validator must name the field, not raise OverflowError (found by the sink's C/Python
    parity test)."""
    from collector.fake_windows import make_window_body

    body = msgpack.unpackb(make_window_body("dev-1", 1, records=20))
    body["f"][0][position] = 2**1100
    field = ["min", "max", "mean", "m2"][position - 7]
    with pytest.raises(WireError, match=rf"w\.f\[0\]\.{field}: expected a finite number"):
        validate_window(body)


@pytest.mark.parametrize("version", [1, 2])
def test_monitor_sends_the_wire_version_it_was_given(make_monitor, version):
    """wire_version=1 keeps a fleet talking to a collector that predates wire v2."""
    mon = make_monitor(spec=SPEC.to_dict(), wire_version=version)
    for i in range(20):
        mon.log({"a": i / 10, "b": float(i), "c": "front"}, prediction=0.5, latency_ms=2.0)
    body = decode_window(encode_window(mon.seal_window()))
    assert body["v"] == version
    assert {len(e) for e in body["f"] if e[1] == 0} == {13 + version}
    assert len(body["lt"]) == 12 + version


def test_monitor_refuses_an_unknown_wire_version(make_monitor):
    with pytest.raises(ConfigError, match="wire_version"):
        make_monitor(wire_version=3)
