"""The dataset on both backends for the durability tests: a local directory, or a bucket of
the session's S3-compatible server (``tests/s3_server.py``), with readers for either.

The ``backend`` fixture itself is in tests/conftest.py (a second top-level ``conftest``
module clashes with it under ``--doctest-modules``).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from collector.live_files import live_files
from collector.schema import SCHEMAS
from collector.storage import open_storage


def all_files(location: str, table: str) -> list[str]:
    """Every Parquet file of a table (what a glob would read), in the storage's file system."""
    st = open_storage(location)
    return [st.fs_path(f"{d}/{e.name}" if d else e.name) for d, e in st.walk_files(table)
            if e.name.endswith(".parquet") and not e.name.startswith(".")]


def scan(location: str, table: str, live: bool = True) -> pa.Table:
    """The rows of a table as a reader sees them (``live``: :func:`live_files`), or of every
    file (``live=False``: a compacted file and its batch files both)."""
    st = open_storage(location)
    files = live_files(st, table) if live else all_files(location, table)
    sch = SCHEMAS[table].append(pa.field("model", pa.string())).append(
        pa.field("date", pa.date32()))
    if not files:
        return sch.empty_table()
    part = pads.partitioning(pa.schema([("model", pa.string()), ("date", pa.date32())]),
                             flavor="hive")
    return pads.dataset(files, schema=sch, filesystem=st.fs, format="parquet",
                        partitioning=part, partition_base_dir=st.fs_path(table)).to_table()


def query(location: str, table: str, sql: str, live: bool = True) -> list[tuple]:
    """``sql`` over the table's rows, which it names ``t``."""
    con = duckdb.connect()
    try:
        con.register("t", scan(location, table, live))
        return con.execute(sql).fetchall()
    finally:
        con.close()
