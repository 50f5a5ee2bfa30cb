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

Order, per directory::

    1. write the merged file hidden (a temp file, fsynced; on object storage the upload
       itself, visible only once complete)   (crash: the temp file is cleaned up)
    2. rename it to compacted-<hash>.parquet, fsync the directory
    3. delete the merged batch files, fsync the directory

Readers need no lock (:mod:`collector.live_files`): they never read a batch file that a
compacted file of its directory holds, so between steps 2 and 3 - or for good, if the
compaction is killed there - every row is still read once. The next compaction deletes
such leftovers. Only one compaction runs at a time per dataset (locally ``.compact.lock``,
a flock; on object storage a lease object created with a conditional write, see
:mod:`collector.compaction_lease`); a second one stops with an error.

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
(15, 5)
>>> EmbeddedSink(SinkConfig(dataset=str(root))).next_offset     # offsets continue
3
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from . import schema
from .compaction_lease import LEASE_S, CompactionBusy, compaction_lease
from .faults import fault_point
from .parquet_files import (
    _HOST,
    COMPACTED_PREFIX,
    META_COMPACTED,
    META_VERSION,
    TMP_SUFFIX,
    batch_is_complete,
    clean_temp,
    compacted_in,
    compacted_lists,
    decode_batch_list,
    encode_batch_list,
    parse_name,
    partition_rels,
    write_options,
)
from .storage import Entry, S3Storage, Storage, open_storage

log = logging.getLogger(__name__)

__all__ = ["CompactionConfig", "CompactionReport", "CompactionBusy", "compact",
           "COMPACTED_PREFIX"]


@dataclass(frozen=True)
class CompactionConfig:
    """What to compact.

    ``before``: dates (``YYYY-MM-DD``) strictly before this one are compacted (default
    today, UTC). ``min_age_s``: batch files younger than this are left alone (a sink may
    still be committing them). ``dry_run``: report what would be merged, change nothing.
    ``lease_s``: on object storage, a run's lease unreleased for this long is taken for
    dead (:mod:`collector.compaction_lease`); longer than any run. ``retain_s``: merged
    batch files are deleted by the run that merged them (0), or by a later run once their
    compacted file is this old: a reader whose listing predates the compacted file then
    finds its batch files still there (no retry; worth it for slow listings, e.g. S3).

    >>> CompactionConfig(dataset="ds").min_age_s
    600.0
    """

    dataset: str = "./edgedrift-data/telemetry"
    before: str | None = None
    min_age_s: float = 600.0
    dry_run: bool = False
    lease_s: float = LEASE_S
    retain_s: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.min_age_s, (int, float)) and 0 <= self.min_age_s < float("inf")):
            raise ValueError(f"compact.min_age_s: expected a finite number of seconds >= 0, "
                             f"got {self.min_age_s!r}")
        if not (isinstance(self.retain_s, (int, float)) and 0 <= self.retain_s < float("inf")):
            raise ValueError(f"compact.retain_s: expected a finite number of seconds >= 0, "
                             f"got {self.retain_s!r}")
        if not (isinstance(self.lease_s, (int, float)) and 0 < self.lease_s < float("inf")):
            raise ValueError(f"compact.lease_s: expected a finite number of seconds > 0, "
                             f"got {self.lease_s!r}")

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
    st = open_storage(config.dataset)
    before = config.before_date()
    report = CompactionReport()
    if not st.remote and not Path(st.root).is_dir():
        return report
    with compaction_lease(st, hold=not config.dry_run, lease_s=config.lease_s) as lease:
        if not config.dry_run:
            clean_temp(st, 3600.0)      # temp files of writers that died (sinks' or ours)
        state = _RunState()
        for ddir in partition_rels(st):
            if ddir.rsplit("=", 1)[-1] >= before:
                continue
            try:
                _compact_dir(st, ddir, config, report, state, lease.check)
            except CompactionBusy:
                raise
            except (OSError, ValueError, pa.ArrowException) as exc:   # e.g. an unreadable file
                log.error("compaction of %s failed, left as it is: %s", ddir, exc)
                report.failed[ddir] = str(exc)
    return report


class _RunState:
    """What one run learnt: the batches held by compacted files per directory, and which
    batch names were found complete (the same names repeat across the tables)."""

    def __init__(self) -> None:
        self.compacted: dict[str, set[str]] = {}
        self.complete: dict[str, bool] = {}

    def is_complete(self, st: Storage, rel: str) -> bool:
        name = rel.rsplit("/", 1)[-1]
        known = self.complete.get(name)
        if known is None:
            known = self.complete[name] = batch_is_complete(st, st.path(rel), self.compacted)
        return known


