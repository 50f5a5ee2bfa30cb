"""A short run of the sanitizer fuzz target of the C fast path (fuzz/sinkfast.py): the
module built with -fsanitize=address,undefined, fed mutated records, windows and entries
for a few seconds. Longer runs: ``make -C fuzz SECONDS=600``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_c_fast_path_survives_a_short_sanitizer_fuzz_run() -> None:
    done = subprocess.run([sys.executable, "fuzz/sinkfast.py", "--seconds", "3", "--seed", "0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    if done.returncode == 77:
        pytest.skip(f"no C compiler with sanitizer runtimes here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.startswith("sanitizers: address,undefined; inputs ")
    assert int(summary.split("inputs ")[1].split(",")[0]) > 1000
