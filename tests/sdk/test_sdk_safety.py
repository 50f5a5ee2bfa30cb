"""Safe in real apps: threads, context manager, fork, configuration errors, labels, sampling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sdk_receiver import DEVICE, KEY

from edge_sdk import ConfigError, Monitor

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def test_log_from_8_threads_counts_every_record(make_monitor):
    mon = make_monitor()
    per_thread = 2_000
    start = threading.Barrier(8)

    def work(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            mon.log({"x": float(i), "t": f"thread-{t}", f"only{t % 2}": 1.0},
                    prediction=0.5, latency_ms=1.0)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    body = mon.seal_window()
    total = 8 * per_thread
    assert body["n"] == total
    f = {e[0]: e[1:] for e in body["f"]}
    assert f["x"][2] == total                                  # numeric n
    assert f["t"][6] == {f"thread-{t}": per_thread for t in range(8)}
    assert f["only0"][2] == total // 2 and f["only0"][3] == total // 2   # n, missing
    assert body["lt"][2] == total and body["pr"][2] == total


def test_concurrent_log_and_seal_lose_nothing(make_monitor):
    mon = make_monitor()
    stop = threading.Event()
    sealed: list[dict] = []

    def sealer() -> None:
        while not stop.is_set():
            sealed.append(mon.seal_window())

    th = threading.Thread(target=sealer)
    th.start()
    logged = 0
    for i in range(20_000):
        mon.log({"x": float(i)})
        logged += 1
    stop.set()
    th.join(timeout=30)
    sealed.append(mon.seal_window())
    assert sum(b["n"] for b in sealed) == logged
    seqs = [b["sq"] for b in sealed]
    assert len(set(seqs)) == len(seqs)


def test_context_manager_flushes(gateway, device, tmp_path):
    with Monitor(model="kws", version="1", device_id=device.id, endpoint=gateway.url,
                 key=device.key, window_s=3600, spool_dir=str(tmp_path), backoff_max_s=0.2,
                 close_timeout_s=20) as mon:
        for i in range(5):
            mon.log({"x": float(i)}, prediction=0.5)
    assert [w["n"] for w in gateway.windows(device.id)] == [5]
    assert mon.spool.backlog()[0] == 0
    mon.log({"x": 1.0})                      # after close: still never raises
    mon.close()                              # idempotent


def test_close_with_the_collector_down_keeps_data_for_next_start(gateway, device, tmp_path):
    kw = dict(model="kws", version="1", device_id=device.id, key=device.key, window_s=3600,
              spool_dir=str(tmp_path), backoff_max_s=0.2)
    down = "http://127.0.0.1:9/v1/telemetry"                  # nothing listens there
    with Monitor(**kw, endpoint=down, close_timeout_s=0.5) as mon:
        mon.log({"x": 1.0})
    assert mon.spool.backlog()[0] == 1
    again = Monitor(**kw, endpoint=gateway.url, close_timeout_s=20, start=False)
    again.close()
    assert [w["n"] for w in gateway.windows(device.id)] == [1, 0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.timeout(90)
def test_forked_child_gets_fresh_sender_and_distinct_seqs(gateway, device, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(HERE / "sdk_device.py"), "fork", gateway.url,
                           device.key, str(tmp_path), device.id], capture_output=True, text=True,
                          timeout=80, env=env, cwd=str(ROOT))
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, proc.stderr[-2000:]
    by_role = {d["role"]: d for d in lines}
    assert set(by_role) == {"parent", "child"}, (proc.stdout, proc.stderr[-2000:])
    child, parent = by_role["child"], by_role["parent"]
    assert child["delivered"] and parent["delivered"], lines
    assert child["n"] == 7 and parent["n"] == 13          # child's window starts fresh
    assert child["seq"] != parent["seq"]
    seqs = gateway.accepted_seqs(device.id)
    assert len(seqs) == len(set(seqs))
    assert {child["seq"], parent["seq"]} <= set(seqs)
    who = gateway.categories(device.id, "who")
    assert who[child["seq"]] == {"child": 7}
    assert who[parent["seq"]] == {"parent": 13}


def test_interpreter_exit_flushes_the_open_window(gateway, device, tmp_path):
    code = f"""
import edge_sdk
mon = edge_sdk.Monitor(model="kws", version="1", device_id={device.id!r},
                       endpoint={gateway.url!r}, key={device.key!r}, window_s=3600,
                       spool_dir={str(tmp_path)!r}, close_timeout_s=20)
for i in range(5):
    mon.log({{"x": float(i)}})
