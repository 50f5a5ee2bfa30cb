"""The Parquet sink: records of one topic in, deterministic batch files out.

Contract (quix-streams style): :meth:`ParquetSink.add` takes one record of one
partition and buffers it into that partition's open batch; :meth:`ParquetSink.flush`
makes a partition's batch durable (see :mod:`collector.parquet_files`) and
returns the offset to commit. Whoever drives the sink commits in this order::

    1. flush the sink         (temp write, fsync, rename, directory fsync)
    2. flush the DLQ producer (dead letters of the batch acknowledged)
    3. commit offsets         (last offset of the batch + 1)

A crash anywhere before 3 replays the batch from the last commit; the replay
writes the same names and skips files that already exist.

Batch boundaries depend on the records only: a batch ends before an offset
that is a multiple of ``offsets_per_file``, before a record whose receive
time falls in a later ``roll_ms`` bucket, and at the last offset of a batch
already on disk (a boundary chosen earlier, e.g. by an idle flush, is kept on
replay). A record that cannot be decoded goes to ``on_dead_letter`` with the
reason and takes no rows.

>>> import tempfile
>>> from collector.sink_config import SinkConfig
>>> from collector.records import IngestRecord
>>> from collector.fake_windows import make_window_body
>>> root = tempfile.mkdtemp()
>>> sink = ParquetSink(SinkConfig(dataset=root, offsets_per_file=100), topic="t")
>>> sink.open_partition(0)
>>> rec = IngestRecord("dev-1", make_window_body("dev-1", 1, records=10), 1, 1_764_000_000_000)
>>> sink.add(0, 0, record=rec)
[]
>>> sink.flush(0)
1
>>> sorted(p.parts[-4] for p, _ in iter_batch_files(root))
['categories', 'category_sums', 'feature_sums', 'features', 'windows']
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from edge_sdk.errors import WireError
from edgedrift.faults import fault_point

from .columns import Split, unpack_split
from .errors import RecordError
from .parquet_files import batch_name, clean_temp, commit_batch, iter_batch_files, known_batches
from .records import IngestRecord
from .row_builder import OnInvalid, RowBuilder, warm_up
from .seq_guard import UNTRACKED, WRITTEN, SeqGuard
from .seq_state import load_state, save_snapshot
from .sink_config import SinkConfig
from .storage import open_storage

log = logging.getLogger(__name__)

__all__ = ["ParquetSink", "DeadLetter", "unpack_record", "gc_paused", "iter_batch_files"]


Identity = tuple[str, str, int]      # (device, model, seq)


Body = bytes | memoryview


class RecentBodies:
    """The bodies of the last ``capacity`` windows written, by identity (bounded: the oldest
    goes first; a body is a reference to bytes the sink holds anyway, ~4 KB a window), to
    tell a conflicting body from a redelivery by comparing bytes. Nothing is computed for a
    window that is never redelivered (a CRC of every body cost ~1.5 us a window).

    >>> c = RecentBodies(2)
    >>> for seq in (1, 2, 3):
    ...     c.put(("d", "m", seq), b"body-%d" % seq)
    >>> c.get(("d", "m", 1)), c.get(("d", "m", 3))
    (None, b'body-3')
    """

    def __init__(self, capacity: int = 4_096) -> None:
        self.capacity = capacity
        self._bodies: OrderedDict[Identity, Body] = OrderedDict()

    def get(self, ident: Identity) -> Body | None:
        return self._bodies.get(ident)

    def put(self, ident: Identity, body: Body) -> None:
        bodies = self._bodies
        bodies[ident] = body
        bodies.move_to_end(ident)
        if len(bodies) > self.capacity:
            bodies.popitem(last=False)


@dataclass(frozen=True)
class DeadLetter:
    """A record the sink could not decode, with the reason."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    reason: str


