"""The collector's services allocate Arrow buffers from the system pool (see
collector/arrow_memory.py), unless the operator chose another with Arrow's own variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gateway_harness import GatewayProcess

from collector.arrow_memory import ENV


def _pool_after(code: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != ENV}
    out = subprocess.run([sys.executable, "-c", code + "; print(pa.default_memory_pool()"
                          ".backend_name)"], env={**base, **env}, capture_output=True, text=True,
                         check=True)
    return out.stdout.split()[-1]


def test_the_system_pool_becomes_the_default_before_pyarrow_is_imported() -> None:
    assert _pool_after("import pyarrow as pa") == "mimalloc"      # pyarrow's own default
    assert _pool_after("from collector.arrow_memory import use_system_pool; "
                       "use_system_pool(); import pyarrow as pa") == "system"


def test_a_process_that_already_imported_pyarrow_switches_too() -> None:
    assert _pool_after("import pyarrow as pa; pa.array([1, 2]); "
                       "from collector.arrow_memory import use_system_pool; "
                       "use_system_pool()") == "system"


def test_the_operators_choice_is_kept() -> None:
    assert _pool_after("from collector.arrow_memory import use_system_pool; "
                       "print(use_system_pool()); import pyarrow as pa",
                       **{ENV: "jemalloc"}) == "jemalloc"


def test_the_gateway_process_and_its_helpers_use_the_system_pool(tmp_path: Path) -> None:
    """A helper process inherits the setting: its start-up environment shows it."""
    with GatewayProcess(tmp_path, env={ENV: ""}) as gw:
        assert gw.proc is not None
        kids = subprocess.run(["pgrep", "-P", str(gw.proc.pid)], capture_output=True,
                              text=True).stdout.split()
        environs = [Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") for pid in kids]
        assert any(f"{ENV}=system".encode() in env for env in environs), environs
