"""The in-process sink the gateway uses when no Kafka is configured, and its backend.

:class:`EmbeddedBackend` is the gateway's :class:`~collector.backend.Backend` then: it
group-commits, writing concurrent requests' records together by one blocking
``sink.write`` in a worker thread, and answers each request once that write is durable.

:class:`EmbeddedSink` is the same :class:`~collector.sink.ParquetSink` fed
directly: records get offsets from a persistent counter (topic ``embedded``,
partition 0, ``ingest_id = "embedded/0/<offset>"``) and ``write()`` returns
only once the batch holding them is durable in Parquet. Concurrent callers
are group-committed by one writer thread: it takes everything queued once the
oldest waiting request is ``group_commit_ms`` old (or ``group_commit_records``
records wait), then writes one file set, so a busy gateway does not make one
file per request; requests that queued during a write go out at once. Windows
the gateway already decoded and validated in this process are not decoded again.

Start-up recovery: the counter continues after the highest offset found in
the file names; a torn last batch (the process died between its renames, so
it was never acknowledged) is removed, so no half window stays visible.
Records that fail decoding are appended with the reason to
``<dataset>/_dlq/embedded.jsonl`` (on object storage, which cannot append: one object
``_dlq/embedded-<offset>.json`` each) and are not retried.

>>> import tempfile
>>> from collector.sink_config import SinkConfig
>>> from collector.records import IngestRecord
>>> from collector.fake_windows import make_window_body
>>> cfg = SinkConfig(dataset=tempfile.mkdtemp(), group_commit_ms=0)
>>> sink = EmbeddedSink(cfg)
>>> sink.write([IngestRecord("dev-1", make_window_body("dev-1", s, records=5), 1, 1_764_000_000_000)
...             for s in (1, 2)])
>>> sink.close()
>>> EmbeddedSink(cfg).next_offset      # recovered from the file names
2
>>> EmbeddedBackend(sink=None, timeout_s=1.0).ready()
False
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path, PurePath

import anyio.to_thread

from .backend import Sink
from .errors import SinkClosedError, SinkError, Unavailable
from .metrics import GatewayMetrics
from .parquet_files import (
    batch_is_complete,
    clean_temp,
    compacted_max_last,
    iter_batch_files,
    remove_batch,
)
from .records import IngestRecord
from .sink import DeadLetter, ParquetSink
from .sink_config import SinkConfig
from .storage import open_storage

log = logging.getLogger(__name__)

EMBEDDED_TOPIC = "embedded"
PARTITION = 0


class _Request:
    __slots__ = ("records", "done", "error", "queued_at")

    def __init__(self, records: list[IngestRecord], since: float | None) -> None:
        self.records = records
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.queued_at = time.monotonic() if since is None else since


class EmbeddedSink:
    """Thread-safe durable writer of ingest records into the Parquet dataset (no Kafka)."""

    def __init__(self, config: SinkConfig) -> None:
        self.config = config
        self.storage = open_storage(config.dataset)
        self.root = self.storage.path("")
        self.storage.ensure_dir("")
        self._sink = ParquetSink(config, EMBEDDED_TOPIC, on_dead_letter=self._dead_letter)
        self.next_offset = self._recover()
        self._open()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: deque[_Request] = deque()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._dlq_path = Path(self.root) / "_dlq" / f"{EMBEDDED_TOPIC}.jsonl"   # (local disk)

    def _open(self) -> None:
        """(Re)start the partition: offsets are all new; the written-window state is loaded
        as of ``next_offset`` (a redelivered window is then not written again)."""
        self._sink.open_partitions([PARTITION], learn_known=False,
                                   starts={PARTITION: self.next_offset})

    @property
    def duplicates(self) -> int:
        """Redelivered windows not written again since start."""
        return self._sink.duplicates

    def _recover(self) -> int:
        st = self.storage
        clean_temp(st, self.config.tmp_max_age_s, prefix=EMBEDDED_TOPIC + "-")
        while True:
            last_by_name: dict[str, tuple[int, PurePath]] = {}
            for path, (_, _, _, last) in iter_batch_files(st, EMBEDDED_TOPIC):
                last_by_name[path.name] = (last, path)
            # batches merged by compaction are complete and acknowledged: offsets continue
            # after them. Read after listing the batch files: a compaction renames its file in
            # before deleting theirs, so a batch is always seen in one of the two (found by
            # review: read before, a compaction in between hid the newest batches)
            compacted = compacted_max_last(st, EMBEDDED_TOPIC)
            if not last_by_name:
                return compacted + 1
            name, (last, found) = max(last_by_name.items(), key=lambda kv: kv[1][0])
            if last <= compacted:
                return compacted + 1
            if batch_is_complete(st, found):
                return last + 1
            removed = remove_batch(st, name)
            log.warning("removed torn unacknowledged batch %s (%d files)", name, len(removed))

    # -- public API ---------------------------------------------------------------------
    def write(self, records: list[IngestRecord], since: float | None = None) -> None:
        """Return once every record is durable in Parquet (or dead-lettered); raise SinkError.

        ``since``: ``time.monotonic()`` when the oldest of ``records`` arrived, if the caller
        grouped them itself (the group-commit linger counts from then).
        """
        if not records:
            return
        req = _Request(list(records), since)
        with self._lock:
            if self._closed:
                raise SinkClosedError("embedded sink: write() after close()")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="edgedrift-embedded-sink",
                                                daemon=True)
                self._thread.start()
            self._queue.append(req)
            self._wake.notify()
        req.done.wait()
        if req.error is not None:
            raise SinkError(f"embedded sink: write failed: {req.error}") from req.error

    def close(self, timeout: float = 30.0) -> None:
        """Finish queued writes, then stop the writer thread."""
        with self._lock:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if not thread.is_alive():      # the next start need not re-read these rows
                self._sink.snapshot(PARTITION, self.next_offset, force=True)

    # -- writer thread ------------------------------------------------------------------
    def _take(self) -> list[_Request] | None:
        with self._lock:
            while not self._queue:
                if self._closed:
                    return None
                self._wake.wait()
            # linger counts from the oldest waiting request (like Kafka's linger.ms): under
            # load, requests that queued during the previous write go at once
            deadline = self._queue[0].queued_at + self.config.group_commit_ms / 1000.0
            while not self._closed and sum(len(r.records) for r in self._queue) \
                    < self.config.group_commit_records:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._wake.wait(left)
            taken = list(self._queue)
            self._queue.clear()
            return taken

    def _run(self) -> None:
        while True:
            group = self._take()
            if group is None:
                return
            error: BaseException | None = None
            start = self.next_offset
            try:
                offset = start
                for req in group:
                    for rec in req.records:
                        self._sink.add(PARTITION, offset, record=rec)
                        offset += 1
                self._sink.flush(PARTITION)
                self.next_offset = offset
                self._sink.snapshot(PARTITION, offset)
            except BaseException as exc:   # noqa: BLE001 - reported to every waiting caller
                log.error("embedded sink write failed: %s", exc)
                error = exc
                self._undo(start, offset)
            for req in group:
                req.error = error
                req.done.set()

    def _undo(self, start: int, end: int) -> None:
        """After a failed write: delete every batch of the group (from offset ``start``),
        complete ones too, since none was acknowledged and the clients will send them again.
        If even that fails, later writes start after ``end``: a leftover batch can then only
        add a duplicate (which readers drop by identity), never hide a new window behind an
        existing file name."""
        try:
            names = {path.name for path, (_, _, first, _) in
                     iter_batch_files(self.storage, EMBEDDED_TOPIC) if first >= start}
            for name in sorted(names):
                remove_batch(self.storage, name)
            self.next_offset = self._recover()
            self._open()                        # forget the half batch and its windows
        except Exception as exc:   # noqa: BLE001 - the writer thread must keep serving
            log.error("embedded sink: cleanup after a failed write failed too: %s", exc)
            self.next_offset = max(self.next_offset, end + 1)
            self._open()

    def _dead_letter(self, dl: DeadLetter) -> None:
        line = json.dumps({"ingest_id": f"{dl.topic}/{dl.partition}/{dl.offset}",
                           "reason": dl.reason, "key": (dl.key or b"").decode(errors="replace"),
                           "value_hex": dl.value.hex()})
        if self.storage.remote:
            self.storage.put_bytes(f"_dlq/{EMBEDDED_TOPIC}-{dl.offset:020d}.json",
                                   line.encode() + b"\n")
            return
        self._dlq_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._dlq_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


class EmbeddedBackend:
    """Group-commit writes through an in-process sink (``sink.write`` blocks until durable)."""

    takes_decoded = True

    def __init__(self, sink: Sink | None, timeout_s: float = 10.0, retry_after_s: int = 5,
                 metrics: GatewayMetrics | None = None) -> None:
        self.sink = sink
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.metrics = metrics or GatewayMetrics()
        # (records, future, arrival) of the puts waiting for the next write
        self._pending: list[tuple[list[IngestRecord], asyncio.Future[None], float]] = []
        self._writer: asyncio.Task[None] | None = None
        self._healthy = True

    async def start(self) -> None:
        return None

    def ready(self) -> bool:
        return self.sink is not None and self._healthy

    def not_ready_reason(self) -> str:
        """Why :meth:`ready` is False ('' when ready)."""
        if self.sink is None:
            return "no sink"
        return "" if self._healthy else "the last Parquet write failed"

    async def put(self, records: list[IngestRecord]) -> None:
        if not records:
            return
        if self.sink is None:
            raise Unavailable("sink", self.retry_after_s)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((records, fut, time.monotonic()))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        try:
            await asyncio.wait_for(asyncio.shield(fut), self.timeout_s)
        except TimeoutError:
            raise Unavailable("sink", self.retry_after_s) from None

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            records = [r for recs, _, _ in batch for r in recs]
            since = batch[0][2]     # puts that waited during the last write go out at once
            try:
                await anyio.to_thread.run_sync(self.sink.write, records,   # type: ignore[union-attr]
                                               since)
            except Exception as exc:
                self._healthy = False
                self.metrics.sink_error()
                log.error("embedded sink write of %d records failed: %s", len(records), exc)
                for _, fut, _ in batch:
                    if not fut.done():
                        fut.set_exception(Unavailable("sink", self.retry_after_s))
                continue
            self._healthy = True
            for _, fut, _ in batch:
                if not fut.done():
                    fut.set_result(None)

    async def close(self) -> None:
        if self._writer is not None:
            try:
                await asyncio.wait_for(self._writer, self.timeout_s)
            except (TimeoutError, Exception):
                pass
        if self.sink is not None:
            await anyio.to_thread.run_sync(self.sink.close)
