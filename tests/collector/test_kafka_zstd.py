"""The sink consumer's zstd decompression (collector/kafka_zstd.py) gives exactly what
kafka-python's own gives: the same bytes, or the same error, on intact and damaged frames,
and the same records through a real broker."""

from __future__ import annotations

import uuid

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.codec import zstd_decode
from kafka.record import default_records

from collector import kafka_zstd


def _outcome(fn, data: bytes):
    try:
        return "ok", fn(data)
    except Exception as exc:   # noqa: BLE001 - the outcome compared is the error itself
        return "error", type(exc), str(exc)


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """zstd frames of repeated random bytes, maybe two of them, maybe damaged or cut."""
    unit = draw(st.binary(max_size=200))
    data = unit * draw(st.integers(1, 40))
    level = draw(st.integers(-3, 5))
    frame = bytearray(zstandard.ZstdCompressor(level=level).compress(data)
                      * draw(st.sampled_from([1, 1, 2])))
    for _ in range(draw(st.integers(0, 3))):
        frame[draw(st.integers(0, len(frame) - 1))] ^= 1 << draw(st.integers(0, 7))
    if draw(st.booleans()):
        frame = frame[:draw(st.integers(0, len(frame)))]
    return bytes(frame)


@settings(max_examples=1500, deadline=None)
@given(frames())
def test_the_same_bytes_or_the_same_error_as_kafka_python(frame: bytes) -> None:
    assert _outcome(kafka_zstd.decompress, frame) == _outcome(zstd_decode, frame)


def test_frames_without_a_stated_size_or_of_size_zero_take_the_stock_reader() -> None:
    streamed = zstandard.ZstdCompressor().compressobj()
    frame = streamed.compress(b"w" * 1000) + streamed.flush()
    assert zstandard.frame_content_size(frame) == -1
    assert kafka_zstd.decompress(frame) == b"w" * 1000
    empty = zstandard.ZstdCompressor().compress(b"")
    damaged = empty[:-1] + bytes([empty[-1] ^ 1]) + b"junk"
    assert _outcome(kafka_zstd.decompress, damaged) == _outcome(zstd_decode, damaged)


def test_install_swaps_the_name_the_record_reader_calls(monkeypatch) -> None:
    monkeypatch.setattr(default_records, "zstd_decode", zstd_decode)
    assert kafka_zstd.install() and kafka_zstd.install()        # idempotent
    assert default_records.zstd_decode is kafka_zstd.decompress
    monkeypatch.delattr(default_records, "zstd_decode")
    assert not kafka_zstd.install()                             # a kafka-python without it


@pytest.mark.kafka
def test_records_read_through_a_broker_are_those_of_the_stock_consumer(
        kafka_bootstrap: str, monkeypatch) -> None:
    topic = f"zstd-{uuid.uuid4().hex[:8]}"
    values = [bytes([i % 251]) * (100 + 37 * i) for i in range(300)]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all",
                             compression_type="zstd", linger_ms=0, batch_size=4096)
    for i, value in enumerate(values):            # small batches, as a live gateway makes
        producer.send(topic, key=b"dev-%d" % (i % 7), value=value, partition=0)
    producer.flush()
    producer.close()

    def consume() -> list[tuple[int, bytes, bytes]]:
        consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        out: list[tuple[int, bytes, bytes]] = []
        for _ in range(100):
            for records in consumer.poll(timeout_ms=500).values():
                out += [(r.offset, r.key, r.value) for r in records]
            if len(out) >= len(values):
                break
        consumer.close()
        return out

    monkeypatch.setattr(default_records, "zstd_decode", zstd_decode)
    stock = consume()
    assert kafka_zstd.install()
    calls = []
    monkeypatch.setattr(kafka_zstd, "_local", type(kafka_zstd._local)())   # fresh contexts
    real = kafka_zstd.decompress
    monkeypatch.setattr(default_records, "zstd_decode",
                        lambda data: calls.append(len(data)) or real(data))
    assert consume() == stock and [v for _, _, v in stock] == values
    assert len(calls) > 10                        # it really read the batches


@pytest.mark.kafka
def test_the_sink_worker_uses_the_reused_context_and_its_fetch_settings(
        kafka_bootstrap: str, tmp_path, monkeypatch) -> None:
    from collector.kafka_sink import KafkaSinkWorker
    from collector.sink_config import KafkaConfig, SinkConfig

    monkeypatch.setattr(default_records, "zstd_decode", zstd_decode)
    topic = f"zstd-{uuid.uuid4().hex[:8]}"
    worker = KafkaSinkWorker(KafkaConfig(bootstrap=kafka_bootstrap, topic=topic,
                                         dlq_topic=topic + ".dlq", fetch_min_bytes=12_345,
                                         fetch_max_wait_ms=150),
                             SinkConfig(dataset=str(tmp_path)))
    worker._connect()
    try:
        config = worker._consumer.config
        assert (config["fetch_min_bytes"], config["fetch_max_wait_ms"]) == (12_345, 150)
        assert default_records.zstd_decode is kafka_zstd.decompress
    finally:
        worker.close()
    with pytest.raises(ValueError, match="fetch_min_bytes: got 0, expected a positive"):
        KafkaConfig(fetch_min_bytes=0)
