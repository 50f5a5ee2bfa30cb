"""Compaction of closed days: same rows, far fewer files, and the sinks' exactly-once
bookkeeping (replay skips, embedded offsets, torn-batch recovery) still sees the merged
batches. Readers take no lock: while a compacted file and its batch files coexist (a run
between its rename and its deletes, or killed there) they read every row once. Kills of a
real ``edgedrift compact`` process at each step, on local disk and on an S3-compatible
server, lose and duplicate nothing, before and after it runs again."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sink_support import ROOT, bodies
from storage_support import query

from analytics.dataset import Dataset
from collector.compaction import CompactionConfig, compact
from collector.embedded import EmbeddedSink
from collector.fake_windows import BASE_MS, WINDOW_MS, make_window_body
from collector.parquet_files import iter_batch_files, known_batches
from collector.records import IngestRecord
from collector.sink import ParquetSink
from collector.sink_config import SinkConfig

DAY_MS = 86_400_000


# files of one batch of these windows: windows, features, categories, labels and the
# two sketch sums tables (collector/sketch_sums.py)
PER_BATCH = 6

def _rows(root: Path | str, table: str) -> list[tuple]:
    """Every row of a table as readers see it (its live files), sorted."""
    return query(str(root), table, "SELECT * FROM t ORDER BY ALL")


def _snapshot(root: Path | str) -> dict[str, list[tuple]]:
    return {t: _rows(root, t) for t in ("windows", "features", "categories", "labels")}


def _files(root: Path) -> list[str]:
    """Every file but the compaction's lock files (temp files and markers included)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                  and p.name not in (".readers.lock", ".compact.lock"))


def _embedded(root: Path | str, groups: list[list[IngestRecord]]) -> None:
    sink = EmbeddedSink(SinkConfig(dataset=str(root), group_commit_ms=0))
    try:
        for group in groups:
            sink.write(group)
    finally:
        sink.close()


