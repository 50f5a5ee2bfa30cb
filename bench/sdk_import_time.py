"""Import time of the device SDK (``python -m bench sdk``): a fresh interpreter importing
``edge_sdk``, against a bare start-up, runs interleaved."""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .figures import Figure

ROOT = Path(__file__).resolve().parent.parent


def python_env() -> dict[str, str]:
    """This environment with the checkout first on PYTHONPATH and bytecode writing on."""
    env = dict(os.environ)
    extra = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + extra if extra else "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _walls(codes: list[str], runs: int) -> list[float]:
    """Median wall time of ``python -c CODE`` per code, runs interleaved (drift hits all alike)."""
    env = python_env()
    samples: list[list[float]] = [[] for _ in codes]
    for _ in range(runs):
        for i, code in enumerate(codes):
            t0 = time.perf_counter()
            # no timeout=: with one, subprocess polls with doubling sleeps and the wall
            # time snaps to 32/64 ms steps; a blocking wait is exact.
            subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)
            samples[i].append(time.perf_counter() - t0)
    return [statistics.median(s) for s in samples]


def _importtime_us(module: str, runs: int) -> float:
    """Median cumulative import time of ``module`` from ``-X importtime`` (microseconds)."""
    env = python_env()
    samples = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                              env=env, capture_output=True, text=True, check=True, cwd=ROOT,
                              timeout=60)
        for line in proc.stderr.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) == 3 and parts[2] == module:
                samples.append(float(parts[1]))
    return statistics.median(samples) if samples else math.nan


def import_figures(runs: int = 15) -> list[Figure]:
    _walls(["import edge_sdk"], 2)  # warm the page cache and .pyc files
    bare, sdk, mon = _walls(["pass", "import edge_sdk", "from edge_sdk import Monitor"], runs)
    cumulative = _importtime_us("edge_sdk", runs)
    return [
        Figure("import edge_sdk (fresh interpreter, minus bare start-up)", "<= 50 ms",
               (sdk - bare) * 1e3, "ms", note=f"(-X importtime: {cumulative / 1e3:.1f} ms)"),
        Figure("from edge_sdk import Monitor (minus bare start-up)", "", (mon - bare) * 1e3, "ms"),
    ]
