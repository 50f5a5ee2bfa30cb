"""A small real data directory for the dashboard tests, built by the real pipeline pieces.

SDK ``WindowSketch`` windows -> wire v1 -> ``collector.embedded.EmbeddedSink`` -> Parquet
-> ``analytics.job.run_analysis`` -> results DuckDB, then the verdict changes -> the
alerts package's ``AlertEngine.observe`` -> outbox, and one real delivery pass of the
``Deliverer`` against two loopback HTTP receivers (one answers 204, one 500), so the
outbox holds delivered and failed deliveries with their attempts.

Model ``kws`` 1.0 has a reference and labels-free windows; feature ``temp`` drifts from
window 5 on in every segment. Model ``asr`` 2.0 has no reference profile.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analytics.alerts import AlertEngine, AlertsConfig, Condition, Deliverer, FeatureScore
from analytics.alerts.config import EndpointConfig
from analytics.config import AnalyticsConfig
from analytics.job import run_analysis
from analytics.reference import ReferenceStore
from analytics.reference_build import build_reference
from collector.embedded import EmbeddedSink
from collector.records import IngestRecord
from collector.sink_config import SinkConfig
from edge_sdk.spec import Spec
from edge_sdk.window import WindowSketch
from edge_sdk.wire import WIRE_VERSION, encode_window
from edgedrift.paths import DataPaths

BASE_MS = 1_760_000_000_000 // 3_600_000 * 3_600_000   # an hour boundary in Oct 2025
W_MS = 600_000
WINDOWS = 10
DRIFT_FROM = 5
# a device with a valid key may name its model version anything: a phishing link and an image
EVIL_VERSION = ("[Session expired - click to log in](http://evil.example/login) "
                "![p](http://evil.example/p.png)")
NOW_MS = BASE_MS + 2 * 24 * 3_600_000
CONFIG = AnalyticsConfig(window_s=W_MS // 1000, segment_tags=("firmware",), reports=False)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"




def sample_rows(rows: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({
        "temp": rng.normal(20.0 + shift * 2.0, 2.0, rows),
        "rms": rng.lognormal(-2.0, 0.5, rows),
        "mic": rng.choice(["front", "rear", "side"], rows, p=[0.5, 0.3, 0.2]),
        "score": rng.beta(2.0, 5.0, rows),
        "latency": rng.lognormal(1.5, 0.3, rows),
    })


def window_body(spec: Spec | None, frame: pd.DataFrame, device: str, seq: int, ws_ms: int,
                model: str, version: str, tags: dict[str, str], model_hash: str,
                we_ms: int | None = None) -> bytes:
    """A wire-v1 window body filled record by record, as a device does (``we_ms``: the
    window end the device claims, default ``ws_ms + W_MS``)."""
    w = WindowSketch(spec)
    for rec, pred, lat in zip(frame[["temp", "rms", "mic"]].to_dict("records"),
                              frame["score"].tolist(), frame["latency"].tolist(), strict=True):
        w.add_record(rec, prediction=pred, latency_ms=lat)
    body: dict[str, Any] = {"v": WIRE_VERSION, "d": device, "m": model, "mv": version,
                            "mh": model_hash, "sq": seq, "ws": ws_ms,
                            "we": ws_ms + W_MS if we_ms is None else we_ms, "tg": tags,
                            "si": spec.spec_id if spec else "", "sdk": "edge_sdk/0.1.0",
                            "hl": {"dp": seq % 3, "dc": 0, "rj": 0, "sb": 2 * (seq % 4), "ie": 0,
                                   "sk": 5}}
    body.update(w.body_fields())
    return encode_window(body)


class _Receiver:
    """A loopback HTTP server answering every POST with one fixed status code."""

    def __init__(self, status: int) -> None:
        code = status

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def build_data_dir(root: str | Path, devices: int = 3, records: int = 150,
                   drift_from: int | None = DRIFT_FROM) -> dict[str, Any]:
    """Fill ``root`` as a real installation would; return what the tests assert on
    (``drift_from=None``: no drift anywhere)."""
    paths = DataPaths(root)
    rng = np.random.default_rng(7)
    built = build_reference(sample_rows(20_000, np.random.default_rng(0)), "kws", "1.0",
                            prediction="score", latency="latency")
    built.save(ReferenceStore(paths.references))
    records_out = []
    for i in range(WINDOWS):
        ws = BASE_MS + i * W_MS
        for d in range(devices):
            dev = f"dev-{d}"
            tags = {"firmware": "a" if d < 2 else "b"}
            drifting = drift_from is not None and i >= drift_from
            frame = sample_rows(records, rng, shift=1.0 if drifting else 0.0)
            mh = "sha256:m1" if d != devices - 1 else "sha256:rogue"
            records_out.append(IngestRecord(dev, window_body(built.spec, frame, dev, i, ws, "kws",
                                                             "1.0", tags, mh),
                                            ws // 1000 + 600, ws + W_MS + 1_000))
            # a second model without a reference profile
            frame = sample_rows(records, rng)
            records_out.append(IngestRecord(dev, window_body(None, frame, dev, i, ws, "asr", "2.0",
                                                             tags, "sha256:a2"),
                                            ws // 1000 + 600, ws + W_MS + 2_000))
            if d == devices - 1:       # the rogue device also plants Markdown in a version
                records_out.append(IngestRecord(dev, window_body(
                    None, sample_rows(records, rng), dev, i, ws, "cam", EVIL_VERSION, tags,
                    "sha256:c1"), ws // 1000 + 600, ws + W_MS + 3_000))
    sink = EmbeddedSink(SinkConfig(dataset=str(paths.dataset), group_commit_ms=0))
    try:
        sink.write(records_out)
    finally:
        sink.close()
    summary = run_analysis(CONFIG, paths, now_ms=NOW_MS)
    ok, bad = _Receiver(204), _Receiver(500)
    try:
        alerts_cfg = AlertsConfig(
            cooldown_s=0, retry_schedule_s=(), allow_loopback=True, timeout_s=5,
            endpoints=(EndpointConfig("retrain-ci", ok.url, (SECRET,)),
                       EndpointConfig("pager", bad.url, (SECRET,))))
        conditions = [_condition(v) for v in summary.verdicts
                      if v["kind"] == "drift" and v["segment_tag"] == ""]
        alerts = AlertEngine(alerts_cfg, paths.outbox).observe(conditions)
        Deliverer(alerts_cfg, paths.outbox).run_once()
    finally:
        ok.close()
        bad.close()
    return {"paths": paths, "summary": summary, "alerts": alerts}


def _condition(v: dict[str, Any]) -> Condition:
    feats = tuple(FeatureScore(f["feature"], f["method"], f["score"] or 0.0,
                               f["threshold"] or 0.0, f.get("lower"), f.get("upper"))
                  for f in json.loads(v["drifted_features"] or "[]"))
    start = datetime.fromtimestamp(v["window_start_ms"] / 1000, UTC)
    end = datetime.fromtimestamp(v["window_end_ms"] / 1000, UTC)
    return Condition("drift", v["model"], v["version"], "", start, end, v["state"] == "drift",
                     features=feats)


def write_rms_results(root: Path, score: float, run_id: str = "r") -> pd.Timestamp:
    """A results DB of 48 hourly windows of kws 2.1 on firmware=2.1 (from 2025-10-01) whose
    feature ``rms`` scores 0.02 until window 18 and ``score`` from there (drift when above
    its 0.1 threshold), with the verdicts and model metrics; returns window 18's start."""
    from analytics.results import ResultsDB, columns
    from edgedrift.paths import DataPaths

    hours = pd.date_range("2025-10-01", periods=48, freq="h")
    fm, vd, mm = [], [], []
    for i, ws in enumerate(hours):
        s = score if i >= 18 else 0.02
        drift = s > 0.1
        we = ws + pd.Timedelta(hours=1)
        fm.append(("kws", "2.1", "firmware", "2.1", ws, we, "rms", "numeric", "u1",
                   "wasserstein", "effect", 500, 2000, s, s * 0.9, s * 1.1, np.nan, np.nan,
                   0.1, drift, drift, drift, "r", 0.0, 0.0))
        feats = json.dumps([{"feature": "rms", "method": "wasserstein", "score": s,
                             "lower": s * 0.9, "upper": s * 1.1, "threshold": 0.1}]) \
            if drift else "[]"
        vd.append(("kws", "2.1", "firmware", "2.1", ws, we, "drift", "drift" if drift else "ok",
                   "ok", False, drift, 1, 1.0 if drift else 0.0, feats, "[]", "", "", "r"))
        vd.append(("kws", "2.1", "firmware", "2.1", ws, we, "quality", "ok", "ok", False,
                   False, 1, 0.0, "[]", "[]", "", "", "r"))
        mm.append(("kws", "2.1", "firmware", "2.1", ws, we, 10, 10, 500, 0.1, 4.0, 3.8, 4.2,
                   8.0, 7.5, 8.5, 10.0, 9.0, 11.0))
    db = ResultsDB(DataPaths(root).analytics_db).open()
    try:
        mmd = pd.DataFrame(mm, columns=columns("model_metrics")[:19])
        keys = mmd[["model", "version", "window_start"]].drop_duplicates()
        db.replace_windows(keys, {
            "feature_metrics": pd.DataFrame(fm, columns=columns("feature_metrics")),
            "verdicts": pd.DataFrame(vd, columns=columns("verdicts")), "model_metrics": mmd,
            "computed_windows": keys.assign(device_windows=10)})
        db.record_run({"run_id": run_id, "started_at": hours[-1], "finished_at": hours[-1],
                       "status": "ok"})
    finally:
        db.close()
    return hours[18]
