"""The sink's written-window state on disk: snapshots, and the rebuild from Parquet.

The state of one (topic, partition) after offset ``n - 1`` is a
:class:`~collector.seq_guard.SeqGuard` holding every ``(device, model, seq)`` of the
``windows`` rows of its batches below ``n``, added in offset order. Those rows *are* the
commit: a batch's ``windows`` files are renamed last (:mod:`collector.parquet_files`), so
the state is never ahead of or behind the files, and needs no commit of its own. A
snapshot only saves re-reading old files::

    <dataset>/_state/seq/<topic>-<partition>-<n:020d>.seqs     (msgpack, SeqGuard.to_bytes)

To resume at offset ``c`` (the committed Kafka offset; the embedded sink's next offset)
:func:`load_state` takes the newest snapshot ``n <= c`` and adds the rows of the batches
that start in ``n .. c - 1`` (also those held by compacted files). A snapshot is written
only for an offset every batch below which is durable and acknowledged (after the Kafka
commit; after the embedded write), atomically (temp, fsync, rename, directory fsync); the
newest :data:`KEEP` per partition are kept. A missing or unreadable snapshot only costs
time: the rows are read from the start.

>>> import tempfile
>>> from collector.seq_guard import SeqGuard, WRITTEN
>>> root = Path(tempfile.mkdtemp())
>>> g = SeqGuard(); g.add("dev-1", "kws", 7)
>>> save_snapshot(root, "t", 0, 100, g).name
't-0-00000000000000000100.seqs'
>>> loaded, start = load_state(root, "t", 0, 250)
>>> start, loaded.check("dev-1", "kws", 7) == WRITTEN
(250, True)
"""

from __future__ import annotations

import logging
import re
import time
from bisect import bisect_right
from pathlib import Path, PurePosixPath

import pyarrow as pa

from .parquet_files import COMPACTED_PREFIX, Root, compacted_in, parse_name, partition_rels
from .seq_guard import SeqGuard
from .storage import Storage, open_storage

log = logging.getLogger(__name__)

STATE_DIR = ("_state", "seq")
KEEP = 3
_MAX = 2**64
_SNAP = re.compile(r"^(?P<topic>.+)-(?P<partition>\d+)-(?P<offset>\d{20})\.seqs$")


def state_dir(root: Root) -> Path | PurePosixPath:
    return open_storage(root).path(_STATE)


_STATE = "/".join(STATE_DIR)


def _snapshots(st: Storage, topic: str, partition: int) -> list[tuple[int, str]]:
    """``(offset, relative path)`` of the partition's snapshots, oldest first."""
    out = []
    for entry in st.list_dir(_STATE):
        m = _SNAP.match(entry.name)
        if m and m["topic"] == topic and int(m["partition"]) == partition:
            out.append((int(m["offset"]), f"{_STATE}/{entry.name}"))
    return sorted(out)


def save_snapshot(root: Root, topic: str, partition: int, offset: int,
                  guard: SeqGuard) -> Path | PurePosixPath:
    """Write the state after offset ``offset - 1`` atomically; keep the newest :data:`KEEP`."""
    st = open_storage(root)
    rel = f"{_STATE}/{topic}-{partition}-{offset:020d}.seqs"
    st.put_bytes(rel, guard.to_bytes())
    for _, old in _snapshots(st, topic, partition)[:-KEEP]:
        st.delete(old)
    return st.path(rel)


def load_state(root: Root, topic: str, partition: int, upto: int,
               max_gaps: int = 32) -> tuple[SeqGuard, int]:
    """The state before offset ``upto``: the newest readable snapshot at or below it plus
    the ``windows`` rows of the batches starting between the two. Returns ``(guard, upto)``.
    """
    st = open_storage(root)
    started = time.monotonic()
    guard, base = SeqGuard(max_gaps), 0
    for offset, rel in reversed(_snapshots(st, topic, partition)):
        if offset > upto:
            continue
        try:
            guard, base = SeqGuard.from_bytes(st.read_bytes(rel)), offset
            break
        except (OSError, ValueError) as exc:
            log.warning("seq state: ignoring unreadable snapshot %s (%s); reading older "
                        "rows instead", rel, exc)
    if guard.max_gaps != max_gaps:
        guard.max_gaps = max_gaps     # takes effect as holes are added
    rows = _rows_between(st, topic, partition, base, upto)
    for _, device, model, seq in rows:
        guard.add(device, model, seq)
    log.info("seq state %s/%d at %d: snapshot %d + %d rows, %d pairs (%.2f s)", topic,
             partition, upto, base, len(rows), len(guard), time.monotonic() - started)
    return guard, upto


def _rows_between(st: Storage, topic: str, partition: int, start: int,
                  end: int) -> list[tuple[int, str, str, int]]:
    """``(offset, device, model, seq)`` of the ``windows`` rows of batches of (topic,
    partition) that start in ``start .. end - 1``, in offset order. A file that vanished
    while being read (a compaction merged it) makes the listing start again."""
    for attempt in range(5):
        try:
            return _read_rows(st, topic, partition, start, end)
        except FileNotFoundError:
            if attempt == 4:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def _read_rows(st: Storage, topic: str, partition: int, start: int,
               end: int) -> list[tuple[int, str, str, int]]:
    if end <= start:
        return []
    prefix = f"{topic}/{partition}/"
    # (model, file, None for a batch file | the (first, last) of the wanted batches it holds)
    files: list[tuple[str, str, list[tuple[int, int]] | None]] = []
    for ddir in partition_rels(st, ("windows",)):
        model = ddir.split("/")[1][len("model="):]
        compacted = []
        for entry in st.list_dir(ddir):
            if entry.name.startswith(COMPACTED_PREFIX):
                compacted.append(f"{ddir}/{entry.name}")
                continue
            parsed = parse_name(entry.name)
            if parsed and parsed[:2] == (topic, partition) and start <= parsed[2] < end:
                files.append((model, f"{ddir}/{entry.name}", None))
        if compacted:
            ranges = sorted((p[2], p[3]) for p in map(parse_name, compacted_in(st, ddir))
                            if p and p[:2] == (topic, partition) and start <= p[2] < end)
            if ranges:
                files.extend((model, rel, ranges) for rel in sorted(compacted))
    rows: list[tuple[int, str, str, int]] = []
    for model, rel, held in files:
        table = st.read_table(rel, columns=["device_id", "seq", "ingest_id"])
        rows.extend(_offsets(table, model, prefix, held))
    rows.sort(key=lambda r: r[0])
    return rows


def _offsets(table: pa.Table, model: str, prefix: str,
             held: list[tuple[int, int]] | None) -> list[tuple[int, str, str, int]]:
    """The rows of one file; of a compacted file (``held``: batch ranges), only those of
    the partition's wanted batches."""
    out = []
    for device, seq, ingest_id in zip(table.column("device_id").to_pylist(),
                                      table.column("seq").to_pylist(),
                                      table.column("ingest_id").to_pylist(), strict=True):
        if held is not None and not ingest_id.startswith(prefix):
            continue
        offset = int(ingest_id.rsplit("/", 1)[1])
        if held is not None:
            i = bisect_right(held, (offset, _MAX)) - 1
            if i < 0 or offset > held[i][1]:
                continue
        out.append((offset, device, model, seq))
    return out
