"""Temporary files are removed on exit: the dashboard's copy of the results database (one
directory under the system temp dir per process, ~14 left behind per test-suite run before)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys
from pathlib import Path
from dashboard.snapshot import ResultsSnapshot
snap = ResultsSnapshot(Path(sys.argv[1]) / "analytics.duckdb", Path(sys.argv[1]) / "snap.duckdb")
print(snap.cache_dir, flush=True)
assert snap.cache_dir.is_dir()
"""


def test_the_dashboards_temporary_copy_is_removed_at_exit(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    made = Path(proc.stdout.strip())
    assert made.parent == tmp_path / "tmp"
    assert not made.exists()
    assert not list((tmp_path / "tmp").iterdir())


def test_a_collected_snapshot_removes_its_copy(tmp_path: Path) -> None:
    import gc

    from dashboard.snapshot import ResultsSnapshot

    snap = ResultsSnapshot(tmp_path / "analytics.duckdb", tmp_path / "snap.duckdb")
    made = snap.cache_dir
    assert made.is_dir()
    del snap
    gc.collect()
    assert not made.exists()
    (tmp_path / "cache").mkdir()
    given = ResultsSnapshot(tmp_path / "a.duckdb", tmp_path / "b.duckdb", tmp_path / "cache")
    del given
    gc.collect()
    assert (tmp_path / "cache").is_dir(), "a cache dir the caller gave is the caller's"
