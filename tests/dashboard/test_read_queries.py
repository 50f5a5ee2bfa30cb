"""The read-only query layer the dashboard uses (:mod:`analytics.queries`): the drift
heatmap's bounded aggregation against the raw rows, and that ``dashboard/`` reaches no
store except through it."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.queries import results as rq

ROOT = Path(__file__).resolve().parents[2]
START = dt.datetime(2025, 10, 1)


@pytest.fixture(scope="module")
def results_db(tmp_path_factory) -> Path:
    """Hourly effect scores of two features over 30 days (one gap of 5 h), random drift."""
    from analytics.results import ResultsDB, columns
    rng = np.random.default_rng(7)
    hours = [h for h in pd.date_range(START, periods=30 * 24, freq="h")
             if not START + dt.timedelta(hours=100) <= h < START + dt.timedelta(hours=105)]
    rows = []
    for ws in hours:
        for feature in ("a", "b"):
            score = float(abs(rng.normal(0.05, 0.05)))
            rows.append(("kws", "1.0", "", "", ws, ws + pd.Timedelta(hours=1), feature,
                         "numeric", "u1", "wasserstein", "effect", 100, 1000, score,
                         score * 0.8, score * 1.2, None, None, 0.1, score > 0.1, score > 0.1,
                         bool(score > 0.15), "r", 0.0, 0.0))
    fm = pd.DataFrame(rows, columns=columns("feature_metrics"))
    path = tmp_path_factory.mktemp("queries") / "analytics.duckdb"
    db = ResultsDB(path).open()
    try:
        keys = fm[["model", "version", "window_start"]].drop_duplicates()
        db.replace_windows(keys, {"feature_metrics": fm,
                                  "computed_windows": keys.assign(device_windows=1)})
    finally:
        db.close()
    return path


def test_heatmap_cells_are_bounded_and_show_each_cells_worst_window(results_db):
    until = START + dt.timedelta(days=30)
    raw = rq.feature_metrics(results_db, START, until, "kws", "1.0", ("", ""), role="effect")
    cells = rq.effect_heatmap(results_db, START, until, "kws", "1.0", ("", ""), max_columns=50)
    assert len(raw) == 2 * (30 * 24 - 5)
    for feature, mine in cells.groupby("feature"):
        assert 40 <= len(mine) <= 50, len(mine)
        assert mine["windows"].sum() == (raw["feature"] == feature).sum()   # each window once
        theirs = raw[raw["feature"] == feature]
        for c in mine.itertuples():        # the cell's windows, from the raw rows
            inside = theirs[(theirs["window_start"] >= c.window_start)
                            & (theirs["window_end"] <= c.window_end)]
            assert len(inside) == c.windows
            worst = inside.loc[(inside["score"] / inside["threshold"]).idxmax()]
            assert c.ratio == pytest.approx(worst["score"] / worst["threshold"])
            assert (c.score, c.lower, c.upper) == pytest.approx(
                (worst["score"], worst["lower"], worst["upper"]))
            assert c.drifted == bool(inside["drifted"].any())
            assert c.drifted_windows == int(inside["drifted"].sum())
        assert (mine["window_start"].diff().dropna() > pd.Timedelta(0)).all()  # no overlap
        assert (mine["window_end"].iloc[:-1].to_numpy()
                <= mine["window_start"].iloc[1:].to_numpy()).all()


def test_a_short_range_keeps_one_cell_per_window(results_db):
    since = START + dt.timedelta(days=3)
    until = since + dt.timedelta(hours=48)
    raw = rq.feature_metrics(results_db, since, until, "kws", "1.0", ("", ""), role="effect")
    cells = rq.effect_heatmap(results_db, since, until, "kws", "1.0", ("", ""), max_columns=60)
    assert (cells["per_cell"] == 1).all() and (cells["windows"] == 1).all()
    key = ["feature", "window_start"]
    merged = raw.merge(cells, on=key, suffixes=("", "_cell"))
    assert len(merged) == len(raw) == len(cells)
    assert (merged["score"] == merged["score_cell"]).all()
    assert (merged["drifted"] == merged["drifted_cell"]).all()


STORES = {"duckdb", "sqlite3", "pyarrow", "glob", "collector"}


def test_the_dashboard_opens_no_store_itself():
    """Only :mod:`analytics.queries` reads the stores: no module of ``dashboard/`` imports a
    database driver, the collector, or globs the data dir."""
    found = []
    for path in sorted((ROOT / "dashboard").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [(path.name, n) for n in names if n.split(".")[0] in STORES]
            if isinstance(node, ast.Attribute) and node.attr in ("glob", "rglob"):
                found.append((path.name, node.attr))
    assert found == []
