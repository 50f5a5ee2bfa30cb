"""Compaction: the batch files of a closed day merged into one file per directory.

Sinks write one file per batch and (table, model, date); a quiet gateway writes a
file set every few seconds, hundreds of thousands of small files a day, and every
analysis pass lists and opens them all. :func:`compact` merges the batch files of
each ``<table>/model=<m>/date=<d>/`` directory older than ``before`` into one file
``compacted-<16 hex>.parquet`` whose key-value metadata lists the batch file names
it holds (``edgedrift.compacted``). The sinks read those lists as if the batch
files were still there (:func:`collector.parquet_files.known_batches`, the
embedded sink's offset recovery, :func:`~collector.parquet_files.batch_is_complete`),
so a replayed batch is still skipped and no offset is used twice.

Order, per directory (each step durable before the next)::

    1. write + fsync a hidden temp file        (crash: the temp file is cleaned up)
    2. take the readers' lock exclusively, write the step's marker, rename the file to
       compacted-<hash>.parquet, fsync, delete the merged batch files, fsync, remove the
       marker, release the lock

Step 2 is short (no data is written in it). Readers that must see each row exactly once
(an analysis pass) hold the lock shared (:func:`readers_share`), so they never list a
directory between the rename and the deletes, nor lose a file they listed. If the
compaction dies inside step 2, the marker ``.compacting.json`` says which batch files
are already in a compacted file; the next reader with write access, or the next
compaction, deletes them before reading. Only one compaction runs at a time
(``.compact.lock``; a second one stops with an error).

Only complete batches older than ``min_age_s`` are merged (never a batch being
written or a torn one), and only directories of dates before ``before`` (today,
UTC, by default): late windows of a device that was offline may still add batch
files to an old date; they are merged by a later run.

>>> import tempfile
>>> from collector.sink_config import SinkConfig
>>> from collector.records import IngestRecord
>>> from collector.fake_windows import make_window_body
>>> from collector.embedded import EmbeddedSink
>>> root = Path(tempfile.mkdtemp())
>>> sink = EmbeddedSink(SinkConfig(dataset=str(root), group_commit_ms=0))
>>> for seq in range(3):
...     sink.write([IngestRecord("dev-1", make_window_body("dev-1", seq, records=5,
...                                                        window_index=0), 1, 1)])
>>> sink.close()
>>> report = compact(CompactionConfig(dataset=str(root), min_age_s=0))
>>> report.batch_files, report.compacted_files
(9, 3)
>>> EmbeddedSink(SinkConfig(dataset=str(root))).next_offset     # offsets continue
3
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from . import schema
from .faults import fault_point
from .parquet_files import (
    _HOST,
    COMPACTED_PREFIX,
    META_COMPACTED,
    META_VERSION,
    TMP_SUFFIX,
    _fsync_dir,
    batch_is_complete,
    clean_temp,
    compacted_names,
    decode_batch_list,
    encode_batch_list,
    parse_name,
    partition_dirs,
    write_options,
)

log = logging.getLogger(__name__)

__all__ = ["CompactionConfig", "CompactionReport", "CompactionBusy", "InterruptedCompaction",
           "compact", "readers_share", "ensure_readers_lock", "finish_interrupted",
           "COMPACTED_PREFIX"]


@dataclass(frozen=True)
class CompactionConfig:
    """What to compact.

    ``before``: dates (``YYYY-MM-DD``) strictly before this one are compacted (default
    today, UTC). ``min_age_s``: batch files younger than this are left alone (a sink may
    still be committing them). ``dry_run``: report what would be merged, change nothing.

    >>> CompactionConfig(dataset="ds").min_age_s
    600.0
    """

    dataset: str = "./edgedrift-data/telemetry"
    before: str | None = None
    min_age_s: float = 600.0
    dry_run: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.min_age_s, (int, float)) and 0 <= self.min_age_s < float("inf")):
            raise ValueError(f"compact.min_age_s: expected a finite number of seconds >= 0, "
                             f"got {self.min_age_s!r}")

    def before_date(self) -> str:
        if self.before is None:
            return dt.datetime.now(dt.UTC).date().isoformat()
        try:
            return dt.date.fromisoformat(self.before).isoformat()
        except ValueError:
            raise ValueError(f"compact.before: expected a date YYYY-MM-DD, "
                             f"got {self.before!r}") from None


@dataclass
class CompactionReport:
    """What a run did (or, with ``dry_run``, would do)."""

    directories: int = 0          # directories that got a compacted file
    batch_files: int = 0          # batch files merged (and deleted)
    compacted_files: int = 0      # compacted files written
    rows: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    leftovers_removed: int = 0    # batch files already merged by an interrupted run
    skipped: dict[str, int] = field(default_factory=dict)   # reason -> batch files left
    failed: dict[str, str] = field(default_factory=dict)    # directory -> error


def compact(config: CompactionConfig) -> CompactionReport:
    """Compact every closed (table, model, date) directory of the dataset."""
    root = Path(config.dataset)
    before = config.before_date()
    report = CompactionReport()
    if not root.is_dir():
        return report
    with contextlib.ExitStack() as stack:
        if not config.dry_run:
            stack.enter_context(_only_compaction(root))
            if (root / MARKER).exists():
                with _exclusive(root):
                    finish_interrupted(root)
            clean_temp(root, 3600.0)      # temp files of writers that died (sinks' or ours)
        state = _RunState()
        for ddir in _date_dirs(root, before):
            try:
                _compact_dir(root, ddir, config, report, state)
            except (OSError, ValueError, pa.ArrowException) as exc:   # e.g. an unreadable file
                if (root / MARKER).exists():   # failed inside its step: finish before going on
                    raise
                log.error("compaction of %s failed, left as it is: %s", ddir, exc)
                report.failed[str(ddir.relative_to(root))] = str(exc)
    return report


READERS_LOCK = ".readers.lock"
# Linux flock grants a shared request while an exclusive one waits, so readers that overlap
# without pause would starve a compaction's step forever. Readers pass a turnstile (held
# shared, only while taking their lock); a step takes it exclusively first, so new readers
# queue behind the step while the ones inside finish.
TURNSTILE = ".readers.turnstile"
COMPACT_LOCK = ".compact.lock"
MARKER = ".compacting.json"


@contextlib.contextmanager
def readers_share(dataset: str | Path, wait_s: float = 30.0,
                  finish: bool = True) -> Iterator[None]:
    """Hold while reading the dataset in a way that must count each row once (an analysis
    pass): compaction's rename-and-delete steps wait until it is released.

    It yields only while holding the lock shared with no interrupted step pending: a
    step a killed compaction left is finished first (this process needs write access),
    waiting up to ``wait_s`` for other readers to let go; if it cannot be finished,
    :class:`InterruptedCompaction` is raised rather than reading rows twice.

    ``finish=False`` (a display such as the dashboard): never writes and never raises for
    a pending step; it still waits out a running step, so it reads each row once except
    the rows of a step a killed compaction left pending (until a pass or a compaction
    finishes it).

    >>> import tempfile
    >>> with readers_share(tempfile.mkdtemp()):
    ...     pass
    """
    root = Path(dataset)
    fd = _open_lock(root, READERS_LOCK)
    if fd is None:                                # no dataset yet, or a read-only one that
        yield                                     # never had a sink or compaction: no swaps
        return
    gate = _open_lock(root, TURNSTILE)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            _pass_turnstile(gate, fd)
            if not finish or not (root / MARKER).exists():
                break
            fcntl.flock(fd, fcntl.LOCK_UN)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:              # a compaction in its step, or other readers
                if time.monotonic() > deadline:
                    raise InterruptedCompaction(
                        f"{root}: an interrupted compaction step ({MARKER}) is pending and "
                        f"other readers hold the lock; run `edgedrift compact` or retry") from None
                time.sleep(0.05)
                continue
            try:
                finish_interrupted(root)
            except OSError as exc:               # e.g. a read-only mount
                raise InterruptedCompaction(
                    f"{root}: an interrupted compaction step ({MARKER}) is pending and this "
                    f"process cannot finish it ({exc}); run `edgedrift compact`") from None
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        yield
    finally:
        os.close(fd)
        if gate is not None:
            os.close(gate)


def _pass_turnstile(gate: int | None, fd: int) -> None:
    """Take the readers' lock shared, through the turnstile (if the dataset has one)."""
    if gate is None:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return
    fcntl.flock(gate, fcntl.LOCK_SH)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        fcntl.flock(gate, fcntl.LOCK_UN)


