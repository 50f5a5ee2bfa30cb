"""Kafka path: accepted windows are in the topic keyed by device id; a stopped broker
gives 503 + Retry-After and nothing acknowledged is lost once it is back."""

from __future__ import annotations

import time

import pytest
from gateway_harness import GatewayProcess, KeyPool, envelope, metrics, post
from kafka import KafkaConsumer, TopicPartition
from kafka_broker import Broker
from support import wait_until

from collector.records import IngestRecord
from edge_sdk.wire import decode_window

pytestmark = pytest.mark.kafka
TOPIC = "edgedrift.windows"


def read_topic(bootstrap: str, timeout: float = 15.0, topic: str = TOPIC) -> list:
    """Every record of the topic (all partitions, from the beginning)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             group_id=None, consumer_timeout_ms=1000)
    try:
        parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        out = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(consumer.position(p) < end[p] for p in parts):
            for batch in consumer.poll(timeout_ms=500).values():
                out.extend(batch)
        return out
    finally:
        consumer.close()


def identities(records) -> list[tuple[str, str, int]]:
    out = []
    for r in records:
        rec = IngestRecord.from_kafka(r.key, r.value)
        w = decode_window(rec.window)
        assert r.key.decode() == rec.device_id == w["d"]
        out.append((rec.device_id, w["m"], w["sq"]))
    return out


def test_accepted_windows_are_in_the_topic_keyed_by_device(kafka_bootstrap, tmp_path):
    pool = KeyPool(tmp_path, count=3, prefix="topic-test")   # unique in the shared topic
    devices = [pool.take() for _ in range(3)]
    sent = set()
    with GatewayProcess(tmp_path, kafka=kafka_bootstrap) as gw, gw.client() as client:
        for device, key in devices:
            assert post(client, envelope(key, device, 0)).status_code == 202
            sent.add((device, "kws", 0))
            batch = [envelope(key, device, s) for s in range(1, 6)]
            r = post(client, batch)
            assert [x["code"] for x in r.json()["results"]] == [202] * 5
            sent.update((device, "kws", s) for s in range(1, 6))
        assert metrics(client)["edgedrift_gateway_windows_accepted_total"] == len(sent)
    records = [r for r in read_topic(kafka_bootstrap)
               if r.key.decode() in {d for d, _ in devices}]
    assert sorted(identities(records)) == sorted(sent)
    # one device's windows share a partition (ordered)
    by_device: dict[str, set[int]] = {}
    for r in records:
        by_device.setdefault(r.key.decode(), set()).add(r.partition)
    assert all(len(p) == 1 for p in by_device.values())


def test_broker_stopped_gives_503_then_nothing_lost(tmp_path):
    broker = Broker()            # our own broker: stopping the shared one would break others
    broker.start()
    cfg = tmp_path / "edgedrift.toml"
    cfg.write_text("[gateway]\nproduce_timeout_s = 3.0\nretry_after_s = 2\n"
                   "[kafka]\npartitions = 2\n")
    pool = KeyPool(tmp_path, count=1)
    device, key = pool.take()
    gw = GatewayProcess(tmp_path, kafka=broker.bootstrap, config=str(cfg))
    try:
        gw.start()
        with gw.client() as client:
            assert post(client, envelope(key, device, 0)).status_code == 202
            broker.stop()
            pending = {s: envelope(key, device, s) for s in range(1, 4)}
            r = post(client, pending[1])
            assert r.status_code == 503, r.text
            assert int(r.headers["retry-after"]) == 2
            assert r.json()["error"]["reason"] == "unavailable"
            r = post(client, [pending[2], pending[3]])
            assert r.status_code == 503, r.text
            assert [x["status"] for x in r.json()["results"]] == ["retry", "retry"]
            m = metrics(client)
            errors = [v for k, v in m.items() if k.startswith("edgedrift_gateway_kafka_errors")]
            assert sum(errors) >= 2
            assert client.get("/readyz").status_code == 503

            broker.start()       # same port; Tansu memory storage starts empty
            # the SDK keeps what got 503 and retries the same signed envelopes later
            def retry_all() -> bool:
                for s in list(pending):
                    code = post(client, pending[s]).status_code
                    if code in (200, 202):
                        del pending[s]
                    else:
                        assert code == 503, code
                return not pending
            wait_until(retry_all, timeout=60, interval=1.0, what="windows accepted after restart")
        records = read_topic(broker.bootstrap)
        # a 503 is "not known to be durable": the record may still land, so a retry can
        # duplicate it; identity (device, model, seq) lets the sink/analytics drop the copy
        assert {s for _, _, s in identities(records)} == {1, 2, 3}
    finally:
        gw.stop()
        broker.stop()


def test_killed_after_kafka_ack_before_response_sdk_retry_dedups(kafka_bootstrap, tmp_path):
    from edge_sdk.monitor import Monitor

    pool = KeyPool(tmp_path, count=0)
    device = "dev-killed-after-ack"          # unique in the shared topic
    key = pool.registry.add(device)
    gw = GatewayProcess(tmp_path, kafka=kafka_bootstrap,
                        env={"EDGEDRIFT_FAULT": "gateway:after_ack:1"})
    mon = Monitor(model="kws", version="1.0", device_id=device, endpoint=f"{gw.url}/v1/telemetry",
                  key=key, window_s=60, spool_dir=str(tmp_path / "spool"), start=False)
    try:
        gw.start()
        for i in range(20):
            mon.log({"rms": i / 20}, prediction=0.5, latency_ms=2.0)
        seq = mon.seal_window()["sq"]
        assert not mon.sender.send_once()                 # acked by Kafka, then SIGKILL
        assert gw.proc is not None and gw.proc.wait(timeout=20) == -9
        gw.env = {}
        gw.start()
        deadline = time.monotonic() + 30
        while mon.sender.spool.backlog()[0] and time.monotonic() < deadline:
            mon.sender.send_once()                        # the SDK's retry (re-signed)
        assert mon.sender.spool.backlog()[0] == 0
    finally:
        mon.close(timeout_s=0)
        gw.stop()
    mine = [i for i in identities(read_topic(kafka_bootstrap)) if i[0] == device]
    # produced once or twice: a retry signed in the same second is a replay of the accepted
    # envelope (the replay guard survives the restart; 401 "replay", which the SDK counts as
    # delivered), a later one is re-signed and produced again; the sink keeps one row
    assert 1 <= len(mine) <= 2
    assert set(mine) == {(device, "kws", seq)}           # one window by identity, not lost
