"""The Kafka side of the sink: a consumer group feeding :class:`~collector.sink.ParquetSink`.

Several ``edgedrift sink`` processes with the same ``group_id`` share the
topic's partitions. Offsets are committed by hand (auto-commit off), only
after a batch's files are durable and its dead letters acknowledged::

    poll -> sink.add() ... -> batch boundary -> sink.flush(p)
         -> dlq_producer.flush() -> consumer.commit({p: last + 1})

On a rebalance a revoked partition's unflushed records are dropped (the next
owner replays them from the last commit into the same file names); an
assigned partition first learns which batches are already on disk, then is
rewound to its committed offset.

>>> from collector.sink_config import KafkaConfig, SinkConfig
>>> w = KafkaSinkWorker(KafkaConfig(bootstrap="127.0.0.1:1"), SinkConfig(dataset="/tmp/x"))
>>> w.stats()  # doctest: +NORMALIZE_WHITESPACE
{'windows': 0, 'files': 0, 'dead_letters': 0, 'commits': 0, 'duplicates': 0,
 'conflicts': 0, 'untracked': 0}
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from edgedrift.faults import fault_point

from . import kafka_zstd
from .sink import DeadLetter, ParquetSink, gc_paused
from .sink_config import KafkaConfig, SinkConfig

log = logging.getLogger(__name__)


def ensure_topics(kafka: KafkaConfig) -> None:
    """Create the windows topic (``partitions``) and the DLQ topic if they are missing."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap, client_id=kafka.client_id,
                             request_timeout_ms=kafka.request_timeout_ms,
                             bootstrap_timeout_ms=kafka.bootstrap_timeout_ms)
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(t, kafka.partitions, kafka.replication_factor)
                   for t in (kafka.topic, kafka.dlq_topic) if t not in existing]
        if missing:
            try:
                admin.create_topics(missing)
                log.info("created topics %s", [t.name for t in missing])
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


