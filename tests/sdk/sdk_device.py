"""A real device process for the SDK tests (run as a script, never imported for work).

``python sdk_device.py loop ENDPOINT KEY SPOOL_DIR [DEVICE]``: a Monitor with a short window logs
records forever (until SIGKILL); prints "ready" once it has logged.

``python sdk_device.py fork ENDPOINT KEY SPOOL_DIR``: a Monitor logs as "parent", forks;
the child logs as "child" and closes its Monitor, the parent waits for it, logs more and
closes. Prints the sealed sequence numbers as JSON lines ("parent"/"child").

DEVICE (default dev-0042) is the device id the KEY belongs to.
"""

from __future__ import annotations

import json
import os
import sys
import time

DEVICE = sys.argv[5] if len(sys.argv) > 5 else "dev-0042"


def _monitor(endpoint: str, key: str, spool_dir: str, **kw):
    from edge_sdk import Monitor

    args = dict(model="kws", version="1.3.0", device_id=DEVICE, endpoint=endpoint, key=key,
                spool_dir=spool_dir, backoff_max_s=0.2, timeout_s=5.0)
    args.update(kw)
    return Monitor(**args)


def run_loop(endpoint: str, key: str, spool_dir: str) -> None:
    mon = _monitor(endpoint, key, spool_dir, window_s=0.1)
    i = 0
    while True:
        mon.log({"x": float(i % 97), "mic": "front" if i % 2 else "rear"}, prediction=0.5,
                latency_ms=1.0)
        i += 1
        if i == 50:
            print("ready", flush=True)
        time.sleep(0.001)


def run_fork(endpoint: str, key: str, spool_dir: str) -> None:
    mon = _monitor(endpoint, key, spool_dir, window_s=3600, close_timeout_s=20.0)
    for i in range(10):
        mon.log({"x": float(i), "who": "parent"})
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            for i in range(7):
                mon.log({"x": float(i), "who": "child"})
            body = mon.seal_window()
            delivered = mon.flush(timeout_s=20.0)
            print(json.dumps({"role": "child", "seq": body["sq"], "n": body["n"],
                              "delivered": delivered}), flush=True)
            mon.close(timeout_s=5.0)
        except BaseException as exc:  # report, never fall back into the parent's code
            print(json.dumps({"role": "child", "error": repr(exc)}), flush=True)
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    for i in range(3):
        mon.log({"x": float(i), "who": "parent"})
    body = mon.seal_window()
    delivered = mon.flush(timeout_s=20.0)
    print(json.dumps({"role": "parent", "seq": body["sq"], "n": body["n"], "delivered": delivered,
                      "child_status": status}), flush=True)
    mon.close(timeout_s=5.0)


if __name__ == "__main__":
    mode, endpoint, key, spool_dir = sys.argv[1:5]
    {"loop": run_loop, "fork": run_fork}[mode](endpoint, key, spool_dir)
