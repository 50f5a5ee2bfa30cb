"""Measure whylogs on the benchmark's records; runs INSIDE the peer venv (bench/peers.py).

Usage: ``python peer_whylogs.py RECORDS.json [REPEAT]``. ``RECORDS.json`` is a list of
flat rows (the SDK benchmark's records with prediction and latency as columns).
Prints one JSON object: per-row ``DatasetProfile.track`` times (median, p99, mean, in
microseconds, over ``REPEAT`` passes after one warm-up row) and the serialized size of
a profile of exactly the given records (raw and zlib-compressed).

whylogs is imported only inside ``main()``, so the project's doctest collection can
import this module without it.
"""

from __future__ import annotations

import json
import os
import sys
import time
import zlib


def main(argv: list[str]) -> int:
    os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "True")
    import whylogs
    from whylogs.core import DatasetProfile

    with open(argv[0], encoding="utf-8") as fh:
        rows = json.load(fh)
    repeat = int(argv[1]) if len(argv) > 1 else 1

    # size: a profile of exactly these records
    profile = DatasetProfile()
    for row in rows:
        profile.track(row=row)
    blob = profile.view().serialize()

    # per-row time: fresh profile, one warm-up row, then every row timed
    times: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(repeat):
        profile = DatasetProfile()
        profile.track(row=rows[0])
        track = profile.track
        for row in rows:
            t0 = clock()
            track(row=row)
            times.append(clock() - t0)
    times.sort()
    n = len(times)
    print(json.dumps({
        "whylogs": whylogs.__version__,
        "rows": len(rows),
        "columns": len(rows[0]) if rows else 0,
        "track_us_median": times[n // 2] / 1e3,
        "track_us_p99": times[min(n - 1, int(n * 0.99))] / 1e3,
        "track_us_mean": sum(times) / n / 1e3,
        "profile_bytes": len(blob),
        "profile_bytes_zlib": len(zlib.compress(blob)),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
