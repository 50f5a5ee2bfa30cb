"""``edgedrift backtest``: a generated year with a known change on a known day in one segment;
the timeline names the day, the segment and the feature, and nothing before it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edgedrift.cli import main


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("backtest")
    rng = np.random.default_rng(3)
    n = 30_000
    ts = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.uniform(0, 120 * 86_400, n)), unit="s")
    frame = pd.DataFrame({"ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "temp": rng.normal(20.0, 2.0, n), "load": rng.gamma(2.0, 1.0, n),
                          "mode": rng.choice(["eco", "boost"], n, p=[0.7, 0.3]),
                          "firmware": rng.choice(["2.0", "2.1"], n, p=[0.8, 0.2]),
                          "score": rng.uniform(0, 1, n)})
    changed = (ts >= pd.Timestamp("2025-03-10", tz="UTC")) & (frame["firmware"] == "2.1")
    frame.loc[changed, "temp"] += 3.0     # 1.5 sd from Monday March 10th on, firmware 2.1 only
    frame.to_csv(root / "history.csv", index=False)
    frame[ts < pd.Timestamp("2025-02-01", tz="UTC")].drop(columns=["ts", "firmware"]).to_csv(
        root / "train.csv", index=False)
    return root


def test_the_timeline_names_the_day_the_segment_and_the_feature(history, capsys):
    rc = main(["backtest", "--input", str(history / "history.csv"), "--timestamp", "ts",
               "--model", "pump", "--version", "1", "--reference", str(history / "train.csv"),
               "--prediction", "score", "--segment", "firmware", "--devices", "10",
               "--window", "1w", "--out", str(history / "out")])
    out = capsys.readouterr().out
    assert rc == 0, out
    lines = [line.strip() for line in out.splitlines()]
    assert lines[0].startswith("backtest pump 1: 30,000 rows")
    detected = [line for line in lines if "drift.detected" in line]
    assert detected, out
    [segment] = [line for line in detected if "firmware=2.1" in line]
    assert segment.startswith("2025-03-10T00:00:00Z") and "temp wasserstein 1.5" in segment
    assert not any("firmware=2.0" in line for line in detected)
    assert all(line[:10] >= "2025-03-10" for line in detected)


def test_a_second_run_replaces_its_own_output_but_not_a_foreign_dir(history, capsys):
    foreign = history / "mine"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("x")
    rc = main(["backtest", "--input", str(history / "history.csv"), "--timestamp", "ts",
               "--model", "pump", "--version", "1", "--reference", str(history / "train.csv"),
               "--out", str(foreign)])
    err = capsys.readouterr().err
    assert rc == 1 and "--out" in err and "Traceback" not in err
    assert (foreign / "precious.txt").exists()


def test_a_bad_timestamp_column_is_named(history, capsys):
    rc = main(["backtest", "--input", str(history / "history.csv"), "--timestamp", "when",
               "--model", "pump", "--version", "1", "--reference", str(history / "train.csv"),
               "--out", str(history / "out2")])
    err = capsys.readouterr().err
    assert rc == 1 and "--timestamp: got 'when'" in err and "ts, temp" in err