def unpack_record(key: bytes | None, value: bytes, record: IngestRecord | None = None
                  ) -> tuple[IngestRecord, Any, Split | None]:
    """Ingest record, its msgpack-decoded window (schema checks are the RowBuilder's) and the
    window's sketches and labels if the C path packed them apart (:func:`unpack_split`);
    raises WireError (-> dead letter)."""
    if record is None:
        record = IngestRecord.from_kafka(key, value)
    if record.decoded is not None:      # handed over in-process, already validated
        return record, record.decoded, None
    return (record, *unpack_split(record.window))


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building a batch (it would rescan millions of young objects)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Batch:
    __slots__ = ("first", "last", "builder", "bucket", "forced_last", "touched", "created",
                 "pending", "invalid")

    def __init__(self, first: int, forced_last: int | None, config: SinkConfig) -> None:
        self.first = self.last = first
        # + the sketch sums the roll-ups read
        self.builder = RowBuilder(sums=config.sketch_sums, sums_grain_s=config.sums_grain_s)
        self.bucket = -1
        self.forced_last = forced_last
        self.touched = self.created = time.monotonic()
        self.pending: dict[Identity, tuple[int, Body]] = {}   # -> (offset, body)
        self.invalid: set[int] = set()     # offsets the RowBuilder refused (dead letters)


