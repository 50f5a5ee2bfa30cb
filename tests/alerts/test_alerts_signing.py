"""Signatures checked by the independent standardwebhooks library; our listener's refusals."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from support import wait_until

from analytics.alerts.errors import SignatureError
from analytics.alerts.signing import generate_secret, sign_headers, verify

from .conftest import OLD_SECRET, SECRET


@settings(max_examples=60, deadline=None)
@given(body=st.text(max_size=200), msg_id=st.from_regex(r"msg_[a-z0-9]{1,26}", fullmatch=True))
def test_standardwebhooks_verifies_our_headers(body: str, msg_id: str) -> None:
    data = body.encode()
    headers = sign_headers([SECRET], msg_id, int(time.time()), data)
    Webhook(SECRET).verify(data, headers, json_parse=False)
    assert verify([SECRET], headers, data) == msg_id


def test_rotation_sends_one_signature_per_secret() -> None:
    body = json.dumps({"type": "drift.detected"}).encode()
    headers = sign_headers([SECRET, OLD_SECRET], "msg_rot", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(SECRET).verify(body, headers)      # a receiver already on the new secret
    Webhook(OLD_SECRET).verify(body, headers)  # one still on the old secret
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)


@pytest.mark.parametrize("case", ["tampered", "stale", "future", "wrong-secret", "no-id"])
def test_our_verify_refuses(case: str) -> None:
    body, now = b'{"a":1}', int(time.time())
    secret = generate_secret() if case == "wrong-secret" else SECRET
    ts = {"stale": now - 301, "future": now + 301}.get(case, now)
    headers = sign_headers([secret], "msg_x", ts, body)
    if case == "no-id":
        headers.pop("webhook-id")
    sent = b'{"a":2}' if case == "tampered" else body
    with pytest.raises(SignatureError):
        verify([SECRET], headers, sent, now=now)


def test_listener_accepts_once_and_rejects_forgeries(listener, tmp_path: Path) -> None:
    marker = tmp_path / "exec.out"
    li = listener([SECRET], extra=["--exec", f"{sys.executable} -c \"import sys,os; "
                                   f"open({str(marker)!r},'a').write(os.environ['WEBHOOK_TYPE']"
                                   f"+chr(10)+sys.stdin.read()+chr(10))\""])
    body = json.dumps({"type": "drift.detected", "data": {"model": "kws"}}).encode()
    now = int(time.time())

    def send(headers: dict[str, str], data: bytes = body) -> httpx.Response:
        return httpx.post(li.url, content=data, headers=headers, timeout=10)

    good = sign_headers([SECRET], "msg_good", now, body)
    assert send(good).status_code == 200
    replay = send(good)  # the same id again: answered, not processed twice
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert send(good, body.replace(b"kws", b"asr")).status_code == 401       # tampered body
    assert send(sign_headers([SECRET], "msg_old", now - 600, body)).status_code == 401
    assert send(sign_headers([generate_secret()], "msg_w", now, body)).status_code == 401
    assert send({"content-type": "application/json"}).status_code == 401
    assert [e["webhook_id"] for e in li.events()] == ["msg_good"]
    wait_until(lambda: marker.exists() and "drift.detected" in marker.read_text(),
               what="the receiver's marker file")
    assert marker.read_text().count('"data"') == 1  # the command ran once, payload on stdin
    assert httpx.get(li.url, timeout=5).json() == {"accepted": 1, "duplicate": 1, "rejected": 4}


def test_listener_dedupe_survives_restart(listener) -> None:
    body = b'{"type":"alert.test","data":{}}'
    first = listener([SECRET])
    headers = sign_headers([SECRET], "msg_keep", int(time.time()), body)
    assert httpx.post(first.url, content=body, headers=headers, timeout=10).status_code == 200
    first.stop()
    second = listener([SECRET], out=first.out)  # a new process on the same --out file
    answer = httpx.post(second.url, content=body, headers=headers, timeout=10).json()
    assert answer["duplicate"] is True
    assert len(second.events()) == 1
