"""Authentication at the running gateway: every rejection is a 401 with its reason and a counter."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from gateway_harness import (
    ROOT,
    GatewayProcess,
    KeyPool,
    envelope,
    metrics,
    post,
    rejected,
)
from support import wait_until

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def gw(kafka_bootstrap, tmp_path_factory):
    data = tmp_path_factory.mktemp("gw-auth")
    pool = KeyPool(data)
    cfg = data / "edgedrift.toml"
    cfg.write_text("[gateway]\nrate_per_s = 1.0\nrate_burst = 20.0\nkey_reload_s = 0.2\n")
    with GatewayProcess(data, kafka=kafka_bootstrap, config=str(cfg)) as proc:
        with proc.client() as client:
            yield proc, client, pool


def _expect_401(client, body, reason: str, field: str | None = None) -> dict:
    before = rejected(client, reason)
    r = post(client, body)
    assert r.status_code == 401, r.text
    err = r.json()["error"]
    assert err["reason"] == reason
    if field is not None:
        assert err["field"] == field
    assert "server_time_ms" in r.json()
    assert rejected(client, reason) == before + 1
    return err


def test_accept_then_exact_replay_is_401_replay(gw):
    _, client, pool = gw
    device, key = pool.take()
    env = envelope(key, device, 0)
    r = post(client, env)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "accepted"
    assert abs(r.json()["server_time_ms"] - time.time() * 1000) < 60_000
    _expect_401(client, env, "replay")


def test_retry_with_new_send_time_is_duplicate_not_replay(gw):
    _, client, pool = gw
    device, key = pool.take()
    now = int(time.time())
    assert post(client, envelope(key, device, 5, ts=now - 2)).status_code == 202
    before = metrics(client).get("edgedrift_gateway_windows_duplicate_total", 0)
    r = post(client, envelope(key, device, 5, ts=now))
    assert r.status_code == 200 and r.json()["status"] == "duplicate"
    assert metrics(client)["edgedrift_gateway_windows_duplicate_total"] == before + 1


def test_forged_signature(gw):
    _, client, pool = gw
    device, key = pool.take()
    env = envelope(key, device, 1)
    env["g"] = bytes([env["g"][0] ^ 1]) + env["g"][1:]
    _expect_401(client, env, "bad_signature", "body.g")
    tampered = envelope(key, device, 2)
    tampered["s"] = 3     # signed for seq 2, claims seq 3
    _expect_401(client, tampered, "bad_signature")


def test_key_of_another_device(gw):
    _, client, pool = gw
    device, _ = pool.take()
    other, other_key = pool.take()
    env = envelope(other_key, device, 0)                    # k names other's key
    _expect_401(client, env, "key_device_mismatch", "body.k")
    del env["k"]                                            # no key id: device's keys tried
    _expect_401(client, env, "bad_signature")


def test_unknown_key_and_unknown_device(gw):
    _, client, pool = gw
    device, _ = pool.take()
    forged_key = "edk_00000000_bm90LWEta2V5"
    _expect_401(client, envelope(forged_key, device, 0), "unknown_key", "body.k")
    env = envelope("no-id-key", "never-registered", 0)
    assert "k" not in env
    _expect_401(client, env, "unknown_device", "body.d")


def test_clock_skew_both_ways(gw):
    _, client, pool = gw
    device, key = pool.take()
    err = _expect_401(client, envelope(key, device, 0, ts=int(time.time()) - 301 - 5),
                      "timestamp_skew", "body.t")
    assert "skew" in err["expected"]
    _expect_401(client, envelope(key, device, 1, ts=int(time.time()) + 400), "timestamp_skew")
    assert post(client, envelope(key, device, 2, ts=int(time.time()) - 200)).status_code == 202


def test_revoked_key_via_cli_is_picked_up_without_restart(gw):
    proc, client, pool = gw
    device, key = pool.take()
    assert post(client, envelope(key, device, 0)).status_code == 202
    subprocess.run([sys.executable, "-m", "edgedrift", "keys", "revoke", device,
                    "--data-dir", str(proc.data_dir)], check=True, timeout=60, cwd=str(ROOT),
                   capture_output=True)
    seq = iter(range(1, 10_000))
    wait_until(lambda: post(client, envelope(key, device, next(seq))).status_code == 401,
               timeout=10, what="revocation seen by the gateway")
    _expect_401(client, envelope(key, device, next(seq)), "revoked", "body.k")
    env = envelope(key, device, next(seq))
    del env["k"]
    _expect_401(client, env, "revoked")


def test_rotation_new_key_added_while_running(gw):
    proc, client, pool = gw
    device, old_key = pool.take()
    new_key = pool.registry.add(device)        # the gateway reloads keys.json by mtime
    seq = iter(range(10_000))
    wait_until(lambda: post(client, envelope(new_key, device, next(seq))).status_code == 202,
               timeout=10, what="new key accepted")
    assert post(client, envelope(old_key, device, next(seq))).status_code == 202


def test_batch_has_per_item_results_in_order(gw):
    _, client, pool = gw
    device, key = pool.take()
    good = [envelope(key, device, s) for s in range(3)]
    forged = envelope(key, device, 3)
    forged["g"] = bytes(32)
    r = post(client, [good[0], forged, good[1], {"v": 1}, good[2], good[0]])
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["code"] for x in res] == [202, 401, 202, 400, 202, 401]
    assert res[1]["error"]["reason"] == "bad_signature"
    assert res[3]["error"]["field"] == "body[3].d"
    assert res[5]["error"]["reason"] == "replay"
    assert [x["s"] for x in res] == [0, 3, 1, None, 2, 0]


def test_rate_limit_429_with_retry_after(gw):
    _, client, pool = gw
    device, key = pool.take()
    before = rejected(client, "rate_limited")
    statuses = [post(client, envelope(key, device, s)) for s in range(25)]
    codes = [r.status_code for r in statuses]
    assert codes[:20] == [202] * 20                  # burst 20, refill 1/s
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, codes
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].json()["error"]["reason"] == "rate_limited"
    assert rejected(client, "rate_limited") == before + len(limited)      # one per 429
    # a rate-limited envelope was not marked as seen: the same bytes may come back later
    other, other_key = pool.take()
    assert post(client, envelope(other_key, other, 0)).status_code == 202
