"""Reading while a real writer process writes the results database.

The writer is a separate process using ``analytics.results.ResultsDB`` the way a pass
of ``edgedrift analyze`` does (open, replace a window's rows in one transaction, record
the run, close), in a loop. The dashboard's data layer reads at the same time. The
writer must never fail on a lock, the reader must never fail, and every read must
see one whole pass (all rows of the same run), never a mix.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time

from dashboard_fleet import ROOT

from dashboard import data
from dashboard.config import DashboardConfig

ROWS = 40
WRITER = f"""
import sys, time
import pandas as pd
from analytics.results import ResultsDB
path, seconds = sys.argv[1], float(sys.argv[2])
ws = pd.Timestamp("2025-01-01 00:00:00")
keys = pd.DataFrame({{"model": ["kws"], "version": ["1.0"], "window_start": [ws]}})
end, i = time.monotonic() + seconds, 0
while time.monotonic() < end:
    db = ResultsDB(path).open()
    try:
        for _ in range(3):
            i += 1
            mm = pd.DataFrame({{"model": "kws", "version": "1.0", "segment_tag": "",
                               "segment_value": [str(k) for k in range({ROWS})],
                               "window_start": ws, "window_end": ws + pd.Timedelta(hours=1),
                               "records": i, "run_id": str(i)}})
            db.replace_windows(keys, {{"model_metrics": mm}})
            db.record_run({{"run_id": str(i), "started_at": ws, "status": "ok"}})
    finally:
        db.close()
print(i)
"""


def test_reader_never_blocks_or_sees_half_a_pass_while_a_writer_runs(tmp_path):
    cfg = DashboardConfig(data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(cfg.paths.analytics_db), "6"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: set[str] = set()
    reads = 0
    since, until = dt.datetime(2024, 12, 31), dt.datetime(2025, 1, 2)
    try:
        deadline = time.monotonic() + 30
        while writer.poll() is None and time.monotonic() < deadline:
            frame = data.model_metrics(cfg, since, until, "kws")
            if not frame.empty:
                reads += 1
                runs = set(frame["records"].astype(str))
                assert len(frame) == ROWS and len(runs) == 1, frame
                seen |= runs
            time.sleep(0.05)
        out, err = writer.communicate(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert writer.returncode == 0, err.decode()
    passes = int(out.decode().strip())
    assert passes >= 6 and reads > 5
    assert len(seen) >= 2, seen           # the reader followed the writer's passes
    # after the writer is done, the reader catches up with its last pass
    time.sleep(0.6)
    final = data.model_metrics(cfg, since, until, "kws")
    assert set(final["records"].astype(str)) == {str(passes)}
