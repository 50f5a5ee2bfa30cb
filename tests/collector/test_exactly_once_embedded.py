"""One row per window through a real embedded gateway (no Kafka): SIGKILLed after the
Parquet write and before answering, five times under concurrent load, with every window the
client did not see confirmed sent again (re-signed, as the SDK does); and a captured request
replayed after a restart. The tables must hold every window once: rows == distinct
(device, model, seq) == windows sent, in every table, nothing lost."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import duckdb
import httpx
import pytest
from gateway_harness import GatewayProcess, KeyPool, envelope, post, window

from edge_sdk.wire import encode_request

pytestmark = pytest.mark.timeout(120)
DEVICES, PER_DEVICE, BATCH, THREADS, KILLS = 16, 100, 8, 4, 5


def table_counts(data_dir: Path, table: str = "windows") -> tuple[int, int, int]:
    """(rows, distinct identities, distinct ingest ids) of one table."""
    con = duckdb.connect()
    try:
        return con.execute(
            "SELECT count(*), count(DISTINCT (device_id, model, seq)), count(DISTINCT ingest_id) "
            "FROM read_parquet(?, hive_partitioning=true)",
            [str(data_dir / "telemetry" / table / "**" / "*.parquet")]).fetchone()
    finally:
        con.close()


def identity_ingest_pairs(data_dir: Path, table: str) -> set[tuple]:
    con = duckdb.connect()
    try:
        return set(con.execute(
            "SELECT DISTINCT device_id, model, seq, ingest_id "
            "FROM read_parquet(?, hive_partitioning=true)",
            [str(data_dir / "telemetry" / table / "**" / "*.parquet")]).fetchall())
    finally:
        con.close()


def _send_until_dead(gw: GatewayProcess, keys: dict[str, str], todo: list[tuple[str, int]],
                     bodies: dict[tuple[str, int], bytes], confirmed: set) -> None:
    """Threads post batches of ``todo`` (signed now) until it is empty or the gateway dies;
    a window counts as confirmed only on its 2xx answer."""
    lock = threading.Lock()
    refused: list[str] = []

    def worker() -> None:
        with gw.client(timeout=30.0) as client:
            while True:
                with lock:
                    chunk = [todo.pop() for _ in range(min(BATCH, len(todo)))]
                if not chunk:
                    return
                batch = [envelope(keys[d], d, s, body=bodies[(d, s)]) for d, s in chunk]
                try:
                    r = post(client, batch)
                except httpx.HTTPError:
                    with lock:
                        todo.extend(chunk)          # not known to be durable: send again
                    return
                results = r.json()["results"] if r.status_code in (200, 429, 503) else []
                with lock:
                    if len(results) != len(chunk):
                        refused.append(r.text)
                        return
                    for (d, s), res in zip(chunk, results, strict=True):
                        if res["code"] in (200, 202):
                            confirmed.add((d, s))
                        elif res["code"] in (429, 503):
                            todo.append((d, s))
                        else:
                            refused.append(str(res))

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not refused, refused[:3]


def test_gateway_killed_after_write_five_times_under_load_rows_once(tmp_path: Path) -> None:
    rng = random.Random(16)
    pool = KeyPool(tmp_path, count=DEVICES, prefix="eo")
    keys = dict(pool.keys)
    ids = [(d, s) for d in keys for s in range(PER_DEVICE)]
    bodies = {(d, s): window(d, s, records=50) for d, s in ids}
    todo = list(reversed(ids))          # each device's windows oldest first, like the spool
    confirmed: set[tuple[str, int]] = set()
    port = None
    kills = 0
    for _ in range(KILLS):
        n = rng.randint(4, 12)           # requests acknowledged before the SIGKILL
        gw = GatewayProcess(tmp_path, env={"EDGEDRIFT_FAULT": f"gateway:after_ack:{n}"},
                            port=port)
        port = gw.port
        with gw:
            _send_until_dead(gw, keys, todo, bodies, confirmed)
            assert gw.proc is not None
            kills += gw.proc.wait(timeout=30) == -9
    assert kills == KILLS and 0 < len(confirmed) < len(ids) and todo
    with GatewayProcess(tmp_path, port=port) as gw:
        _send_until_dead(gw, keys, todo, bodies, confirmed)
    assert not todo and confirmed == set(ids)
    # every table: one delivery per window, and the same one in all of them
    assert table_counts(tmp_path) == (len(ids), len(ids), len(ids))
    windows = identity_ingest_pairs(tmp_path, "windows")
    for table in ("features", "categories"):
        assert identity_ingest_pairs(tmp_path, table) == windows


def test_a_request_replayed_after_a_restart_is_not_written_again(tmp_path: Path) -> None:
    pool = KeyPool(tmp_path, count=2, prefix="rp")
    (dev, key), (other, other_key) = pool.take(), pool.take()
    captured = encode_request([envelope(key, dev, s) for s in (1, 2, 3)])
    gw = GatewayProcess(tmp_path)
    with gw, gw.client() as client:
        assert [x["code"] for x in post(client, captured).json()["results"]] == [202] * 3
        assert {x["code"] for x in post(client, captured).json()["results"]} <= {200, 401}
    with GatewayProcess(tmp_path, port=gw.port) as gw2, gw2.client() as client:
        again = post(client, captured)              # a new process: its memory is empty
        assert again.status_code in (200, 401), again.text
        assert post(client, envelope(other_key, other, 1)).status_code == 202   # still writes
        assert post(client, envelope(key, dev, 4)).status_code == 202
    assert table_counts(tmp_path) == (5, 5, 5)
    assert sorted(s for d, _, s, _ in identity_ingest_pairs(tmp_path, "windows")
                  if d == dev) == [1, 2, 3, 4]