def _day_records(day: int, seqs: range, device: str = "dev-1") -> list[IngestRecord]:
    """Windows of one UTC day (``day`` days after BASE_MS)."""
    index = day * (DAY_MS // WINDOW_MS)
    return [IngestRecord(device, make_window_body(device, s, records=20, window_index=index), 1,
                         BASE_MS + day * DAY_MS) for s in seqs]


def test_compaction_keeps_every_row_and_merges_the_files(tmp_path: Path) -> None:
    _embedded(tmp_path, [[r] for r in _day_records(0, range(6))]
              + [[r] for r in _day_records(1, range(6, 9))])
    before, files_before = _snapshot(tmp_path), _files(tmp_path)
    report = compact(CompactionConfig(dataset=str(tmp_path), min_age_s=0,
                                      before="2025-11-25"))          # day 0 only
    tables = PER_BATCH
    assert report.batch_files == 6 * tables and report.compacted_files == tables
    assert _snapshot(tmp_path) == before
    day0 = [f for f in _files(tmp_path) if "date=2025-11-24" in f]
    assert len(day0) == tables and all("/compacted-" in f for f in day0)
    assert len(_files(tmp_path)) == len(files_before) - 6 * tables + tables
    again = compact(CompactionConfig(dataset=str(tmp_path), min_age_s=0, before="2025-11-25"))
    assert again.batch_files == 0 and _snapshot(tmp_path) == before   # nothing left to merge


def test_after_compaction_the_embedded_sink_continues_its_offsets(tmp_path: Path) -> None:
    """Found while designing it: offsets restarting at 0 would put new windows inside a
    'known' batch, and the sink would drop them as already durable."""
    _embedded(tmp_path, [[r] for r in _day_records(0, range(5))])
    compact(CompactionConfig(dataset=str(tmp_path), min_age_s=0, before="9999-01-01"))
    assert not list(iter_batch_files(tmp_path))          # every batch file merged
    sink = EmbeddedSink(SinkConfig(dataset=str(tmp_path), group_commit_ms=0))
    assert sink.next_offset == 5
    assert sink._sink._known[0] == {}     # its offsets are all new: no history is loaded
    sink.write(_day_records(0, range(5, 8)))
    sink.close()
    seqs = [r[1] for r in duckdb.connect().execute(
        "SELECT ingest_id, seq FROM read_parquet(?) ORDER BY seq",
        [str(tmp_path / "windows" / "**" / "*.parquet")]).fetchall()]
    assert seqs == list(range(8))


def test_a_replayed_batch_that_was_compacted_is_still_skipped(tmp_path: Path) -> None:
    records = bodies(60, light=True)
    cfg = SinkConfig(dataset=str(tmp_path), offsets_per_file=20, roll_ms=10**12)

    def run_sink() -> None:
        sink = ParquetSink(cfg, topic="t")
        sink.open_partition(0)
        for off, rec in enumerate(records):
            sink.add(0, off, record=rec)
        sink.flush(0)

    run_sink()
    before = _snapshot(tmp_path)
    known = known_batches(tmp_path, "t")
    compact(CompactionConfig(dataset=str(tmp_path), min_age_s=0, before="9999-01-01"))
    assert known_batches(tmp_path, "t") == known == {0: {0: 19, 20: 39, 40: 59}}
    files = _files(tmp_path)
    run_sink()                       # a replay from offset 0 (e.g. offsets never committed)
    assert _files(tmp_path) == files and _snapshot(tmp_path) == before


def test_a_batch_across_two_dates_stays_complete_when_one_date_is_compacted(
        tmp_path: Path) -> None:
    """The embedded sink's recovery removes a torn last batch; a batch whose other date
    was compacted must not look torn (its rows there are in the compacted file)."""
    _embedded(tmp_path, [[r] for r in _day_records(0, range(3))]
              + [_day_records(0, range(3, 4)) + _day_records(1, range(4, 5))])
    compact(CompactionConfig(dataset=str(tmp_path), min_age_s=0, before="2025-11-25"))
    before = _snapshot(tmp_path)
    sink = EmbeddedSink(SinkConfig(dataset=str(tmp_path)))     # runs the recovery
    assert sink.next_offset == 5
    assert _snapshot(tmp_path) == before and len(before["windows"]) == 5


def test_young_and_torn_batches_are_left_alone(tmp_path: Path) -> None:
    _embedded(tmp_path, [[r] for r in _day_records(0, range(4))])
    young = compact(CompactionConfig(dataset=str(tmp_path), before="9999-01-01"))
    assert young.batch_files == 0 and young.skipped == {"younger than min_age_s": 4 * PER_BATCH}
    torn = next(p for p, _ in iter_batch_files(tmp_path) if p.parts[-4] == "features")
    torn.unlink()                    # this batch now lacks its features file
    report = compact(CompactionConfig(dataset=str(tmp_path), min_age_s=0, before="9999-01-01"))
    others = PER_BATCH - 1                                # the tables but features
    assert report.skipped == {"torn batch": others} and report.batch_files == 3 * others + 3
    assert {p.name for p, _ in iter_batch_files(tmp_path)} == {torn.name}


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    _embedded(tmp_path, [[r] for r in _day_records(0, range(3))])
    files = _files(tmp_path)
    report = compact(CompactionConfig(dataset=str(tmp_path), min_age_s=0,
                                      before="9999-01-01", dry_run=True))
    assert report.batch_files == 3 * PER_BATCH and _files(tmp_path) == files


@pytest.mark.parametrize("point", ["after_temp_write", "after_rename", "after_first_delete"])
def test_a_killed_compaction_loses_and_duplicates_nothing_before_and_after_the_next_run(
        tmp_path: Path, backend: str, point: str) -> None:
    """A real ``edgedrift compact`` SIGKILLed at each step, on each backend: readers (no
    lock) see every row once right after the kill - also when the compacted file and its
    batch files are both there - and after the next run, which removes the leftovers."""
    _embedded(backend, [[r] for r in _day_records(0, range(5))])
    before = _snapshot(backend)
    windows = Dataset(backend).inventory(0, 2**42, 3_600_000).to_pylist()
    cmd = [sys.executable, "-m", "edgedrift", "compact", "--dataset", backend,
           "--min-age-s", "0", "--before", "9999-01-01"]
    env = {**os.environ, "EDGEDRIFT_FAULT": f"compact:{point}:2",     # in the 2nd directory
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    killed = subprocess.run(cmd, env=env, cwd=str(ROOT), capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert _snapshot(backend) == before
    assert Dataset(backend).inventory(0, 2**42, 3_600_000).to_pylist() == windows
    if point != "after_temp_write":      # both are there: a glob would count rows twice
        raw = query(backend, "features", "SELECT count(*) FROM t", live=False)[0][0]
        assert raw > len(before["features"])
    env.pop("EDGEDRIFT_FAULT")
    if backend.startswith("s3://"):    # the dead run's lease holds until it expires
        if point == "after_rename":
            busy = subprocess.run(cmd, env=env, cwd=str(ROOT), capture_output=True,
                                  timeout=120)
            assert busy.returncode == 1 and b"holds lease 1" in busy.stderr, busy.stderr[-2000:]
        env["EDGEDRIFT_COMPACT_LEASE_S"] = "1"
        time.sleep(2.1)                # (S3 times have whole seconds)
    done = subprocess.run(cmd, env=env, cwd=str(ROOT), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert _snapshot(backend) == before
    assert not list(iter_batch_files(backend))
    if not backend.startswith("s3://"):
        assert not [f for f in _files(Path(backend)) if f.endswith(".tmp")]
    assert EmbeddedSink(SinkConfig(dataset=backend)).next_offset == 5


def test_readers_count_each_row_once_while_compactions_run(tmp_path: Path) -> None:
    """No lock: analysis queries in a loop while compaction runs day after day (its renames
    and deletes between the queries' listings and reads) always see the same windows."""
    import threading

    days = 6
    _embedded(tmp_path, [[r] for d in range(days) for r in _day_records(d, range(d * 4,
                                                                                d * 4 + 4))])
    def counts(reader: Dataset) -> tuple:
        feats = reader.feature_groups(0, 2**42, 86_400_000).to_pylist()
        wins = reader.window_groups(0, 2**42, 86_400_000).to_pylist()
        return (sorted((r["feature"], r["bucket"], r["windows"], r["n"]) for r in feats),
                sorted((r["bucket"], r["windows"], r["records"]) for r in wins))

    expected = counts(Dataset(tmp_path))
    assert sum(w for _, w, _ in expected[1]) == days * 4
    seen: list = []
    stop = threading.Event()

    def read() -> None:
        reader = Dataset(tmp_path)
        while not stop.is_set():
            seen.append(counts(reader))

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for day in range(1, days + 1):
            before = (dt.date(2025, 11, 24) + dt.timedelta(days=day)).isoformat()
            compact(CompactionConfig(dataset=str(tmp_path), min_age_s=0, before=before))
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not list(iter_batch_files(tmp_path)) and len(seen) >= 2
    assert all(s == expected for s in seen), [s[1] for s in seen if s != expected][:3]


def test_a_compacted_file_beside_its_batch_files_counts_once(tmp_path: Path) -> None:
    """The state between a compaction's rename and its deletes, held still: every batch
    file copied back beside the compacted file that holds it."""
    import shutil

    _embedded(tmp_path, [[r] for r in _day_records(0, range(4))])
    def groups() -> tuple[list[str], list[str]]:     # (their row order is not defined)
        ds = Dataset(tmp_path)
        return (sorted(map(repr, ds.window_groups(0, 2**42, 3_600_000).to_pylist())),
                sorted(map(repr, ds.feature_groups(0, 2**42, 3_600_000).to_pylist())))

    before = groups()
    assert len(before[0]) == 1 and "'windows': 4" in before[0][0]
    copies = tmp_path.parent / "copies"
    shutil.copytree(tmp_path, copies)
    compact(CompactionConfig(dataset=str(tmp_path), min_age_s=0, before="9999-01-01"))
    for path, _ in iter_batch_files(copies):
        shutil.copy2(path, tmp_path / path.relative_to(copies))
    assert len(list(iter_batch_files(tmp_path))) == 4 * PER_BATCH
    assert len(query(str(tmp_path), "windows", "SELECT * FROM t", live=False)) == 8
    assert groups() == before


def test_embedded_recovery_sees_batches_a_concurrent_compaction_moves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by review: a gateway restarting while compaction runs read the compacted lists,
    then listed the batch files after the compaction had renamed and deleted: the newest
    batches were in neither, offsets restarted at 0 and new acknowledged windows were
    dropped as already durable. A real compaction is run between recovery's two reads."""
    import collector.embedded as embedded

    _embedded(tmp_path, [[r] for r in _day_records(0, range(5))])
    ran = []

    def then_compact(real):
        def wrapper(*args, **kwargs):
            out = real(*args, **kwargs)
            if not isinstance(out, int):
                out = iter(list(out))      # read it all now, as the caller does
            if not ran:
                ran.append(compact(CompactionConfig(dataset=str(tmp_path), min_age_s=0,
                                                    before="9999-01-01")))
            return out
        return wrapper

    monkeypatch.setattr(embedded, "iter_batch_files", then_compact(embedded.iter_batch_files))
    monkeypatch.setattr(embedded, "compacted_max_last",
                        then_compact(embedded.compacted_max_last))
    sink = EmbeddedSink(SinkConfig(dataset=str(tmp_path), group_commit_ms=0))
    assert ran and ran[0].batch_files == 5 * PER_BATCH   # the compaction did run in between
    assert sink.next_offset == 5
    sink.write(_day_records(0, range(5, 8)))
    sink.close()
    assert len(_rows(tmp_path, "windows")) == 8


def test_a_second_compaction_at_the_same_time_stops_with_an_error(tmp_path: Path) -> None:
    """Found by review: two runs at once could each merge the same batches into their own
    compacted file, leaving them counted twice for good."""
    import fcntl

    data = tmp_path / "data"
    _embedded(data / "telemetry", [[r] for r in _day_records(0, range(3))])
    fd = os.open(data / "telemetry" / ".compact.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)            # the first compaction
        res = subprocess.run([sys.executable, "-m", "edgedrift", "compact", "--data-dir",
                              str(data), "--min-age-s", "0", "--before", "9999-01-01"],
                             cwd=str(ROOT), capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(fd)
    assert res.returncode == 1 and "another compaction runs" in res.stderr, res.stderr
    assert len(list(iter_batch_files(data / "telemetry"))) == 3 * PER_BATCH   # nothing touched


def test_an_unreadable_file_fails_its_directory_only(tmp_path: Path) -> None:
    _embedded(tmp_path, [[r] for r in _day_records(0, range(3))])
    bad = next(p for p, _ in iter_batch_files(tmp_path) if p.parts[-4] == "labels")
    bad.write_bytes(b"")                              # e.g. a truncated copy
    report = compact(CompactionConfig(dataset=str(tmp_path), min_age_s=0, before="9999-01-01"))
    assert list(report.failed) == ["labels/model=kws/date=2025-11-24"]
    assert report.compacted_files >= 2                # the other tables were compacted


@pytest.mark.parametrize("flag, value", [("--min-age-s", "nan"), ("--min-age-s", "-1"),
                                          ("--every", "nan"), ("--every", "0")])
def test_compact_refuses_numbers_that_would_disable_its_guards(tmp_path: Path, flag: str,
                                                               value: str) -> None:
    res = subprocess.run([sys.executable, "-m", "edgedrift", "compact", "--data-dir",
                          str(tmp_path), flag, value], cwd=str(ROOT), capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 1 and flag.strip("-").replace("-", "_") in res.stderr.replace(
        "-", "_"), res.stderr


@settings(max_examples=300, deadline=None)
@given(st.sets(st.tuples(st.sampled_from(["embedded", "edgedrift.windows", "a-b"]),
                         st.integers(0, 3), st.integers(0, 2**40), st.integers(1, 50)),
               max_size=60))
def test_the_batch_list_of_a_compacted_file_round_trips(batches: set) -> None:
    from collector.parquet_files import batch_name, decode_batch_list, encode_batch_list

    names = {batch_name(t, p, first, first + size - 1) for t, p, first, size in batches}
    assert decode_batch_list(encode_batch_list(names)) == names


def test_a_long_day_of_small_batches_keeps_a_small_footer() -> None:
    from collector.parquet_files import batch_name, encode_batch_list

    names = [batch_name("embedded", 0, i, i) for i in range(150_000)]
    assert len(encode_batch_list(names)) < 100        # 11 MB as a list of names