_ROW_GROUP = 131_072


def _write_merged(st: Storage, files: list[str], table: str, out: Any,
                  metadata: dict) -> None:
    """Stream the files' rows into the stream ``out`` (row groups of ~128k rows: memory
    stays bounded however large the day)."""
    sch = schema.SCHEMAS[table]
    scanner = ds.dataset([st.fs_path(f) for f in files], schema=sch, format="parquet",
                         filesystem=st.fs).to_batches()
    pending: list[pa.RecordBatch] = []
    rows = 0
    writer = pq.ParquetWriter(out, sch.with_metadata(metadata),
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


def _publish_merged(st: Storage, files: list[str], ddir: str, final: str,
                    metadata: dict, check: Any) -> None:
    """Steps 1 and 2: the merged file, whole, under its final name."""
    table = ddir.split("/", 1)[0]
    if st.remote:      # the temp file is local; its upload is the rename (whole or absent)
        assert isinstance(st, S3Storage)
        with tempfile.NamedTemporaryFile(prefix=".edgedrift-compact-", suffix=TMP_SUFFIX) as fh:
            _write_merged(st, files, table, fh, metadata)
            fh.flush()
            fault_point("compact", "after_temp_write")
            check()                        # still the lease holder: then upload
            st.upload_file(f"{ddir}/{final}", fh.name)
        return
    path = Path(st.path(f"{ddir}/{final}"))
    tmp = path.with_name(f".{final}.{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as out:
            _write_merged(st, files, table, out, metadata)
            out.flush()
            os.fsync(out.fileno())
        fault_point("compact", "after_temp_write")
        check()
        os.replace(tmp, path)
        st.sync_dirs({ddir})
    finally:
        tmp.unlink(missing_ok=True)


def _compact_dir(st: Storage, ddir: str, config: CompactionConfig, report: CompactionReport,
                 state: _RunState, check: Any) -> None:
    listing = st.list_dir(ddir)
    lists = compacted_lists(st, ddir, listing)
    merged = state.compacted[ddir] = {n for data in lists.values()
                                      for n in decode_batch_list(data)}
    entries: dict[str, Entry] = {e.name: e for e in listing if parse_name(e.name) is not None}
    batches = sorted(entries)
    now = time.time()
    ripe = {n for e in listing if e.name in lists and now - e.mtime >= config.retain_s
            for n in decode_batch_list(lists[e.name])}
    leftovers = [n for n in batches if n in ripe]
    if leftovers and not config.dry_run:   # merged by an earlier run (killed, or retained)
        for n in leftovers:
            st.delete(f"{ddir}/{n}")
        st.sync_dirs({ddir})
        report.leftovers_removed += len(leftovers)
    chosen: list[str] = []
    for n in batches:
        if n in merged:
            continue
        if now - entries[n].mtime < config.min_age_s:
            report.skipped["younger than min_age_s"] = report.skipped.get(
                "younger than min_age_s", 0) + 1
        elif not state.is_complete(st, f"{ddir}/{n}"):
            report.skipped["torn batch"] = report.skipped.get("torn batch", 0) + 1
        else:
            chosen.append(n)
    if len(chosen) < 2:
        return
    names = sorted(chosen)
    files = [f"{ddir}/{n}" for n in names]
    rows = 0
    for f in files:
        with st.fs.open_input_file(st.fs_path(f)) as fh:
            rows += pq.ParquetFile(fh).metadata.num_rows
    report.directories += 1
    report.batch_files += len(chosen)
    report.compacted_files += 1
    report.rows += rows
    report.bytes_before += sum(entries[n].size for n in names)
    if config.dry_run:
        return
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    final = f"{COMPACTED_PREFIX}{digest}.parquet"
    metadata = {META_VERSION: str(schema.SCHEMA_VERSION).encode(),
                META_COMPACTED: encode_batch_list(names)}

    def still_ours() -> None:
        check()
        if compacted_in(st, ddir) & set(names):
            raise CompactionBusy(f"{ddir}: another compaction merged these batches")

    _publish_merged(st, files, ddir, final, metadata, still_ours)
    fault_point("compact", "after_rename")
    if not config.retain_s:            # readers skip them already (collector.live_files)
        for i, f in enumerate(files):
            st.delete(f)
            if i == 0:
                fault_point("compact", "after_first_delete")
        st.sync_dirs({ddir})
    merged.update(names)       # later directories' completeness checks see them here
    report.bytes_after += next((e.size for e in st.list_dir(ddir) if e.name == final), 0)
    log.info("compacted %d batch files of %s into %s (%d rows)", len(chosen), ddir,
             final, rows)
