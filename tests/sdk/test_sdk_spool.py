"""The spool on its own: bounds, FIFO order, checksums, counters, sequence numbers."""

from __future__ import annotations

import tempfile

from hypothesis import given
from hypothesis import strategies as st
from sdk_strategies import SETTINGS

from edge_sdk.spool import SUFFIX, Spool


@SETTINGS
@given(st.lists(st.binary(min_size=1, max_size=600), min_size=1, max_size=30),
       st.integers(1, 10), st.integers(4096, 12_000), st.integers(1, 8))
def test_spool_keeps_the_newest_within_bounds(bodies, max_files, max_bytes, batch):
    with tempfile.TemporaryDirectory() as tmp:
        sp = Spool(tmp, max_bytes=max_bytes, max_files=max_files, durable=False)
        seqs = []
        for body in bodies:
            seq = sp.next_seq()
            seqs.append(seq)
            sp.append(seq, body)
            n, size = sp.backlog()
            assert n <= max_files and size <= max_bytes
        assert seqs == sorted(set(seqs))                      # strictly increasing
        kept = []
        while True:
            got = sp.oldest(batch)
            if not got:
                break
            kept += got
            sp.remove([s for s, _ in got])
        by_seq = dict(zip(seqs, bodies, strict=True))
        assert [s for s, _ in kept] == sorted(s for s, _ in kept)   # oldest first
        assert all(by_seq[s] == b for s, b in kept)                 # intact
        assert [s for s, _ in kept] == seqs[len(seqs) - len(kept):]  # the newest survive
        assert sp.counters()["dropped"] == len(bodies) - len(kept)
        assert sp.counters()["corrupt"] == 0


@SETTINGS
@given(st.binary(min_size=1, max_size=300), st.data())
def test_any_damage_to_a_spool_file_is_detected(body, data):
    with tempfile.TemporaryDirectory() as tmp:
        sp = Spool(tmp, durable=False)
        seq = sp.next_seq()
        sp.append(seq, body)
        path = next(sp.dir.glob("*" + SUFFIX))
        raw = bytearray(path.read_bytes())
        kind = data.draw(st.sampled_from(["flip", "truncate", "extend"]))
        if kind == "flip":
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "truncate":
            del raw[data.draw(st.integers(0, len(raw) - 1)):]
        else:
            raw += data.draw(st.binary(min_size=1, max_size=8))
        path.write_bytes(bytes(raw))
        assert sp.oldest(10) == []
        assert sp.counters()["corrupt"] == 1
        assert sp.backlog() == (0, 0)                          # removed, never retried


def test_sequence_numbers_survive_restarts_and_start_from_the_clock():
    import time

    with tempfile.TemporaryDirectory() as tmp:
        before_ms = int(time.time() * 1000)
        first = Spool(tmp).next_seq()
        assert first >= before_ms                               # a new stream starts at the clock
        second = Spool(tmp).next_seq()
        assert second == first + 1
