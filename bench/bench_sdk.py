"""Device-SDK figures (issue 2 targets), with whylogs side by side where it applies.

* ``Monitor.log()`` of a 20 numeric + 3 categorical record: median, p99 and amortized mean
  (which includes the periodic buffer flush), single thread, with and without a spec;
  peer: whylogs ``DatasetProfile.track`` per row on the same records.
* Wire bytes of one 60 s window of 1,000 such records (zlib request body, exactly as the
  sender builds it); peer: whylogs' serialized profile of the same records.
* ``import edge_sdk`` time in a fresh interpreter, installed size of the base install
  (edge_sdk + msgpack from a built wheel), and resident memory of one Monitor after
  10k and 1M records in one window.

Run with ``python -m bench sdk``. The whylogs peer lives in its own venv (bench/peers.py);
if it cannot be set up, the peer columns stay empty. Nothing here runs at import time.

>>> recs = make_records(3, seed=1)
>>> len(recs[0].features), sorted(set(map(type, recs[0].features.values())), key=str)
(23, [<class 'float'>, <class 'int'>, <class 'str'>])
>>> spec = reference_spec(seed=2, n=2000)
>>> len(spec.features), spec.features["f00"].layout.slots
(23, 64)
"""

from __future__ import annotations

import gc
import json
import logging
import math
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .figures import Figure
from .sdk_import_time import import_figures, python_env

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
KEY = "edk_3f9a1c2b_c2VjcmV0LWtleS1mb3ItYmVuY2hlcw"
DEVICE, MODEL, VERSION = "dev-0042", "kws", "1.3.0"
DEAD_ENDPOINT = "http://127.0.0.1:9/v1/telemetry"  # nothing listens; no send happens anyway
WINDOW_RECORDS = 1_000
LOG_CALLS = 50_000
BUFFER_FOLD_PERIOD = 256  # edge_sdk.numeric.BUFFER_SIZE: every 256th value folds the buffer
MEMORY_STEPS = (10_000, 1_000_000)

