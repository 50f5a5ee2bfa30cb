"""The written-window state: exact within its bounds, never a false duplicate, and the state
a sink rebuilds from its snapshot and the Parquet rows equals the one it kept in memory."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from exactly_once_support import records_with_redeliveries
from hypothesis import given, settings
from hypothesis import strategies as st
from sink_support import bodies

from collector.seq_guard import NEW, UNTRACKED, WRITTEN, SeqGuard
from collector.seq_state import load_state, save_snapshot
from collector.sink import ParquetSink
from collector.sink_config import SinkConfig

seqs = st.lists(st.integers(0, 60), max_size=80)


@settings(max_examples=300, deadline=None)
@given(seqs, st.integers(0, 6))
def test_guard_never_calls_an_unwritten_window_written(adds: list[int], max_gaps: int) -> None:
    g = SeqGuard(max_gaps)
    written: set[int] = set()
    for s in adds:
        assert (g.check("d", "m", s) == WRITTEN) <= (s in written)    # never loses a window
        g.add("d", "m", s)
        written.add(s)
    for s in range(-2, 64):
        state = g.check("d", "m", s)
        if s in written:
            assert state != NEW              # a redelivery is never written again ...
        else:
            assert state != WRITTEN          # ... and a new window never dropped
    assert SeqGuard.from_bytes(g.to_bytes()) == g


@settings(max_examples=200, deadline=None)
@given(seqs)
def test_guard_is_exact_when_the_holes_fit(adds: list[int]) -> None:
    g = SeqGuard(max_gaps=64)
    for s in adds:
        g.add("d", "m", s)
    assert all((g.check("d", "m", s) == WRITTEN) == (s in adds) for s in range(-2, 64))
    assert all(g.check("d", "m", s) != UNTRACKED for s in range(-2, 64))


def test_pairs_are_independent_and_state_stays_small() -> None:
    g = SeqGuard()
    for dev in range(1000):
        for s in range(100):
            g.add(f"dev-{dev}", "kws", 1_764_000_000_000 + s)
    assert len(g) == 1000
    assert g.check("dev-1", "har", 1_764_000_000_000) == NEW
    assert len(g.to_bytes()) < 40 * 1000                 # ~ tens of bytes per pair


def _window_idents(root: Path) -> list[tuple[str, str, int]]:
    out = []
    for path in sorted((root / "windows").glob("*/*/*.parquet")):
        model = path.parent.parent.name.split("=", 1)[1]
        t = pq.read_table(path, columns=["device_id", "seq"])
        out += [(d, model, s) for d, s in zip(t["device_id"].to_pylist(),
                                              t["seq"].to_pylist(), strict=True)]
    return out


@pytest.mark.parametrize("max_gaps", [32, 4])
def test_the_rebuilt_state_equals_the_kept_one(tmp_path: Path, max_gaps: int) -> None:
    """Each device's windows are 20 apart (sparse: one hole per window); a redelivery comes
    up to 10 windows late. 32 holes cover that exactly; with 4, older ones are untracked
    (written and counted) and the state forgets holes: the rebuild must forget the same."""
    rng = random.Random(7)
    records = records_with_redeliveries(1500, rng)
    cfg = SinkConfig(dataset=str(tmp_path), offsets_per_file=97, seq_max_gaps=max_gaps)
    sink = ParquetSink(cfg, topic="t")
    sink.open_partition(0)
    snap_at = None
    for off, rec in enumerate(records):
        for _, nxt in sink.add(0, off, rec.kafka_key(), rec.kafka_value()):
            if snap_at is None and nxt > len(records) // 3:
                assert sink.snapshot(0, nxt, force=True)
                snap_at = nxt
    end = sink.flush(0)
    kept = sink.guard(0)
    idents = _window_idents(tmp_path)
    assert len(set(idents)) == 1500                          # nothing lost
    assert len(idents) - 1500 == sink.untracked              # the only second rows
    assert sink.duplicates + sink.untracked == len(records) - 1500 and sink.conflicts > 0
    if max_gaps == 32:
        assert len(idents) == 1500 and sink.untracked == 0   # one row per window
    # from the snapshot + the rows after it, and from the rows alone: the same state
    assert load_state(tmp_path, "t", 0, end, max_gaps)[0] == kept
    for p in (tmp_path / "_state").rglob("*.seqs"):
        p.unlink()
    assert load_state(tmp_path, "t", 0, end, max_gaps)[0] == kept
    # the state as of the snapshot's offset is the snapshot
    assert snap_at is not None
    save_snapshot(tmp_path, "t", 0, snap_at, load_state(tmp_path, "t", 0, snap_at, max_gaps)[0])
    assert load_state(tmp_path, "t", 0, end, max_gaps)[0] == kept


def test_a_corrupt_snapshot_is_ignored_and_the_rows_read(tmp_path: Path) -> None:
    cfg = SinkConfig(dataset=str(tmp_path), offsets_per_file=50)
    sink = ParquetSink(cfg, topic="t")
    sink.open_partition(0)
    recs = bodies(120, devices=3, light=True)
    for off, rec in enumerate(recs):
        sink.add(0, off, record=rec)
    end = sink.flush(0)
    sink.snapshot(0, end, force=True)
    snap = next((tmp_path / "_state").rglob("*.seqs"))
    snap.write_bytes(b"\x00garbage")
    guard, _ = load_state(tmp_path, "t", 0, end)
    assert guard == sink.guard(0)


def test_the_state_is_rebuilt_from_compacted_files_too(tmp_path: Path) -> None:
    from collector.compaction import CompactionConfig, compact

    records = records_with_redeliveries(600, random.Random(5))
    sink = ParquetSink(SinkConfig(dataset=str(tmp_path), offsets_per_file=50), topic="t")
    sink.open_partition(0)
    for off, rec in enumerate(records):
        sink.add(0, off, record=rec)
    end = sink.flush(0)
    batches = len(list(tmp_path.rglob("t-0-*.parquet")))              # of every table
    report = compact(CompactionConfig(dataset=str(tmp_path), min_age_s=0, before="9999-01-01"))
    assert batches > 1 and report.batch_files == batches                   # every batch merged
    assert not [p for p in (tmp_path / "windows").rglob("t-0-*.parquet")]   # all merged
    assert load_state(tmp_path, "t", 0, end)[0] == sink.guard(0)
    # as of offset 300 (a batch boundary): what a sink that saw only those records kept
    first = ParquetSink(SinkConfig(dataset=str(tmp_path / "first"), offsets_per_file=50),
                        topic="t")
    first.open_partition(0)
    for off, rec in enumerate(records[:300]):
        first.add(0, off, record=rec)
    first.flush(0)
    assert load_state(tmp_path, "t", 0, 300)[0] == first.guard(0) != sink.guard(0)
