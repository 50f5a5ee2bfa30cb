"""The commit protocol of one batch: temp write, fsync, atomic rename, directory fsync.

A batch of one (topic, partition) covering offsets ``first..last`` becomes one
file per (table, model, date), all with the same deterministic name::

    <root>/<table>/model=<m>/date=<d>/<topic>-<partition>-<first:020d>-<last:020d>.parquet

Order inside :func:`commit_batch`: every file is written to a hidden temp file
in its final directory and fsynced; then the files of the other tables are
renamed into place and their directories fsynced; the ``windows`` files go
last. So a reader that starts from ``windows`` rows never sees a window whose
feature rows are missing. Each file's key-value metadata lists the whole
batch (``edgedrift.files``), which lets recovery tell a complete batch from a
torn one. A final file that already exists is skipped: a replay produces the
same name for the same offsets, never another one.

>>> batch_name("edgedrift.windows", 3, 0, 999)
'edgedrift.windows-3-00000000000000000000-00000000000000000999.parquet'
>>> parse_name(batch_name("t.x-y", 3, 5, 9))
('t.x-y', 3, 5, 9)
>>> parse_name("notes.txt") is None
True
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from . import schema
from .faults import fault_point
from .storage import _HOST, TMP_SUFFIX, Storage, open_storage
from .storage import ensure_dir as ensure_dir  # noqa: F401 - re-exported
from .storage import fsync_dir as _fsync_dir  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(?P<topic>.+)-(?P<partition>\d+)-(?P<first>\d{20})-(?P<last>\d{20})"
                   r"\.parquet$")
META_BATCH = b"edgedrift.batch"
META_FILES = b"edgedrift.files"
META_VERSION = b"edgedrift.schema_version"
META_COMPACTED = b"edgedrift.compacted"    # a compacted file: the batch file names it holds
COMPACTED_PREFIX = "compacted-"
Root = Path | str | Storage        # a dataset location (see collector.storage.open_storage)

# Dictionary-encode only the repetitive strings (bins and counters compress fine without it
# and encode ~1.6x faster); keep statistics where readers filter (row-group pruning).
_DICTIONARY = ("device_id", "version", "ingest_id", "feature", "layout", "category", "predicted",
               "actual", "label_task", "model_hash", "spec_id", "sdk", "tags")
_STATISTICS = ("device_id", "seq", "window_start", "window_end", "ingest_id", "feature", "kind")

Tables = dict[tuple[str, str], dict[str, pa.Table]]   # (model, date) -> table name -> rows


def batch_name(topic: str, partition: int, first: int, last: int) -> str:
    """File name shared by every file of one batch."""
    return f"{topic}-{partition}-{first:020d}-{last:020d}.parquet"


def parse_name(name: str) -> tuple[str, int, int, int] | None:
    """``(topic, partition, first, last)`` of a batch file name, or None."""
    m = _NAME.match(name)
    if m is None:
        return None
    return m["topic"], int(m["partition"]), int(m["first"]), int(m["last"])


def rel_path(table: str, model: str, date: str, name: str) -> str:
    return f"{table}/model={model}/date={date}/{name}"




# Below this many rows a table asked to use zstd is written with lz4: zstd's start-up per
# column chunk (~40 us, 86 chunks in a features file) is most of a small file's write time
# (a 30-window group: 5.8 ms of Parquet with zstd, 2.3 ms with lz4, files 14% larger), while
# large files keep zstd's ~30% smaller size. Row counts depend on the batch only, so a
# replay still writes the same bytes.
SMALL_TABLE_ROWS = 16_384


def write_options(columns: Iterable[str], compression: str = "zstd",
                  rows: int | None = None) -> dict[str, Any]:
    """Keyword arguments of ``pyarrow.parquet.write_table`` for a table with these columns
    (and ``rows`` rows, if known): the sink's encodings, for anything else that writes the
    dataset (benchmarks, compaction). Bin columns stay PLAIN: BYTE_STREAM_SPLIT made them
    ~15% smaller but DuckDB's merge of 1,000,000 windows ~20% slower (5.7 s -> 6.8 s), and
    reads outnumber writes.

    >>> sorted(write_options(["feature", "b00"]))
    ['compression', 'use_dictionary', 'write_statistics']
    >>> [write_options(["n"], "zstd", rows)["compression"] for rows in (100, None)]
    ['lz4', 'zstd']
    """
    names = set(columns)
    if compression == "zstd" and rows is not None and rows < SMALL_TABLE_ROWS:
        compression = "lz4"
    return {"compression": None if compression == "none" else compression,
            "use_dictionary": [c for c in _DICTIONARY if c in names],
            "write_statistics": [c for c in _STATISTICS if c in names]}



def run_parallel(fn: Callable[[Any], None], items: Iterable[Any],
                 pool: ThreadPoolExecutor | None = None) -> None:
    """``fn(item)`` for every item, on threads (for I/O and GIL-free work); raises the first
    error once all are done. ``pool``: reuse its threads (starting three threads costs ~0.2 ms
    here, a good part of a small group commit); else threads are started for this call.

    >>> seen = []
    >>> run_parallel(seen.append, [1, 2, 3]); sorted(seen)
    [1, 2, 3]
    """
    items = list(items)
    errors: list[BaseException] = []

    def call(item: Any) -> None:
        try:
            fn(item)
        except BaseException as exc:   # noqa: BLE001 - re-raised below, in this thread
            errors.append(exc)

    waits: list[Callable[[], Any]]
    if pool is not None:
        waits = [pool.submit(call, item).result for item in items[1:]]   # call never raises
    else:
        threads = [threading.Thread(target=call, args=(item,), name="edgedrift-commit",
                                    daemon=True) for item in items[1:]]
        for t in threads:
            t.start()
        waits = [t.join for t in threads]
    try:
        if items:
            call(items[0])
    finally:
        for wait_for in waits:     # even when interrupted: no call outlives this one
            wait_for()
    if errors:
        raise errors[0]


def commit_batch(root: Root, name: str, tables: Tables, compression: str = "zstd",
                 replay: bool = False, compacted: dict[str, set[str]] | None = None,
                 pool: ThreadPoolExecutor | None = None) -> list[str]:
    """Make one batch durable under ``root``; return the relative paths of the files this
    call wrote (a replay skips the ones already there).

    ``replay``: the batch is known on disk already (a replay after a crash): its files held
    by compacted files count as existing too (they are not written again). ``compacted``:
    a cache of :func:`compacted_in` per directory kept by the caller across batches (a
    name missing from it is looked up afresh: a compaction may have run since). ``pool``:
    the caller's threads for the parallel writes and fsyncs (see :func:`run_parallel`).

    On object storage the "temp file" is an encoded buffer and the "rename" its upload
    (:mod:`collector.storage`): the same order, other tables before ``windows``.

    Fault points (``EDGEDRIFT_FAULT=sink:<point>:N``): ``after_temp_write``,
    ``after_rename`` (after the first rename: a torn batch), ``after_renames``.
    """
    st = open_storage(root)
    files = sorted(((rel_path(t, model, date, name), table)
                    for (model, date), per_table in tables.items()
                    for t, table in per_table.items()),
                   key=lambda item: (item[0].startswith("windows/"), item[0]))
    if not files:
        return []
    listing = [rel for rel, _ in files]
    metadata = {META_VERSION: str(schema.SCHEMA_VERSION).encode(), META_BATCH: name.encode(),
                META_FILES: json.dumps(sorted(listing)).encode()}
    jobs: list[tuple[pa.Table, str]] = []
    if compacted is None:
        compacted = {}
    for rel, table in files:
        # (on object storage only a replay looks: a HEAD per file costs more than the
        # rename it saves locally, and rewriting a batch's deterministic file is harmless)
        if (replay or not st.remote) and st.exists(rel):
            continue
        ddir, fname = rel.rsplit("/", 1)
        if replay:
            if fname not in compacted.get(ddir, ()):
                compacted[ddir] = compacted_in(st, ddir)
            if fname in compacted[ddir]:
                continue
        st.ensure_dir(ddir)
        jobs.append((table, rel))
    # the files are encoded and fsynced in parallel (both release the GIL): about half the
    # time of one after another, which is the embedded gateway's acknowledgement latency
    written: list[Any] = [None] * len(jobs)

    def write(i: int) -> None:
        table, rel = jobs[i]
        table = table.replace_schema_metadata(metadata)
        written[i] = st.stage_parquet(rel, table, write_options(table.column_names, compression,
                                                                table.num_rows))

    pending: list[tuple[Any, str]] = []
    try:
        try:
            run_parallel(write, range(len(jobs)), pool)
        finally:
            pending = [(staged, rel) for staged, (_, rel) in zip(written, jobs, strict=True)
                       if staged is not None]
        fault_point("sink", "after_temp_write")
        if st.remote:      # uploads in parallel: first the other tables, then windows
            others = [p for p in pending if not p[1].startswith("windows/")]
            wins = [p for p in pending if p[1].startswith("windows/")]
            published: list[str] = []

            def upload(item: tuple[Any, str]) -> None:
                st.publish(*item)
                published.append(item[1])
                if len(published) == 1:
                    fault_point("sink", "after_rename")

            run_parallel(upload, others, pool)
            run_parallel(upload, wins, pool)
        else:
            _rename_all(st, pending, pool)
    except BaseException:
        for staged, _ in pending:
            try:
                st.discard(staged)
            except FileNotFoundError:
                pass
        raise
    fault_point("sink", "after_renames")
    return [rel for _, rel in pending]


def _rename_all(st: Storage, pending: list[tuple[Any, str]],
                pool: ThreadPoolExecutor | None) -> None:
    """Rename the temp files into place, the other tables' directories fsynced before the
    first ``windows`` file is renamed, then the rest."""
    renamed_dirs: set[str] = set()
    first_windows = True
    for i, (staged, rel) in enumerate(pending):
        if first_windows and rel.startswith("windows/"):
            run_parallel(lambda d: st.sync_dirs({d}), renamed_dirs, pool)
            renamed_dirs.clear()
            first_windows = False
        st.publish(staged, rel)
        renamed_dirs.add(rel.rsplit("/", 1)[0])
        if i == 0:
            fault_point("sink", "after_rename")
    run_parallel(lambda d: st.sync_dirs({d}), renamed_dirs, pool)


# -- looking at what is already there ------------------------------------------------
def partition_rels(root: Root, tables: Iterable[str] = schema.TABLES) -> Iterator[str]:
    """Every ``<table>/model=<m>/date=<d>`` directory under ``root`` (relative, name order)."""
    st = open_storage(root)
    for table in tables:
        for mname in st.list_subdirs(table):
            if not mname.startswith("model="):
                continue
            for dname in st.list_subdirs(f"{table}/{mname}"):
                if dname.startswith("date="):
                    yield f"{table}/{mname}/{dname}"


def partition_dirs(root: Root, tables: Iterable[str] = schema.TABLES
                   ) -> Iterator[Path | PurePosixPath]:
    """Every ``<table>/model=<m>/date=<d>`` directory under ``root`` (in name order)."""
    st = open_storage(root)
    for rel in partition_rels(st, tables):
        yield st.path(rel)


def iter_batch_files(root: Root, topic: str | None = None
                     ) -> Iterator[tuple[Path | PurePosixPath, tuple]]:
    """Every ``(path, (topic, partition, first, last))`` under ``root`` (optionally one topic)."""
    st = open_storage(root)
    for ddir in partition_rels(st):
        for entry in st.list_dir(ddir):
            parsed = parse_name(entry.name)
            if parsed is not None and (topic is None or parsed[0] == topic):
                yield st.path(f"{ddir}/{entry.name}"), parsed


def compacted_names(ddir: Path) -> set[str]:
    """The batch file names that compacted files in local directory ``ddir`` hold (see
    :mod:`collector.compaction`): those batches are on disk as much as their own files."""
    return compacted_in(open_storage(ddir), "")


def compacted_in(st: Storage, ddir: str) -> set[str]:
    """The batch file names that compacted files in directory ``ddir`` of ``st`` hold."""
    names: set[str] = set()
    for data in compacted_lists(st, ddir).values():
        names.update(decode_batch_list(data))
    return names


# A compacted file never changes (its name is the hash of what it holds): its batch list is
# read once per process. Key: (storage root, relative path, size).
_LISTS: dict[tuple[str, str, int], bytes] = {}
_LISTS_MAX = 65_536


def compacted_lists(st: Storage, ddir: str, entries: list | None = None) -> dict[str, bytes]:
    """{compacted file name: its encoded batch list} of directory ``ddir`` (``entries``: its
    listing, if the caller has one)."""
    out: dict[str, bytes] = {}
    for entry in st.list_dir(ddir) if entries is None else entries:
        if not (entry.name.startswith(COMPACTED_PREFIX) and entry.name.endswith(".parquet")):
            continue
        rel = f"{ddir}/{entry.name}" if ddir else entry.name
        key = (st.root, rel, entry.size)
        data = _LISTS.get(key)
        if data is None:
            try:
                meta = st.read_schema(rel).metadata or {}
            except FileNotFoundError:
                continue
            data = meta.get(META_COMPACTED, b"[]")
            if len(_LISTS) >= _LISTS_MAX:
                _LISTS.clear()
            _LISTS[key] = data
        out[entry.name] = data
    return out


def encode_batch_list(names: Iterable[str]) -> bytes:
    """The batch file names a compacted file holds, as runs of contiguous offsets: a day of
    150,000 one-window batches is a few bytes instead of 11 MB (DuckDB parses a file's
    key-value metadata on every query: ~30 ms for 11 MB).

    >>> names = [batch_name("t", 0, 0, 4), batch_name("t", 0, 5, 9), batch_name("t", 1, 7, 7)]
    >>> encode_batch_list(names)
    b'{"v":2,"runs":[["t",0,0,[[5,2]]],["t",1,7,[[1,1]]]]}'
    >>> sorted(decode_batch_list(encode_batch_list(names))) == sorted(names)
    True
    """
    runs: list[list[Any]] = []
    end = None
    for topic, partition, first, last in sorted(filter(None, map(parse_name, names))):
        size = last - first + 1
        if runs and (runs[-1][0], runs[-1][1], end) == (topic, partition, first):
            sizes = runs[-1][3]
            if sizes[-1][0] == size:
                sizes[-1][1] += 1
            else:
                sizes.append([size, 1])
        else:
            runs.append([topic, partition, first, [[size, 1]]])
        end = last + 1
    return json.dumps({"v": 2, "runs": runs}, separators=(",", ":")).encode()


def decode_batch_list(data: bytes) -> set[str]:
    """Inverse of :func:`encode_batch_list` (also reads the plain list of names)."""
    obj = json.loads(data)
    if isinstance(obj, list):
        return set(obj)
    names = set()
    for topic, partition, first, sizes in obj["runs"]:
        for size, count in sizes:
            for _ in range(count):
                names.add(batch_name(topic, partition, first, first + size - 1))
                first += size
    return names


def iter_compacted_batches(root: Root, topic: str | None = None) -> Iterator[tuple]:
    """``(topic, partition, first, last)`` of every batch held by a compacted file. Only the
    ``windows`` table is read: every batch with rows has rows there, and its other tables'
    files are compacted in the same run or are still batch files (found by review: reading
    all tables tripled the start-up time of a sink over a long history)."""
    st = open_storage(root)
    for ddir in partition_rels(st, ("windows",)):
        for name in compacted_in(st, ddir):
            parsed = parse_name(name)
            if parsed is not None and (topic is None or parsed[0] == topic):
                yield parsed


def compacted_max_last(root: Root, topic: str) -> int:
    """The highest last offset of ``topic``'s batches held by compacted files (-1 if none),
    from the offset runs, without listing every batch.

    >>> import tempfile
    >>> compacted_max_last(Path(tempfile.mkdtemp()), "t")
    -1
    """
    st = open_storage(root)
    top = -1
    for ddir in partition_rels(st, ("windows",)):
        for data in compacted_lists(st, ddir).values():
            obj = json.loads(data)
            if isinstance(obj, list):              # a plain list of names
                tops = [p[3] for p in map(parse_name, obj) if p is not None and p[0] == topic]
            else:
                tops = [first + sum(size * count for size, count in sizes) - 1
                        for run_topic, _, first, sizes in obj["runs"] if run_topic == topic]
            top = max([top, *tops])
    return top


def known_batches(root: Root, topic: str) -> dict[int, dict[int, int]]:
    """{partition: {first offset: last offset}} of the batches already on disk (in their own
    files or in compacted ones)."""
    st = open_storage(root)
    out: dict[int, dict[int, int]] = {}
    for _, (_, partition, first, last) in iter_batch_files(st, topic):
        out.setdefault(partition, {})[first] = last
    for _, partition, first, last in iter_compacted_batches(st, topic):
        out.setdefault(partition, {})[first] = last
    return out


def batch_is_complete(root: Root, path: str | os.PathLike[str],
                      compacted: dict[str, set[str]] | None = None) -> bool:
    """Whether every file listed in ``path``'s metadata exists (or is held by a compacted
    file of its directory). ``compacted``: a cache of :func:`compacted_in` per directory,
    for callers that check many batches."""
    st = open_storage(root)
    meta = st.read_schema(st.rel(path)).metadata or {}
    listing = json.loads(meta.get(META_FILES, b"[]"))
    if compacted is None:
        compacted = {}
    for rel in listing:
        if st.exists(rel):
            continue
        ddir, name = rel.rsplit("/", 1)
        if ddir not in compacted:
            compacted[ddir] = compacted_in(st, ddir)
        if name not in compacted[ddir]:
            return False
    return True


def remove_batch(root: Root, name: str) -> list[Path | PurePosixPath]:
    """Delete every file of batch ``name`` (a torn batch that was never acknowledged)."""
    st = open_storage(root)
    removed = []
    for path, _ in list(iter_batch_files(st)):
        if path.name == name:
            rel = st.rel(path)
            st.delete(rel)
            removed.append(path)
            st.sync_dirs({rel.rsplit("/", 1)[0]})
    return removed


def _writer_is_dead(name: str) -> bool:
    """Whether a temp file was left by a process of this host that no longer runs."""
    tag = name[:-len(TMP_SUFFIX)].rsplit(".", 1)[-1]     # <host>-<pid>-<random>
    host, _, pid = tag.rpartition("-")[0].rpartition("-")
    if host != _HOST or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def clean_temp(root: Root, max_age_s: float, prefix: str | None = None) -> int:
    """Remove leftover temp files: left by a dead process of this host, older than
    ``max_age_s`` (other hosts sharing the storage), or any starting with ``.prefix``.
    (Object storage has no temp files: an interrupted upload is never visible.)"""
    removed = 0
    now = time.time()
    st = open_storage(root)
    if st.remote:
        return 0
    root = Path(st.root)
    if not root.is_dir():
        return 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            if not n.endswith(TMP_SUFFIX) or not n.startswith("."):
                continue
            p = Path(dirpath) / n
            try:
                if (prefix is not None and n.startswith("." + prefix)) or _writer_is_dead(n) \
                        or now - p.stat().st_mtime > max_age_s:
                    p.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
    return removed