class KafkaSinkWorker:
    """One sink process: consume, batch, write, commit; stops when ``stop`` is set."""

    def __init__(self, kafka: KafkaConfig, config: SinkConfig) -> None:
        self.kafka = kafka
        self.config = config
        self.sink = ParquetSink(config, kafka.topic, on_dead_letter=self._dead_letter)
        self.commits = 0
        self._producer: Any = None
        self._consumer: Any = None
        self._events: queue.SimpleQueue[tuple[str, list[Any]]] = queue.SimpleQueue()

    def stats(self) -> dict[str, int]:
        return {"windows": self.sink.windows_written, "files": self.sink.files_written,
                "dead_letters": self.sink.dead_letters, "commits": self.commits,
                "duplicates": self.sink.duplicates, "conflicts": self.sink.conflicts,
                "untracked": self.sink.untracked}

    # -- Kafka clients ----------------------------------------------------------------------
    def _connect(self) -> None:
        from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer

        events = self._events

        class Listener(ConsumerRebalanceListener):
            # kafka-python 3 calls these on its IO thread: only hand the event to the loop
            def on_partitions_revoked(self, revoked: Any) -> None:
                events.put(("revoked", list(revoked)))

            def on_partitions_assigned(self, assigned: Any) -> None:
                events.put(("assigned", list(assigned)))

        if not kafka_zstd.install():
            log.debug("kafka-python's zstd decompression left as is")
        k = self.kafka
        self._producer = KafkaProducer(bootstrap_servers=k.bootstrap,
                                       client_id=k.client_id + "-dlq", acks="all",
                                       compression_type=k.compression_type(),
                                       request_timeout_ms=k.request_timeout_ms,
                                       bootstrap_timeout_ms=k.bootstrap_timeout_ms)
        self._consumer = KafkaConsumer(
            bootstrap_servers=k.bootstrap, group_id=k.group_id, client_id=k.client_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=k.session_timeout_ms, heartbeat_interval_ms=k.heartbeat_interval_ms,
            max_poll_interval_ms=k.max_poll_interval_ms, max_poll_records=k.max_poll_records,
            fetch_max_bytes=k.fetch_max_bytes, fetch_min_bytes=k.fetch_min_bytes,
            fetch_max_wait_ms=k.fetch_max_wait_ms, request_timeout_ms=max(
                k.request_timeout_ms, k.session_timeout_ms + 1000),
            bootstrap_timeout_ms=k.bootstrap_timeout_ms)
        self._consumer.subscribe([k.topic], listener=Listener())

    def _rebalanced(self) -> set[int]:
        """Apply rebalance events on this thread; return the partitions they touched."""
        touched: set[int] = set()
        while True:
            try:
                kind, tps = self._events.get_nowait()
            except queue.Empty:
                return touched
            parts = sorted(tp.partition for tp in tps)
            touched.update(parts)
            if kind == "revoked":
                for p in parts:
                    self.sink.close_partition(p)
            else:
                starts = self._rewind(tps)
                self.sink.open_partitions(parts, starts=starts)
            log.info("partitions %s: %s", kind, parts)

    def _rewind(self, assigned: Any) -> dict[int, int]:
        """Seek every assigned partition to its committed offset (records fetched before a
        rebalance were dropped with their batch and must be read again); return those
        offsets (the log's start where none is committed)."""
        consumer = self._consumer
        missing = []
        starts: dict[int, int] = {}
        for tp in assigned:
            committed = consumer.committed(tp)
            if committed is None:
                missing.append(tp)
            else:
                consumer.seek(tp, committed)
                starts[tp.partition] = committed
        if missing:
            consumer.seek_to_beginning(*missing)
            for tp, offset in consumer.beginning_offsets(missing).items():
                starts[tp.partition] = offset
        return starts

    def _dead_letter(self, dl: DeadLetter) -> None:
        headers = [("edgedrift.reason", dl.reason.encode()),
                   ("edgedrift.source", f"{dl.topic}/{dl.partition}/{dl.offset}".encode())]
        self._producer.send(self.kafka.dlq_topic, key=dl.key, value=dl.value, headers=headers)

    # -- the loop -----------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        """Consume until ``stop`` is set (unflushed records are left for the replay)."""
        stop = stop or threading.Event()
        ensure_topics(self.kafka)
        self._connect()
        try:
            while not stop.is_set():
                self.step()
        finally:
            self.close()

    def step(self) -> None:
        """One poll: buffer records, flush finished and idle batches, commit."""
        from kafka import TopicPartition

        self._rebalanced()
        polled = self._consumer.poll(timeout_ms=self.config.poll_timeout_ms)
        moved = self._rebalanced()      # records fetched across a rebalance are read again
        assignment = self._consumer.assignment()
        ready: dict[int, int] = {}
        with gc_paused():
            for tp, messages in polled.items():
                if tp.partition in moved or tp not in assignment:
                    continue
                for m in messages:
                    for partition, nxt in self.sink.add(tp.partition, m.offset, m.key, m.value):
                        ready[partition] = nxt
            for partition in self.sink.idle():
                if self._caught_up(TopicPartition(self.kafka.topic, partition)):
                    flushed = self.sink.flush(partition)
                    if flushed is not None:
                        ready[partition] = flushed
        if ready:
            self._commit(ready)

    def _caught_up(self, tp: Any) -> bool:
        high = self._consumer.highwater(tp)
        try:
            position = self._consumer.position(tp, timeout_ms=1000)
        except Exception:   # partition no longer assigned
            return False
        return high is None or position is None or position >= high

    def _commit(self, ready: dict[int, int]) -> None:
        from kafka import OffsetAndMetadata, TopicPartition
        from kafka.errors import CommitFailedError

        self._producer.flush()            # dead letters of these batches acknowledged first
        fault_point("sink", "before_commit")
        offsets = {TopicPartition(self.kafka.topic, p): OffsetAndMetadata(o, "", -1)
                   for p, o in ready.items()}
        try:
            self._consumer.commit(offsets)
            self.commits += 1
        except CommitFailedError as exc:   # rebalanced meanwhile: the new owner replays
            log.warning("offset commit failed (rebalance?): %s", exc)
            return
        fault_point("sink", "after_commit")
        for p, o in ready.items():
            # every batch below o is durable and committed, none above it flushed: the
            # written-window state is the one a restart from o needs
            self.sink.snapshot(p, o)

    def close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False)
            finally:
                self._consumer = None
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


def wait_forever(stop: threading.Event, worker: KafkaSinkWorker, report_s: float = 30.0) -> None:
    """Run ``worker`` and log its counters every ``report_s`` seconds (CLI helper); the
    worker's exception, if it dies of one, is raised here (not printed by its thread)."""
    failure: list[Exception] = []

    def body() -> None:
        try:
            worker.run(stop)
        except Exception as exc:
            failure.append(exc)

    t = threading.Thread(target=body, name="edgedrift-sink", daemon=True)
    t.start()
    last = time.monotonic()
    while t.is_alive():
        t.join(0.5)
        if time.monotonic() - last >= report_s:
            log.info("sink: %s", worker.stats())
            last = time.monotonic()
    if failure:
        raise failure[0]
