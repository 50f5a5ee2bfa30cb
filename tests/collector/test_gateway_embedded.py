"""Embedded path (no Kafka): 202 only once the window is in Parquet; a gateway killed after
the write but before the response loses nothing and, with the SDK's real sender retrying,
the window is counted once when read deduplicated by (device_id, model, seq)."""

from __future__ import annotations

import time

import duckdb
from gateway_harness import GatewayProcess, KeyPool, envelope, post

from edge_sdk.monitor import Monitor


def windows_rows(data_dir) -> list[tuple[str, str, int, str]]:
    root = data_dir / "telemetry" / "windows"
    if not any(root.rglob("*.parquet")):
        return []
    con = duckdb.connect()
    try:
        return con.execute(
            "SELECT device_id, model, seq, ingest_id FROM read_parquet(?, hive_partitioning=true)",
            [str(root / "**" / "*.parquet")]).fetchall()
    finally:
        con.close()


def test_accepted_only_after_the_parquet_write(tmp_path):
    pool = KeyPool(tmp_path, count=2)
    device, key = pool.take()
    with GatewayProcess(tmp_path) as gw, gw.client() as client:
        for seq in range(3):
            r = post(client, envelope(key, device, seq))
            assert r.status_code == 202, r.text
            # no waiting: the row must already be readable when the 202 arrives
            assert (device, "kws", seq) in {row[:3] for row in windows_rows(tmp_path)}
        r = post(client, [envelope(key, device, s) for s in range(3, 8)])
        assert [x["code"] for x in r.json()["results"]] == [202] * 5
        assert {row[2] for row in windows_rows(tmp_path)} == set(range(8))
        assert client.get("/readyz").status_code == 200


def test_killed_after_ack_before_response_sdk_retries_window_counted_once(tmp_path):
    pool = KeyPool(tmp_path, count=1)
    device, key = pool.take()
    gw = GatewayProcess(tmp_path, env={"EDGEDRIFT_FAULT": "gateway:after_ack:1"})
    mon = Monitor(model="kws", version="1.0", device_id=device, endpoint=f"{gw.url}/v1/telemetry",
                  key=key, window_s=60, spool_dir=str(tmp_path / "spool"), start=False)
    try:
        gw.start()
        for i in range(50):
            mon.log({"rms": i / 50, "mic": "front"}, prediction=0.5, latency_ms=3.0)
        sealed = mon.seal_window()
        seq = sealed["sq"]
        assert not mon.sender.send_once()          # connection dropped: nothing confirmed
        assert gw.proc is not None and gw.proc.wait(timeout=20) == -9   # SIGKILLed itself
        assert mon.sender.spool.backlog()[0] == 1  # the SDK still holds the window
        rows = windows_rows(tmp_path)
        assert [r[:3] for r in rows] == [(device, "kws", seq)]   # durable before the kill

        gw.env = {}
        gw.start()                                  # same port, same data dir, no fault
        deadline = time.monotonic() + 30
        while mon.sender.spool.backlog()[0] and time.monotonic() < deadline:
            mon.sender.send_once()                  # the SDK's retry: re-signed, new t
        assert mon.sender.spool.backlog()[0] == 0
        rows = windows_rows(tmp_path)
        assert len(rows) == 2 and len({r[3] for r in rows}) == 2   # two deliveries ...
        con = duckdb.connect()
        deduped = con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT device_id, model, seq FROM read_parquet(?))",
            [str(tmp_path / "telemetry" / "windows" / "**" / "*.parquet")]).fetchone()[0]
        con.close()
        assert deduped == 1                                         # ... one window
    finally:
        mon.close(timeout_s=0)
        gw.stop()
