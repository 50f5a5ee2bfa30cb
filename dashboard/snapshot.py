"""A private, consistent read copy of the results database, refreshed when the source changes.

DuckDB lets one process write a database file and locks it against every other
process, readers included; and a reader's shared lock would in turn make the
analytics writer fail to open the file. So the dashboard never opens the live
file. It copies it (no lock taken) into its own cache directory and reads the copy:

* the source is the writer-published snapshot (``analytics.snapshot.duckdb``,
  replaced atomically by the writer after each pass) when it exists and is at
  least as new as the live file, else the live ``analytics.duckdb``;
* a copy is kept only if the source's size and mtime did not change while it was
  copied and ``validate(copy)`` accepts it (DuckDB checks block checksums); a
  copy taken between two checkpoints is a crash-consistent image: the last
  checkpointed state, i.e. the last finished pass (the running pass lives in the
  writer's WAL, which is not copied);
* otherwise it retries with backoff, and meanwhile the last good copy is served
  (``SnapshotInfo.stale`` says so, ``error`` says why).

Each good copy gets a new file name, so a query still running on the previous copy
is never disturbed; old copies are removed after ``keep`` newer ones exist.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> snap = ResultsSnapshot(d / "analytics.duckdb", d / "analytics.snapshot.duckdb", d / "cache")
>>> snap.current() is None          # nothing to read yet
True
>>> _ = (d / "analytics.duckdb").write_bytes(b"x" * 10)
>>> info = snap.current()
>>> info.source.name, info.path.read_bytes() == b"x" * 10, info.stale
('analytics.duckdb', True, False)
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotInfo:
    """The copy to read: its path (unique per version), source file, times and health."""

    path: Path
    source: Path
    source_mtime: float
    copied_at: float
    stale: bool = False
    error: str = ""

    @property
    def version(self) -> str:
        return self.path.name


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class ResultsSnapshot:
    """Copies ``live`` (or the newer ``published`` snapshot) to ``cache_dir`` when it changes.

    Thread-safe; ``current()`` costs two ``stat`` calls when nothing changed and
    checks at most every ``min_check_s`` seconds.
    """

    def __init__(self, live: Path, published: Path, cache_dir: Path | None = None,
                 validate: Callable[[Path], None] | None = None, attempts: int = 5,
                 backoff_s: float = 0.05, min_check_s: float = 0.5, keep: int = 2) -> None:
        self.live, self.published = Path(live), Path(published)
        self.cache_dir = Path(cache_dir) if cache_dir else Path(
            tempfile.mkdtemp(prefix="edgedrift-dashboard-"))
        if not cache_dir:   # a temporary dir of its own: removed when collected or at exit
            weakref.finalize(self, shutil.rmtree, self.cache_dir, ignore_errors=True)
        self.validate = validate
        self.attempts, self.backoff_s = attempts, backoff_s
        self.min_check_s, self.keep = min_check_s, keep
        self._lock = threading.Lock()
        self._info: SnapshotInfo | None = None
        self._sig: tuple[Path, tuple[int, int, int]] | None = None
        self._checked = 0.0
        self._counter = itertools.count(1)
        self._copies: list[Path] = []

    def source(self) -> Path | None:
        """The file to copy: the published snapshot if at least as new as the live file."""
        pub, live = _signature(self.published), _signature(self.live)
        if pub is not None and (live is None or pub[1] >= live[1]):
            return self.published
        return self.live if live is not None else None

    def current(self, force: bool = False) -> SnapshotInfo | None:
        """The newest good copy (refreshing it if the source changed), or None if none exists."""
        with self._lock:
            now = time.monotonic()
            if not force and self._info is not None and now - self._checked < self.min_check_s:
                return self._info
            self._checked = now
            src = self.source()
            if src is None:
                return self._info
            sig = _signature(src)
            if sig is None or (self._sig == (src, sig) and self._info is not None
                               and not self._info.stale):
                return self._info
            self._refresh(src)
            return self._info

    def invalidate(self) -> None:
        """Forget the current copy's signature (e.g. a query found it unreadable)."""
        with self._lock:
            self._sig = None
            self._checked = 0.0

    def _refresh(self, src: Path) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        error = ""
        for attempt in range(self.attempts):
            before = _signature(src)
            if before is None:
                error = f"{src} disappeared"
                break
            target = self.cache_dir / f"results-{os.getpid()}-{next(self._counter)}.duckdb"
            try:
                shutil.copyfile(src, target)
                after = _signature(src)
                if after != before:
                    raise OSError(f"{src.name} changed while it was copied")
                if self.validate is not None:
                    self.validate(target)
            except Exception as exc:  # noqa: BLE001 - retried, then reported as stale
                error = f"{type(exc).__name__}: {exc}"
                target.unlink(missing_ok=True)
                time.sleep(self.backoff_s * (2 ** attempt))
                continue
            self._sig = (src, before)
            self._info = SnapshotInfo(target, src, before[1] / 1e9, time.time())
            self._copies.append(target)
            self._prune()
            return
        log.warning("results copy failed (%s); serving the previous copy", error)
        if self._info is not None:
            info = self._info
            self._info = SnapshotInfo(info.path, info.source, info.source_mtime, info.copied_at,
                                      stale=True, error=error)

    def _prune(self) -> None:
        while len(self._copies) > self.keep:
            old = self._copies.pop(0)
            old.unlink(missing_ok=True)
            Path(str(old) + ".wal").unlink(missing_ok=True)

    def close(self) -> None:
        """Remove every copy this object made."""
        with self._lock:
            for p in self._copies:
                p.unlink(missing_ok=True)
            self._copies.clear()
            self._info = None
            shutil.rmtree(self.cache_dir, ignore_errors=True) if not any(
                self.cache_dir.iterdir()) else None
