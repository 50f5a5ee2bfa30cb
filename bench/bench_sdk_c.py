"""C SDK figures (issue 21 targets): flash and static RAM per target, instructions per
``log()`` on an emulated Cortex-M4F and M0+, and bytes per 1,000-record window next to the
Python SDK's, for the SDK benchmark's 23-feature spec (edge_sdk_c/tests/bench_spec.json).

Run with ``python -m bench sdk_c``. Needs a C compiler for the window figure and
``arm-none-eabi-gcc`` + ``qemu-system-arm`` for the target figures (skipped, with a log line
saying what is missing, when they are not installed). Nothing runs at import time.

>>> parse_lines("cortex-m4f flash=15774 ram=14\\nother")
{'cortex-m4f': {'flash': 15774, 'ram': 14}}
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .figures import Figure

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
CSDK = ROOT / "edge_sdk_c"
SPEC = CSDK / "tests" / "bench_spec.json"
_LINE = re.compile(r"^(cortex-\S+) (.*)$")


def parse_lines(text: str) -> dict[str, dict[str, int]]:
    """``TARGET key=value ...`` lines as {target: {key: int}} (other lines ignored)."""
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        for pair in m.group(2).split():
            key, _, value = pair.partition("=")
            if value.isdigit():
                out.setdefault(m.group(1), {})[key] = int(value)
    return out


def _make(target: str, build: str | None = None) -> str | None:
    args = ["make", "-s", "-C", str(CSDK), target, "PYTHON=python3"]
    if build:
        args.append(f"BUILD={build}")
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        log.warning("make %s failed or the toolchain is missing: %s", target,
                    (proc.stdout + proc.stderr).strip()[-300:])
        return None
    return proc.stdout


def target_figures() -> list[Figure]:
    size, qemu = _make("size"), _make("qemu")
    figs: list[Figure] = []
    sizes, counts = parse_lines(size or ""), parse_lines(qemu or "")
    for target, s in sizes.items():
        if "flash" in s:
            figs.append(Figure(f"C SDK library flash, {target} (23-feature spec)", "<= 16 KB",
                               s["flash"] / 1024, "KB",
                               note=f"(incl. {s.get('of_flash_compiler_runtime', 0)} B of libgcc"
                                    " integer helpers, no soft-float; spec tables "
                                    f"{s.get('spec_tables_flash', 0) / 1024:.1f} KB apart)"))
            figs.append(Figure(f"C SDK static RAM, {target}", "<= 4 KB + sketch state",
                               s["ram"], "B",
                               note=f"(+ sketch state {s.get('sketch_state_ram', 0) / 1024:.1f}"
                                    " KB arena, no heap)"))
    for target, c in counts.items():
        if "instructions_per_log" in c:
            figs.append(Figure(f"C SDK log(), 20 numeric + 3 categorical, {target}",
                               "<= 5,000 cycles (M4F)", c["instructions_per_log"],
                               "instructions",
                               note="(QEMU -icount instruction count via SysTick, not cycles)"))
    return figs


def window_figure() -> list[Figure]:
    """Bytes of the C SDK's window body for 1,000 benchmark records vs the Python SDK's."""
    if not shutil.which("cc"):
        log.warning("no C compiler: the C SDK window figure is skipped")
        return []
    from edge_sdk import Monitor
    from edge_sdk.spec import Spec
    from edge_sdk.wire import encode_window

    from .bench_sdk import DEAD_ENDPOINT, DEVICE, KEY, MODEL, VERSION, make_records

    with tempfile.TemporaryDirectory(prefix="edgedrift-bench-c-") as tmp:
        if _make("host", build=f"{tmp}/b") is None:
            return []
        subprocess.run(["python3", str(CSDK / "arm" / "records_c.py"), str(SPEC), "1000", "5",
                        f"{tmp}/r.c", f"{tmp}/r.replay"], check=True)
        out = subprocess.run([f"{tmp}/b/replay", MODEL, VERSION, DEVICE],
                             stdin=open(f"{tmp}/r.replay"), capture_output=True, text=True,
                             check=True).stdout
        c_bytes = len(bytes.fromhex(out.split("W ", 1)[1].split()[0]))
        clock = [1_700_000_000.0]
        mon: Any = Monitor(model=MODEL, version=VERSION, device_id=DEVICE,
                           endpoint=DEAD_ENDPOINT, key=KEY, spec=Spec.load(SPEC),
                           spool_dir=tmp, start=False, clock=lambda: clock[0],
                           close_timeout_s=0, durable=False)
        try:
            for r in make_records(1000, 5):
                mon.log(r.features, prediction=r.prediction, latency_ms=r.latency_ms)
            clock[0] += 60
            body = mon.seal_window()
        finally:
            mon.close(timeout_s=0)
        body["sq"] = 7
        py_bytes = len(encode_window(body))
    return [Figure("bytes per 1,000-record window, C SDK (wire v2, before zlib)",
                   "= Python SDK's", c_bytes, "B", peer=py_bytes, peer_name="Python SDK",
                   note="(sdk name 'edgedrift-c/0.1.0' is 1 byte shorter than the Python one)")]


def run() -> list[Figure]:
    return window_figure() + target_figures()
