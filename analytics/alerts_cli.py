"""``edgedrift alerts``: list, show, redeliver, enable, test, observe and deliver.

Reads the ``[alerts]`` section of ``--config`` and the outbox under ``--data-dir``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

from edgedrift.command import add_common_after_subcommand, existing_data_dir
from edgedrift.config import load_toml, section
from edgedrift.paths import DataPaths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="alerts_command", metavar="SUBCOMMAND")
    p = sub.add_parser("list", help="newest alerts with their delivery states")
    p.add_argument("--status", choices=["pending", "delivered", "failed", "disabled"],
                   help="only alerts with a delivery in this state")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="JSON output")
    p = sub.add_parser("show", help="one alert: payload, deliveries, every attempt")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="JSON output")
    p = sub.add_parser("redeliver", help="re-queue an alert's failed deliveries (same webhook-id)")
    p.add_argument("id", type=int)
    p.add_argument("--all", action="store_true", help="also re-send delivered ones")
    p.add_argument("--now", action="store_true", help="deliver what is due right away")
    p = sub.add_parser("enable", help="re-enable an endpoint disabled by a 410 and re-queue")
    p.add_argument("endpoint")
    p = sub.add_parser("test", help="send a signed alert.test event to an endpoint now")
    p.add_argument("endpoint", help="endpoint name from [[alerts.endpoints]]")
    p = sub.add_parser("observe", help="feed conditions (JSON lines) to the alert engine")
    p.add_argument("file", help="JSON-lines file of conditions, '-' for stdin")
    p.add_argument("--deliver", action="store_true", help="then deliver what is due, once")
    p = sub.add_parser("deliver", help="run the webhook deliverer")
    p.add_argument("--once", action="store_true", help="deliver what is due now and exit")
    for child in sub.choices.values():
        add_common_after_subcommand(child)
    parser.set_defaults(alerts_parser=parser)


def _config(args: argparse.Namespace) -> Any:
    from analytics.alerts.config import alerts_config_from_toml
    return alerts_config_from_toml(section(load_toml(args.config), "alerts"))


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def run(args: argparse.Namespace) -> int:
    from analytics.alerts.errors import NotFoundError
    from analytics.alerts.outbox import Outbox

    cmd = getattr(args, "alerts_command", None)
    if cmd is None:
        args.alerts_parser.print_help()
        return 2
    if cmd in ("list", "show"):
        existing_data_dir(args.data_dir)
    outbox_path = DataPaths(args.data_dir).outbox
    try:
        if cmd == "list":
            return _list(Outbox(outbox_path), args)
        if cmd == "show":
            return _show(Outbox(outbox_path), args)
        if cmd == "redeliver":
            n = Outbox(outbox_path).redeliver(args.id, include_delivered=args.all)
            print(f"alert #{args.id}: {n} deliver{'y' if n == 1 else 'ies'} queued "
                  "(same webhook-id)")
            if args.now and n:
                return _deliver(_config(args), outbox_path, once=True)
            return 0
        if cmd == "enable":
            n = Outbox(outbox_path).enable_endpoint(args.endpoint)
            print(f"endpoint {args.endpoint}: enabled, {n} deliveries re-queued")
            return 0
        if cmd == "test":
            return _test(_config(args), args.endpoint)
        if cmd == "observe":
            return _observe(_config(args), outbox_path, args)
        if cmd == "deliver":
            return _deliver(_config(args), outbox_path, once=args.once)
    except NotFoundError as exc:
        print(f"edgedrift alerts {cmd}: {exc}", file=sys.stderr)
        return 1
    return 2


def _list(outbox: Any, args: argparse.Namespace) -> int:
    rows = outbox.list_alerts(limit=args.limit, status=args.status)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'ID':>5}  {'created (UTC)':19}  {'event':22} {'model':12} {'version':10} "
          f"{'segment':16} deliveries")
    for r in rows:
        states = ", ".join(f"{r[k]} {k}" for k in ("delivered", "pending", "failed", "disabled")
                           if r[k])
        print(f"{r['id']:>5}  {_when(r['created_at'])}  {r['event_type']:22} {r['model']:12} "
              f"{r['version']:10} {r['segment'] or '(fleet)':16} {states or 'no endpoint'}")
    return 0


def _show(outbox: Any, args: argparse.Namespace) -> int:
    alert = outbox.show(args.id)
    if args.json:
        print(json.dumps(alert, indent=2))
        return 0
    print(f"alert #{alert['id']} {alert['event_type']}  model {alert['model']} "
          f"{alert['version']}  segment {alert['segment'] or '(fleet)'}  "
          f"created {_when(alert['created_at'])}")
    data = alert["payload"].get("data", {})
    print(f"  window {data.get('window', {}).get('start')} .. {data.get('window', {}).get('end')}"
          f"  suggested action: {data.get('suggested_action')}")
    for f in data.get("features", []):
        print(f"  feature {f['name']}: {f['method']} {f['score']} (threshold {f['threshold']})")
    for d in alert["deliveries"]:
        print(f"  delivery to {d['endpoint']}: {d['status']}  webhook-id {d['webhook_id']}  "
              f"attempts {d['attempts']}  next {_when(d['next_attempt_at'])}")
        for a in d["attempt_log"]:
            code = a["status_code"] if a["status_code"] is not None else "---"
            print(f"    {_when(a['started_at'])}  {code}  {a['duration_ms']:8.1f} ms  "
                  f"{a['outcome']:9}  {a['error'] or ''}")
    return 0


def _test(config: Any, name: str) -> int:
    from analytics.alerts.delivery import post
    from analytics.alerts.outbox import dumps, new_webhook_id

    endpoint = config.endpoint(name)
    if endpoint is None:
        known = ", ".join(e.name for e in config.endpoints) or "none configured"
        print(f"edgedrift alerts test: endpoint {name!r} is not in [[alerts.endpoints]] "
              f"(known: {known})", file=sys.stderr)
        return 1
    now = datetime.now(UTC)
    body = dumps({"type": "alert.test",
                  "timestamp": now.isoformat().replace("+00:00", "Z"),
                  "data": {"endpoint": name, "message": "edgedrift test event"}})
    webhook_id = new_webhook_id()
    result = post(config, endpoint, webhook_id, body.encode())
    code = result.status_code if result.status_code is not None else "---"
    print(f"{name}: {code} in {result.duration_ms:.1f} ms  webhook-id {webhook_id}  "
          f"{result.outcome}{'  ' + result.error if result.error else ''}")
    return 0 if result.outcome == "delivered" else 1


def _observe(config: Any, outbox_path: Any, args: argparse.Namespace) -> int:
    from analytics.alerts import AlertEngine
    from analytics.alerts.events import Condition, FeatureScore

    fh = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
    conditions = []
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                raw["window_start"] = datetime.fromisoformat(raw["window_start"])
                raw["window_end"] = datetime.fromisoformat(raw["window_end"])
                raw["features"] = tuple(FeatureScore(**f) for f in raw.get("features", ()))
                conditions.append(Condition(**raw))
            except (ValueError, KeyError, TypeError) as exc:
                print(f"edgedrift alerts observe: {args.file} line {n}: {exc}", file=sys.stderr)
                return 1
    alerts = AlertEngine(config, outbox_path).observe(conditions)
    for a in alerts:
        print(f"stored alert #{a.id} {a.event_type} {a.model} {a.version} {a.segment}")
    if args.deliver:
        return _deliver(config, outbox_path, once=True)
    return 0


def _deliver(config: Any, outbox_path: Any, once: bool) -> int:
    from analytics.alerts import Deliverer

    deliverer = Deliverer(config, outbox_path)
    if once:
        stats = deliverer.run_once()
        print(json.dumps(stats.by_endpoint, sort_keys=True))
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    started = time.time()
    stats = deliverer.run_forever(stop)
    print(f"deliverer stopped after {time.time() - started:.0f} s: "
          f"{json.dumps(stats.by_endpoint, sort_keys=True)}")
    return 0
