"""Regenerate the golden wire-format vectors (run only when the format version changes).

The v1 vectors (``window_*.bin`` without a suffix, the envelopes, the batch and the
invalid one) are frozen: they are what SDKs before wire v2 sent, and decoders must keep
accepting them as committed. Only the ``*_v2`` vectors (the current SDK's bodies) are
written now; ``--v1`` writes the v1 set as today's sketches would give it (for a new
format version's first vectors, never over the committed files).

    python tests/golden/make_vectors.py

Each vector is ``NAME.bin`` (the exact bytes) plus ``NAME.json`` (what they mean:
msgpack bin values are written as {"$bytes": "<hex>"}). tests/test_golden_vectors.py
checks that the decoder turns every .bin into its .json and the encoder turns the
.json back into the same bytes.
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import msgpack

from edge_sdk.window import WindowSketch
from edge_sdk.wire import as_version, encode_request, encode_window, make_envelope

HERE = Path(__file__).parent
KEY = "edk_0a1b2c3d_Z29sZGVuLWtleS1kby1ub3QtdXNlLWluLXByb2R1Y3Rpb24"


def to_json(obj):
    if isinstance(obj, bytes):
        return {"$bytes": obj.hex()}
    if isinstance(obj, list):
        return [to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    return obj


def header(seq: int, n_start: int = 1_764_000_000_000) -> dict:
    return {"v": 2, "d": "dev-0042", "m": "kws", "mv": "1.3.0", "sq": seq,
            "ws": n_start, "we": n_start + 60_000, "sdk": "edgedrift-py/0.1.0"}


def minimal() -> dict:
    return {**header(7), **WindowSketch().body_fields()}


def full() -> dict:
    w = WindowSketch()
    rows = [({"rms": 0.21, "zcr": 0.08, "mic": "front", "temp_c": 31}, 0.93, 4.1, 1.5),
            ({"rms": 0.35, "zcr": float("nan"), "mic": "rear", "temp_c": 33}, 0.12, 5.0, 1.6),
            ({"rms": None, "zcr": 0.11, "mic": 3.5, "temp_c": "hot"}, 0.71, 3.2, 1.4)]
    for feats, pred, lat, en in rows:
        w.add_record(feats, prediction=pred, latency_ms=lat, energy_mj=en)
    w.label_sketch(0.93, 1).update(0.93, 1)
    w.labels.update(0.12, 1)
    body = {**header(8), "mh": "sha256:" + "ab" * 32, "tg": {"firmware": "2.1.0", "region": "eu"},
            **w.body_fields()}
    body["hl"] = {"dp": 0, "dc": 0, "rj": 0, "ie": 0, "lm": 0, "sb": 1, "sk": -1200}
    body["sm"] = {"c": ["rms", "mic", "__prediction__"], "r": [[0.21, "front", 0.93]]}
    return body


def regression() -> dict:
    w = WindowSketch()
    for x, pred in ((1.0, 2.5), (2.0, 1.0)):
        w.add_record({"x": x}, prediction=pred, latency_ms=1.0)
    w.label_sketch(2.5, 2.0)
    w.labels.update(2.5, 2.0)
    w.labels.update(1.0, 2.0)
    return {**header(9), **w.body_fields()}


def main() -> None:
    current = {"window_minimal": minimal(), "window_full": full(),
               "window_regression": regression()}
    for name, body in current.items():
        (HERE / f"{name}_v2.bin").write_bytes(encode_window(body))
        (HERE / f"{name}_v2.json").write_text(json.dumps(to_json(body), indent=1) + "\n")
    if "--v1" not in sys.argv:
        return
    windows = {name: as_version(body, 1) for name, body in current.items()}
    for name, body in windows.items():
        (HERE / f"{name}.bin").write_bytes(encode_window(body))
        (HERE / f"{name}.json").write_text(json.dumps(to_json(body), indent=1) + "\n")
    w7 = encode_window(windows["window_minimal"])
    w8 = encode_window(windows["window_full"])
    env = make_envelope(KEY, "dev-0042", "kws", 7, w7, ts=1_764_000_061)
    (HERE / "envelope_single.bin").write_bytes(encode_request([env]))
    (HERE / "envelope_single.json").write_text(json.dumps(
        {"key": KEY, "envelope": to_json(env)}, indent=1) + "\n")
    env8 = make_envelope(KEY, "dev-0042", "kws", 8, w8, ts=1_764_000_062)
    batch = encode_request([env, env8])
    (HERE / "request_batch_deflate.bin").write_bytes(zlib.compress(batch, 6))
    (HERE / "request_batch_deflate.json").write_text(json.dumps(
        {"key": KEY, "content_encoding": "deflate", "envelopes": to_json([env, env8])},
        indent=1) + "\n")
    # Invalid: bins do not sum to n (first feature of window_full).
    bad = msgpack.unpackb(w8, raw=False)
    bins = bytearray(bad["f"][0][11])
    bins[1] += 1
    bad["f"][0][11] = bytes(bins)
    (HERE / "invalid_bins_sum.bin").write_bytes(encode_window(bad))
    (HERE / "invalid_bins_sum.json").write_text(json.dumps(
        {"error_field": "w.f[0].bins"}, indent=1) + "\n")


if __name__ == "__main__":
    main()