MICS = ("front", "rear", "usb")
FIRMWARE = ("4.1.0", "4.1.2", "4.2.0", "4.2.1", "5.0.0")
LANGS = ("en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "ja", "ko", "zh")
LANG_WEIGHTS = (40, 12, 10, 9, 6, 5, 4, 3, 3, 3, 3, 2)


@dataclass(frozen=True)
class Record:
    """One inference: 20 numeric + 3 categorical features, a probability and a latency.

    >>> make_records(1)[0].prediction <= 1.0
    True
    """

    features: dict[str, Any]
    prediction: float
    latency_ms: float

    def row(self) -> dict[str, Any]:
        """Flat row for the peer (features plus prediction and latency as columns)."""
        return {**self.features, "prediction": self.prediction, "latency_ms": self.latency_ms}


# -- data ------------------------------------------------------------------------------
def _numeric_value(rng: random.Random, i: int) -> float | int:
    """Feature ``f{i:02d}``: normal, lognormal, bimodal, uniform, counts, heavy tails."""
    if i < 6:
        return rng.gauss(0.2 * i, 1.0 + 0.1 * i)
    if i < 10:
        return rng.lognormvariate(-1.0 + 0.3 * i - 1.8, 0.7)
    if i < 13:
        return rng.gauss(-2.0, 0.5) if rng.random() < 0.4 else rng.gauss(3.0, 1.0)
    if i < 16:
        return rng.uniform(0.0, 10.0 ** (i - 13))
    if i < 18:  # integer counts (Poisson-ish via a geometric sum keeps it stdlib)
        return int(rng.expovariate(1.0 / (3 + 20 * (i - 16))))
    return rng.gauss(0.0, 1.0) / max(1e-3, math.sqrt(rng.gammavariate(1.0, 1.0)))  # ~t(2)


def make_records(n: int, seed: int = 0) -> list[Record]:
    """``n`` deterministic records of the benchmark schema (stdlib random only)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        feats: dict[str, Any] = {f"f{i:02d}": _numeric_value(rng, i) for i in range(20)}
        feats["mic"] = rng.choice(MICS)
        feats["fw"] = rng.choice(FIRMWARE)
        feats["lang"] = rng.choices(LANGS, LANG_WEIGHTS)[0]
        out.append(Record(feats, rng.betavariate(0.6, 0.6), rng.lognormvariate(1.4, 0.35)))
    return out


def reference_spec(seed: int = 12345, n: int = 20_000, source: str = "auto") -> Any:
    """A Spec from reference data: 63 quantile edges per numeric feature, known categories.

    Uses analytics.reference_build (the server's builder) when importable, else numpy
    quantiles (``source="numpy"``).
    """
    return _reference_spec(seed, n, source)[0]


def _reference_spec(seed: int, n: int, source: str) -> tuple[Any, str]:
    from edge_sdk import Spec

    recs = make_records(n, seed)
    built = _spec_from_analytics(recs) if source == "auto" else None
    if built is not None:
        return built, "analytics.reference_build"
    import numpy as np

    features: dict[str, Any] = {}
    for i in range(20):
        name = f"f{i:02d}"
        col = np.array([r.features[name] for r in recs], dtype=float)
        edges = np.unique(np.quantile(col, np.linspace(0, 1, 65)[1:-1]))
        features[name] = {"type": "numeric", "edges": edges.tolist(),
                          "range": [float(col.min()), float(col.max())]}
    features["mic"] = {"type": "categorical", "categories": list(MICS)}
    features["fw"] = {"type": "categorical", "categories": list(FIRMWARE)}
    features["lang"] = {"type": "categorical", "categories": list(LANGS)}
    return Spec.from_dict({
        "model": MODEL, "version": VERSION, "features": features,
        "prediction": {"type": "numeric", "layout": "p1", "task": "binary", "threshold": 0.5,
                       "range": [0.0, 1.0]}}), "numpy quantiles"


def _spec_from_analytics(recs: list[Record]) -> Any:
    """The spec from analytics' reference builder (the server's real path), or None."""
    try:
        import pandas as pd

        from analytics.reference_build import build_reference
    except ImportError:
        return None
    try:
        df = pd.DataFrame([r.row() for r in recs])
        built = build_reference(df, MODEL, VERSION, prediction="prediction",
                                latency="latency_ms", categorical=("mic", "fw", "lang"))
        return built.spec
    except Exception as exc:  # its API is still moving: fall back to numpy quantiles
        log.warning("analytics.reference_build failed (%s); using numpy quantiles", exc)
        return None


# -- payload ---------------------------------------------------------------------------
def window_request(records: list[Record], spec: Any = None, compress: bool = True) -> bytes:
    """The request body the sender would POST for one 60 s window of ``records``.

    The window body comes from a real Monitor (not started: no threads, no sends) sealed
    after the records; the envelope, request and zlib level are the sender's.

    >>> len(window_request(make_records(10))) > 0
    True
    """
    from edge_sdk.wire import encode_request, encode_window, make_envelope

    with tempfile.TemporaryDirectory(prefix="edgedrift-bench-") as tmp:
        mon = _monitor(spec, tmp, window_s=60, start=False,
                       model_hash="sha256:" + "ab" * 32, close_timeout_s=0)
        try:
            for r in records:
                mon.log(r.features, prediction=r.prediction, latency_ms=r.latency_ms)
            body = mon.seal_window()
        finally:
            mon.close(timeout_s=0)
    body["ws"] = 1_700_000_000_000  # a 60 s window, whatever the wall clock did
    body["we"] = body["ws"] + 60_000
    window = encode_window(body)
    env = make_envelope(KEY, DEVICE, MODEL, body["sq"], window, ts=body["we"] // 1000 + 1)
    request = encode_request([env])
    return zlib.compress(request, 6) if compress else request


def payload_figures(records: list[Record], spec: Any, peer: dict[str, Any] | None,
                    spec_source: str = "") -> list[Figure]:
    peer_bytes = peer.get("profile_bytes") if peer else None
    figs = []
    for label, sp in (("spec", spec), ("no spec", None)):
        raw = len(window_request(records, sp, compress=False))
        wire = len(window_request(records, sp))
        figs.append(Figure(f"payload, 1 window x 1,000 records, 23 features ({label}), zlib",
                           "<= 3 KB", wire / 1000, "KB",
                           peer=peer_bytes / 1000 if peer_bytes else None,
                           peer_name="whylogs profile",
                           note=f"({raw / 1000:.1f} KB before zlib"
                                + (f"; spec by {spec_source})" if sp is not None and spec_source
                                   else ")")))
    if peer and peer.get("profile_bytes_zlib"):
        wire = len(window_request(records, spec))
        figs.append(Figure("payload vs whylogs profile both zlib'd (spec)", "", wire / 1000, "KB",
                           peer=peer["profile_bytes_zlib"] / 1000, peer_name="whylogs, zlib"))
    return figs


# -- log() speed -----------------------------------------------------------------------
def _monitor(spec: Any, spool_dir: str, **kw: Any) -> Any:
    from edge_sdk import Monitor

    kw.setdefault("window_s", 86_400)  # no window seals (and nothing is sent) while timing
    return Monitor(model=MODEL, version=VERSION, device_id=DEVICE, endpoint=DEAD_ENDPOINT,
                   key=KEY, spec=spec, spool_dir=spool_dir, **kw)


def time_log(records: list[Record], spec_path: str | None, calls: int = LOG_CALLS
             ) -> dict[str, float]:
    """Per-call log() times (ns) and the amortized mean over a plain loop."""
    with tempfile.TemporaryDirectory(prefix="edgedrift-bench-") as tmp:
        mon = _monitor(spec_path, tmp)
        try:
            logf = mon.log
            args = [(r.features, r.prediction, r.latency_ms) for r in records]
            for f, p, lat in args[:2000] * 2:  # warm-up: feature creation, first flushes
                logf(f, prediction=p, latency_ms=lat)
            clock = time.perf_counter_ns
            times: list[int] = []
            append = times.append
            k = len(args)
            gc.collect()
            for i in range(calls):
                f, p, lat = args[i % k]
                t0 = clock()
                logf(f, prediction=p, latency_ms=lat)
                append(clock() - t0)
            chunk = max(BUFFER_FOLD_PERIOD, calls // 5)
            means = []  # median over 5 chunks: one burst of machine noise moves one chunk only
            for _ in range(5):
                t0 = clock()
                for i in range(chunk):
                    f, p, lat = args[i % k]
                    logf(f, prediction=p, latency_ms=lat)
                loop_total = clock() - t0
                t0 = clock()
                for i in range(chunk):  # the loop's own cost, subtracted
                    f, p, lat = args[i % k]
                means.append((loop_total - (clock() - t0)) / chunk)
        finally:
            mon.close(timeout_s=0)
    times.sort()
    n = len(times)
    return {"median": times[n // 2], "p99": times[int(n * 0.99)], "p999": times[int(n * 0.999)],
            "mean": statistics.median(means)}


def log_figures(records: list[Record], spec_path: str, peer: dict[str, Any] | None
                ) -> list[Figure]:
    peer_med = peer.get("track_us_median") if peer else None
    peer_p99 = peer.get("track_us_p99") if peer else None
    peer_mean = peer.get("track_us_mean") if peer else None
    figs = []
    for label, path in (("spec", spec_path), ("no spec", None)):
        t = time_log(records, path)
        figs += [
            Figure(f"log() median, 20 num + 3 cat ({label})", "<= 10 us", t["median"] / 1e3, "us",
                   peer=peer_med, peer_name="whylogs track"),
            Figure(f"log() p99 ({label})", "", t["p99"] / 1e3, "us",
                   peer=peer_p99, peer_name="whylogs track",
                   note=f"(p99.9 {t['p999'] / 1e3:.0f} us: the call that folds the buffers)"),
            Figure(f"log() amortized mean incl. buffer flush ({label})", "", t["mean"] / 1e3, "us",
                   peer=peer_mean, peer_name="whylogs track"),
        ]
    return figs


# -- installed size --------------------------------------------------------------------
def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def installed_size() -> dict[str, int]:
    """Bytes of edge_sdk (from a wheel built off a copy of the tree) and msgpack, installed."""
    with tempfile.TemporaryDirectory(prefix="edgedrift-wheel-") as tmp:
        src, wheels, target = Path(tmp, "src"), Path(tmp, "wheels"), Path(tmp, "target")
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (ROOT / name).exists():
                shutil.copy2(ROOT / name, src / name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
        for pkg in ("edge_sdk", "collector", "analytics", "dashboard", "edgedrift"):
            if (ROOT / pkg).is_dir():
                shutil.copytree(ROOT / pkg, src / pkg, ignore=ignore)
        pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(src)],
                       check=True, capture_output=True, timeout=300)
        wheel = next(wheels.glob("edgedrift-*.whl"))
        subprocess.run([*pip, "install", "--no-deps", "--no-compile", "--target", str(target),
                        str(wheel), "msgpack"], check=True, capture_output=True, timeout=300)
        # .pyc files as a device's first run would write them
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(target)],
                       check=True, capture_output=True, timeout=120)
        sizes = {"edge_sdk": _tree_bytes(target / "edge_sdk"),
                 "msgpack": sum(_tree_bytes(p) for p in target.glob("msgpack*")),
                 "edgedrift_all": sum(_tree_bytes(p) for p in target.iterdir()
                                      if not p.name.startswith("msgpack")),
                 "wheel_file": wheel.stat().st_size}
        strip = shutil.which("strip")
        if strip:  # what a device image build does to shared objects
            saved = 0
            for so in target.glob("msgpack/*.so"):
                before = so.stat().st_size
                subprocess.run([strip, "--strip-unneeded", str(so)], check=True, timeout=60)
                saved += before - so.stat().st_size
            sizes["strip_saves"] = saved
    return sizes


def size_figures() -> list[Figure]:
    s = installed_size()
    total = s["edge_sdk"] + s["msgpack"]
    figs = [Figure("installed size, base install (edge_sdk + msgpack, with .pyc)", "<= 2 MB",
                   total / 1e6, "MB", note=f"(edge_sdk {s['edge_sdk'] / 1e3:.0f} KB, msgpack "
                   f"{s['msgpack'] / 1e3:.0f} KB as shipped by PyPI, .so unstripped)")]
    if "strip_saves" in s:
        figs.append(Figure("installed size, same with msgpack's .so stripped", "<= 2 MB",
                           (total - s["strip_saves"]) / 1e6, "MB",
                           note="(strip --strip-unneeded, as device image builds do)"))
    figs.append(Figure("installed size, whole edgedrift wheel + msgpack (all packages' code)", "",
                       (s["edgedrift_all"] + s["msgpack"]) / 1e6, "MB",
                       note=f"(what `pip install edgedrift` puts on a device today; wheel file "
                            f"{s['wheel_file'] / 1e3:.0f} KB)"))
    return figs


# -- resident memory -------------------------------------------------------------------
def _rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def memory_child(spec_path: str | None, steps: tuple[int, ...] = MEMORY_STEPS) -> dict[str, int]:
    """In a fresh process: RSS before/after creating a Monitor and after each step of logs."""
    records = make_records(1000, seed=7)
    args = [(r.features, r.prediction, r.latency_ms) for r in records]
    with tempfile.TemporaryDirectory(prefix="edgedrift-bench-") as tmp:
        from edge_sdk import Monitor  # noqa: F401  (import cost is not the Monitor's)

        gc.collect()
        out = {"before": _rss_bytes()}
        mon = _monitor(spec_path, tmp)
        gc.collect()
        out["created"] = _rss_bytes()
        done = 0
        logf = mon.log
        for step in steps:
            for i in range(done, step):
                f, p, lat = args[i % 1000]
                logf(f, prediction=p, latency_ms=lat)
            done = step
            gc.collect()
            out[str(step)] = _rss_bytes()
        mon.close(timeout_s=0)
    return out


def memory_figures(spec_path: str) -> list[Figure]:
    figs = []
    small, big = (str(s) for s in MEMORY_STEPS)
    for label, path in (("spec", spec_path), ("no spec", None)):
        code = ("import json; from bench.bench_sdk import memory_child; "
                f"print(json.dumps(memory_child({path!r})))")
        proc = subprocess.run([sys.executable, "-c", code], env=python_env(), cwd=ROOT,
                              capture_output=True, text=True, timeout=600, check=True)
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        figs += [
            Figure(f"Monitor RSS after {int(small):,} records ({label})", "<= 2 MB",
                   (m[small] - m["before"]) / 1e6, "MB",
                   note=f"(VmRSS minus before the Monitor; {(m['created'] - m['before']) / 1e6:.2f}"
                        " MB at creation)"),
            Figure(f"Monitor RSS after {int(big):,} records, one window ({label})", "<= 2 MB",
                   (m[big] - m["before"]) / 1e6, "MB",
                   note=f"(growth from {int(small):,}: {(m[big] - m[small]) / 1e6:.2f} MB)"),
        ]
    return figs


# -- peer ------------------------------------------------------------------------------
def peer_whylogs(records: list[Record]) -> dict[str, Any] | None:
    """whylogs on the same records (in bench/.peers/venv), or None if it cannot run."""
    from .peers import PEERS, PeerError

    with tempfile.TemporaryDirectory(prefix="edgedrift-peer-") as tmp:
        path = Path(tmp, "records.json")
        path.write_text(json.dumps([r.row() for r in records]))
        try:
            return PEERS.run("peer_whylogs.py", str(path), "2", timeout_s=600)
        except (PeerError, OSError, ValueError) as exc:
            log.warning("whylogs peer unavailable: %s", exc)
            return None


def _monitor_available() -> bool:
    try:
        from edge_sdk import Monitor  # noqa: F401
    except ImportError as exc:
        log.warning("edge_sdk.Monitor not importable yet (%s); skipping log()/memory", exc)
        return False
    return True


def run() -> list[Figure]:
    sdk_log = logging.getLogger("edge_sdk")
    level = sdk_log.level
    sdk_log.setLevel(logging.ERROR)  # the dead endpoint's "send failed" warnings at close
    try:
        return _run()
    finally:
        sdk_log.setLevel(level)


def _run() -> list[Figure]:
    records = make_records(WINDOW_RECORDS, seed=1)
    spec, spec_source = _reference_spec(12345, 20_000, "auto")
    peer = peer_whylogs(records)
    figs: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="edgedrift-spec-") as tmp:
        spec_path = str(Path(tmp, "kws-1.3.0.spec.json"))
        spec.save(spec_path)
        sections: list[tuple[str, Any]] = []
        if _monitor_available():
            sections += [("log()", lambda: log_figures(records, spec_path, peer)),
                         ("payload", lambda: payload_figures(records, spec, peer, spec_source)),
                         ("memory", lambda: memory_figures(spec_path))]
        sections += [("import time", import_figures), ("installed size", size_figures)]
        for what, section in sections:
            try:
                figs += section()
            except Exception as exc:  # one failing section must not hide the other figures
                log.warning("%s benchmark failed: %s", what, exc)
                figs.append(Figure(f"{what} (FAILED)", "", math.nan, "",
                                   note=f"{type(exc).__name__}: {str(exc)[:120]}"))
    if peer:
        for f in figs:
            if f.peer is not None and f.peer_name.startswith("whylogs"):
                f.peer_name = f"{f.peer_name} {peer['whylogs']}"
    return figs


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    for fig in run():
        print(fig.row())
