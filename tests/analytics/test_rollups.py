"""Roll-ups (analytics/rollups.py): the verdicts and metrics from roll-ups equal those from the
raw windows on a seeded fleet, a late window is reflected, and a rebuild counts every window
once."""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from analytics_fleet import BASE_MS, fleet, write

from analytics.config import AnalyticsConfig
from analytics.dataset import Dataset
from analytics.job import run_analysis
from analytics.reference import ReferenceStore
from analytics.rollup_reader import RollupReader
from analytics.rollups import refresh
from edgedrift.paths import DataPaths

W_MS = 600_000
NOW = BASE_MS + 24 * 3_600_000
TABLES = ("feature_metrics", "verdicts", "data_quality", "model_metrics", "computed_windows",
          "fleet_health")


def _config(dataset, rollups: bool) -> AnalyticsConfig:
    return AnalyticsConfig(window_s=600, segment_tags=("firmware",), reports=False,
                           dataset=str(dataset), rollups=rollups)


def _rows(db, table: str) -> list[str]:
    """Every row of a results table but run ids and times, floats to 9 digits, also in a
    JSON list of metrics (a sum's last bits depend on the order it adds in)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()
                if r[0] not in ("run_id", "computed_at")]
        rows = con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
    finally:
        con.close()
    def norm(v):
        if isinstance(v, float) and math.isfinite(v):
            return float(f"{v:.9g}")
        if isinstance(v, str) and v.startswith("[{"):         # a JSON list of metrics
            return repr([{k: norm(x) for k, x in d.items()} for d in json.loads(v)])
        return "nan" if isinstance(v, float) else v
    return sorted(repr(tuple(norm(v) for v in r)) for r in rows)


def _redeliver(dataset, name_part: str) -> None:
    """A second delivery of one batch under new ingest ids (two sinks before the seq guard
    saw it): readers and roll-ups must keep one."""
    for table in ("windows", "features", "categories", "labels", "samples", "feature_sums",
                  "category_sums"):
        for dirpath, _, files in os.walk(os.path.join(dataset, table)):
            for f in files:
                if f.endswith(".parquet") and name_part in f:
                    t = pq.read_table(os.path.join(dirpath, f), partitioning=None)
                    if "ingest_id" in t.column_names:        # (the sums: the same again)
                        ing = pc.binary_join_element_wise("z/", t["ingest_id"], "")
                        t = t.set_column(t.schema.get_field_index("ingest_id"), "ingest_id",
                                         ing)
                    pq.write_table(t, os.path.join(dirpath, "redelivered-" + f))


def _paths(tmp_path, built) -> tuple:
    """The dataset directory, and the raw and the rolled-up data dirs with the reference."""
    raw, rolled = DataPaths(tmp_path / "raw"), DataPaths(tmp_path / "rolled")
    for p in (raw, rolled):
        built.save(ReferenceStore(p.references))
    return tmp_path / "telemetry", raw, rolled


@pytest.fixture()
def fleet_paths(tmp_path, built):
    dataset, raw, rolled = _paths(tmp_path, built)
    write(str(dataset), fleet(built.spec, windows=10, devices=4, records=150, window_ms=W_MS,
                              drift_from=5, tags_of=lambda d: {"firmware": "ab"[d % 2]}))
    first = sorted(os.listdir(next((dataset / "windows").glob("model=*/date=*"))))[0]
    _redeliver(str(dataset), first)
    return dataset, raw, rolled


def test_verdicts_from_rollups_equal_raw_also_after_a_late_window(fleet_paths, built):
    dataset, raw, rolled = fleet_paths
    half = BASE_MS + 5 * W_MS + 300_000 + 1      # windows 0-4 closed: health = state + raw tail
    a = run_analysis(_config(dataset, False), raw, now_ms=half)
    b = run_analysis(_config(dataset, True), rolled, now_ms=half)
    assert b.rollups["built"] == 5 and a.windows_computed == b.windows_computed == 5
    assert b.rollups["from_sums"] == 0       # each evaluation window holds a redelivery
    for t in TABLES:
        assert _rows(rolled.analytics_db, t) == _rows(raw.analytics_db, t), t
    a = run_analysis(_config(dataset, False), raw, now_ms=NOW)
    b = run_analysis(_config(dataset, True), rolled, now_ms=NOW)
    assert b.rollups["rollups"] and b.rollups["built"] == 5 and a.windows_computed == 5
    assert any(v["state"] == "drift" for v in b.verdicts)
    for t in TABLES:
        assert _rows(rolled.analytics_db, t) == _rows(raw.analytics_db, t), t
    # a late window for evaluation window 3, already rolled up: rebuilt and recomputed
    write(str(dataset), fleet(built.spec, windows=1, devices=1, records=150, window_ms=W_MS,
                              start_ms=BASE_MS + 3 * W_MS, first_device=9, seed=7))
    a = run_analysis(_config(dataset, False), raw, now_ms=NOW)
    b = run_analysis(_config(dataset, True), rolled, now_ms=NOW)
    assert b.rollups["built"] == 1 and a.windows_computed == b.windows_computed == 1
    for t in TABLES:
        assert _rows(rolled.analytics_db, t) == _rows(raw.analytics_db, t), t


def test_rollups_from_the_sinks_sums_equal_raw(tmp_path, built):
    """Without duplicate deliveries every roll-up is built from the sink's sketch sums
    (collector/sketch_sums.py), and every result equals the raw windows' own; a batch
    whose sums are missing (written before them) makes its evaluation windows read rows."""
    dataset, raw, rolled = _paths(tmp_path, built)
    tags = lambda d: {"firmware": "ab"[d % 2]}       # noqa: E731
    write(str(dataset), fleet(built.spec, windows=6, devices=4, records=150, window_ms=W_MS,
                              drift_from=3, tags_of=tags))
    write(str(dataset), fleet(built.spec, windows=4, devices=4, records=150, window_ms=W_MS,
                              start_ms=BASE_MS + 6 * W_MS, first_seq=6, seed=3, drift_from=0,
                              tags_of=tags))
    second = sorted(os.listdir(next((dataset / "windows").glob("model=*/date=*"))))[1]
    for p in dataset.glob(f"*_sums/model=*/date=*/{second}"):
        p.unlink()                               # the second batch: as if written before
    a = run_analysis(_config(dataset, False), raw, now_ms=NOW)
    b = run_analysis(_config(dataset, True), rolled, now_ms=NOW)
    assert a.windows_computed == b.windows_computed == b.rollups["built"] == 10
    assert b.rollups["from_sums"] == 6
    assert any(v["state"] == "drift" for v in b.verdicts)
    for t in TABLES:
        assert _rows(rolled.analytics_db, t) == _rows(raw.analytics_db, t), t


@pytest.mark.parametrize(("grain_s", "window_s", "from_sums"),
                         [(3600, 600, 0), (600, 3600, 2), (1800, 3600, 2)])
def test_sums_are_used_only_where_the_grain_divides_the_window(tmp_path, built, caplog,
                                                               grain_s, window_s, from_sums):
    """Sums of a grain coarser than the evaluation window cannot be split: those roll-ups
    read the rows (and say how to fix it); a grain that divides the window serves it."""
    dataset, raw, rolled = _paths(tmp_path, built)
    write(str(dataset), fleet(built.spec, windows=12, devices=4, records=150, window_ms=W_MS,
                              drift_from=6, tags_of=lambda d: {"firmware": "ab"[d % 2]}),
          sums_grain_s=grain_s)
    config = AnalyticsConfig(window_s=window_s, segment_tags=("firmware",), reports=False,
                             dataset=str(dataset), rollups=False)
    a = run_analysis(config, raw, now_ms=NOW)
    b = run_analysis(replace(config, rollups=True), rolled, now_ms=NOW)
    assert a.windows_computed == b.windows_computed == b.rollups["built"] == 7200 // window_s
    assert b.rollups["from_sums"] == from_sums
    assert ("sums_grain_s" in caplog.text) == (from_sums == 0)
    for t in TABLES:
        assert _rows(rolled.analytics_db, t) == _rows(raw.analytics_db, t), t


def test_sums_written_before_the_grain_column_count_as_minutes(tmp_path, built):
    """The sums files of the release before ``grain_s`` (per minute, no such column) still
    serve roll-ups, and compaction merges them with newer files."""
    dataset, raw, rolled = _paths(tmp_path, built)
    tags = lambda d: {"firmware": "ab"[d % 2]}       # noqa: E731
    write(str(dataset), fleet(built.spec, windows=3, devices=4, records=150, window_ms=W_MS,
                              tags_of=tags))
    for path in dataset.glob("*_sums/model=*/date=*/*.parquet"):
        t = pq.read_table(path, partitioning=None)
        pq.write_table(t.drop_columns(["grain_s"]), path)
    write(str(dataset), fleet(built.spec, windows=3, devices=4, records=150, window_ms=W_MS,
                              start_ms=BASE_MS + 3 * W_MS, first_seq=3, seed=3, drift_from=0,
                              tags_of=tags), sums_grain_s=600)
    from collector.compaction import CompactionConfig, compact
    merged = compact(CompactionConfig(dataset=str(dataset), min_age_s=0, before="9999-01-01"))
    assert len(list(dataset.glob("feature_sums/model=*/date=*/*.parquet"))) == 1, merged
    a = run_analysis(_config(dataset, False), raw, now_ms=NOW)
    b = run_analysis(_config(dataset, True), rolled, now_ms=NOW)
    assert a.windows_computed == b.windows_computed == b.rollups["from_sums"] == 6
    for t in TABLES:
        assert _rows(rolled.analytics_db, t) == _rows(raw.analytics_db, t), t


def test_a_dataset_whose_sums_all_predate_the_grain_column_rolls_up_from_them(tmp_path,
                                                                               built):
    """Every sums file from the release before ``grain_s`` (none has the column, so the
    scan has none): read as per-minute sums, not an error."""
    dataset, raw, rolled = _paths(tmp_path, built)
    write(str(dataset), fleet(built.spec, windows=3, devices=4, records=150, window_ms=W_MS))
    for path in dataset.glob("*_sums/model=*/date=*/*.parquet"):
        t = pq.read_table(path, partitioning=None)
        pq.write_table(t.drop_columns(["grain_s"]), path)
    a = run_analysis(_config(dataset, False), raw, now_ms=NOW)
    b = run_analysis(_config(dataset, True), rolled, now_ms=NOW)
    assert a.windows_computed == b.windows_computed == b.rollups["from_sums"] == 3
    for t in TABLES:
        assert _rows(rolled.analytics_db, t) == _rows(raw.analytics_db, t), t


def test_sums_are_used_only_where_every_batch_has_them(tmp_path, built):
    """A redelivered batch (sums included) and a batch without sums in the same evaluation
    windows: the windows the sums count match the distinct windows, yet the sums are not
    the windows' sketches. The coverage check reads rows there."""
    dataset, raw, rolled = _paths(tmp_path, built)
    write(str(dataset), fleet(built.spec, windows=3, devices=4, records=150, window_ms=W_MS))
    write(str(dataset), fleet(built.spec, windows=3, devices=4, records=150, window_ms=W_MS,
                              first_device=4, seed=5, drift_from=0, shift=3.0))
    first, second = sorted(os.listdir(next((dataset / "windows").glob("model=*/date=*"))))
    _redeliver(str(dataset), first)
    for p in dataset.glob(f"*_sums/model=*/date=*/{second}"):
        p.unlink()
    run_analysis(_config(dataset, False), raw, now_ms=NOW)
    b = run_analysis(_config(dataset, True), rolled, now_ms=NOW)
    assert b.rollups["built"] == 3 and b.rollups["from_sums"] == 0
    for t in TABLES:
        assert _rows(rolled.analytics_db, t) == _rows(raw.analytics_db, t), t


