"""`edgedrift sink` with a broker that does not answer: one clear line and a failing exit.

``[kafka] bootstrap_timeout_ms`` is cut from 30 s to 1 s: the failure path is the same, only
the wait before it is shorter.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from gateway_harness import ROOT


def test_an_unreachable_broker_is_one_line_and_a_failing_exit(tmp_path):
    with socket.socket() as s:           # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "sink.toml"
    config.write_text("[kafka]\nbootstrap_timeout_ms = 1000\n")
    proc = subprocess.run([sys.executable, "-m", "edgedrift", "sink", "--kafka",
                           f"127.0.0.1:{port}", "--data-dir", str(tmp_path), "--config",
                           str(config), "--log-level", "WARNING"], capture_output=True,
                          text=True, timeout=180, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert f"cannot use the Kafka broker at 127.0.0.1:{port}" in last and "--kafka" in last
