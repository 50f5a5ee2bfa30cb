"""``edgedrift keys add|revoke|list``: manage the device key registry.

``keys add DEVICE_ID`` prints the new key alone on the last line of stdout
(the only time it is shown). Several devices at once -- ``keys add ID ID ...``,
``--file FILE`` (one id per line, ``-`` for standard input) or ``--count N --prefix P``
(``P0001`` .. ``PN``) -- are provisioned in one write of the registry and printed as
``device_id,key`` lines. ``keys list`` never prints secrets. A running gateway picks up
changes within about a second, without a restart.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from edgedrift.command import CommandError, add_common_after_subcommand, existing_data_dir
from edgedrift.config import load_toml, section
from edgedrift.paths import DataPaths

from .keys import KeyRegistry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="create a key for each device and print it")
    add.add_argument("device_id", nargs="*", help="device ids (one: the key alone on the last "
                     "line; several: device_id,key lines)")
    add.add_argument("--file", metavar="FILE",
                     help="also the device ids in FILE, one per line ('-': standard input)")
    add.add_argument("--count", type=int, metavar="N", help="N devices named PREFIX0001 ..")
    add.add_argument("--prefix", default="dev-", help="name prefix for --count (default dev-)")
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


def device_ids(args: argparse.Namespace) -> list[str]:
    """The ids ``keys add`` was given (arguments, then the file, then --count), checked."""
    ids = list(args.device_id)
    if args.file:
        try:
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
        except OSError as exc:
            raise CommandError(f"--file: cannot read {args.file}: {exc.strerror}") from None
        ids += [line.strip() for line in text.splitlines() if line.strip()]
    if args.count is not None:
        if not 1 <= args.count <= 1_000_000:
            raise CommandError(f"--count: got {args.count}, expected 1 to 1000000 devices")
        width = max(4, len(str(args.count)))
        ids += [f"{args.prefix}{i:0{width}d}" for i in range(1, args.count + 1)]
    if not ids:
        raise CommandError("keys add: give a DEVICE_ID, --file FILE or --count N")
    dupes = sorted(i for i, c in Counter(ids).items() if c > 1)
    if dupes:
        raise CommandError(f"keys add: device ids given twice: {', '.join(dupes[:5])}")
    return ids


def run(args: argparse.Namespace) -> int:
    reg = _registry(args)
    if args.keys_command == "add":
        ids = device_ids(args)
        if len(ids) == 1 and not args.file and args.count is None:
            key = reg.add(ids[0])
            print(f"# new key for device {ids[0]!r} (shown once; store it on the device):")
            print(key)
            return 0
        created = reg.add_many(ids)
        print(f"# {len(created)} new keys (shown once): device_id,key", file=sys.stderr)
        for device, key in created.items():
            print(f"{device},{key}")
        return 0
    if args.keys_command == "revoke":
        n = reg.revoke(args.device_id, args.key_id)
        what = f"key {args.key_id}" if args.key_id else "all keys"
        print(f"revoked {n} key(s) of device {args.device_id!r} ({what})")
        return 0 if n else 1
    if not reg.path.exists():           # no registry: is this the data dir the user meant?
        existing_data_dir(args.data_dir)
    entries = [e for e in reg.entries() if args.device is None or e.device_id == args.device]
    if args.json:
        for e in entries:
            print(json.dumps(e.public()))
        return 0
    print(f"{'KEY ID':10} {'DEVICE':32} {'CREATED':22} REVOKED")
    for e in entries:
        print(f"{e.key_id:10} {e.device_id:32} {e.created_at:22} {e.revoked_at or '-'}")
    return 0
