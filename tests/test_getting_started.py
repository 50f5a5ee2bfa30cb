"""docs/getting-started.md, run as written: its shell blocks in order in one bash process, its
`app.py` saved as the page says, real processes (gateway, webhook receiver, dashboard) and real
HTTP. The alert must arrive at the receiver, which keeps only webhooks whose signature it
verified with the secret `edgedrift init` generated.

Only time and ports are changed, so the run takes seconds and cannot collide with another
test: the device window is 2 s instead of 60, the analysis window 4 s (grace 1 s) instead of
120 (30), the app runs 14 s and drifts after 5, `sleep 30` waits 2 s, and the gateway,
receiver and dashboard get free ports (in the commands, the app and the generated config).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import free_port

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "getting-started.md"

# (what the page says, what the test runs) -- each must occur in the page
APP_TIME = [("RUN_S = 300", "RUN_S = 14"), ("DRIFT_AFTER_S = 60", "DRIFT_AFTER_S = 5"),
            ("window_s=60", "window_s=2")]
SHELL_TIME = [("sleep 30", "sleep 2")]


def blocks(text: str) -> list[tuple[str, str]]:
    """The page's fenced code blocks in order, as (language, code)."""
    return re.findall(r"```(bash|python)\n(.*?)```", text, flags=re.S)


def _replace(text: str, pairs: list[tuple[str, str]]) -> str:
    for old, new in pairs:
        assert old in text, f"the page no longer says {old!r}: update this test"
        text = text.replace(old, new)
    return text


def build_script(work: Path, gateway: int, receiver: int, dashboard: int) -> str:
    """One bash script of the page's shell blocks (``app.py`` is written to ``work``)."""
    ports = [("127.0.0.1:8080", f"127.0.0.1:{gateway}"), ("--port 8787", f"--port {receiver}")]
    doc = blocks(DOC.read_text())
    assert [lang for lang, _ in doc].count("python") == 1
    lines = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    for lang, code in doc:
        if lang == "python":
            app = _replace(_replace(code, APP_TIME), ports[:1])
            (work / "app.py").write_text(app)
            continue
        code = code.replace("sleep 30", "sleep 2") if "sleep 30" in code else code
        code = "\n".join(_replace(line, [p for p in ports if p[0] in line])
                         for line in code.splitlines())
        if code.strip() == "edgedrift dashboard":      # runs until Ctrl-C: check it answers
            code = (f"edgedrift dashboard > dashboard.log 2>&1 &\n"
                    f"until curl -sf http://127.0.0.1:{dashboard}/ > /dev/null; do sleep 0.5; "
                    "done\necho dashboard-answered")
        lines.append(code)
        if code.startswith("edgedrift init"):     # the generated config: the test's ports
            lines.append(f"sed -i 's#127.0.0.1:8787#127.0.0.1:{receiver}#' edgedrift.toml")
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_getting_started_runs_as_written_and_the_alert_arrives_verified(tmp_path: Path) -> None:
    text = DOC.read_text()
    for old, _ in APP_TIME + SHELL_TIME:
        assert old in text, old
    gateway, receiver, dashboard = free_port(), free_port(), free_port()
    script = build_script(tmp_path, gateway, receiver, dashboard)
    bindir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEDRIFT_")}
    env.update(
        PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        EDGEDRIFT_GATEWAY_PORT=str(gateway), EDGEDRIFT_DASHBOARD_PORT=str(dashboard),
        EDGEDRIFT_ANALYTICS_WINDOW_S="4", EDGEDRIFT_ANALYTICS_GRACE_S="1")
    # `edgedrift` on PATH must be this checkout's: run it as python -m edgedrift
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "edgedrift").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m edgedrift "$@"\n')
    (shim / "edgedrift").chmod(0o755)
    env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180)
    logs = {p.name: p.read_text()[-1500:] for p in tmp_path.glob("*.log")}
    where = f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}\nlogs: {logs}"
    assert proc.returncode == 0, where
    assert "Traceback" not in proc.stderr, where
    # the alert arrived, and the receiver verified its signature (it keeps only those)
    events = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    detected = [e for e in events if e["payload"]["type"] == "drift.detected"]
    assert detected, where
    data = detected[0]["payload"]["data"]
    assert data["model"] == "pump" and data["version"] == "1.0", data
    assert "temperature" in json.dumps(data), data
    assert "drift" in proc.stdout and "dashboard-answered" in proc.stdout, where
    assert "rejected" not in logs.get("receiver.log", "")
    # logs a person can use: the gateway says windows arrive; no per-request client chatter
    assert "collector.gateway: accepted " in (tmp_path / "gateway.log").read_text(), where
    assert "INFO httpx" not in proc.stderr, where
