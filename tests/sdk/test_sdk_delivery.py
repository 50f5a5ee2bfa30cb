"""Delivery to the real gateway (one process for the module, a fresh device per test):
outages, a collector that hangs, spool bounds, windows the collector refuses, a device
clock off by 1000 s, duplicates, batches, corrupt spool files, SIGKILL of a real device
process. What a misbehaving collector does is in test_sdk_delivery_faults.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest
from sdk_gateway import drain, seal, spool_files
from support import wait_until

from collector.fake_windows import make_window_body
from edge_sdk.spool import SUFFIX

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
DUPLICATES = "edgedrift_gateway_windows_duplicate_total"


def test_outage_then_recovery_delivers_every_window_exactly_once(gateway, device, gw_monitor):
    gateway.stop()                        # collector down: connections refused
    mon = gw_monitor()
    mon.start()
    seqs = seal(mon, 6)
    assert seqs == list(range(seqs[0], seqs[0] + 6))  # consecutive sequence numbers
    time.sleep(0.5)                       # the sender keeps failing meanwhile
    assert mon.spool.backlog()[0] == 6    # the spool grew, nothing lost
    gateway.start()                       # back on the same port
    wait_until(lambda: gateway.accepted_seqs(device.id) == seqs, 30, what="the six windows")
    wait_until(lambda: mon.spool.backlog()[0] == 0, 20, what="an empty spool")
    assert gateway.metric(DUPLICATES) == 0           # none was sent twice


def test_sealer_thread_ships_contiguous_windows(gateway, device, gw_monitor):
    mon = gw_monitor(window_s=0.1, compress=False)
    mon.start()
    for i in range(300):
        mon.log({"x": float(i)})
        if i % 50 == 0:
            time.sleep(0.05)
    wait_until(lambda: len(gateway.accepted_seqs(device.id)) >= 4, 20, what="four windows")
    mon.close(timeout_s=20)
    windows = gateway.windows(device.id)
    seqs = [w["sq"] for w in windows]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert sum(w["n"] for w in windows) == 300            # nothing lost, nothing twice
    for a, b in pairwise(windows):
        assert a["we"] == b["ws"]                          # windows tile time: no gap, no overlap


def test_duplicate_answer_counts_as_delivered(gateway, device, gw_monitor):
    mon = gw_monitor()
    seqs = seal(mon, 2)
    saved = {p.name: p.read_bytes() for p in spool_files(mon)}
    assert drain(mon)
    for name, data in saved.items():              # a device that never saw the acks
        (mon.spool.dir / name).write_bytes(data)
    def answered_as_known() -> float:             # "duplicate", or "replay" within the second
        return gateway.metric(DUPLICATES) + gateway.rejected("replay")

    before = answered_as_known()
    assert drain(mon)                             # either answer empties the spool too
    assert answered_as_known() == before + 2
    assert mon.spool.counters()["rejected"] == 0
    assert gateway.accepted_seqs(device.id) == seqs


def test_hanging_collector_times_out_and_retries(gateway, device, gw_monitor):
    mon = gw_monitor(timeout_s=0.5)
    seq = seal(mon, 1)[0]
    gateway.pause()                               # accepts the connection, never answers
    try:
        assert mon.sender.send_once() is False    # timed out: kept, not lost
        assert mon.spool.backlog()[0] == 1
    finally:
        gateway.resume()
    mon.sender._next_attempt = 0.0
    assert drain(mon)
    assert gateway.accepted_seqs(device.id) == [seq]


def test_spool_full_drops_oldest_and_reports_it(gateway, device, gw_monitor):
    mon = gw_monitor(spool_max_files=3)           # not started: nothing is sent while sealing
    seqs = seal(mon, 7)
    assert mon.spool.counters()["dropped"] == 4
    assert [int(p.stem) for p in spool_files(mon)] == seqs[-3:]   # the newest survive
    assert drain(mon)
    assert gateway.accepted_seqs(device.id) == seqs[-3:]
    last = mon.seal_window()                         # the next payload reports the drops
    assert last["hl"]["dp"] == 4
    assert drain(mon)
    assert gateway.windows(device.id)[-1]["dp"] == 4


def test_spool_byte_bound_drops_oldest(make_monitor):
    mon = make_monitor(spool_max_bytes=4096)         # never sends: its endpoint is closed
    seqs = []
    for i in range(40):                              # ~1 KB windows: 40 KB >> 4 KB
        mon.log({f"f{j}": float(i + j) for j in range(12)})
        seqs.append(mon.seal_window()["sq"])
    windows, size = mon.spool.backlog()
    assert size <= 4096 and windows >= 2
    assert [s for s, _ in mon.spool.oldest(40)] == seqs[-windows:]   # the newest are kept
    assert mon.spool.counters()["dropped"] == 40 - windows


def _refused_in_spool(mon, seq: int) -> None:
    """Replace spooled window ``seq`` by a well-formed window of another device: the
    gateway refuses it (the body's device is not the envelope's)."""
    (mon.spool.dir / f"{seq:020d}{SUFFIX}").unlink()
    mon.spool.append(seq, make_window_body("someone-else", seq, records=3))


def test_4xx_is_dropped_counted_and_not_retried(gateway, device, gw_monitor):
    mon = gw_monitor()
    bad = seal(mon, 1)[0]
    _refused_in_spool(mon, bad)
    before = gateway.rejected()
    assert drain(mon)                   # spool empty: dropped, not retried forever
    for _ in range(5):
        mon.sender.send_once()
    assert gateway.rejected() == before + 1          # posted once
    nxt = mon.seal_window()
    assert nxt["hl"]["rj"] == 1
    assert drain(mon)
    assert gateway.accepted_seqs(device.id) == [nxt["sq"]]
    assert gateway.windows(device.id)[0]["rj"] == 1
    assert gateway.rejected() == before + 1


@pytest.mark.parametrize("offset_s", [1000.0, -1000.0])
def test_a_clock_off_by_1000s_is_corrected_and_the_retry_succeeds(gateway, device, gw_monitor,
                                                                    offset_s):
    mon = gw_monitor()
    mon.sender.clock_skew_ms = int(offset_s * 1000)  # signs with a time 1000 s off
    seq = seal(mon, 1)[0]
    before = gateway.rejected("timestamp_skew")
    assert drain(mon)
    assert gateway.accepted_seqs(device.id) == [seq]
    assert gateway.rejected("timestamp_skew") == before + 1    # one refusal, then corrected
    assert abs(mon.sender.clock_skew_ms) < 5_000
    assert abs(mon.seal_window()["hl"]["sk"]) < 5_000


def test_backlog_drains_in_batches(gateway, device, gw_monitor):
    mon = gw_monitor(batch_size=50)
    seqs = seal(mon, 120, records=1)
    left = []
    for _ in range(3):
        assert mon.sender.send_once() is True
        left.append(mon.spool.backlog()[0])
    assert left == [70, 20, 0]                       # 50, 50, 20 windows a request
    assert gateway.accepted_seqs(device.id) == seqs


def test_batch_per_item_results(gateway, device, gw_monitor):
    mon = gw_monitor(batch_size=50)
    seqs = seal(mon, 5)
    reject = seqs[3]
    _refused_in_spool(mon, reject)
    assert mon.sender.send_once() is True            # one request with all five
    assert mon.spool.backlog()[0] == 0
    assert gateway.accepted_seqs(device.id) == [s for s in seqs if s != reject]
    assert mon.spool.counters()["rejected"] == 1


def test_corrupt_spool_files_are_skipped_and_counted(gateway, device, gw_monitor):
    mon = gw_monitor()
    seqs = seal(mon, 5)
    files = spool_files(mon)
    data = bytearray(files[1].read_bytes())
    data[len(data) // 2] ^= 0x10                     # bit flip in the body
    files[1].write_bytes(bytes(data))
    files[2].write_bytes(files[2].read_bytes()[:-7])  # truncated body
    files[3].write_bytes(b"ED")                      # torn header
    (mon.spool.dir / f".{seqs[4] + 1:020d}.999.tmp").write_bytes(b"EDW1partial")
    assert drain(mon)                   # never hangs
    assert gateway.accepted_seqs(device.id) == [seqs[0], seqs[4]]
    assert mon.spool.counters()["corrupt"] == 3
    nxt = mon.seal_window()
    assert nxt["hl"]["dc"] == 3
    assert drain(mon)
    assert gateway.windows(device.id)[-1]["dc"] == 3


def test_an_unreadable_spool_entry_is_quarantined_not_spun_on(gateway, device, gw_monitor):
    """A spool entry that cannot be read (here: a directory where a window file should be,
    as failing flash gives EIO) is moved aside and counted; the others are delivered and the
    sender does not loop on it."""
    mon = gw_monitor()
    seqs = seal(mon, 3)
    bad = spool_files(mon)[1]
    bad.unlink()
    bad.mkdir()                                   # read_bytes() raises IsADirectoryError
    assert drain(mon)
    assert gateway.accepted_seqs(device.id) == [seqs[0], seqs[2]]
    assert mon.spool.counters()["corrupt"] == 1
    assert (mon.spool.dir / "quarantine" / bad.name).exists()
    assert mon.sender.send_once() is False and mon.status()["backlog_windows"] == 0


def test_spool_dir_removed_at_runtime_recovers(gateway, device, gw_monitor, tmp_path):
    """The OS or the app wipes the cache directory: the SDK must re-create it, not lose
    every later window (and flush() must not raise into the app)."""
    import shutil

    mon = gw_monitor()
    mon.log({"x": 1.0})
    shutil.rmtree(tmp_path / "spool")
    mon.log({"x": 2.0})
    mon.flush(timeout_s=20)                          # must not raise
    mon.log({"x": 3.0})
    mon.seal_window()
    assert drain(mon)
    windows = gateway.windows(device.id)
    assert sum(w["n"] for w in windows) == 3         # no record lost
    assert windows[-1]["n"] == 1


def _device(mode: str, endpoint: str, device, spool_dir: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, str(HERE / "sdk_device.py"), mode, endpoint,
                             device.key, str(spool_dir), device.id], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=str(ROOT), text=True)


@pytest.mark.timeout(120)
def test_sigkill_mid_run_then_restart_recovers_the_spool(gateway, device, gw_monitor, tmp_path):
    # Phase 1: the device delivers, then the collector goes down, so the device process
    # has both delivered and spooled windows when it is killed.
    spool_dir = tmp_path / "spool"
    proc = _device("loop", gateway.url, device, spool_dir)
    model_dir = spool_dir / "kws"
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        wait_until(lambda: len(gateway.accepted_seqs(device.id)) >= 2, 30,
                   what="two delivered windows", proc=proc)
        gateway.stop()
        wait_until(lambda: len(list(model_dir.glob("*" + SUFFIX))) >= 4, 30,
                   what="a backlog of four windows", proc=proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    spooled = sorted(int(p.stem) for p in model_dir.glob("*" + SUFFIX))
    before = set(gateway.accepted_seqs(device.id))
    old_max = max(spooled + list(before))
    # Phase 2: the collector is back; a new Monitor on the same spool delivers the backlog.
    gateway.start()
    mon = gw_monitor(spool_dir=str(spool_dir))
    new = seal(mon, 2)
    assert min(new) > old_max                        # sequence numbers never repeat
    assert drain(mon)
    got = gateway.accepted_seqs(device.id)
    after = set(got)
    assert len(got) == len(after)                    # each identity written once
    assert set(spooled) <= after                     # every spooled window arrived
    assert set(new) <= after
    old = sorted(s for s in after if s <= old_max)
    gaps = sorted(set(range(old[0], old[-1] + 1)) - after)
    assert len(gaps) <= 1, gaps                      # at most the window being sealed at the kill


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


def test_a_corrupt_state_file_is_counted_not_silently_reset(make_monitor):
    mon = make_monitor()
    mon.spool.count("dropped", 58)
    (mon.spool.dir / "state.json").write_text('{"next_seq": "garbage"')
    counters = mon.spool.counters()
    assert counters["corrupt"] == 1 and counters["dropped"] == 0   # the loss is visible
    assert (mon.spool.dir / "state.json.corrupt").exists()
    assert mon.spool.counters()["corrupt"] == 1                    # counted once
    assert mon.seal_window()["hl"]["dc"] == 1