"""   # no close(): the atexit hook must seal and deliver
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=env)
    assert out.returncode == 0, out.stderr
    assert [w["n"] for w in gateway.windows(device.id)] == [5]


BASE = dict(model="kws", version="1", device_id=DEVICE, endpoint="http://127.0.0.1:9/v1/t",
            key=KEY, window_s=60, start=False)


@pytest.mark.parametrize("field,override", [
    ("endpoint", {"endpoint": "ftp://collector.example/x"}),
    ("endpoint", {"endpoint": "not a url"}),
    ("endpoint", {"endpoint": "http://:80/x"}),
    ("endpoint", {"endpoint": "http://host:99999/x"}),
    ("window_s", {"window_s": 0}),
    ("window_s", {"window_s": -5}),
    ("window_s", {"window_s": "60"}),
    ("window_s", {"window_s": float("nan")}),
    ("window_s", {"window_s": True}),
    ("key", {"key": "short"}),
    ("key", {"key": None}),
    ("model", {"model": ""}),
    ("device_id", {"device_id": "bad\nid"}),
    ("sample_rows", {"sample_rows": -1}),
    ("sample_rows", {"sample_rows": 5000}),
    ("tags", {"tags": {"k": 1}}),
    ("spec", {"spec": 42}),
    ("spool_max_bytes", {"spool_max_bytes": 10}),
])
def test_config_errors_name_the_field(tmp_path, field, override):
    args = {**BASE, "spool_dir": str(tmp_path), **override}
    with pytest.raises(ConfigError) as info:
        Monitor(**args)
    assert info.value.field.startswith(field)
    assert str(info.value).startswith(field)


def test_key_never_appears_in_config_errors(tmp_path):
    secret = "edk_k1_VERY-SECRET-VALUE"
    with pytest.raises(ConfigError) as info:
        Monitor(**{**BASE, "key": secret, "window_s": -1, "spool_dir": str(tmp_path)})
    assert "VERY-SECRET" not in str(info.value)


def test_unwritable_spool_dir(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ConfigError) as info:
        Monitor(**{**BASE, "spool_dir": str(blocker / "spool")})
    assert info.value.field == "spool_dir"


@pytest.mark.parametrize("content,field", [
    ("{not json", "spec"),
    ("[1, 2]", "spec"),
    ('{"features": {}}', "spec.features"),
    ('{"features": {"x": {"type": "numeric", "edges": [2, 1]}}}', "spec.features.x.edges"),
    ('{"features": {"x": {"type": "numeric", "edges": [0, NaN]}}}', "spec.features.x.edges"),
    ('{"features": {"x": {"type": "vector"}}}', "spec.features.x.type"),
    ('{"features": {"x": {"type": "numeric", "range": [1, 0]}}}', "spec.features.x.range"),
    ('{"format": "other/9", "features": {"x": {"type": "numeric"}}}', "spec.format"),
    ('{"features": {"x": {"type": "numeric"}}, "prediction": {"type": "numeric", "task": "x"}}',
     "spec.prediction.task"),
])
def test_malformed_spec_file(tmp_path, content, field):
    path = tmp_path / "kws.spec.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        Monitor(**{**BASE, "spool_dir": str(tmp_path / "spool"), "spec": str(path)})
    assert info.value.field == field


def test_missing_spec_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        Monitor(**{**BASE, "spool_dir": str(tmp_path), "spec": str(tmp_path / "nope.json")})
    assert info.value.field == "spec"


def test_label_unknown_or_too_old_returns_false_and_counts(make_monitor):
    mon = make_monitor(label_memory=4)
    first = mon.log({"x": 1.0}, prediction="yes")
    ids = [mon.log({"x": 1.0}, prediction="no") for _ in range(4)]   # evicts `first`
    assert mon.label(first, "yes") is False           # too old
    assert mon.label(10_000, "yes") is False          # unknown
    assert mon.label(-1, "yes") is False              # the id log() returns on internal error
    assert mon.label(0, "yes") is False
    assert mon.label(ids[-1], "no") is True
    body = mon.seal_window()
    assert body["hl"]["lm"] == 4
    assert body["lb"][:2] == [2, 1]                   # one classification label counted
    mon.label(12_345, 1)
    assert mon.seal_window()["hl"]["lm"] == 5        # cumulative counter


def test_no_rows_are_sampled_by_default(make_monitor):
    mon = make_monitor()
    for i in range(100):
        mon.log({"x": float(i), "c": "a"}, prediction=0.5)
    assert "sm" not in mon.seal_window()


@pytest.mark.parametrize("k,records", [(5, 3), (5, 1000), (1, 50)])
def test_sampling_sends_at_most_k_rows(make_monitor, k, records):
    from edge_sdk.wire import decode_window, encode_window

    mon = make_monitor(sample_rows=k)
    for i in range(records):
        mon.log({"x": float(i), "c": "a", "bad": object()}, prediction=0.5)
    body = mon.seal_window()
    rows = body["sm"]["r"]
    assert len(rows) == min(k, records)
    assert body["sm"]["c"][:2] == ["x", "c"]
    xs = [r[body["sm"]["c"].index("x")] for r in rows]
    assert len(set(xs)) == len(xs) and all(0 <= x < records for x in xs)
    decode_window(encode_window(body))               # samples stay valid wire v1
    assert not mon.seal_window().get("sm", {}).get("r")     # the next window starts empty


def test_memory_stays_bounded_whatever_the_record_count(make_monitor):
    import tracemalloc

    mon = make_monitor(sample_rows=8, label_memory=256)

    def burst(start: int, count: int) -> None:
        for i in range(start, start + count):
            pid = mon.log({"x": float(i), "y": i, f"new{i}": 1.0, "cat": f"c{i}",
                           "s": "z" * 200}, prediction=str(i % 7), latency_ms=float(i % 50))
            mon.label(pid, str(i % 5))

    burst(0, 3_000)                       # features, categories, label ring all saturated
    tracemalloc.start()
    try:
        burst(3_000, 2_000)
        base = tracemalloc.get_traced_memory()[0]
        burst(5_000, 30_000)
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, f"the open window grew by {grown} bytes over 30,000 records"
    body = mon.seal_window()
    assert body["n"] == 35_000 and len(body["f"]) <= 64
