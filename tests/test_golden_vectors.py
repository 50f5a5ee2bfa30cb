"""The committed golden vectors (tests/golden/) decode to their meaning and re-encode byte for byte."""

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
WINDOWS = ["window_minimal", "window_full", "window_regression"]


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
    assert feats["temp_c"][11] == 1                                         # "hot" is a type mismatch
    assert body["lb"][0] == 2 and body["lb"][1] == 2                        # two labelled predictions
    assert body["hl"]["sk"] == -1200 and body["tg"]["firmware"] == "2.1.0"


def test_envelope_vector_signature_and_fields() -> None:
    raw = (GOLDEN / "envelope_single.bin").read_bytes()
    meaning = json.loads((GOLDEN / "envelope_single.json").read_text())
    env = from_json(meaning["envelope"])
    [decoded] = decode_request(raw)
    assert decoded == env
    assert encode_request([env]) == raw
    assert verify(meaning["key"], env["d"], env["m"], env["t"], env["s"], env["w"], env["g"])
    assert not verify(meaning["key"], env["d"], env["m"], env["t"] + 1, env["s"], env["w"], env["g"])
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
