"""Gateway throughput and latency: a real ``edgedrift gateway`` process on loopback, load
from a separate process (asyncio keep-alive connections, pre-signed requests).

Figures: single-window requests/s (closed loop), batched windows/s (100 per request),
and p99 accept latency under an open-loop load at half the measured single-window rate
(latency counted from each request's scheduled time, so queueing is included).
Backends: the embedded Parquet sink (default) and, if a broker starts, Kafka (Tansu).

Run: ``python -m bench gateway`` or ``python -m bench.bench_gateway [embedded|kafka]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .figures import Figure

ROOT = Path(__file__).resolve().parents[1]
DEVICES = 500
SINGLE_REQUESTS = 8000
BATCHES = 200
BATCH_SIZE = 100
LATENCY_SECONDS = 5.0
CONNECTIONS = 128


# -- load generator (runs in its own process) -------------------------------------------
def _requests(keys: dict[str, str], count: int, batch: int, seq0: int) -> list[bytes]:
    """Requests as today's SDK sends them: one device's windows per request, signed over
    the body in the X-Edgedrift-* headers (the gateway checks that before decoding);
    ``EDGEDRIFT_BENCH_UNSIGNED=1``: without those headers, as SDKs before them did."""
    import msgpack

    from collector.fake_windows import make_window_body, restamp
    from edge_sdk.signing import request_headers
    from edge_sdk.wire import CONTENT_TYPE, key_id, make_envelope

    unsigned = os.environ.get("EDGEDRIFT_BENCH_UNSIGNED") == "1"
    base = make_window_body("dev-0", 0, records=200, seed=1)     # ~3 KB window
    devices = list(keys)
    now = int(time.time())
    out = []
    for i in range(count):
        dev = devices[i % len(devices)]
        first = seq0 + (i // len(devices)) * batch
        envs = [make_envelope(keys[dev], dev, "kws", seq, restamp(base, dev, seq), now)
                for seq in range(first, first + batch)]
        body = msgpack.packb(envs[0] if batch == 1 else envs, use_bin_type=True)
        head = {"Host": "127.0.0.1", "Content-Type": CONTENT_TYPE,
                "Content-Length": str(len(body))}
        if not unsigned:
            head.update(request_headers(keys[dev], dev, key_id(keys[dev]), now, "identity",
                                        body))
        out.append(b"POST /v1/telemetry HTTP/1.1\r\n"
                   + "".join(f"{k}: {v}\r\n" for k, v in head.items()).encode() + b"\r\n"
                   + body)
    return out


async def roundtrip(conn: tuple, request: bytes, reset_on_close: bool = False) -> int:
    """Send one raw HTTP request on a (reader, writer) connection and read its answer;
    returns the status. ``reset_on_close``: raise ConnectionResetError when the server
    closes the connection after answering (the caller reopens it)."""
    reader, writer = conn
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    if reset_on_close and b"connection: close" in head.lower():
        raise ConnectionResetError("closed after answer")
    return status


async def _closed_loop(port: int, reqs: list[bytes], conns: int) -> tuple[float, dict]:
    it = iter(reqs)
    codes: dict[int, int] = {}

    async def worker() -> None:
        conn = await asyncio.open_connection("127.0.0.1", port)
        for req in it:
            code = await roundtrip(conn, req)
            codes[code] = codes.get(code, 0) + 1
        conn[1].close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return time.perf_counter() - t0, codes


async def _open_loop(port: int, reqs: list[bytes], rate: float, conns: int) -> tuple[list, dict]:
    free: asyncio.Queue = asyncio.Queue()
    for _ in range(conns):
        free.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    codes: dict[int, int] = {}
    tasks = []

    async def one(conn, req: bytes, scheduled: float) -> None:
        code = await roundtrip(conn, req)
        latencies.append(time.perf_counter() - scheduled)
        codes[code] = codes.get(code, 0) + 1
        free.put_nowait(conn)

    t0 = time.perf_counter() + 0.05
    for i, req in enumerate(reqs):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = await free.get()
        tasks.append(asyncio.create_task(one(conn, req, scheduled)))
    await asyncio.gather(*tasks)
    return latencies, codes


def load_main(args: dict) -> dict:
    """Entry point of the load process: pre-sign, then drive the server; returns figures."""
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    keys = json.loads(Path(args["keys"]).read_text())
    port = args["port"]
    single = _requests(keys, args["single"], 1, 0)
    batched = _requests(keys, args["batches"], BATCH_SIZE, 1000)
    out: dict = {}
    elapsed, codes = asyncio.run(_closed_loop(port, single, CONNECTIONS))
    out["single_rps"] = len(single) / elapsed
    out["single_codes"] = codes
    elapsed, codes = asyncio.run(_closed_loop(port, batched, 8))
    out["batched_wps"] = len(batched) * BATCH_SIZE / elapsed
    out["batched_codes"] = codes
    rate = max(100.0, out["single_rps"] / 2)
    n = int(rate * LATENCY_SECONDS)
    lat_reqs = _requests(keys, n, 1, 100_000)
    lat, codes = asyncio.run(_open_loop(port, lat_reqs, rate, 128))
    lat.sort()
    out.update(latency_rate=rate, p50_ms=lat[len(lat) // 2] * 1000,
               p99_ms=lat[int(len(lat) * 0.99) - 1] * 1000, latency_codes=codes)
    return out


# -- orchestration (the bench process) ------------------------------------------------------
def harness() -> Any:
    """The tests' ``GatewayProcess`` (tests/collector/gateway_harness.py): a real gateway."""
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "tests" / "collector"))
    from gateway_harness import GatewayProcess
    return GatewayProcess