class ParquetSink:
    """Buffers records per partition and writes each batch with the commit protocol."""

    def __init__(self, config: SinkConfig, topic: str,
                 on_dead_letter: Callable[[DeadLetter], None] | None = None) -> None:
        self.config = config
        self.topic = topic
        self.storage = open_storage(config.dataset)
        self.root = self.storage.path("")
        self.on_dead_letter = on_dead_letter
        self._batches: dict[int, _Batch] = {}
        self._known: dict[int, dict[int, int]] = {}
        self._known_end: dict[int, int] = {}        # highest known last offset per partition
        self._compacted: dict[str, set[str]] = {}   # batches held by compacted files, per dir
        self._pool: ThreadPoolExecutor | None = None  # commit threads, started at first use
        self._guards: dict[int, SeqGuard] = {}      # written windows per partition
        self._snapshot_at: dict[int, float] = {}    # monotonic time of the last snapshot
        self._bodies = RecentBodies()                # to tell a conflict from a redelivery
        self.windows_written = 0
        self.files_written = 0
        self.dead_letters = 0
        self.duplicates = 0        # redeliveries of a written window, not written again
        self.conflicts = 0         # of those, with other bytes than the written one
        self.untracked = 0         # written although older than the state remembers

    # -- partitions -------------------------------------------------------------------
    def open_partition(self, partition: int, learn_known: bool = True) -> None:
        """Start (or restart) a partition: learn the batches already on disk."""
        self.open_partitions([partition], learn_known)

    def open_partitions(self, partitions: list[int], learn_known: bool = True,
                        starts: dict[int, int] | None = None) -> None:
        """Start (or restart) partitions with one scan of the dataset. ``learn_known=False``:
        the caller only adds offsets after every batch on disk (the embedded sink), so the
        batches on disk need not be learnt (a long history is millions of them).

        ``starts``: the offset each partition will be read from (the committed offset); the
        written-window state is loaded as it was before it (:func:`load_state`). Without
        it, after every batch known on disk."""
        self.storage.ensure_dir("")
        warm_up()      # pyarrow's one-time lazy imports (~0.3 s) at start, not in the first batch
        clean_temp(self.storage, self.config.tmp_max_age_s)
        known = known_batches(self.storage, self.topic) if learn_known else {}
        for partition in partitions:
            self._batches.pop(partition, None)
            self._known[partition] = known.get(partition, {})
            self._known_end[partition] = max(self._known[partition].values(), default=-1)
            start = (starts or {}).get(partition, self._known_end[partition] + 1)
            self._guards[partition] = load_state(self.storage, self.topic, partition, start,
                                                 self.config.seq_max_gaps)[0]
            self._snapshot_at[partition] = time.monotonic()
        self._compacted.clear()

    def close_partition(self, partition: int) -> None:
        """Forget a revoked partition: the next owner replays its unflushed records."""
        self._batches.pop(partition, None)
        self._known.pop(partition, None)
        self._known_end.pop(partition, None)
        self._guards.pop(partition, None)

    def partitions(self) -> list[int]:
        return sorted(self._batches)

    # -- add / flush ------------------------------------------------------------------
    def add(self, partition: int, offset: int, key: bytes | None = None, value: bytes = b"",
            record: IngestRecord | None = None) -> list[tuple[int, int]]:
        """Buffer one record; returns ``[(partition, next offset)]`` of batches it flushed."""
        flushed: list[tuple[int, int]] = []
        batch = self._batches.get(partition)
        known = self._known.setdefault(partition, {})
        undecodable = None
        try:
            record, window, split = unpack_record(key, value, record)
            bucket = record.received_at_ms // self.config.roll_ms
        except (WireError, RecordError) as exc:
            record, window, split, bucket, undecodable = None, None, None, -1, str(exc)
        if batch is not None and (
                offset > batch.forced_last if batch.forced_last is not None
                else offset % self.config.offsets_per_file == 0 or bucket > batch.bucket >= 0
                or offset in known):      # a batch already on disk starts here
            flushed.append((partition, self.flush(partition)))   # type: ignore[arg-type]
            batch = None
        if batch is None:
            # past every known batch (the usual case): no walk over all of them
            inside = None if offset > self._known_end.get(partition, -1) else next(
                (f for f, last in known.items() if f < offset <= last), None)
            if inside is not None:     # already durable in batch [inside, last]
                return flushed         # (and its dead letters sent with it)
            batch = self._batches[partition] = _Batch(
                offset, known.get(offset), self.config)
            batch.builder.on_invalid = self._invalid_window(partition, batch)
        if undecodable is not None:
            self._dead_letter(partition, offset, key, value, record, undecodable)
        batch.last = offset
        batch.touched = time.monotonic()
        if window is not None:
            batch.bucket = max(batch.bucket, bucket)
        if record is not None and window is not None and self._first_delivery(
                partition, batch, offset, key, value, record, window):
            batch.builder.add(f"{self.topic}/{partition}/{offset}", window,
                              record.received_at_ms, record.sent_at_s,
                              record.device_id, (offset, key, value, record),
                              validated=record.decoded is not None or record.validated,
                              split=split)
        fault_point("sink", "after_buffer")
        if batch.forced_last is not None and offset >= batch.forced_last:
            flushed.append((partition, self.flush(partition)))   # type: ignore[arg-type]
        return flushed

    def _invalid_window(self, partition: int, batch: _Batch) -> OnInvalid:
        """The RowBuilder's report of a window that fails the schema: a dead letter."""
        def report(token: tuple, reason: str) -> None:
            offset, key, value, record = token
            batch.invalid.add(offset)
            self._dead_letter(partition, offset, key, value, record, reason)
        return report

    def _first_delivery(self, partition: int, batch: _Batch, offset: int, key: bytes | None,
                        value: bytes, record: IngestRecord, window: Any) -> bool:
        """Whether this record's window goes into the batch: not if ``(device, model, seq)``
        is already written (an earlier batch) or pending (this one). First write wins: a
        redelivery is counted (``duplicates``); one with another body also as a conflict,
        logged and sent to the dead letters (when the first one's bytes are still at hand:
        same batch, or among the last :class:`RecentBodies` written)."""
        if type(window) is not dict:
            return True                    # the RowBuilder refuses it and names the field
        model, seq, device = window.get("m"), window.get("sq"), record.device_id
        if type(model) is not str or type(seq) is not int:
            return True
        ident = (device, model, seq)
        pending = batch.pending
        first = pending.get(ident)
        if first is None:
            state = self._guard(partition).check(device, model, seq)
            if state != WRITTEN:
                if state == UNTRACKED:
                    self.untracked += 1
                    log.info("window %s below the tracked range: written (offset %d)",
                             ident, offset)
                pending[ident] = (offset, record.window)
                return True
            first_body = self._bodies.get(ident)
        else:
            first_body = first[1]
        self.duplicates += 1
        if first_body is not None and first_body != record.window:
            self.conflicts += 1
            reason = (f"conflict: window (d={ident[0]!r}, m={ident[1]!r}, sq={ident[2]}) "
                      "is already written with other bytes; first write wins (the SDK must "
                      "not reuse a sequence number)")
            self._dead_letter(partition, offset, key, value, record, reason)
        return False

    def _guard(self, partition: int) -> SeqGuard:
        guard = self._guards.get(partition)
        if guard is None:       # (a partition added without open_partition: nothing on disk)
            guard = self._guards[partition] = SeqGuard(self.config.seq_max_gaps)
        return guard

    def _dead_letter(self, partition: int, offset: int, key: bytes | None, value: bytes,
                     record: IngestRecord | None, reason: str) -> None:
        self.dead_letters += 1
        log.warning("dead letter %s/%d/%d: %s", self.topic, partition, offset, reason)
        if self.on_dead_letter is not None:
            if record is not None and not value:
                key, value = record.kafka_key(), record.kafka_value()
            self.on_dead_letter(DeadLetter(self.topic, partition, offset, key, value, reason))

    def flush(self, partition: int) -> int | None:
        """Write the partition's open batch; return the next offset to commit (None if none)."""
        batch = self._batches.pop(partition, None)
        if batch is None:
            return None
        name = batch_name(self.topic, partition, batch.first, batch.last)
        with gc_paused():
            tables = batch.builder.tables()    # may still find invalid windows (dead letters)
        if tables:
            if self._pool is None:     # (its idle threads end when the sink is collected)
                self._pool = ThreadPoolExecutor(8, thread_name_prefix="edgedrift-commit")
            files = commit_batch(self.storage, name, tables, self.config.compression,
                                 replay=batch.forced_last is not None,
                                 compacted=self._compacted, pool=self._pool)
            self.files_written += len(files)
            # a replay writes only the missing files: its windows count if their file was one
            if any(f.startswith("windows/") for f in files):
                self.windows_written += batch.builder.windows
            log.debug("wrote %s: %d windows, %d files", name, batch.builder.windows, len(files))
        self._known.setdefault(partition, {})[batch.first] = batch.last
        self._known_end[partition] = max(self._known_end.get(partition, -1), batch.last)
        guard = self._guard(partition)
        for ident, (offset, body) in batch.pending.items():    # in offset order, as on disk
            if offset not in batch.invalid:
                guard.add(*ident)
                self._bodies.put(ident, body)
        return batch.last + 1

    def snapshot(self, partition: int, next_offset: int, force: bool = False) -> bool:
        """Save the partition's written-window state as of ``next_offset`` if
        ``seq_snapshot_s`` passed since the last one (or ``force``). Call it only when every
        batch below ``next_offset`` is durable and nothing past it is flushed (after the
        Kafka commit; after an embedded write). Returns whether it wrote one; a failure is
        logged, not raised (a snapshot only shortens the next start-up)."""
        guard = self._guards.get(partition)
        now = time.monotonic()
        if guard is None or not (force or now - self._snapshot_at.get(partition, 0.0)
                                 >= self.config.seq_snapshot_s):
            return False
        self._snapshot_at[partition] = now
        try:
            save_snapshot(self.storage, self.topic, partition, next_offset, guard)
        except OSError as exc:
            log.warning("seq state snapshot of %s/%d at %d failed (%s); the next start reads "
                        "the rows since the previous one", self.topic, partition, next_offset,
                        exc)
            return False
        return True

    def guard(self, partition: int) -> SeqGuard | None:
        """The partition's written-window state (None before it is opened)."""
        return self._guards.get(partition)

    def idle(self, now: float | None = None) -> list[int]:
        """Partitions whose open batch was quiet for ``idle_flush_ms`` or is older than
        ``flush_after_ms`` (the caller writes them if the partition is caught up)."""
        now = time.monotonic() if now is None else now
        quiet = self.config.idle_flush_ms / 1000.0 or float("inf")
        old = self.config.flush_after_ms / 1000.0 or float("inf")
        return [p for p, b in self._batches.items()
                if now - b.touched >= quiet or now - b.created >= old]