class InterruptedCompaction(OSError):
    """A killed compaction's rename-and-delete step is pending and could not be finished."""


def _open_lock(root: Path, name: str) -> int | None:
    """A lock file of the readers (``name``), created if this process may write the dataset."""
    path = root / name
    for flags in (os.O_RDONLY, os.O_RDONLY | os.O_CREAT):
        try:
            return os.open(path, flags, 0o644)
        except FileNotFoundError:
            continue
        except OSError:
            return None
    return None


def ensure_readers_lock(root: Path) -> None:
    """Create the readers' lock files (sinks call this when they open the dataset, so that
    read-only readers can lock them before the first compaction).

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()); ensure_readers_lock(root)
    >>> (root / READERS_LOCK).exists(), (root / TURNSTILE).exists()
    (True, True)
    """
    for name in (READERS_LOCK, TURNSTILE):
        with contextlib.suppress(OSError):
            os.close(os.open(root / name, os.O_RDONLY | os.O_CREAT, 0o644))


@contextlib.contextmanager
def _locked(path: Path, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if missing); with ``wait=False`` raise
    :class:`CompactionBusy` if another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise CompactionBusy(f"another compaction runs on {path.parent} (it holds "
                                 f"{path.name}); run one at a time") from None
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """The readers' lock held exclusively; the turnstile first, so that readers arriving
    meanwhile wait instead of keeping the lock shared forever."""
    with _locked(root / TURNSTILE), _locked(root / READERS_LOCK):
        yield


