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
import os
import re
import time
import uuid
from bisect import bisect_right
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .parquet_files import (
    COMPACTED_PREFIX,
    TMP_SUFFIX,
    _fsync_dir,
    compacted_names,
    ensure_dir,
    parse_name,
    partition_dirs,
)
from .seq_guard import SeqGuard

log = logging.getLogger(__name__)

STATE_DIR = ("_state", "seq")
KEEP = 3
_MAX = 2**64
_SNAP = re.compile(r"^(?P<topic>.+)-(?P<partition>\d+)-(?P<offset>\d{20})\.seqs$")


def state_dir(root: Path) -> Path:
    return root.joinpath(*STATE_DIR)


def _snapshots(root: Path, topic: str, partition: int) -> list[tuple[int, Path]]:
    """``(offset, path)`` of the partition's snapshots, oldest first."""
    out = []
    try:
        entries = list(os.scandir(state_dir(root)))
    except FileNotFoundError:
        return []
    for entry in entries:
        m = _SNAP.match(entry.name)
        if m and m["topic"] == topic and int(m["partition"]) == partition:
            out.append((int(m["offset"]), Path(entry.path)))
    return sorted(out)


def save_snapshot(root: Path, topic: str, partition: int, offset: int,
                  guard: SeqGuard) -> Path:
    """Write the state after offset ``offset - 1`` atomically; keep the newest :data:`KEEP`."""
    sdir = state_dir(root)
    ensure_dir(sdir)
    final = sdir / f"{topic}-{partition}-{offset:020d}.seqs"
    tmp = sdir / f".{final.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{TMP_SUFFIX}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(guard.to_bytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(sdir)
    for _, old in _snapshots(root, topic, partition)[:-KEEP]:
        old.unlink(missing_ok=True)
    return final


def load_state(root: Path, topic: str, partition: int, upto: int,
               max_gaps: int = 32) -> tuple[SeqGuard, int]:
    """The state before offset ``upto``: the newest readable snapshot at or below it plus
    the ``windows`` rows of the batches starting between the two. Returns ``(guard, upto)``.
    """
    started = time.monotonic()
    guard, base = SeqGuard(max_gaps), 0
    for offset, path in reversed(_snapshots(root, topic, partition)):
        if offset > upto:
            continue
        try:
            guard, base = SeqGuard.from_bytes(path.read_bytes()), offset
            break
        except (OSError, ValueError) as exc:
            log.warning("seq state: ignoring unreadable snapshot %s (%s); reading older "
                        "rows instead", path, exc)
    if guard.max_gaps != max_gaps:
        guard.max_gaps = max_gaps     # takes effect as holes are added
    rows = _rows_between(root, topic, partition, base, upto)
    for _, device, model, seq in rows:
        guard.add(device, model, seq)
    log.info("seq state %s/%d at %d: snapshot %d + %d rows, %d pairs (%.2f s)", topic,
             partition, upto, base, len(rows), len(guard), time.monotonic() - started)
    return guard, upto


def _rows_between(root: Path, topic: str, partition: int, start: int,
                  end: int) -> list[tuple[int, str, str, int]]:
    """``(offset, device, model, seq)`` of the ``windows`` rows of batches of (topic,
    partition) that start in ``start .. end - 1``, in offset order. A file that vanished
    while being read (a compaction merged it) makes the listing start again."""
    for attempt in range(5):
        try:
            return _read_rows(root, topic, partition, start, end)
        except FileNotFoundError:
            if attempt == 4:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def _read_rows(root: Path, topic: str, partition: int, start: int,
               end: int) -> list[tuple[int, str, str, int]]:
    if end <= start:
        return []
    prefix = f"{topic}/{partition}/"
    # (model, file, None for a batch file | the (first, last) of the wanted batches it holds)
    files: list[tuple[str, Path, list[tuple[int, int]] | None]] = []
    for ddir in partition_dirs(root, ("windows",)):
        model = ddir.parent.name[len("model="):]
        compacted = []
        for entry in os.scandir(ddir):
            if entry.name.startswith(COMPACTED_PREFIX):
                compacted.append(Path(entry.path))
                continue
            parsed = parse_name(entry.name)
            if parsed and parsed[:2] == (topic, partition) and start <= parsed[2] < end:
                files.append((model, Path(entry.path), None))
        if compacted:
            ranges = sorted((p[2], p[3]) for p in map(parse_name, compacted_names(ddir))
                            if p and p[:2] == (topic, partition) and start <= p[2] < end)
            if ranges:
                files.extend((model, path, ranges) for path in sorted(compacted))
    rows: list[tuple[int, str, str, int]] = []
    for model, path, held in files:
        table = pq.read_table(path, columns=["device_id", "seq", "ingest_id"])
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
