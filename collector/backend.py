"""Where the gateway puts accepted windows: the contract every backend keeps.

A backend's verbs: ``await put(records)`` returns only once the records are durable
(broker ack / Parquet file renamed) and raises :class:`~collector.errors.Unavailable`
(-> 503 + Retry-After) otherwise; ``ready()`` for ``/readyz`` and ``not_ready_reason()``
to say why not; ``start()`` and ``close()`` from the app's lifespan. Two implement it:
:class:`collector.kafka_backend.KafkaBackend` (Kafka, acks=all) and
:class:`collector.embedded.EmbeddedBackend` (the Parquet sink in-process).
"""

from __future__ import annotations

from typing import Protocol

from .records import IngestRecord


class Backend(Protocol):
    # whether the records should carry the gateway's decoded window (an in-process sink
    # reuses it; a Kafka producer only sends bytes, so keeping it would just hold memory)
    takes_decoded: bool

    async def put(self, records: list[IngestRecord]) -> None: ...
    def ready(self) -> bool: ...
    def not_ready_reason(self) -> str: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...


class Sink(Protocol):
    def write(self, records: list[IngestRecord], since: float | None = None) -> None: ...
    def close(self) -> None: ...