def _only_compaction(root: Path) -> contextlib.AbstractContextManager[None]:
    return _locked(root / COMPACT_LOCK, wait=False)


class CompactionBusy(RuntimeError):
    """Another compaction holds the dataset's compaction lock."""


def finish_interrupted(root: Path) -> bool:
    """Finish the rename-and-delete step a killed compaction left (see the module doc);
    the caller holds the readers' lock exclusively. True if there was one."""
    marker = root / MARKER
    try:
        step = json.loads(marker.read_text())
        ddir, final, names = root / step["dir"], step["final"], step["names"]
    except FileNotFoundError:
        return False
    except (ValueError, KeyError, TypeError):   # unreadable: written before any rename
        log.warning("removed an unreadable compaction marker %s", marker)
        marker.unlink()
        _fsync_dir(root)
        return True
    if (ddir / final).exists():                # renamed: the batch files are leftovers
        for name in decode_batch_list(json.dumps(names).encode()):
            (ddir / name).unlink(missing_ok=True)
        _fsync_dir(ddir)
    marker.unlink()
    _fsync_dir(root)
    log.warning("finished an interrupted compaction of %s", ddir)
    return True


class _RunState:
    """What one run learnt: the batches held by compacted files per directory, and which
    batch names were found complete (the same names repeat across the tables)."""

    def __init__(self) -> None:
        self.compacted: dict[Path, set[str]] = {}
        self.complete: dict[str, bool] = {}

    def is_complete(self, root: Path, path: Path) -> bool:
        known = self.complete.get(path.name)
        if known is None:
            known = self.complete[path.name] = batch_is_complete(root, path, self.compacted)
        return known


_ROW_GROUP = 131_072


