"""``edgedrift webhook listen``: a verifying, deduping webhook receiver.

The logic lives in :mod:`analytics.alerts.receiver`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from edgedrift.command import add_common_after_subcommand, ensure_port_free


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="webhook_command", metavar="SUBCOMMAND")
    p = sub.add_parser("listen", help="receive, verify and act on edgedrift webhooks")
    p.add_argument("--secret", action="append", default=[],
                   help="whsec_ secret (repeat during rotation; env EDGEDRIFT_WEBHOOK_SECRET, "
                        "space-separated, keeps it out of the process list; else the secrets "
                        "of the --config file's [[alerts.endpoints]])")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8787, help="0 = any free port (printed)")
    p.add_argument("--out", default="", help="append accepted events to this JSON-lines file")
    p.add_argument("--exec", dest="exec_cmd", default="",
                   help="command to run per accepted event, payload on stdin")
    p.add_argument("--tolerance", type=int, default=300,
                   help="max age (s) of webhook-timestamp (default 300)")
    for child in sub.choices.values():
        add_common_after_subcommand(child)
    parser.set_defaults(webhook_parser=parser)


def run(args: argparse.Namespace) -> int:
    from analytics.alerts.receiver import ReceiverConfig, WebhookReceiver

    if getattr(args, "webhook_command", None) != "listen":
        args.webhook_parser.print_help()
        return 2
    secrets = (list(args.secret) or os.environ.get("EDGEDRIFT_WEBHOOK_SECRET", "").split()
               or _config_secrets(getattr(args, "config", None)))
    config = ReceiverConfig(secrets=tuple(secrets), host=args.host, port=args.port,
                            out=args.out, exec_cmd=args.exec_cmd, tolerance_s=args.tolerance)
    ensure_port_free(args.host, args.port)
    receiver = WebhookReceiver(config)
    port = receiver.start()
    print(f"listening on http://{args.host}:{port}/", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    receiver.stop()
    print(f"stopped: {receiver.counts}", file=sys.stderr)
    return 0


def _config_secrets(config: str | None) -> list[str]:
    """The signing secrets of the config file's alert endpoints (the receiver for them)."""
    if not config:
        return []
    from analytics.alerts.config import alerts_config_from_toml
    from edgedrift.config import load_toml, section

    alerts = alerts_config_from_toml(section(load_toml(config), "alerts"))
    return [s for endpoint in alerts.endpoints for s in endpoint.secrets]