def test_rebuild_is_idempotent_and_counts_each_window_once(fleet_paths):
    dataset, _, _ = fleet_paths
    ds = Dataset(dataset, ("firmware",))
    w = _config(dataset, True).cadence
    total = duckdb.sql(f"SELECT count(*) FROM '{dataset}/windows/**/*.parquet'").fetchall()[0][0]
    assert total > 40                       # the redelivered batch is on disk twice
    assert refresh(ds, w, NOW, 300_000, BASE_MS).built == 10
    assert refresh(ds, w, NOW, 300_000, BASE_MS).built == 0       # nothing new: no work
    files = sorted(str(p.relative_to(dataset)) for p in (dataset / "rollups").rglob("*.parquet"))
    for manifest in (dataset / "rollups").rglob("manifest.json"):
        manifest.unlink()                   # killed before the manifest: all rebuilt, same files
    assert refresh(ds, w, NOW, 300_000, BASE_MS).built == 10
    assert sorted(str(p.relative_to(dataset))
                  for p in (dataset / "rollups").rglob("*.parquet")) == files
    reader = RollupReader(str(dataset), w, ("firmware",))
    inv = reader.inventory(BASE_MS, NOW)
    assert pc.sum(inv["windows"]).as_py() == 40           # 4 devices x 10, redelivery once
    fleet_rows = reader.window_groups(BASE_MS, NOW)
    fleet_rows = fleet_rows.filter(pc.equal(fleet_rows["grp"], 1))
    assert pc.sum(fleet_rows["records"]).as_py() == 40 * 150
    raw = ds.window_groups(BASE_MS, NOW, w)
    assert fleet_rows.sort_by("bucket")["records"] == \
        raw.filter(pc.equal(raw["grp"], 1)).sort_by("bucket")["records"]
    ds.close()


def test_a_scoped_dataset_reads_only_its_batches(fleet_paths):
    """A build reads the batch files of its evaluation windows only (the same name in
    every table), and a model or date outside the scope not at all."""
    dataset, _, _ = fleet_paths
    ds = Dataset(dataset, ("firmware",))
    names = sorted(os.path.basename(f) for f in ds.files("windows"))
    assert len(names) == 2                          # the batch and its redelivery
    day = ds.files("windows")[0].split("date=")[1][:10]
    with ds.scoped((day, day), ("kws",), [names[1]]):
        for table in ("windows", "features", "feature_sums"):
            assert [os.path.basename(f) for f in ds.files(table)] == [names[1]], table
        with ds.scoped((day, day), ("other",), names):
            assert not ds.has_table("windows")
        assert ds.has_table("windows")
    assert len(ds.files("windows")) == 2