def _write_merged(files: list[Path], ddir: Path, tmp: Path, metadata: dict) -> None:
    """Stream the files' rows into ``tmp`` (row groups of ~128k rows: memory stays bounded
    however large the day), then fsync it."""
    sch = schema.SCHEMAS[ddir.parts[-3]]
    scanner = ds.dataset([str(p) for p in files], schema=sch, format="parquet").to_batches()
    pending: list[pa.RecordBatch] = []
    rows = 0
    with open(tmp, "wb") as fh:
        writer = pq.ParquetWriter(fh, sch.with_metadata(metadata),
                                  **write_options(sch.names, "zstd", _ROW_GROUP))
        try:
            for batch in scanner:
                pending.append(batch)
                rows += batch.num_rows
                if rows >= _ROW_GROUP:
                    writer.write_table(pa.Table.from_batches(pending, sch))
                    pending, rows = [], 0
            if pending:
                writer.write_table(pa.Table.from_batches(pending, sch))
        finally:
            writer.close()
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _date_dirs(root: Path, before: str) -> Iterator[Path]:
    for ddir in partition_dirs(root):
        if ddir.name[len("date="):] < before:
            yield ddir


def _compact_dir(root: Path, ddir: Path, config: CompactionConfig, report: CompactionReport,
                 state: _RunState) -> None:
    merged = state.compacted[ddir] = compacted_names(ddir)
    batches = sorted(p for p in ddir.iterdir() if parse_name(p.name) is not None)
    leftovers = [p for p in batches if p.name in merged]
    if leftovers and not config.dry_run:   # an earlier run stopped after its rename
        with _exclusive(root):
            for p in leftovers:
                p.unlink(missing_ok=True)
            _fsync_dir(ddir)
        report.leftovers_removed += len(leftovers)
    now = time.time()
    chosen: list[Path] = []
    for p in batches:
        if p.name in merged:
            continue
        if now - p.stat().st_mtime < config.min_age_s:
            report.skipped["younger than min_age_s"] = report.skipped.get(
                "younger than min_age_s", 0) + 1
        elif not state.is_complete(root, p):
            report.skipped["torn batch"] = report.skipped.get("torn batch", 0) + 1
        else:
            chosen.append(p)
    if len(chosen) < 2:
        return
    names = sorted(p.name for p in chosen)
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in chosen)
    report.directories += 1
    report.batch_files += len(chosen)
    report.compacted_files += 1
    report.rows += rows
    report.bytes_before += sum(p.stat().st_size for p in chosen)
    if config.dry_run:
        return
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    final = ddir / f"{COMPACTED_PREFIX}{digest}.parquet"
    tmp = ddir / f".{final.name}.{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}{TMP_SUFFIX}"
    metadata = {META_VERSION: str(schema.SCHEMA_VERSION).encode(),
                META_COMPACTED: encode_batch_list(names)}
    try:
        _write_merged(chosen, ddir, tmp, metadata)
        fault_point("compact", "after_temp_write")
        with _exclusive(root):             # no reader lists this directory meanwhile
            if compacted_names(ddir) & set(names):
                raise CompactionBusy(f"{ddir}: another compaction merged these batches")
            marker = root / MARKER
            pending = root / (MARKER + TMP_SUFFIX)
            pending.write_text(json.dumps({"dir": str(ddir.relative_to(root)),
                                           "final": final.name,
                                           "names": json.loads(metadata[META_COMPACTED])}))
            _fsync_file(pending)
            os.replace(pending, marker)           # whole or absent, never torn
            _fsync_dir(root)
            os.replace(tmp, final)
            _fsync_dir(ddir)
            fault_point("compact", "after_rename")
            for i, p in enumerate(chosen):
                p.unlink(missing_ok=True)
                if i == 0:
                    fault_point("compact", "after_first_delete")
            _fsync_dir(ddir)
            marker.unlink()
            _fsync_dir(root)
    finally:
        tmp.unlink(missing_ok=True)
    merged.update(names)       # later directories' completeness checks see them here
    report.bytes_after += final.stat().st_size
    log.info("compacted %d batch files of %s into %s (%d rows)", len(chosen), ddir,
             final.name, rows)
