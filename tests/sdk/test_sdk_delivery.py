"""Delivery against a real loopback receiver: outages, spool bounds, 429/4xx/401 skew,
batches with per-item results, SIGKILL of a real device process, corrupt spool files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest
from sdk_receiver import KEY

from edge_sdk.spool import SUFFIX

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def spool_files(mon) -> list[Path]:
    return sorted(mon.spool.dir.glob("*" + SUFFIX))


def seal(mon, n: int, records: int = 3) -> list[int]:
    seqs = []
    for _ in range(n):
        for i in range(records):
            mon.log({"x": float(i), "mic": "front"}, prediction=0.5, latency_ms=2.0)
        seqs.append(mon.seal_window()["sq"])
    return seqs


def drain(mon, rounds: int = 200) -> bool:
    """Send the spool without sealing a new window (flush() would seal one)."""
    for _ in range(rounds):
        if not mon.spool.backlog()[0]:
            return True
        mon.sender.send_once()
        time.sleep(0.01)
    return not mon.spool.backlog()[0]


def test_outage_then_recovery_delivers_every_window_exactly_once(receiver, make_monitor):
    receiver.stop()                       # receiver down: connections refused
    mon = make_monitor(receiver.url)
    mon.start()
    seqs = seal(mon, 6)
    assert seqs == list(range(seqs[0], seqs[0] + 6))  # consecutive sequence numbers
    time.sleep(0.5)                       # the sender keeps failing meanwhile
    assert mon.spool.backlog()[0] == 6    # the spool grew, nothing lost
    receiver.start()                      # receiver back on the same port
    assert receiver.wait_for(lambda: len(receiver.accepted_seqs()) == 6)
    assert receiver.accepted_seqs() == seqs          # no gap
    delivered = [it.seq for it in receiver.state.items if it.code in (200, 202)]
    assert sorted(delivered) == seqs                 # no duplicate delivery
    assert receiver.wait_for(lambda: mon.spool.backlog()[0] == 0)
    assert not receiver.state.conflicts


def test_sealer_thread_ships_contiguous_windows(receiver, make_monitor):
    mon = make_monitor(receiver.url, window_s=0.1, compress=False)
    mon.start()
    for i in range(300):
        mon.log({"x": float(i)})
        if i % 50 == 0:
            time.sleep(0.05)
    assert receiver.wait_for(lambda: len(receiver.accepted_seqs()) >= 4)
    mon.close(timeout_s=20)
    windows = receiver.accepted_windows()
    seqs = [w["sq"] for w in windows]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert sum(w["n"] for w in windows) == 300            # nothing lost, nothing twice
    for a, b in pairwise(windows):
        assert a["we"] == b["ws"]                          # windows tile time: no gap, no overlap


def test_duplicate_answer_counts_as_delivered(receiver, make_monitor):
    mon = make_monitor(receiver.url)
    seal(mon, 2)
    receiver.state.rule = lambda d, m, s, w: (200, "duplicate", {}, None)
    assert drain(mon)
    assert mon.spool.counters()["rejected"] == 0


def test_503_keeps_windows_until_the_collector_recovers(receiver, make_monitor):
    mon = make_monitor(receiver.url)
    seqs = seal(mon, 3)
    receiver.state.request_rule = lambda envs: (503, {"error": {"reason": "kafka"}},
                                                {"Retry-After": "0"})
    for _ in range(5):
        assert mon.sender.send_once() is False
    assert mon.spool.backlog()[0] == 3
    receiver.state.request_rule = None
    assert drain(mon)
    assert receiver.accepted_seqs() == seqs


def test_hanging_collector_times_out_and_retries(receiver, make_monitor):
    calls = []

    def hang_first(envs):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(2.0)                                # longer than the sender's timeout
        return None

    receiver.state.request_rule = hang_first
    mon = make_monitor(receiver.url, timeout_s=0.5)
    seq = seal(mon, 1)[0]
    assert mon.sender.send_once() is False                 # timed out: kept, not lost
    assert mon.spool.backlog()[0] == 1
    assert drain(mon)
    assert seq in receiver.accepted_seqs()


def test_spool_full_drops_oldest_and_reports_it(receiver, make_monitor):
    receiver.stop()
    mon = make_monitor(receiver.url, spool_max_files=3)
    seqs = seal(mon, 7)
    assert mon.spool.counters()["dropped"] == 4
    assert [int(p.stem) for p in spool_files(mon)] == seqs[-3:]   # the newest survive
    receiver.start()
    assert drain(mon)
    assert receiver.accepted_seqs() == seqs[-3:]
    last = mon.seal_window()                         # the next payload reports the drops
    assert last["hl"]["dp"] == 4
    assert drain(mon)
    assert receiver.accepted_windows()[-1]["hl"]["dp"] == 4


def test_spool_byte_bound_drops_oldest(receiver, make_monitor):
    receiver.stop()
    mon = make_monitor(receiver.url, spool_max_bytes=4096)
    seqs = []
    for i in range(40):                              # ~1 KB windows: 40 KB >> 4 KB
        mon.log({f"f{j}": float(i + j) for j in range(12)})
        seqs.append(mon.seal_window()["sq"])
    windows, size = mon.spool.backlog()
    assert size <= 4096 and windows >= 2
    assert [s for s, _ in mon.spool.oldest(40)] == seqs[-windows:]   # the newest are kept
    assert mon.spool.counters()["dropped"] == 40 - windows


def test_429_retry_after_is_honoured(receiver, make_monitor):
    calls = []

    def first_429(envelopes):
        calls.append(time.monotonic())
        if len(calls) == 1:
            return 429, {"error": {"reason": "rate_limited"}}, {"Retry-After": "1"}
        return None

    receiver.state.request_rule = first_429
    # Retry-After is capped at 4 x backoff_max_s (sender.Backoff), so give it room.
    mon = make_monitor(receiver.url, backoff_max_s=5.0)
    mon.start()
    seq = seal(mon, 1)[0]
    assert receiver.wait_for(lambda: receiver.accepted_seqs() == [seq])
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.95               # waited at least Retry-After


def test_429_sets_next_attempt_from_retry_after(receiver, make_monitor):
    receiver.state.request_rule = lambda envs: (429, {}, {"Retry-After": "30"})
    mon = make_monitor(receiver.url, backoff_max_s=300.0)  # first backoff alone: <= 1 s
    seal(mon, 1)
    before = time.monotonic()
    assert mon.sender.send_once() is False
    assert mon.sender._next_attempt - before >= 29.0
    assert mon.spool.backlog()[0] == 1               # kept for later


def test_retry_after_as_http_date(receiver, make_monitor):
    from email.utils import formatdate

    receiver.state.request_rule = lambda envs: (
        429, {}, {"Retry-After": formatdate(time.time() + 60, usegmt=True)})
    mon = make_monitor(receiver.url, backoff_max_s=300.0)
    seal(mon, 1)
    before = time.monotonic()
    assert mon.sender.send_once() is False
    assert mon.sender._next_attempt - before >= 55.0


def test_4xx_is_dropped_counted_and_not_retried(receiver, make_monitor):
    mon = make_monitor(receiver.url)
    bad = seal(mon, 1)[0]
    receiver.state.rule = lambda d, m, s, w: (
        (400, "rejected", {"field": "w.f"}, None) if s == bad else None)
    assert drain(mon)                   # spool empty: dropped, not retried forever
    for _ in range(5):
        mon.sender.send_once()
    assert receiver.posts_of(bad) == 1
    nxt = mon.seal_window()
    assert nxt["hl"]["rj"] == 1
    assert drain(mon)
    assert receiver.accepted_seqs() == [nxt["sq"]]
    assert receiver.posts_of(bad) == 1


@pytest.mark.parametrize("offset_s", [1000.0, -1000.0])
def test_timestamp_skew_corrects_clock_and_retry_succeeds(receiver, make_monitor, offset_s):
    receiver.state.clock_offset_s = offset_s         # the server's clock is off by 1000 s
    mon = make_monitor(receiver.url)
    seq = seal(mon, 1)[0]
    assert drain(mon)
    assert receiver.accepted_seqs() == [seq]
    codes = [it.code for it in receiver.state.items]
    assert codes[0] == 401 and codes[-1] == 202
    assert abs(mon.sender.clock_skew_ms - offset_s * 1000) < 5_000
    assert abs(mon.seal_window()["hl"]["sk"] - offset_s * 1000) < 5_000


def test_backlog_drains_in_batches(receiver, make_monitor):
    receiver.stop()
    mon = make_monitor(receiver.url, batch_size=50)
    seqs = seal(mon, 120, records=1)
    receiver.start()
    assert drain(mon)
    assert [n for _t, n, _code in receiver.state.requests] == [50, 50, 20]
    assert receiver.accepted_seqs() == seqs


def test_batch_per_item_results(receiver, make_monitor):
    mon = make_monitor(receiver.url, batch_size=50)
    seqs = seal(mon, 5)
    retry_once, reject = seqs[1], seqs[3]
    seen = set()

    def rule(d, m, s, w):
        if s == reject:
            return 422, "rejected", {"field": "w.d", "expected": "the envelope's d"}, None
        if s == retry_once and s not in seen:
            seen.add(s)
            return 503, "retry", {"reason": "kafka_unavailable"}, None
        return None

    receiver.state.rule = rule
    assert drain(mon)
    first = receiver.state.requests[0]
    assert first[1] == 5                             # one batch request with all five
    assert receiver.accepted_seqs() == [s for s in seqs if s != reject]
    assert receiver.posts_of(retry_once) == 2
    assert receiver.posts_of(reject) == 1
    assert mon.spool.counters()["rejected"] == 1


def test_misconfiguration_keeps_every_window_until_it_is_fixed(receiver, make_monitor):
    """A wrong path (404), a moved endpoint (301, 307), a wrong or revoked key (401, 403):
    nothing is dropped, flush() says False, status() says why; once the collector answers
    again every window arrives exactly once."""
    mon = make_monitor(receiver.url, backoff_max_s=0.05)
    phases = [(404, {"error": {"reason": "not_found"}}, {}),
              (301, {}, {"Location": "https://elsewhere.example/v1/telemetry"}),
              (307, {}, {"Location": "https://elsewhere.example/v1/telemetry"}),
              (401, {"error": {"reason": "unknown_device"}}, {}),
              (401, {"error": {"reason": "revoked"}}, {}),
              (403, {"error": {"reason": "forbidden"}}, {})]
    seqs = []
    for status, payload, headers in phases:
        receiver.state.request_rule = lambda envs, a=(status, payload, headers): a
        seqs += seal(mon, 2)
        assert not drain(mon, rounds=5)
        assert mon.flush(timeout_s=0.3) is False
        seqs.append(seqs[-1] + 1)                           # flush() sealed one more
        st = mon.status()
        assert st["last_status"] == status and st["backlog_windows"] == len(seqs)
        assert st["rejected"] == 0 and st["dropped"] == 0 and st["last_success"] is None
        assert str(status) in st["last_error"]
    receiver.state.request_rule = None
    assert drain(mon, rounds=500)
    assert receiver.accepted_seqs() == seqs
    st = mon.status()
    assert st["backlog_windows"] == 0 and st["rejected"] == 0 and st["last_success"]


def test_a_batch_rejected_as_a_whole_is_retried_window_by_window(receiver, make_monitor):
    """400 for a whole batch does not say which window is bad: each is tried alone, and only
    the one the collector refuses alone is dropped."""
    receiver.stop()
    mon = make_monitor(receiver.url)
    seqs = seal(mon, 4)
    bad = seqs[2]
    receiver.start()
    receiver.state.request_rule = lambda envs: (
        (400, {"error": {"reason": "malformed"}}, {})
        if any(e["s"] == bad for e in envs) else None)
    assert drain(mon)
    assert receiver.accepted_seqs() == [s for s in seqs if s != bad]
    assert mon.spool.counters()["rejected"] == 1


def test_corrupt_spool_files_are_skipped_and_counted(receiver, make_monitor):
    receiver.stop()
    mon = make_monitor(receiver.url)
    seqs = seal(mon, 5)
    files = spool_files(mon)
    data = bytearray(files[1].read_bytes())
    data[len(data) // 2] ^= 0x10                     # bit flip in the body
    files[1].write_bytes(bytes(data))
    files[2].write_bytes(files[2].read_bytes()[:-7])  # truncated body
    files[3].write_bytes(b"ED")                      # torn header
    (mon.spool.dir / f".{seqs[4] + 1:020d}.999.tmp").write_bytes(b"EDW1partial")
    receiver.start()
    assert drain(mon)                   # never hangs
    assert receiver.accepted_seqs() == [seqs[0], seqs[4]]
    assert mon.spool.counters()["corrupt"] == 3
    nxt = mon.seal_window()
    assert nxt["hl"]["dc"] == 3
    assert drain(mon)
    assert receiver.accepted_windows()[-1]["hl"]["dc"] == 3


def test_torn_temp_files_are_removed_on_restart(make_monitor, tmp_path):
    mon = make_monitor()
    seal(mon, 1)
    torn = mon.spool.dir / ".00000000000000000001.123.tmp"
    torn.write_bytes(b"EDW1" + bytes(3))
    mon.close(timeout_s=0)
    again = make_monitor()
    assert not torn.exists()
    assert again.spool.backlog()[0] == 2             # the sealed window + the final one


def test_lost_state_file_never_reuses_sequence_numbers(make_monitor):
    mon = make_monitor()
    seqs = seal(mon, 3)
    mon.close(timeout_s=0)
    (mon.spool.dir / "state.json").write_text("{torn")
    again = make_monitor()
    assert seal(again, 1)[0] > max(seqs)
    (again.spool.dir / "state.json").unlink()
    for p in spool_files(again):
        p.unlink()
    third = make_monitor()
    assert seal(third, 1)[0] > max(seqs)


def _device(mode: str, endpoint: str, spool_dir: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, str(HERE / "sdk_device.py"), mode, endpoint, KEY,
                             str(spool_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=str(ROOT), text=True)


@pytest.mark.timeout(90)
def test_sigkill_mid_run_then_restart_recovers_the_spool(receiver, make_monitor, tmp_path):
    # Phase 1: the collector accepts some windows and answers 503 to others, so the
    # device process has both delivered and spooled windows when it is killed.
    receiver.state.rule = lambda d, m, s, w: (
        (503, "retry", {"reason": "kafka"}, None) if s % 3 else None)
    spool_dir = tmp_path / "spool"
    proc = _device("loop", receiver.url, spool_dir)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        model_dir = spool_dir / "kws"
        ok = receiver.wait_for(lambda: len(list(model_dir.glob("*" + SUFFIX))) >= 4
                               and len(receiver.accepted_seqs()) >= 2, timeout_s=30)
        assert ok, "device produced no backlog"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    spooled = sorted(int(p.stem) for p in (spool_dir / "kws").glob("*" + SUFFIX))
    before = set(receiver.accepted_seqs())
    old_max = max(spooled + list(before))
    # Phase 2: the collector is healthy; a new Monitor on the same spool delivers the backlog.
    receiver.state.rule = None
    mon = make_monitor(receiver.url, spool_dir=str(spool_dir))
    new = seal(mon, 2)
    assert min(new) > old_max                        # sequence numbers never repeat
    assert drain(mon)
    after = set(receiver.accepted_seqs())
    assert set(spooled) <= after                     # every spooled window arrived
    assert set(new) <= after
    assert not receiver.state.conflicts              # no seq ever carried two different windows
    old = sorted(s for s in after if s <= old_max)
    gaps = sorted(set(range(old[0], old[-1] + 1)) - after)
    assert len(gaps) <= 1, gaps                      # at most the window being sealed at the kill
    delivered = [it.seq for it in receiver.state.items if it.code == 202]
    assert len(delivered) == len(set(delivered))     # deduped: each identity accepted once


def test_spool_dir_removed_at_runtime_recovers(receiver, make_monitor, tmp_path):
    """The OS or the app wipes the cache directory: the SDK must re-create it, not lose
    every later window (and flush() must not raise into the app)."""
    import shutil

    mon = make_monitor(receiver.url)
    mon.log({"x": 1.0})
    shutil.rmtree(tmp_path / "spool")
    mon.log({"x": 2.0})
    mon.flush(timeout_s=20)                          # must not raise
    mon.log({"x": 3.0})
    mon.seal_window()
    assert drain(mon)
    assert sum(w["n"] for w in receiver.accepted_windows()) == 3       # no record lost
    assert receiver.accepted_windows()[-1]["n"] == 1


HOSTILE = [
    (200, {"results": [{"code": "abc"}, {"code": None}]}, {}),
    (200, {"results": "nope"}, {}),
    (200, {"results": [["not", "a", "map"]] * 2}, {}),
    (202, {"server_time_ms": float("inf")}, {}),
    (202, {"server_time_ms": float("nan")}, {}),
    (202, {"server_time_ms": "yesterday"}, {}),
    (429, {}, {"Retry-After": "1e400"}),
    (429, {}, {"Retry-After": "nan"}),
    (429, {}, {"Retry-After": "-5"}),
    (503, {"error": "not a map"}, {}),
    (401, {"error": {"reason": ["timestamp_skew"]}}, {}),
]


@pytest.mark.parametrize("status,body,headers", HOSTILE)
def test_hostile_collector_answers_never_raise(receiver, make_monitor, status, body, headers):
    receiver.state.request_rule = lambda envs: (status, body, headers)
    mon = make_monitor(receiver.url)
    seal(mon, 2)
    for _ in range(3):
        mon.sender.send_once()                       # must not raise
    mon.flush(timeout_s=0.3)                         # must not raise either
    assert isinstance(mon.sender.clock_skew_ms, int)
    assert abs(mon.seal_window()["hl"]["sk"]) < 10**12
    receiver.state.request_rule = None
    mon.sender.backoff.reset()
    mon.sender._next_attempt = 0.0
    assert drain(mon)                                # and it recovers


@pytest.mark.parametrize("status,body", [
    (200, b"<html><body>Welcome to Hotel WiFi, please log in</body></html>"),
    (200, b""),
    (200, {"hello": "proxy"}),
])
def test_a_200_that_is_not_the_collector_is_not_a_delivery(receiver, make_monitor, status, body):
    """Captive portals and misconfigured proxies answer 200 to anything: windows must stay
    spooled until the collector itself acknowledges them (202/"accepted", 200/"duplicate"
    or per-item results)."""
    receiver.state.request_rule = lambda envs: (status, body, {})
    mon = make_monitor(receiver.url)
    seqs = seal(mon, 3)
    mon.sender.send_once()
    seal(mon, 1)
    mon.sender.send_once()                           # a single envelope too
    assert mon.spool.backlog()[0] == 4
    receiver.state.request_rule = None
    mon.sender._next_attempt = 0.0
    assert drain(mon)
    assert set(seqs) <= set(receiver.accepted_seqs())


def test_an_unreadable_spool_entry_is_quarantined_not_spun_on(receiver, make_monitor):
    """A spool entry that cannot be read (here: a directory where a window file should be,
    as failing flash gives EIO) is moved aside and counted; the others are delivered and the
    sender does not loop on it."""
    receiver.stop()
    mon = make_monitor(receiver.url)
    seqs = seal(mon, 3)
    bad = spool_files(mon)[1]
    bad.unlink()
    bad.mkdir()                                   # read_bytes() raises IsADirectoryError
    receiver.start()
    assert drain(mon)
    assert receiver.accepted_seqs() == [seqs[0], seqs[2]]
    assert mon.spool.counters()["corrupt"] == 1
    assert (mon.spool.dir / "quarantine" / bad.name).exists()
    assert mon.sender.send_once() is False and mon.status()["backlog_windows"] == 0


def test_a_corrupt_state_file_is_counted_not_silently_reset(make_monitor):
    mon = make_monitor()
    mon.spool.count("dropped", 58)
    (mon.spool.dir / "state.json").write_text('{"next_seq": "garbage"')
    counters = mon.spool.counters()
    assert counters["corrupt"] == 1 and counters["dropped"] == 0   # the loss is visible
    assert (mon.spool.dir / "state.json.corrupt").exists()
    assert mon.spool.counters()["corrupt"] == 1                    # counted once
    assert mon.seal_window()["hl"]["dc"] == 1
