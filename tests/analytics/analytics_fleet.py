"""Seeded synthetic fleets for the analytics tests, written through the collector's real
embedded sink (``EmbeddedSink``) so the Parquet is exactly what production writes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from collector.embedded import EmbeddedSink
from collector.records import IngestRecord
from collector.sink_config import SinkConfig
from edge_sdk.spec import Spec
from edge_sdk.window import WindowSketch
from edge_sdk.wire import WIRE_VERSION, encode_window

BASE_MS = 1_760_000_000_000 // 3_600_000 * 3_600_000   # an hour boundary in Oct 2025
CATS = ["front", "rear", "side"]
PROBS = [0.5, 0.3, 0.2]


def training_frame(rows: int = 20_000, seed: int = 0) -> pd.DataFrame:
    return sample_rows(rows, np.random.default_rng(seed))


def sample_rows(rows: int, rng: np.random.Generator, shift: float = 0.0,
                cat_probs: list[float] | None = None) -> pd.DataFrame:
    return pd.DataFrame({
        "temp": rng.normal(20.0 + shift * 2.0, 2.0, rows),
        "rms": rng.lognormal(-2.0, 0.5, rows),
        "mic": rng.choice(CATS, rows, p=cat_probs or PROBS),
        "score": rng.beta(2.0, 5.0, rows),
        "latency": rng.lognormal(1.5, 0.3, rows),
    })


def window_body(spec: Spec | None, frame: pd.DataFrame, device: str, seq: int, ws_ms: int,
                we_ms: int, model: str = "kws", version: str = "1.0",
                tags: dict[str, str] | None = None, samples: int = 0) -> bytes:
    """A wire-v1 window body filled record by record, as a device does."""
    w = WindowSketch(spec)
    feats = frame[["temp", "rms", "mic"]].to_dict("records")
    for rec, pred, lat in zip(feats, frame["score"].tolist(), frame["latency"].tolist(),
                              strict=True):
        w.add_record(rec, prediction=pred, latency_ms=lat)
    body: dict[str, Any] = {"v": WIRE_VERSION, "d": device, "m": model, "mv": version,
                            "mh": "sha256:m1",
                            "sq": seq, "ws": ws_ms, "we": we_ms, "tg": tags or {"firmware": "a"},
                            "si": spec.spec_id if spec else "", "sdk": "edge_sdk/0.1.0",
                            "hl": {"dp": 0, "dc": 0, "rj": 0, "sb": 0, "ie": 0, "sk": 5}}
    body.update(w.body_fields())
    if samples:
        head = frame.head(samples)
        cols = ["temp", "rms", "mic", "__prediction__"]
        body["sm"] = {"c": cols, "r": [[float(t), float(r), str(m), float(p)] for t, r, m, p in
                                       zip(head["temp"], head["rms"], head["mic"], head["score"],
                                           strict=True)]}
    return encode_window(body)


def write(dataset: str, bodies: list[tuple[str, bytes]], received_ms: int = BASE_MS,
          sums_grain_s: int = 60) -> None:
    """Deliver bodies through the embedded sink (one batch; sketch sums per minute, which
    every evaluation window of whole minutes can use)."""
    sink = EmbeddedSink(SinkConfig(dataset=str(dataset), group_commit_ms=0,
                                   sums_grain_s=sums_grain_s))
    try:
        sink.write([IngestRecord(dev, body, received_ms // 1000, received_ms)
                    for dev, body in bodies])
    finally:
        sink.close()


def fleet(spec: Spec | None, windows: int, devices: int, records: int, window_ms: int,
          seed: int = 1, drift_from: int | None = None, shift: float = 1.0,
          tags_of=None, samples: int = 0, start_ms: int = BASE_MS,
          first_device: int = 0, first_seq: int = 0) -> list[tuple[str, bytes]]:
    """``windows`` x ``devices`` window bodies; from window ``drift_from`` on, temp shifts.
    Window ``i`` of a device has sequence number ``first_seq + i`` (the sink keeps one row
    per (device, model, seq): a later call's windows need new ones)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(windows):
        for d in range(first_device, first_device + devices):
            drifting = drift_from is not None and i >= drift_from
            tags = tags_of(d) if tags_of else {"firmware": "a"}
            frame = sample_rows(records, rng, shift=shift if drifting else 0.0)
            ws = start_ms + i * window_ms
            out.append((f"dev-{d}", window_body(spec, frame, f"dev-{d}", first_seq + i, ws,
                                                ws + window_ms,
                                                tags=tags, samples=samples)))
    return out
