"""``edgedrift keys add|revoke|list``: manage the device key registry.

``keys add DEVICE_ID`` prints the new key alone on the last line of stdout
(the only time it is shown); ``keys list`` never prints secrets. A running
gateway picks up changes within about a second, without a restart.
"""

from __future__ import annotations

import argparse
import json
import os

from edgedrift.cli import add_common_after_subcommand
from edgedrift.config import load_toml, section
from edgedrift.paths import DataPaths

from .keys import KeyRegistry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="create a key for a device and print it")
    add.add_argument("device_id")
    rev = sub.add_parser("revoke", help="revoke a device's keys (or one key with --key-id)")
    rev.add_argument("device_id")
    rev.add_argument("--key-id", help="revoke only this key id")
    ls = sub.add_parser("list", help="list keys (ids, devices, dates; never secrets)")
    ls.add_argument("--device", help="only this device's keys")
    ls.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    for p in (add, rev, ls):   # also accept the common options after the action
        add_common_after_subcommand(p)


def _registry(args: argparse.Namespace) -> KeyRegistry:
    keys_path = (os.environ.get("EDGEDRIFT_GATEWAY_KEYS_PATH")
                 or section(load_toml(args.config), "gateway").get("keys_path"))
    return KeyRegistry(keys_path or DataPaths(args.data_dir).keys)


def run(args: argparse.Namespace) -> int:
    reg = _registry(args)
    if args.keys_command == "add":
        key = reg.add(args.device_id)
        print(f"# new key for device {args.device_id!r} (shown once; store it on the device):")
        print(key)
        return 0
    if args.keys_command == "revoke":
        n = reg.revoke(args.device_id, args.key_id)
        what = f"key {args.key_id}" if args.key_id else "all keys"
        print(f"revoked {n} key(s) of device {args.device_id!r} ({what})")
        return 0 if n else 1
    entries = [e for e in reg.entries() if args.device is None or e.device_id == args.device]
    if args.json:
        for e in entries:
            print(json.dumps(e.public()))
        return 0
    print(f"{'KEY ID':10} {'DEVICE':32} {'CREATED':22} REVOKED")
    for e in entries:
        print(f"{e.key_id:10} {e.device_id:32} {e.created_at:22} {e.revoked_at or '-'}")
    return 0
