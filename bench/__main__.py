"""Run every benchmark module (bench/bench_*.py) and print one markdown table.

Usage: ``python -m bench [NAME ...]`` (names filter modules, e.g. ``sdk``).
Each module exposes ``run() -> list[Figure]``.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
from pathlib import Path

from .figures import HEADER


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}"


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(p.stem for p in here.glob("bench_*.py"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    rows: list[str] = []
    failures: list[str] = []
    for name in names:
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            rows.extend(f.row() for f in module.run())
        except Exception as exc:  # one broken benchmark must not hide the others
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
        print(f"  {name} took {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print(f"Machine: {machine()}\n")
    print(HEADER)
    print("\n".join(rows))
    for f in failures:
        print(f"\nFAILED {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
