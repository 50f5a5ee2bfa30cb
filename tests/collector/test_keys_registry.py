"""The key registry and ``edgedrift keys add|revoke|list`` (real CLI processes)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys

import pytest
from gateway_harness import ROOT, add_key

from collector.errors import KeyRegistryError
from collector.keys import KeyRegistry
from edge_sdk.wire import key_id

KEY_RE = re.compile(r"^edk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$")


def keys_cli(data_dir, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgedrift", "keys", *args,
                           "--data-dir", str(data_dir)], capture_output=True, text=True,
                          timeout=60, check=check, cwd=str(ROOT),
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_add_prints_the_key_alone_on_the_last_line(tmp_path):
    key = add_key(tmp_path, "dev-1")
    assert KEY_RE.match(key), key
    entry = KeyRegistry(tmp_path / "keys.json").lookup_id(key_id(key))
    assert entry is not None and entry.device_id == "dev-1" and entry.key == key
    mode = stat.S_IMODE(os.stat(tmp_path / "keys.json").st_mode)
    assert mode == 0o600


def test_list_never_prints_secrets(tmp_path):
    keys = [add_key(tmp_path, "dev-1"), add_key(tmp_path, "dev-1"), add_key(tmp_path, "dev-2")]
    for args in (["list"], ["list", "--json"], ["list", "--device", "dev-1"]):
        out = keys_cli(tmp_path, *args).stdout
        for key in keys:
            assert key.split("_", 2)[2] not in out
        assert key_id(keys[0]) in out
    rows = [json.loads(line) for line in keys_cli(tmp_path, "list", "--json").stdout.splitlines()]
    assert sorted(r["device_id"] for r in rows) == ["dev-1", "dev-1", "dev-2"]
    assert all(set(r) == {"key_id", "device_id", "created_at", "revoked_at"} for r in rows)


def test_revoke_one_key_then_the_device(tmp_path):
    k1, k2 = add_key(tmp_path, "dev-1"), add_key(tmp_path, "dev-1")
    other = add_key(tmp_path, "dev-2")
    keys_cli(tmp_path, "revoke", "dev-1", "--key-id", key_id(k1))
    reg = KeyRegistry(tmp_path / "keys.json")
    assert reg.lookup_id(key_id(k1)).revoked and not reg.lookup_id(key_id(k2)).revoked
    keys_cli(tmp_path, "revoke", "dev-1")
    reg.load()
    assert reg.lookup_id(key_id(k2)).revoked and not reg.lookup_id(key_id(other)).revoked
    assert keys_cli(tmp_path, "revoke", "dev-1", check=False).returncode == 1   # nothing left


def test_reload_sees_changes_by_mtime_and_is_rate_limited(tmp_path):
    path = tmp_path / "keys.json"
    gateway_view = KeyRegistry(path, reload_s=1.0)
    writer = KeyRegistry(path)
    key = writer.add("dev-9")
    assert gateway_view.maybe_reload(now=100.0)
    assert gateway_view.lookup_id(key_id(key)) is not None
    writer.revoke("dev-9")
    assert not gateway_view.maybe_reload(now=100.5)       # checked at most once a second
    assert not gateway_view.lookup_id(key_id(key)).revoked
    assert gateway_view.maybe_reload(now=101.5)
    assert gateway_view.lookup_id(key_id(key)).revoked


def test_corrupt_file_is_refused_naming_the_path_and_last_good_view_kept(tmp_path):
    path = tmp_path / "keys.json"
    reg = KeyRegistry(path, reload_s=0)
    key = reg.add("dev-1")
    path.write_text("{not json")
    assert not reg.maybe_reload()
    assert reg.lookup_id(key_id(key)) is not None          # still serving the last good keys
    with pytest.raises(KeyRegistryError, match="keys_path"):
        KeyRegistry(path)
    r = keys_cli(tmp_path, "list", check=False)
    assert r.returncode == 1 and "keys_path" in r.stderr and "Traceback" not in r.stderr


def test_bad_device_id_is_refused(tmp_path):
    r = keys_cli(tmp_path, "add", "x" * 200, check=False)
    assert r.returncode == 1 and "device_id" in r.stderr and "Traceback" not in r.stderr


def test_concurrent_adds_lose_nothing(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "edgedrift", "keys", "add", f"dev-{i}",
                               "--data-dir", str(tmp_path)], stdout=subprocess.PIPE,
                              text=True, cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})
             for i in range(4)]
    keys = [p.communicate(timeout=60)[0].strip().splitlines()[-1] for p in procs]
    reg = KeyRegistry(tmp_path / "keys.json")
    assert sorted(e.key for e in reg.entries()) == sorted(keys)


def test_bulk_add_from_arguments_file_and_count(tmp_path):
    """Fleets are provisioned in one command: id,key lines on stdout, one registry write."""
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("cam-a\n\ncam-b\n")
    out = keys_cli(tmp_path, "add", "dev-x", "dev-y", "--file", str(ids_file),
                   "--count", "3", "--prefix", "band-").stdout
    pairs = [line.split(",") for line in out.splitlines()]
    assert [p[0] for p in pairs] == ["dev-x", "dev-y", "cam-a", "cam-b", "band-0001",
                                     "band-0002", "band-0003"]
    reg = KeyRegistry(tmp_path / "keys.json")
    for device, key in pairs:
        assert KEY_RE.match(key)
        assert reg.lookup_id(key_id(key)).device_id == device
    assert len({key for _, key in pairs}) == len(pairs)


def test_bulk_add_refuses_duplicates_and_nothing(tmp_path):
    r = keys_cli(tmp_path, "add", "a", "b", "a", check=False)
    assert r.returncode != 0 and "given twice: a" in r.stderr and "Traceback" not in r.stderr
    r = keys_cli(tmp_path, "add", check=False)
    assert r.returncode != 0 and "--count" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "keys.json").exists()


def test_a_world_readable_registry_is_warned_about_with_the_fix(tmp_path, caplog):
    reg = KeyRegistry(tmp_path / "keys.json")
    reg.add("dev-1")
    os.chmod(tmp_path / "keys.json", 0o644)
    with caplog.at_level("WARNING", logger="collector.keys"):
        fresh = KeyRegistry(tmp_path / "keys.json")
        fresh.entries()
        fresh.entries()
    warnings = [r.getMessage() for r in caplog.records
                if "readable by other users" in r.getMessage()]
    assert len(warnings) == 1 and f"chmod 600 {tmp_path / 'keys.json'}" in warnings[0]
