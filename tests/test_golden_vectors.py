"""The committed golden vectors (tests/golden/) decode to their meaning and re-encode byte for
byte."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from edge_sdk.errors import WireError
from edge_sdk.signing import verify
from edge_sdk.window import WindowSketch
from edge_sdk.wire import decode_request, decode_window, encode_request, encode_window

GOLDEN = Path(__file__).parent / "golden"
# v1: frozen bodies of SDKs before wire v2 (still accepted); v2: today's SDK
WINDOWS = ["window_minimal", "window_full", "window_regression",
           "window_minimal_v2", "window_full_v2", "window_regression_v2"]


def from_json(obj):
    if isinstance(obj, dict):
        if set(obj) == {"$bytes"}:
            return bytes.fromhex(obj["$bytes"])
        return {k: from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    return obj


@pytest.mark.parametrize("name", WINDOWS)
def test_window_vector_decodes_to_its_meaning(name: str) -> None:
    raw = (GOLDEN / f"{name}.bin").read_bytes()
    meaning = from_json(json.loads((GOLDEN / f"{name}.json").read_text()))
    assert decode_window(raw) == meaning
    assert encode_window(meaning) == raw
    # and the object form round-trips through the same bytes' sketches
    sketch = WindowSketch.from_wire(meaning)
    assert sketch.n == meaning["n"]
    assert [e[0] for e in meaning["f"]] == list(sketch.features)


def test_full_vector_semantics() -> None:
    body = decode_window((GOLDEN / "window_full.bin").read_bytes())
    feats = {e[0]: e[1:] for e in body["f"]}
    rms = feats["rms"]
    assert rms[0] == 0 and rms[1] == "u1" and rms[2] == 2 and rms[3] == 1  # n, missing (None)
    assert feats["zcr"][4] == 1                                             # one NaN
    assert feats["mic"][0] == 1 and feats["mic"][6] == {"front": 1, "rear": 1}
    assert feats["mic"][3] == 1                                             # 3.5 is a type mismatch
    assert feats["temp_c"][11] == 1                             # "hot" is a type mismatch
    assert body["lb"][0] == 2 and body["lb"][1] == 2            # two labelled predictions
    assert body["hl"]["sk"] == -1200 and body["tg"]["firmware"] == "2.1.0"


def test_envelope_vector_signature_and_fields() -> None:
    raw = (GOLDEN / "envelope_single.bin").read_bytes()
    meaning = json.loads((GOLDEN / "envelope_single.json").read_text())
    env = from_json(meaning["envelope"])
    [decoded] = decode_request(raw)
    assert decoded == env
    assert encode_request([env]) == raw
    assert verify(meaning["key"], env["d"], env["m"], env["t"], env["s"], env["w"], env["g"])
    assert not verify(meaning["key"], env["d"], env["m"], env["t"] + 1, env["s"], env["w"],
                      env["g"])
    assert decode_window(env["w"]) == from_json(
        json.loads((GOLDEN / "window_minimal.json").read_text()))


def test_batch_vector_inflates_and_verifies() -> None:
    raw = (GOLDEN / "request_batch_deflate.bin").read_bytes()
    meaning = json.loads((GOLDEN / "request_batch_deflate.json").read_text())
    envelopes = decode_request(zlib.decompress(raw))
    assert envelopes == from_json(meaning["envelopes"])
    assert [e["s"] for e in envelopes] == [7, 8]
    for e in envelopes:
        assert verify(meaning["key"], e["d"], e["m"], e["t"], e["s"], e["w"], e["g"])


def test_invalid_vector_names_the_field() -> None:
    raw = (GOLDEN / "invalid_bins_sum.bin").read_bytes()
    expected = json.loads((GOLDEN / "invalid_bins_sum.json").read_text())
    with pytest.raises(WireError) as info:
        decode_window(raw)
    assert info.value.field == expected["error_field"]


def test_counts_beyond_int64_are_rejected_by_the_wire_not_the_sink() -> None:
    import msgpack

    body = msgpack.unpackb((GOLDEN / "window_full.bin").read_bytes(), raw=False)
    body["f"][2][7]["front"] = 2**63          # categorical count past int64
    body["f"][2][2] = 2**63 + 1               # ... and its n, so only the bound is wrong
    with pytest.raises(WireError) as info:
        decode_window(encode_window(body))
    assert info.value.field.startswith("w.f[2]")


def test_v2_vectors_carry_slot_sums_and_v1_ones_do_not() -> None:
    import struct

    v1 = decode_window((GOLDEN / "window_full.bin").read_bytes())
    v2 = decode_window((GOLDEN / "window_full_v2.bin").read_bytes())
    assert (v1["v"], v2["v"]) == (1, 2)
    assert {len(e) for e in v1["f"] if e[1] == 0} == {14}
    rms = next(e for e in v2["f"] if e[0] == "rms")
    assert len(rms) == 15 and len(rms[14]) == 8 + 8          # 8 regions of u1 + 2 float32
    assert struct.unpack("<2f", rms[14][-8:]) == (0.0, 0.0)  # 0.21, 0.35: no tail values
    assert rms[14][:8] != bytes(8)                           # where the region means lie
    assert len(v2["lt"]) == 14 and len(v1["lt"]) == 13
    with pytest.raises(WireError, match="w.v"):
        decode_window(encode_window({**v2, "v": 3}))
    with pytest.raises(WireError, match=r"w.f\[0\]"):       # v2 entries in a v1 body
        decode_window(encode_window({**v2, "v": 1}))
