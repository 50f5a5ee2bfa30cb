"""SIGKILL the alerting process at the two fault points; after restart: one delivery, same id.

The fault points are read from ``EDGEDRIFT_FAULT`` in the real code path
(``edgedrift/faults.py``); the receiver is a real ``edgedrift webhook
listen`` process deduping on ``webhook-id``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from support import wait_until

from analytics.alerts.outbox import Outbox

from .conftest import ROOT, SECRET, run_cli, toml_config

CONDITION = {"kind": "drift", "model": "kws", "version": "1.0", "segment": "",
             "window_start": "2025-01-01T00:00:00+00:00",
             "window_end": "2025-01-01T00:05:00+00:00", "active": True,
             "features": [{"name": "rms", "method": "psi", "score": 0.4, "threshold": 0.2}]}


def setup(tmp_path: Path, url: str) -> tuple[list[str], Path]:
    cfg = tmp_path / "edgedrift.toml"
    cfg.write_text(toml_config([{"name": "ci", "url": url, "secrets": [SECRET]}],
                               timeout_s=1.5, retry_schedule_s=[0.2, 0.2, 0.2], jitter=0.0,
                               poll_interval_s=0.1))
    cond = tmp_path / "conditions.jsonl"
    cond.write_text(json.dumps(CONDITION) + "\n")
    data = tmp_path / "data"
    return ["--config", str(cfg), "--data-dir", str(data)], cond


def only_delivery(data: Path) -> dict:
    box = Outbox(data / "alerts.sqlite")
    (alert,) = box.list_alerts()
    (delivery,) = box.show(alert["id"])["deliveries"]
    return delivery


def test_killed_after_store_delivers_after_restart(listener, tmp_path: Path) -> None:
    li = listener([SECRET])
    common, cond = setup(tmp_path, li.url)
    data = tmp_path / "data"
    killed = run_cli(["alerts", "observe", str(cond), "--deliver", *common],
                     env={"EDGEDRIFT_FAULT": "alerts:after_store"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    before = only_delivery(data)
    assert (before["status"], before["attempts"]) == ("pending", 0)  # stored, never sent
    assert li.events() == []
    # the analytics re-run the same window after the restart: no second alert
    again = run_cli(["alerts", "observe", str(cond), *common])
    assert again.returncode == 0 and "stored alert" not in again.stdout
    done = run_cli(["alerts", "deliver", "--once", *common])
    assert done.returncode == 0, done.stderr
    after = only_delivery(data)
    assert after["status"] == "delivered" and after["webhook_id"] == before["webhook_id"]
    assert [e["webhook_id"] for e in li.events()] == [before["webhook_id"]]


def test_killed_after_send_redelivers_same_id_and_receiver_dedupes(
        listener, tmp_path: Path) -> None:
    li = listener([SECRET])
    common, cond = setup(tmp_path, li.url)
    data = tmp_path / "data"
    killed = run_cli(["alerts", "observe", str(cond), "--deliver", *common],
                     env={"EDGEDRIFT_FAULT": "alerts:after_send"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    before = only_delivery(data)
    assert before["status"] == "pending" and before["attempt_log"] == []  # result not recorded
    assert [e["webhook_id"] for e in li.events()] == [before["webhook_id"]]  # yet received
    deliverer = subprocess.Popen([sys.executable, "-m", "edgedrift", "alerts", "deliver",
                                  *common], cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    try:
        # the crashed attempt's lease expires (4 x timeout + 5 s), then it is sent again
        wait_until(lambda: only_delivery(data)["status"] == "delivered", timeout=40,
                   what="the delivery delivered")
    finally:
        deliverer.terminate()
        out, err = deliverer.communicate(timeout=20)
    assert deliverer.returncode == 0, err
    after = only_delivery(data)
    assert after["webhook_id"] == before["webhook_id"]
    assert [e["webhook_id"] for e in li.events()] == [before["webhook_id"]]  # dedupe: one
    assert httpx.get(li.url, timeout=5).json()["duplicate"] == 1
