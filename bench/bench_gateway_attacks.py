"""The gateway under attack: a real ``edgedrift gateway`` on loopback, attackers and
legitimate devices driven from a separate process with real sockets.

* **idle flood** -- 3,000 connections that send nothing or half a request head, held for
  20 s (each one reopened as soon as the gateway drops it), from 60 loopback addresses
  (127.0.0.2 ...; 50 each, as from 60 hosts); meanwhile 8 devices' senders post signed
  single-window requests from 127.0.0.1. Figure: the share of posts answered 2xx (a post
  whose kept-alive connection was dropped is retried once on a new connection, as the
  SDK does). Target >= 99 %.
* **amplification** -- legitimate closed-loop load (16 connections, SDK-style signed and
  deflated posts) for 10 s alone, then 10 s more while an attacker sends 4
  unauthenticated ~9 KB bodies per second, each inflating to ~4 MiB of msgpack holding
  ~4 million empty containers. Figures: throughput under attack / throughput alone
  (target >= 50 %) and the gateway's RSS growth during the attack (target <= 150 MB).

``python -m bench gateway_attacks`` measures this checkout. With
``EDGEDRIFT_BENCH_BASELINE=<git rev>`` (or ``python -m bench.bench_gateway_attacks REV``)
the same load also runs against that revision's gateway (exported with ``git archive``)
and its figures are shown in the peer column, side by side.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import deque
from pathlib import Path

from .bench_gateway import roundtrip
from .figures import Figure

ROOT = Path(__file__).resolve().parents[1]
DEVICES = 500
IDLE_CONNECTIONS = 3000
ATTACK_ADDRESSES = 60
HOLD_S = 20.0
LEGIT_WORKERS = 8
AMP_PHASE_S = 10.0
AMP_PER_S = 4
AMP_CONNECTIONS = 16
AMP_PREPARED = 25_000     # requests signed ahead per phase (~2,500 req/s for 10 s)


# -- load process -------------------------------------------------------------------------
class _Signer:
    """Signed, deflated single-window requests the way the SDK's sender makes them."""

    def __init__(self, keys: dict[str, str]) -> None:
        from collector.fake_windows import make_window_body

        self.keys = keys
        self.devices = list(keys)
        self.base = make_window_body("dev-0", 0, records=200, seed=1)
        self.n = 0
        self.ready: deque[bytes] = deque()

    def prepare(self, count: int) -> None:
        """Sign ``count`` requests ahead, so the load process is not the bottleneck."""
        self.ready.extend(self.sign() for _ in range(count))

    def next(self) -> bytes:
        return self.ready.popleft() if self.ready else self.sign()

    def sign(self) -> bytes:
        import msgpack

        from collector.fake_windows import restamp
        from edge_sdk.signing import request_headers
        from edge_sdk.wire import CONTENT_TYPE, key_id, make_envelope

        dev = self.devices[self.n % len(self.devices)]
        seq = self.n // len(self.devices)
        self.n += 1
        key, now = self.keys[dev], int(time.time())
        env = make_envelope(key, dev, "kws", seq, restamp(self.base, dev, seq), now)
        body = zlib.compress(msgpack.packb(env, use_bin_type=True), 6)
        head = {"Host": "127.0.0.1", "Content-Type": CONTENT_TYPE,
                "Content-Encoding": "deflate", "Content-Length": str(len(body)),
                **request_headers(key, dev, key_id(key), now, "deflate", body)}
        return (b"POST /v1/telemetry HTTP/1.1\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in head.items()).encode() + b"\r\n" + body)


async def _sender(port: int, signer: _Signer, until: float, out: dict, pause: float) -> None:
    """One device-like sender: keep-alive, one silent retry on a dropped connection."""
    conn = None
    while time.monotonic() < until:
        req = signer.next()
        code = 0
        for _ in (0, 1):   # one silent retry on a dropped kept-alive connection
            try:
                if conn is None:
                    conn = await asyncio.wait_for(
                        asyncio.open_connection("127.0.0.1", port), 10)
                code = await asyncio.wait_for(roundtrip(conn, req, reset_on_close=True), 15)
                break
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                if conn is not None:
                    conn[1].close()
                conn = None
                if isinstance(exc, ConnectionResetError) and str(exc) == "closed after answer":
                    code = 503
                    break
        out[code] = out.get(code, 0) + 1
        if pause:
            await asyncio.sleep(pause)
    if conn is not None:
        conn[1].close()


async def _idle_slot(port: int, source: str, half: bool, until: float, stats: dict) -> None:
    """Hold one idle (or half-head) connection until ``until``, reopening when dropped."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                          local_addr=(source, 0))
        except OSError:
            stats["connect_errors"] += 1
            await asyncio.sleep(0.2)
            continue
        stats["open"] += 1
        try:
            if half:
                writer.write(b"POST /v1/telemetry HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
            await asyncio.wait_for(reader.read(), max(0.0, until - time.monotonic()))
            stats["dropped"] += 1
        except (TimeoutError, OSError):
            pass
        finally:
            stats["open"] -= 1
            writer.close()


async def _idle_flood(port: int, keys: dict[str, str]) -> dict:
    stats = {"open": 0, "dropped": 0, "connect_errors": 0}
    until = time.monotonic() + HOLD_S + 5
    slots = [asyncio.create_task(_idle_slot(port, f"127.0.0.{2 + i % ATTACK_ADDRESSES}",
                                            bool(i % 2), until, stats))
             for i in range(IDLE_CONNECTIONS)]
    t0 = time.monotonic()
    while stats["open"] < IDLE_CONNECTIONS and time.monotonic() - t0 < 5:
        await asyncio.sleep(0.1)
    held: list[int] = []

    async def watch() -> None:
        while True:
            held.append(stats["open"])
            await asyncio.sleep(0.25)

    watcher = asyncio.create_task(watch())
    codes: dict = {}
    signer = _Signer(keys)
    signer.prepare(int(HOLD_S * LEGIT_WORKERS * 100))
    await asyncio.gather(*(_sender(port, signer, time.monotonic() + HOLD_S, codes, 0.01)
                           for _ in range(LEGIT_WORKERS)))
    watcher.cancel()
    for t in slots:
        t.cancel()
    await asyncio.gather(*slots, return_exceptions=True)
    ok = sum(n for c, n in codes.items() if 200 <= c < 300)
    return {"codes": codes, "ok_pct": 100.0 * ok / max(1, sum(codes.values())),
            "held_min": min(held), "held_mean": sum(held) / len(held),
            "attacker_drops": stats["dropped"]}


def _bomb() -> bytes:
    per, arrays = 1024, 4000
    return zlib.compress(b"\xdc" + arrays.to_bytes(2, "big")
                         + (b"\xdc\x04\x00" + b"\x90" * per) * arrays, 9)


async def _amplifier(port: int, until: float, codes: dict) -> None:
    body = _bomb()
    req = (b"POST /v1/telemetry HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
           b"application/msgpack\r\nContent-Encoding: deflate\r\nContent-Length: "
           + str(len(body)).encode() + b"\r\n\r\n" + body)

    async def one() -> None:
        try:
            conn = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.250", 0))
            code = await asyncio.wait_for(roundtrip(conn, req, reset_on_close=True), 60)
            conn[1].close()
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            code = 0
        codes[code] = codes.get(code, 0) + 1

    tasks = []
    t0 = time.monotonic()
    i = 0
    while time.monotonic() < until:
        tasks.append(asyncio.create_task(one()))
        i += 1
        await asyncio.sleep(max(0.0, t0 + i / AMP_PER_S - time.monotonic()))
    await asyncio.gather(*tasks)


async def _amplification(port: int, keys: dict[str, str], marker: str) -> dict:
    signer = _Signer(keys)
    signer.prepare(AMP_PREPARED)
    base: dict = {}
    t0 = time.monotonic()
    await asyncio.gather(*(_sender(port, signer, t0 + AMP_PHASE_S, base, 0.0)
                           for _ in range(AMP_CONNECTIONS)))
    alone = sum(n for c, n in base.items() if 200 <= c < 300) / (time.monotonic() - t0)
    signer.ready.clear()
    signer.prepare(AMP_PREPARED)
    Path(marker).write_text("attack")   # the bench process samples RSS from here on
    attacked: dict = {}
    amp: dict = {}
    t1 = time.monotonic()
    await asyncio.gather(_amplifier(port, t1 + AMP_PHASE_S, amp),
                         *(_sender(port, signer, t1 + AMP_PHASE_S, attacked, 0.0)
                           for _ in range(AMP_CONNECTIONS)))
    under = sum(n for c, n in attacked.items() if 200 <= c < 300) / (time.monotonic() - t1)
    return {"alone_rps": alone, "attacked_rps": under, "codes_alone": base,
            "codes_attacked": attacked, "attack_codes": amp}


def load_main(args: dict) -> dict:
    """Entry point of the load process."""
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 16384)), hard))
    keys = json.loads(Path(args["keys"]).read_text())
    if args["scenario"] == "idle":
        return asyncio.run(_idle_flood(args["port"], keys))
    return asyncio.run(_amplification(args["port"], keys, args["marker"]))


# -- orchestration ------------------------------------------------------------------------
def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _scenario(root: Path, scenario: str) -> dict:
    from .bench_gateway import device_keys, harness

    GatewayProcess = harness()
    with tempfile.TemporaryDirectory(prefix="bench-attacks-") as tmp:
        data = device_keys(Path(tmp), DEVICES)
        marker = Path(tmp) / "attack-started"
        with GatewayProcess(data, root=root) as gw:
            assert gw.proc is not None
            pid = gw.proc.pid
            samples: list[float] = []
            before: list[float] = []
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(0.1):
                    try:
                        (samples if marker.exists() else before).append(_rss_mb(pid))
                    except OSError:
                        return

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            args = {"keys": str(Path(tmp) / "keys-plain.json"), "port": gw.port,
                    "scenario": scenario, "marker": str(marker)}
            res = subprocess.run(
                [sys.executable, "-c", "import json,sys; from bench.bench_gateway_attacks "
                 "import load_main; print(json.dumps(load_main(json.loads(sys.argv[1]))))",
                 json.dumps(args)], capture_output=True, text=True, cwd=str(ROOT),
                env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
            stop.set()
            sampler.join()
            if res.returncode:
                raise RuntimeError(f"load process failed: {res.stderr[-2000:]}")
            out = json.loads(res.stdout.strip().splitlines()[-1])
            out["rss_before_mb"] = before[-1] if before else 0.0
            out["rss_growth_mb"] = (max(samples) - out["rss_before_mb"]) if samples else 0.0
            return out


def measure(root: Path = ROOT) -> dict:
    return {"idle": _scenario(root, "idle"), "amp": _scenario(root, "amp")}


def _export(rev: str, dest: Path) -> Path:
    """``git archive`` of ``rev`` (plus this checkout's built C accelerator) into ``dest``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    for so in (ROOT / "collector").glob("_sinkfast*.so"):
        shutil.copy2(so, dest / "collector" / so.name)
    return dest


def run(baseline: str | None = None) -> list[Figure]:
    baseline = baseline or os.environ.get("EDGEDRIFT_BENCH_BASELINE")
    now = measure()
    before = None
    if baseline:
        with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
            before = measure(_export(baseline, Path(tmp)))
    print(json.dumps({"after": now, "before": before}, indent=1), file=sys.stderr)
    peer = f"before, {baseline}" if baseline else ""

    def figure(name: str, target: str, key: tuple[str, str], unit: str,
               lower: bool, scale: float = 1.0) -> Figure:
        value = now[key[0]][key[1]] * scale
        old = before[key[0]][key[1]] * scale if before else None
        return Figure(name, target, value, unit, peer=old, peer_name=peer,
                      lower_is_better=lower)

    for r in (now, before):
        if r:
            r["amp"]["ratio"] = r["amp"]["attacked_rps"] / max(r["amp"]["alone_rps"], 1e-9)
    return [
        figure(f"gateway: signed posts answered 2xx, {IDLE_CONNECTIONS} idle/half-open "
               f"connections held {HOLD_S:.0f} s", ">= 99 %", ("idle", "ok_pct"), "%", False),
        figure("gateway: throughput alone (signed single-window posts)", "-",
               ("amp", "alone_rps"), "req/s", False),
        figure(f"gateway: throughput under {AMP_PER_S}/s unauthenticated amplification bodies",
               "-", ("amp", "attacked_rps"), "req/s", False),
        figure("gateway: throughput under amplification / alone", ">= 50 %", ("amp", "ratio"),
               "%", False, 100.0),
        figure("gateway: RSS growth under amplification", "<= 150 MB",
               ("amp", "rss_growth_mb"), "MB", True),
    ]


if __name__ == "__main__":
    from .figures import HEADER

    print(HEADER)
    for f in run(sys.argv[1] if len(sys.argv) > 1 else None):
        print(f.row())
