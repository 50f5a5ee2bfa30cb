"""Helpers for the exactly-once tests: a client that keeps sending what was not confirmed,
records with redeliveries and conflicting bodies, and DuckDB counts of the tables."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import httpx
from gateway_harness import GatewayProcess, envelope, post
from sink_support import bodies

from collector.fake_windows import restamp
from collector.records import IngestRecord
from edge_sdk.wire import decode_window, encode_request

BATCH, THREADS = 8, 4


def table_counts(dataset: Path | str, table: str = "windows") -> tuple[int, int, int]:
    """(rows, distinct identities, distinct ingest ids) of one table (every file of it)."""
    if isinstance(dataset, str):         # a location: local or s3://, through collector.storage
        from storage_support import query

        return query(dataset, table, "SELECT count(*), count(DISTINCT (device_id, model, seq)),"
                     " count(DISTINCT ingest_id) FROM t", live=False)[0]
    if not any((dataset / table).glob("*/*/*.parquet")):
        return 0, 0, 0
    con = duckdb.connect()
    try:
        return con.execute(
            "SELECT count(*), count(DISTINCT (device_id, model, seq)), count(DISTINCT ingest_id) "
            "FROM read_parquet(?, hive_partitioning=true)",
            [str(dataset / table / "**" / "*.parquet")]).fetchone()
    finally:
        con.close()


def identity_ingest_pairs(dataset: Path | str, table: str) -> set[tuple]:
    if isinstance(dataset, str):         # a location: local or s3://, through collector.storage
        from storage_support import query

        return set(query(dataset, table, "SELECT DISTINCT device_id, model, seq, ingest_id "
                                         "FROM t", live=False))
    con = duckdb.connect()
    try:
        return set(con.execute(
            "SELECT DISTINCT device_id, model, seq, ingest_id "
            "FROM read_parquet(?, hive_partitioning=true)",
            [str(dataset / table / "**" / "*.parquet")]).fetchall())
    finally:
        con.close()


def send_until_dead(gw: GatewayProcess, keys: dict[str, str], todo: list[tuple[str, int]],
                    bodies: dict[tuple[str, int], bytes], confirmed: set,
                    sent: Callable[[bytes], None] | None = None) -> None:
    """Threads post batches of ``todo`` (signed now) until it is empty or the gateway dies;
    a window counts as confirmed only on its 2xx answer (as the SDK does). ``sent``
    receives the exact bytes of every request whose windows were all confirmed."""
    lock = threading.Lock()
    refused: list[str] = []

    def worker() -> None:
        with gw.client(timeout=30.0) as client:
            while True:
                with lock:
                    chunk = [todo.pop() for _ in range(min(BATCH, len(todo)))]
                if not chunk:
                    return
                content = encode_request([envelope(keys[d], d, s, body=bodies[(d, s)])
                                          for d, s in chunk])
                try:
                    r = post(client, content)
                except httpx.HTTPError:
                    with lock:
                        todo.extend(chunk)          # not known to be durable: send again
                    return
                results = r.json()["results"] if r.status_code in (200, 429, 503) else []
                with lock:
                    if len(results) != len(chunk):
                        refused.append(r.text)
                        return
                    replayed = False
                    for (d, s), res in zip(chunk, results, strict=True):
                        if res["code"] in (200, 202):
                            confirmed.add((d, s))
                        elif res["code"] in (429, 503):
                            todo.append((d, s))
                        elif res["code"] == 401 and res["error"]["reason"] == "replay":
                            # the same (d, m, s, t) within one second of an attempt whose
                            # answer was lost (the gateway remembers it across restarts):
                            # the SDK keeps the window and re-signs it later, so do we
                            todo.append((d, s))
                            replayed = True
                        else:
                            refused.append(str(res))
                    if sent is not None and all(x["code"] in (200, 202) for x in results):
                        sent(content)
                if replayed:
                    time.sleep(0.5)                 # a new second: a new signature time

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not refused, refused[:3]


def records_with_redeliveries(n: int, rng: random.Random) -> list[IngestRecord]:
    """``n`` windows of 20 devices, plus redeliveries (identical bytes) of earlier ones at
    random distances and a few conflicting bodies under written identities."""
    base = bodies(n, devices=20, light=True)
    out: list[IngestRecord] = []
    for i, rec in enumerate(base):
        out.append(rec)
        if i and rng.random() < 0.3:
            out.append(base[rng.randrange(max(0, i - 200), i + 1)])
        if i and rng.random() < 0.02:
            old = base[rng.randrange(max(0, i - 200), i)]
            other = base[(base.index(old) + 1) % n]    # another window's sketches ...
            w = decode_window(old.window)
            body = restamp(other.window, w["d"], w["sq"], window_index=w["sq"] // 500)
            if body != old.window:                     # ... under the old identity
                out.append(IngestRecord(old.device_id, body, old.sent_at_s, old.received_at_ms))
    return out


