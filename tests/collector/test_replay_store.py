"""The journaled replay cache: marks and un-marks survive a restart, old buckets are
deleted as the window moves, a torn last record is ignored."""

from __future__ import annotations

from pathlib import Path

from collector.replay_store import PersistentReplayGuard


def test_marks_and_unmarks_survive_a_restart(tmp_path: Path) -> None:
    g = PersistentReplayGuard(tmp_path, window_s=300, now=1000)
    assert g.check_and_add(("d", "m", 1, 995), now=1000)
    assert g.check_and_add(("d", "m", 2, 995), now=1000)
    g.forget(("d", "m", 2, 995))               # a 503: the same envelope may come again
    g.close()
    again = PersistentReplayGuard(tmp_path, window_s=300, now=1001)
    assert again.loaded == 1
    assert not again.check_and_add(("d", "m", 1, 995), now=1001)    # replay
    assert again.check_and_add(("d", "m", 2, 995), now=1001)        # was un-marked


def test_old_buckets_are_deleted_and_not_loaded(tmp_path: Path) -> None:
    g = PersistentReplayGuard(tmp_path, window_s=60, now=1000)
    assert g.check_and_add(("d", "m", 1, 1000), now=1000)
    assert g.check_and_add(("d", "m", 2, 1200), now=1200)    # the window moved: 1000 expired
    g.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["120.replay"]
    assert PersistentReplayGuard(tmp_path, window_s=60, now=1500).loaded == 0
    assert not list(tmp_path.iterdir())


def test_a_torn_last_record_is_ignored(tmp_path: Path) -> None:
    g = PersistentReplayGuard(tmp_path, now=1000)
    for s in range(5):
        g.check_and_add(("dev", "kws", s, 1000), now=1000)
    g.close()
    journal = next(tmp_path.iterdir())
    journal.write_bytes(journal.read_bytes()[:-3])            # killed mid-write
    again = PersistentReplayGuard(tmp_path, now=1000)
    assert again.loaded == 4
    assert again.check_and_add(("dev", "kws", 4, 1000), now=1000)
