"""The Kafka backend of the gateway: records produced with ``acks='all'``, answered on ack.

:class:`KafkaBackend` wraps kafka-python's producer (idempotent, ``acks='all'``,
zstd by default (``[kafka] compression``), key = device id) and bridges its futures to
asyncio, so the event loop never blocks. It keeps the contract of
:class:`collector.backend.Backend`; :func:`ensure_topic` creates the topic.
"""


from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from typing import Any

import anyio.to_thread

from .errors import Unavailable
from .metrics import GatewayMetrics
from .records import IngestRecord

log = logging.getLogger(__name__)


class KafkaBackend:
    """Produce records to ``topic`` on ``bootstrap``; ``put`` waits for every ack.

    Nothing connects until :meth:`start` (or the first ``put``) runs in the event loop.

    >>> b = KafkaBackend("127.0.0.1:9092", "edgedrift.windows", timeout_s=5)
    >>> b.topic, b.partitions
    ('edgedrift.windows', 6)
    """

    takes_decoded = False

    def __init__(self, bootstrap: str, topic: str, timeout_s: float = 10.0,
                 retry_after_s: int = 5, metrics: GatewayMetrics | None = None,
                 producer_config: dict[str, Any] | None = None, partitions: int = 6,
                 replication_factor: int = 1) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.replication_factor = replication_factor
        self._topic_ok = False
        self._healthy = True
        self._next_connect = 0.0
        self._last_error = ""
        self.topic = topic
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.metrics = metrics or GatewayMetrics()
        self.producer_config = producer_config or {}
        self._producer: Any = None
        self._lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kafka-send")
        self._connect_task: asyncio.Task[None] | None = None
        self._pending: list[tuple[list[IngestRecord], asyncio.Future[None]]] = []
        self._flush_scheduled = False

    def _make_producer(self) -> Any:
        from kafka import KafkaProducer

        timeout_ms = int(self.timeout_s * 1000)
        linger_ms = 2
        cfg: dict[str, Any] = dict(
            bootstrap_servers=self.bootstrap.split(","), client_id="edgedrift-gateway",
            acks="all", enable_idempotence=True, compression_type="zstd",
            linger_ms=linger_ms, batch_size=256 << 10, max_request_size=4 << 20,
            delivery_timeout_ms=timeout_ms,
            request_timeout_ms=max(500, timeout_ms - linger_ms - 100),
            max_block_ms=timeout_ms, retry_backoff_ms=200, reconnect_backoff_max_ms=2000,
            bootstrap_timeout_ms=timeout_ms)
        cfg.update(self.producer_config)
        try:
            return KafkaProducer(**cfg)
        except TypeError:   # an older kafka-python without bootstrap_timeout_ms
            cfg.pop("bootstrap_timeout_ms", None)
            return KafkaProducer(**cfg)

    def _producer_or_connect(self) -> Any:
        with self._lock:
            if self._producer is None:
                if time.monotonic() < self._next_connect:
                    raise ConnectionError("Kafka: waiting before the next connection attempt")
                try:
                    if not self._topic_ok:
                        ensure_topic(self.bootstrap, self.topic, self.partitions,
                                     self.replication_factor, self.timeout_s)
                        self._topic_ok = True
                    self._producer = self._make_producer()
                    self._healthy = True   # the broker answered: a failed put before is past
                except Exception:
                    self._next_connect = time.monotonic() + 1.0
                    raise
                log.info("connected to Kafka at %s (topic %s)", self.bootstrap, self.topic)
            return self._producer

    def _discard(self, producer: Any) -> None:
        with self._lock:
            if self._producer is not producer:
                return
            self._producer = None
            self._topic_ok = False
        try:
            producer.close(timeout=0)
        except Exception:  # already broken; nothing to flush
            pass

    async def start(self) -> None:
        """Connect in the background; requests before that are answered 503."""
        self._connect_task = asyncio.create_task(self._connect_soon())

    async def _connect_soon(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._producer_or_connect)
        except Exception as exc:
            self.metrics.kafka_error(type(exc).__name__)
            self._last_error = f"{type(exc).__name__}: {exc}"[:200]
            log.warning("Kafka at %s not reachable yet: %s", self.bootstrap, exc)
        else:
            self._last_error = ""

    def ready(self) -> bool:
        """Connected, and the last produce (if any) succeeded. Not connected: try again."""
        if self._producer is None and (self._connect_task is None or self._connect_task.done()):
            try:
                self._connect_task = asyncio.get_running_loop().create_task(self._connect_soon())
            except RuntimeError:   # no running loop (called outside the server)
                pass
        return self._producer is not None and self._healthy

    def not_ready_reason(self) -> str:
        """Why :meth:`ready` is False, naming the broker ('' when ready)."""
        if self._producer is None:
            why = self._last_error or "connecting"
            return f"Kafka at {self.bootstrap} not reachable ({why})"
        if not self._healthy:
            return f"Kafka at {self.bootstrap}: the last produce failed"
        return ""

    def _send_group(self, loop: asyncio.AbstractEventLoop,
                    group: list[tuple[list[IngestRecord], asyncio.Future[None]]]) -> None:
        """Executor thread: send every record of a group of requests, resolve each request's
        future from the acks with one loop wake-up for the whole group."""
        try:
            producer = self._producer_or_connect()
            try:
                kfuts = [[producer.send(self.topic, key=r.kafka_key(), value=r.kafka_value())
                          for r in records] for records, _ in group]
            except Exception as exc:
                from kafka.errors import KafkaTimeoutError

                if not isinstance(exc, KafkaTimeoutError):
                    self._discard(producer)   # e.g. a fatal idempotence state: start afresh
                raise
        except Exception as exc:
            errors: list[BaseException | None] = [exc] * len(group)
            loop.call_soon_threadsafe(_settle, group, errors)
            return
        _GroupAcks(loop, group, kfuts).watch()

    def _flush(self) -> None:
        self._flush_scheduled = False
        group, self._pending = self._pending, []
        if group:
            self._executor.submit(self._send_group, asyncio.get_running_loop(), group)

    async def put(self, records: list[IngestRecord]) -> None:
        if not records:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._pending.append((records, fut))
        if not self._flush_scheduled:   # group the requests that arrive in this loop turn
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        try:
            await asyncio.wait_for(fut, self.timeout_s + 1)
        except Exception as exc:
            kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            self.metrics.kafka_error(kind)
            log.warning("Kafka produce of %d records failed: %s", len(records), kind)
            self._healthy = False
            # start afresh next time: the broker may have lost the topic or our producer id
            producer = self._producer
            if producer is not None:
                loop.run_in_executor(self._executor, self._discard, producer)
            raise Unavailable("kafka", self.retry_after_s) from None
        self._healthy = True

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await anyio.to_thread.run_sync(lambda: producer.close(timeout=5))
        self._executor.shutdown(wait=False, cancel_futures=True)