def device_keys(tmp: Path, devices: int = DEVICES) -> Path:
    """Register ``devices`` keys in ``tmp/data/keys.json`` (the gateway's registry) and
    write them in plain to ``tmp/keys-plain.json`` for the load processes; returns data."""
    from collector.keys import KeyRegistry

    data = tmp / "data"
    reg = KeyRegistry(data / "keys.json")
    keys = {f"dev-{i:04d}": reg.add(f"dev-{i:04d}") for i in range(devices)}
    (tmp / "keys-plain.json").write_text(json.dumps(keys))
    return data


def measure(backend: str = "embedded") -> dict:
    GatewayProcess = harness()
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        data = device_keys(Path(tmp))
        broker = None
        kafka = None
        if backend == "kafka":
            from kafka_broker import Broker
            broker = Broker()
            kafka = broker.start()
        try:
            with GatewayProcess(data, kafka=kafka) as gw:
                args = {"keys": str(Path(tmp) / "keys-plain.json"), "port": gw.port,
                        "single": SINGLE_REQUESTS, "batches": BATCHES}
                res = subprocess.run(
                    [sys.executable, "-c", "import json,sys; from bench.bench_gateway import "
                     "load_main; print(json.dumps(load_main(json.loads(sys.argv[1]))))",
                     json.dumps(args)], capture_output=True, text=True, cwd=str(ROOT),
                    env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
                if res.returncode:
                    raise RuntimeError(f"load process failed: {res.stderr[-2000:]}")
                return json.loads(res.stdout.strip().splitlines()[-1])
        finally:
            if broker is not None:
                broker.stop()


def run(backends: tuple[str, ...] = ("embedded", "kafka")) -> list[Figure]:
    figures = []
    for backend in backends:
        try:
            r = measure(backend)
        except Exception as exc:   # e.g. no broker binary: report the rest
            print(f"bench_gateway {backend}: {exc}", file=sys.stderr)
            continue
        bad = {k: v for key in ("single_codes", "batched_codes", "latency_codes")
               for k, v in r[key].items() if str(k) not in ("202", "200")}
        note = f"(non-2xx: {bad})" if bad else ""
        figures += [
            Figure(f"gateway {backend}: single-window requests/s", ">= 2,000", r["single_rps"],
                   "req/s", lower_is_better=False, note=note),
            Figure(f"gateway {backend}: batched windows/s ({BATCH_SIZE}/request)", ">= 10,000",
                   r["batched_wps"], "windows/s", lower_is_better=False),
            Figure(f"gateway {backend}: p99 accept latency at {r['latency_rate']:.0f} req/s",
                   "<= 50 ms", r["p99_ms"], "ms", note=f"(p50 {r['p50_ms']:.1f} ms)"),
        ]
    return figures


if __name__ == "__main__":
    from .figures import HEADER

    chosen = tuple(sys.argv[1:]) or ("embedded", "kafka")
    print(HEADER)
    for f in run(chosen):
        print(f.row())
