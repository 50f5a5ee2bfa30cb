"""collector — the ingest side: HTTP gateway, device key registry, Kafka producer,
and the exactly-once Kafka -> Parquet sink (plus the embedded in-process path).

Owns: the gateway (HTTP, auth, validation, rate limits, metrics), the key
registry, the ingest record (:mod:`collector.records`), the sink and its
commit protocol, and the Parquet schema (:mod:`collector.schema`).

May import: ``edge_sdk`` (wire decode, signature check), kafka-python,
pyarrow, numpy, starlette/uvicorn. Must not import ``analytics`` or
``dashboard``.
"""
