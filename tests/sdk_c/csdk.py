"""Helpers for the C SDK tests: build edge_sdk_c for a spec, drive its replay program, and
produce the same windows with the Python SDK for comparison."""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from edge_sdk import Monitor, Spec

ROOT = Path(__file__).resolve().parents[2]
CSDK = ROOT / "edge_sdk_c"
KEY = "edk_3f9a1c2b_c2VjcmV0LWtleS1mb3ItYmVuY2hlcw"


def compiler() -> str:
    """The C compiler, or skip the test (with the reason) when there is none (or no make)."""
    if not shutil.which("make"):
        pytest.skip("no make on PATH: the C SDK (edge_sdk_c/Makefile) cannot be built")
    for cc in ("cc", "gcc", "clang"):
        path = shutil.which(cc)
        if path:
            return path
    pytest.skip("no C compiler (cc, gcc or clang) on PATH: the C SDK cannot be built")
    raise AssertionError  # unreachable


def sanitizers() -> None:
    """Skip unless the compiler links AddressSanitizer and UBSan programs."""
    cc = compiler()
    with tempfile.TemporaryDirectory(prefix="edgedrift-san-") as tmp:
        src = Path(tmp) / "t.c"
        src.write_text("int main(void) { return 0; }\n")
        proc = subprocess.run([cc, "-fsanitize=address,undefined", str(src), "-o",
                               str(Path(tmp) / "t")], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"{cc} cannot link -fsanitize=address,undefined: {proc.stderr[-200:]}")


def build(spec: Spec, build_dir: Path, target: str = "host") -> Path:
    """``make -C edge_sdk_c TARGET`` for ``spec``; returns the build directory."""
    cc = compiler()
    build_dir.mkdir(parents=True, exist_ok=True)
    spec_path = build_dir / "spec.json"
    spec.save(spec_path)
    proc = subprocess.run(["make", "-s", "-C", str(CSDK), *target.split(), f"BUILD={build_dir}",
                           f"SPEC={spec_path}", f"CC={cc}", "PYTHON=python3"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return build_dir


def token(value: Any) -> str:
    """One value in the replay program's notation (m, f<bits>, i<int>, s<hex>, b0/b1, o)."""
    if value is None:
        return "m"
    if isinstance(value, bool):
        return "b1" if value else "b0"
    if isinstance(value, float):
        return "f" + struct.pack(">d", value).hex()
    if isinstance(value, int):
        return f"i{value}"
    if isinstance(value, str):
        return "s" + value.encode().hex()
    return "o"


class Replay:
    """The C SDK driven record by record (edge_sdk_c/tests/replay.c)."""

    def __init__(self, build_dir: Path, model: str = "kws", version: str = "1.3.0",
                 device: str = "dev-c") -> None:
        self.proc = subprocess.Popen([str(build_dir / "replay"), model, version, device],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.names: list[str] = []

    def _ask(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer and answer[0] != "X", f"replay: {answer!r} after {line[:80]!r}"
        return answer.split(" ", 1)[1]

    def _send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")

    def init(self, now_ms: int, wire_version: int = 2, capacity: int = 0) -> None:
        self._send(f"I {now_ms} {wire_version} {capacity}")

    def log(self, features: dict[str, Any], names: list[str], prediction: Any = None,
            latency_ms: Any = None, energy_mj: Any = None, by_name: bool = False) -> None:
        head = f"{token(prediction)} {token(latency_ms)} {token(energy_mj)}"
        if by_name:
            vals = " ".join(f"{k.encode().hex()}={token(v)}" for k, v in features.items())
            self._send(f"N {head} {vals}")
        else:
            self._send(f"R {head} " + " ".join(token(features.get(n)) for n in names))

    def seal(self, now_ms: int, seq: int) -> bytes:
        return bytes.fromhex(self._ask(f"S {now_ms} {seq}"))

    def envelope(self, key: str, ts: int, seq: int) -> bytes:
        return bytes.fromhex(self._ask(f"E {key} {ts} {seq}"))

    def hmac(self, key: bytes, msg: bytes) -> bytes:
        return bytes.fromhex(self._ask(f"H {key.hex()} {msg.hex()}"))

    def request_signature(self, key: str, device: str, ts: int, encoding: str,
                          body: bytes) -> str:
        return self._ask(f"Q {key} {device} {ts} {encoding} {body.hex()}")

    def bounds(self) -> list[int]:
        return [int(x) for x in self._ask("B").split()]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


def python_window(spec: Spec, records: list[tuple], ws_ms: int, we_ms: int,
                  wire_version: int = 2, capacity: int = 32) -> dict[str, Any]:
    """The window body a real (not started) Monitor seals for ``records``."""
    clock = [ws_ms / 1000]
    with tempfile.TemporaryDirectory(prefix="edgedrift-csdk-") as tmp:
        mon = Monitor(model="kws", version="1.3.0", device_id="dev-c",
                      endpoint="http://127.0.0.1:9/v1/telemetry", key=KEY, spec=spec,
                      spool_dir=tmp, start=False, clock=lambda: clock[0], close_timeout_s=0,
                      wire_version=wire_version, durable=False, category_capacity=capacity)
        try:
            for features, prediction, latency, *energy in records:
                mon.log(features, prediction=prediction, latency_ms=latency,
                        energy_mj=energy[0] if energy else None)
            clock[0] = we_ms / 1000
            return mon.seal_window()
        finally:
            mon.close(timeout_s=0)


def _close(a: float, b: float, rel: float) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel)


def assert_numeric_equal(c: list, py: list, path: str) -> None:
    """Numeric entries: exact counts, bins, extremes; mean and m2 to 1e-9; slot sums' region
    bytes within one step and tail sums to float32 precision."""
    assert len(c) == len(py), path
    for i in (0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12):
        assert c[i] == py[i], f"{path}[{i}]: C {c[i]!r} != Python {py[i]!r}"
    assert _close(c[8], py[8], 1e-9), f"{path}.mean: {c[8]} vs {py[8]}"
    assert _close(c[9], py[9], 1e-7), f"{path}.m2: {c[9]} vs {py[9]}"
    if len(c) == 14:
        cs, ps = c[13], py[13]
        assert len(cs) == len(ps), f"{path}.sums length"
        if ps:
            regions = len(ps) - 8
            steps = zip(cs[:regions], ps[:regions], strict=True)
            assert all(abs(a - b) <= 1 for a, b in steps), f"{path}.sums: {cs!r} {ps!r}"
            ct, pt = struct.unpack("<2f", cs[-8:]), struct.unpack("<2f", ps[-8:])
            tails = zip(ct, pt, strict=True)
            assert all(_close(a, b, 1e-5) for a, b in tails), f"{path}.sums: {ct} {pt}"


def assert_windows_equal(c: dict, py: dict) -> None:
    """Semantic equality of two decoded window bodies (the sdk name aside)."""
    assert list(c) == list(py), "key order"
    for key in c:
        if key == "sdk":
            continue
        if key == "f":
            assert [e[0] for e in c["f"]] == [e[0] for e in py["f"]]
            for ce, pe in zip(c["f"], py["f"], strict=True):
                if ce[1] == 0:
                    assert_numeric_equal(ce[1:], pe[1:], f"f.{ce[0]}")
                else:
                    assert ce == pe, f"f.{ce[0]}"
                    assert list(ce[7]) == list(pe[7]), f"f.{ce[0]} category order"
        elif key in ("lt", "pr", "en") and c[key][0] == 0:
            assert_numeric_equal(c[key], py[key], key)
        else:
            assert c[key] == py[key], key
