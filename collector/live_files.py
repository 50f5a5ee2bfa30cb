"""The files a reader reads: every file of a table once, whatever compaction is doing.

A compacted file's key-value metadata lists the batch files it holds
(:mod:`collector.compaction`); between its appearance and the deletion of those batch
files, both are in the directory. Readers therefore never scan a glob: they read the list
:func:`live_files` returns, in which a batch file held by a compacted file of its directory
is left out. That is the whole coordination between compaction and readers - no lock, so
it works the same on object storage:

* a batch file and the compacted file holding it are never both listed (no double count);
* a directory is listed twice in a row and the two listings are united: a listing is not a
  snapshot (``scandir``, paginated LIST), and one could miss a compacted file that
  appeared behind its cursor and a batch file deleted ahead of it; the second listing then
  has the compacted file, which appeared before the first listing ended (no row lost);
* a listed batch file that is deleted before the query opens it makes the query fail with
  a missing file; :func:`is_vanished_file` recognises that error and the reader lists again
  (the new listing has the compacted file instead).

>>> import tempfile
>>> live_files(tempfile.mkdtemp(), "windows")
[]
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.dataset as pads

from .parquet_files import COMPACTED_PREFIX, compacted_lists, decode_batch_list, partition_rels
from .schema import SCHEMAS
from .storage import Storage, open_storage

__all__ = ["has_files", "live_files", "live_in_dir", "is_vanished_file"]

_DECODED: dict[bytes, frozenset[str]] = {}


def _held(data: bytes) -> frozenset[str]:
    names = _DECODED.get(data)
    if names is None:
        if len(_DECODED) > 4096:
            _DECODED.clear()
        names = _DECODED[data] = frozenset(decode_batch_list(data))
    return names


def live_in_dir(st: Storage, ddir: str) -> list[str]:
    """The names of the files of directory ``ddir`` that readers read (see the module doc).

    >>> import tempfile
    >>> from collector.storage import LocalStorage
    >>> st = LocalStorage(tempfile.mkdtemp()); st.put_bytes("d/a.parquet", b"")
    >>> live_in_dir(st, "d")
    ['a.parquet']
    """
    names: set[str] = set()
    for _ in range(2):
        names.update(n for n in st.list_names(ddir)
                     if n.endswith(".parquet") and not n.startswith("."))
    held: set[str] = set()
    compacted = [e for e in (st.entry(f"{ddir}/{n}") for n in sorted(names)
                             if n.startswith(COMPACTED_PREFIX)) if e is not None]
    if compacted:
        for data in compacted_lists(st, ddir, compacted).values():
            held.update(_held(data))
    return sorted(n for n in names if n not in held)


def live_files(root: str | os.PathLike[str] | Storage, table: str,
               dates: tuple[str, str] | None = None,
               models: Iterable[str] = ()) -> list[str]:
    """File-system paths (in :attr:`Storage.fs`; local: absolute paths) of the files of
    ``table`` that readers read, optionally only dates in ``dates`` (inclusive ISO days) and
    the given models."""
    st = open_storage(root)
    wanted = {f"model={m}" for m in models}
    out: list[str] = []
    for ddir in partition_rels(st, (table,)):
        _, mdir, dname = ddir.split("/")
        if wanted and mdir not in wanted:
            continue
        if dates is not None and not dates[0] <= dname[len("date="):] <= dates[1]:
            continue
        prefix = st.fs_path(ddir)       # (joined as strings: a Path a file cost ~3 us)
        out.extend(f"{prefix}/{name}" for name in live_in_dir(st, ddir))
    return out


def has_files(root: str | os.PathLike[str] | Storage, table: str) -> bool:
    """Whether ``table`` has any Parquet file (a cheap check: stops at the first).

    >>> import tempfile
    >>> has_files(tempfile.mkdtemp(), "windows")
    False
    """
    st = open_storage(root)
    return any(any(n.endswith(".parquet") and not n.startswith(".") for n in st.list_names(d))
               for d in partition_rels(st, (table,)))


def is_vanished_file(exc: BaseException) -> bool:
    """Whether a reader's error is a listed file that no longer exists (list again).

    >>> is_vanished_file(FileNotFoundError("x")), is_vanished_file(ValueError("x"))
    (True, False)
    """
    if isinstance(exc, FileNotFoundError):
        return True
    text = str(exc)
    return any(s in text for s in ("No such file", "No files found", "does not exist",
                                   "NoSuchKey", "Path does not exist", "not found"))


def arrow_dataset(storage: Storage, table: str, files: list[str]) -> pads.Dataset:
    """The live ``files`` of ``table`` as a pyarrow dataset (hive partitions ``model`` and
    ``date`` as columns), for DuckDB to scan where its own ``read_parquet`` cannot reach the
    files (object storage without the httpfs extension)."""
    part = pads.partitioning(pa.schema([("model", pa.string()), ("date", pa.date32())]),
                             flavor="hive")
    sch = SCHEMAS[table]
    for name, typ in (("model", pa.string()), ("date", pa.date32())):
        if name not in sch.names:
            sch = sch.append(pa.field(name, typ))
    return pads.dataset(files, schema=sch, format=pads.ParquetFileFormat(),
                        filesystem=storage.fs, partitioning=part,
                        partition_base_dir=storage.fs_path(table))

