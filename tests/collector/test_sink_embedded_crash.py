"""The embedded sink killed mid-write (real process, SIGKILL at a fault point): after a
restart and the client's retries every window is present, acknowledged ones were never
lost, and no half batch is visible."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from sink_support import ROOT

pytestmark = pytest.mark.timeout(120)
HERE = Path(__file__).resolve().parent
N = 600


def _run(dataset: Path, fault: str | None, seqs: list[int]) -> tuple[int, set[int], str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("EDGEDRIFT_FAULT", None)
    if fault:
        env["EDGEDRIFT_FAULT"] = fault
    proc = subprocess.run(
        [sys.executable, str(HERE / "embedded_writer.py"), str(dataset), "0", "0", "4",
         ",".join(map(str, seqs))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=100)
    acked = {int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("ACK")}
    return proc.returncode, acked, proc.stderr


@pytest.mark.parametrize("fault", ["sink:after_temp_write:7", "sink:after_rename:9",
                                   "sink:after_renames:11"])
def test_embedded_sink_killed_mid_write_loses_nothing_acknowledged(tmp_path: Path,
                                                                   fault: str) -> None:
    dataset = tmp_path / "ds"
    code, acked, _ = _run(dataset, fault, list(range(N)))
    assert code == -signal.SIGKILL
    assert 0 < len(acked) < N
    con = duckdb.connect()
    glob = str(dataset / "{}" / "**" / "*.parquet")
    before = {s for (s,) in con.execute("SELECT DISTINCT seq FROM read_parquet(?)",
                                        [glob.format("windows")]).fetchall()}
    assert acked <= before                                  # acknowledged => durable
    code, acked2, err = _run(dataset, None, [s for s in range(N) if s not in acked])  # retries
    assert ("removed torn unacknowledged batch" in err) == ("after_rename:" in fault)
    assert code == 0 and acked | acked2 == set(range(N))
    rows = con.execute(
        "SELECT count(*), count(DISTINCT seq), count(DISTINCT ingest_id) FROM read_parquet(?)",
        [glob.format("windows")]).fetchone()
    assert rows[1] == N and rows[0] == rows[2]              # one row per ingest id
    # dedup rule for readers: one ingest_id per identity -> exactly N windows
    dedup = con.execute(
        "SELECT count(*) FROM (SELECT device_id, model, seq, min(ingest_id) FROM "
        "read_parquet(?, hive_partitioning=true) GROUP BY ALL)",
        [glob.format("windows")]).fetchone()
    assert dedup == (N,)
    # no torn batch: every ingest id has its features and the other way round
    orphans = con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT ingest_id FROM read_parquet(?)) f "
        "FULL OUTER JOIN (SELECT ingest_id FROM read_parquet(?)) w USING (ingest_id) "
        "WHERE f.ingest_id IS NULL OR w.ingest_id IS NULL",
        [glob.format("features"), glob.format("windows")]).fetchone()
    assert orphans == (0,)
    assert not list(dataset.rglob("*.tmp"))
