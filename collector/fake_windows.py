"""Realistic synthetic windows for tests, benchmarks and the demo.

A window is built the way a device builds it: a :class:`edge_sdk.window.WindowSketch`
filled record by record, then the wire header added and encoded with
:func:`edge_sdk.wire.encode_window`. Building is slow-ish (about 1,000 records per
window), so :func:`window_variants` makes a few bodies once and :func:`restamp`
gives them new identities cheaply (header fields only).

>>> body = make_window_body("dev-1", seq=7, records=50, seed=1)
>>> from edge_sdk.wire import decode_window
>>> w = decode_window(body)
>>> w["d"], w["sq"], w["n"], len(w["f"])
('dev-1', 7, 50, 23)
>>> decode_window(restamp(body, "dev-2", 8))["d"]
'dev-2'
"""

from __future__ import annotations

import random
from typing import Any

import msgpack

from edge_sdk.window import WindowSketch
from edge_sdk.wire import WIRE_VERSION, as_version, encode_window

BASE_MS = 1_764_000_000_000     # 2025-11-24T16:00:00Z
WINDOW_MS = 60_000


def fill_sketch(records: int = 1000, seed: int = 0, numeric: int = 20,
                categorical: int = 3) -> WindowSketch:
    """A WindowSketch of ``records`` inferences over ``numeric`` + ``categorical`` features."""
    rng = random.Random(seed)
    w = WindowSketch()
    cats = [["front", "back", "side"], ["eu", "us", "apac", "latam"], ["a", "b"]]
    for _ in range(records):
        rec: dict[str, Any] = {f"x{j:02d}": rng.gauss(j, 1.0 + j / 10) for j in range(numeric)}
        for j in range(categorical):
            rec[f"c{j}"] = rng.choice(cats[j % len(cats)])
        pred = rng.random()
        w.add_record(rec, prediction=pred, latency_ms=rng.lognormvariate(1.5, 0.4),
                     energy_mj=rng.lognormvariate(0.0, 0.3))
        if rng.random() < 0.1:
            w.label_sketch(pred, 1).update(pred, rng.random() < 0.8)
    return w.finalize()


def make_window_body(device_id: str, seq: int, model: str = "kws", records: int = 1000,
                     seed: int = 0, window_index: int | None = None,
                     tags: dict[str, str] | None = None, numeric: int = 20,
                     categorical: int = 3, version: int = WIRE_VERSION) -> bytes:
    """Encoded window body of a filled sketch with a full header (``version`` 1: the body an
    old SDK sent, without the slot sums)."""
    w = fill_sketch(records, seed, numeric, categorical)
    idx = seq if window_index is None else window_index
    body: dict[str, Any] = {
        "v": WIRE_VERSION, "d": device_id, "m": model, "mv": "1.0", "mh": "sha256:abc", "sq": seq,
        "ws": BASE_MS + idx * WINDOW_MS, "we": BASE_MS + (idx + 1) * WINDOW_MS,
        "tg": tags if tags is not None else {"fw": "2.1", "region": "eu"},
        "si": "spec-1", "sdk": "edge_sdk/0.1.0",
        "hl": {"dp": 0, "dc": 0, "rj": 1, "sb": 3, "ie": 0, "sk": -42},
    }
    body.update(w.body_fields())
    return encode_window(as_version(body, version))


def restamp(body: bytes, device_id: str, seq: int, window_index: int | None = None,
            model: str | None = None) -> bytes:
    """The same sketches under a new identity (device, seq, window start/end, model)."""
    obj = msgpack.unpackb(body, raw=False)
    idx = seq if window_index is None else window_index
    obj.update(d=device_id, sq=seq, ws=BASE_MS + idx * WINDOW_MS,
               we=BASE_MS + (idx + 1) * WINDOW_MS)
    if model is not None:
        obj["m"] = model
    return encode_window(obj)


def window_variants(count: int = 4, records: int = 1000, numeric: int = 20,
                    categorical: int = 3, version: int = WIRE_VERSION) -> list[bytes]:
    """``count`` distinct realistic bodies (different seeds) to restamp."""
    return [make_window_body("dev-0", 0, records=records, seed=s, numeric=numeric,
                             categorical=categorical, version=version) for s in range(count)]
