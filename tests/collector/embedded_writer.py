"""Subprocess for the embedded-sink crash test: writes windows, prints each acknowledged seq.

Usage: python embedded_writer.py DATASET START COUNT THREADS
Each thread writes 2 windows per call; after write() returns it prints "ACK <seq>" lines.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sink_support import bodies  # noqa: E402

from collector.embedded import EmbeddedSink  # noqa: E402
from collector.sink_config import SinkConfig  # noqa: E402


def main() -> None:
    dataset, start, count, threads = sys.argv[1], *map(int, sys.argv[2:5])
    seqs = [int(s) for s in sys.argv[5].split(",")] if len(sys.argv) > 5 else \
        list(range(start, start + count))
    recs = {s: bodies(1, devices=7, start=s, light=True)[0] for s in seqs}
    sink = EmbeddedSink(SinkConfig(dataset=dataset, group_commit_ms=5))
    lock = threading.Lock()

    def worker(k: int) -> None:
        mine = seqs[k::threads]
        for i in range(0, len(mine), 2):
            chunk = mine[i:i + 2]
            sink.write([recs[s] for s in chunk])
            with lock:
                sys.stdout.write("".join(f"ACK {s}\n" for s in chunk))
                sys.stdout.flush()

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    sink.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
