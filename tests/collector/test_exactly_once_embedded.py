"""One row per window through a real embedded gateway (no Kafka): SIGKILLed after the
Parquet write and before answering, five times under concurrent load, with every window the
client did not see confirmed sent again (re-signed, as the SDK does); and a captured request
replayed after a restart. The tables must hold every window once: rows == distinct
(device, model, seq) == windows sent, in every table, nothing lost. The kill test runs with
the dataset on local disk and on an S3-compatible server."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from exactly_once_support import identity_ingest_pairs, send_until_dead, table_counts
from gateway_harness import GatewayProcess, KeyPool, envelope, post, window

from edge_sdk.wire import encode_request

pytestmark = pytest.mark.timeout(120)
DEVICES, PER_DEVICE, KILLS = 16, 100, 5


def test_gateway_killed_after_write_five_times_under_load_rows_once(tmp_path: Path,
                                                                   backend: str) -> None:
    rng = random.Random(16)
    pool = KeyPool(tmp_path, count=DEVICES, prefix="eo")
    keys = dict(pool.keys)
    per_device = PER_DEVICE if not backend.startswith("s3://") else PER_DEVICE // 2
    ids = [(d, s) for d in keys for s in range(per_device)]
    storage = {"EDGEDRIFT_STORAGE_URI": backend}       # (local: the default place)
    bodies = {(d, s): window(d, s, records=50) for d, s in ids}
    todo = list(reversed(ids))          # each device's windows oldest first, like the spool
    confirmed: set[tuple[str, int]] = set()
    port = None
    kills = 0
    for _ in range(KILLS):
        n = rng.randint(4, 12)           # requests acknowledged before the SIGKILL
        gw = GatewayProcess(tmp_path, env={"EDGEDRIFT_FAULT": f"gateway:after_ack:{n}",
                                           **storage}, port=port)
        port = gw.port
        with gw:
            send_until_dead(gw, keys, todo, bodies, confirmed)
            assert gw.proc is not None
            kills += gw.proc.wait(timeout=30) == -9
    assert kills == KILLS and 0 < len(confirmed) < len(ids) and todo
    with GatewayProcess(tmp_path, port=port, env=storage) as gw:
        send_until_dead(gw, keys, todo, bodies, confirmed)
    assert not todo and confirmed == set(ids)
    # every table: one delivery per window, and the same one in all of them
    assert table_counts(backend) == (len(ids), len(ids), len(ids))
    windows = identity_ingest_pairs(backend, "windows")
    for table in ("features", "categories"):
        assert identity_ingest_pairs(backend, table) == windows


def test_a_request_replayed_after_a_restart_is_refused_and_not_written_again(
        tmp_path: Path) -> None:
    pool = KeyPool(tmp_path, count=2, prefix="rp")
    (dev, key), (other, other_key) = pool.take(), pool.take()
    captured = encode_request([envelope(key, dev, s) for s in (1, 2, 3)])
    gw = GatewayProcess(tmp_path)
    with gw, gw.client() as client:
        assert [x["code"] for x in post(client, captured).json()["results"]] == [202] * 3
        assert [x["code"] for x in post(client, captured).json()["results"]] == [401] * 3
    with GatewayProcess(tmp_path, port=gw.port) as gw2, gw2.client() as client:
        again = post(client, captured).json()["results"]    # a new process, same data dir
        assert [(x["code"], x["error"]["reason"]) for x in again] == [(401, "replay")] * 3
        assert post(client, envelope(other_key, other, 1)).status_code == 202   # still writes
        assert post(client, envelope(key, dev, 4)).status_code == 202
    assert table_counts(tmp_path / "telemetry") == (5, 5, 5)
    assert sorted(s for d, _, s, _ in identity_ingest_pairs(tmp_path / "telemetry", "windows")
                  if d == dev) == [1, 2, 3, 4]
    # without the journal (a lost data dir, or another gateway) the replay is accepted, and
    # the sink still writes nothing
    for journal in (tmp_path / "replay").iterdir():
        journal.unlink()
    with GatewayProcess(tmp_path, port=gw.port) as gw3, gw3.client() as client:
        assert [x["code"] for x in post(client, captured).json()["results"]] == [202] * 3
    assert table_counts(tmp_path / "telemetry") == (5, 5, 5)
