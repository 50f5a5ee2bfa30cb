"""Writing the roll-ups' files (analytics/rollups.py, analytics/health_rollup.py): whole or
not at all, on a local disk or an object store.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> atomic_write(pafs.LocalFileSystem(), f"{d}/x/manifest.json", b"{}")
>>> open(f"{d}/x/manifest.json").read()
'{}'
"""

from __future__ import annotations

import os
import uuid

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


def atomic_parquet(fs: pafs.FileSystem, path: str, table: pa.Table) -> None:
    """Write ``table`` as zstd Parquet at ``path`` (:func:`atomic_write`)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write(fs, path, sink.getvalue().to_pybytes())


def atomic_write(fs: pafs.FileSystem, path: str, body: bytes) -> None:
    """Write ``path`` so readers see the old or the new bytes, never a part: a temp file
    and a rename on a local disk; one PUT (atomic there) on an object store."""
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    if not isinstance(fs, pafs.LocalFileSystem):
        with fs.open_output_stream(path) as fh:
            fh.write(body)
        return
    tmp = f"{parent}/.{path.rsplit('/', 1)[1]}.{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def delete_quietly(fs: pafs.FileSystem, path: str) -> None:
    """Delete ``path`` if it is there (a rerun after a kill may find it gone)."""
    try:
        fs.delete_file(path)
    except (FileNotFoundError, OSError):
        pass