def ensure_topic(bootstrap: str, topic: str, partitions: int, replication_factor: int = 1,
                 timeout_s: float = 10.0) -> bool:
    """Create ``topic`` if it does not exist; True if it was created."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","),
                             client_id="edgedrift-gateway-admin",
                             request_timeout_ms=int(timeout_s * 1000),
                             bootstrap_timeout_ms=int(timeout_s * 1000))
    try:
        if topic in admin.list_topics():
            return False
        try:
            admin.create_topics([NewTopic(topic, partitions, replication_factor)])
        except TopicAlreadyExistsError:
            return False
        log.info("created topic %s with %d partitions", topic, partitions)
        return True
    finally:
        admin.close()


def _settle(group: list[tuple[list[IngestRecord], asyncio.Future[None]]],
            errors: list[BaseException | None]) -> None:
    """Event loop: resolve each request's future (an error -> that request's exception)."""
    for (_, fut), err in zip(group, errors, strict=True):
        if fut.done():
            continue
        if err is None:
            fut.set_result(None)
        else:
            fut.set_exception(err if isinstance(err, BaseException) else RuntimeError(repr(err)))


class _GroupAcks:
    """Counts the acks of a group's kafka-python futures (callbacks run in the client's
    threads) and wakes the event loop once, when the last one is in."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 group: list[tuple[list[IngestRecord], asyncio.Future[None]]],
                 kfuts: list[list[Any]]) -> None:
        self.loop = loop
        self.group = group
        self.kfuts = kfuts
        self.errors: list[BaseException | None] = [None] * len(group)
        self.left = sum(len(f) for f in kfuts)
        self.lock = threading.Lock()

    def watch(self) -> None:
        if not self.left:
            self.loop.call_soon_threadsafe(_settle, self.group, self.errors)
            return
        for i, futs in enumerate(self.kfuts):
            for kfut in futs:
                kfut.add_callback(self._done, i, None)
                kfut.add_errback(self._failed, i)

    def _failed(self, i: int, exc: Any) -> None:
        self._done(i, exc if isinstance(exc, BaseException) else RuntimeError(repr(exc)))

    def _done(self, i: int, exc: BaseException | None, *meta: Any) -> None:
        with self.lock:
            if exc is not None and self.errors[i] is None:
                self.errors[i] = exc
            self.left -= 1
            last = self.left == 0
        if last:
            self.loop.call_soon_threadsafe(_settle, self.group, self.errors)
