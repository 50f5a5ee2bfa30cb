"""``edgedrift alerts ...`` and ``edgedrift webhook listen`` as real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import SECRET, run_cli, toml_config
from .test_alerts_crash import CONDITION


def write_setup(tmp_path: Path, url: str, **alerts: object) -> list[str]:
    cfg = tmp_path / "edgedrift.toml"
    alerts.setdefault("retry_schedule_s", [])
    cfg.write_text(toml_config([{"name": "ci", "url": url, "secrets": [SECRET]}],
                               timeout_s=2, **alerts))
    return ["--config", str(cfg), "--data-dir", str(tmp_path / "data")]


def test_list_show_redeliver(make_receiver, tmp_path: Path) -> None:
    receiver = make_receiver([500], default=200)
    common = write_setup(tmp_path, receiver.url)
    cond = tmp_path / "c.jsonl"
    cond.write_text(json.dumps(CONDITION) + "\n")
    stored = run_cli(["alerts", "observe", str(cond), "--deliver", *common])
    assert stored.returncode == 0, stored.stderr
    assert "stored alert #1 drift.detected" in stored.stdout

    listed = run_cli(["alerts", "list", *common])
    assert listed.returncode == 0
    assert "drift.detected" in listed.stdout and "1 failed" in listed.stdout
    as_json = json.loads(run_cli(["alerts", "list", "--json", "--status", "failed",
                                  *common]).stdout)
    assert [a["id"] for a in as_json] == [1]

    shown = run_cli(["alerts", "show", "1", *common])
    assert shown.returncode == 0
    assert "500" in shown.stdout and "failed" in shown.stdout and "rms" in shown.stdout
    webhook_id = json.loads(run_cli(["alerts", "show", "1", "--json", *common]).stdout)[
        "deliveries"][0]["webhook_id"]

    again = run_cli(["alerts", "redeliver", "1", "--now", *common])
    assert again.returncode == 0, again.stderr
    assert "1 delivery queued" in again.stdout
    detail = json.loads(run_cli(["alerts", "show", "1", "--json", *common]).stdout)
    delivery = detail["deliveries"][0]
    assert delivery["status"] == "delivered" and delivery["webhook_id"] == webhook_id
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 200]
    assert receiver.ids() == [webhook_id, webhook_id]

    missing = run_cli(["alerts", "show", "99", *common])
    assert missing.returncode == 1 and "alert 99: not found" in missing.stderr


def test_alerts_test_reaches_our_listener(listener, tmp_path: Path) -> None:
    li = listener([SECRET])
    common = write_setup(tmp_path, li.url)
    sent = run_cli(["alerts", "test", "ci", *common])
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("ci: 200 in ")
    (event,) = li.events()
    assert event["payload"]["type"] == "alert.test"
    unknown = run_cli(["alerts", "test", "nope", *common])
    assert unknown.returncode == 1 and "known: ci" in unknown.stderr


def test_alerts_test_refuses_loopback_unless_allowed(listener, tmp_path: Path) -> None:
    li = listener([SECRET])
    common = write_setup(tmp_path, li.url.replace("127.0.0.1", "localhost"),
                         allow_loopback=False)
    sent = run_cli(["alerts", "test", "ci", *common])
    assert sent.returncode == 1
    assert "refused: resolves to loopback" in sent.stdout
    assert li.events() == []


def test_bad_config_is_refused_with_the_field_name(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[alerts]\ntimeout_s = "soon"\n')
    result = run_cli(["alerts", "deliver", "--once", "--config", str(cfg),
                      "--data-dir", str(tmp_path)])
    assert result.returncode == 1
    assert "alerts.timeout_s: expected a number, got 'soon'" in result.stderr


def test_listen_requires_a_valid_secret() -> None:
    result = run_cli(["webhook", "listen", "--secret", "not-a-secret", "--port", "0"])
    assert result.returncode == 1 and "--secret" in result.stderr
