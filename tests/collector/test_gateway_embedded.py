"""Embedded path (no Kafka): 202 only once the window is in Parquet; a gateway killed after
the write but before the response loses nothing and, with the SDK's real sender retrying,
the window is counted once when read deduplicated by (device_id, model, seq)."""

from __future__ import annotations

import time

import duckdb
from gateway_harness import GatewayProcess, KeyPool, envelope, post, window

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
        assert [r[:4] for r in rows] == [(device, "kws", seq, "embedded/0/0")]   # one row:
        # the restarted sink knew the window was written and did not write the retry again
    finally:
        mon.close(timeout_s=0)
        gw.stop()


def test_a_large_batch_gets_the_answers_single_requests_get(tmp_path):
    """Batches of >= window_batch_min envelopes are checked in the helper process by the
    sink's column proofs; each window's answer must be the one the event loop's exact check
    gives the same window sent alone (a twin device, so replay state does not differ)."""
    import msgpack

    pool = KeyPool(tmp_path, count=4)
    (dev_a, key_a), (dev_b, key_b) = pool.take(), pool.take()

    def windows(device: str) -> list[bytes]:
        out = [window(device, seq) for seq in range(24)]
        bins = msgpack.unpackb(out[3])
        bins["f"][0][3] += 1                              # n is not the bin total
        out[3] = msgpack.packb(bins, use_bin_type=True)
        late = msgpack.unpackb(out[7])
        late["we"] = late["ws"] - 1                       # ends before it starts
        out[7] = msgpack.packb(late, use_bin_type=True)
        out[11] = out[11][:-3]                            # truncated msgpack
        out[15] = window(device, 99)                      # signed as seq 15, says 99
        return out

    with GatewayProcess(tmp_path) as gw, gw.client() as client:
        r = post(client, [envelope(key_a, dev_a, seq, body=w)
                          for seq, w in enumerate(windows(dev_a))])
        batch = [(x["code"], x.get("error", {}).get("field"), x.get("error", {}).get("expected"))
                 for x in r.json()["results"]]
        alone = []
        for seq, w in enumerate(windows(dev_b)):
            reply = post(client, envelope(key_b, dev_b, seq, body=w))
            err = reply.json().get("error", {})
            alone.append((reply.status_code, err.get("field"), err.get("expected")))
    assert [code for code, _, _ in batch] == [code for code, _, _ in alone]
    assert [code for code, _, _ in batch].count(202) == 20
    for i, ((_, field, expected), (_, alone_field, alone_expected)) in enumerate(
            zip(batch, alone, strict=True)):
        if field is not None or alone_field is not None:
            assert field == alone_field.replace("body.", f"body[{i}].", 1)
            assert expected == alone_expected.replace(dev_b, dev_a)
