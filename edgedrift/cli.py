"""The ``edgedrift`` command: dispatch to each component's command module, lazily.

A command module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
Only the module of the command being run is imported, so ``edgedrift --help``
is fast and works on the SDK-only install.

Every command gets ``--config`` (the TOML file) and ``--data-dir``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from .paths import DEFAULT_DATA_DIR

# name -> (module, one-line help). Modules are imported only when chosen.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("edgedrift.demo", "run the whole pipeline on a simulated fleet and summarise it"),
    "keys": ("collector.keys_cli", "manage device keys: add, revoke, list"),
    "gateway": ("collector.gateway_cli", "run the HTTP ingest gateway"),
    "sink": ("collector.sink_cli", "run a Kafka -> Parquet sink worker"),
    "compact": ("collector.compact_cli", "merge the small Parquet files of closed days"),
    "reference": ("analytics.reference_cli", "build reference profiles and SDK spec files"),
    "analyze": ("analytics.analyze_cli", "run drift analysis once or on a schedule"),
    "backtest": ("analytics.backtest_cli", "replay historical data: which alerts would fire"),
    "status": ("analytics.status_cli", "current verdicts, drifted features and alerts"),
    "alerts": ("analytics.alerts_cli", "list, show, redeliver and test alerts"),
    "webhook": ("analytics.webhook_cli", "webhook tools: listen (a verifying receiver)"),
    "dashboard": ("dashboard.cli", "open the Streamlit dashboard"),
}


class CommandError(Exception):
    """A command failed in a way the user can fix; printed without a traceback."""


def existing_data_dir(path: str) -> str:
    """``path`` if it is a directory; else a :class:`CommandError` for commands that only read
    (they would otherwise create it and report zeros as if the fleet were silent).

    >>> existing_data_dir("/nonexistent/edgedrift-data")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    edgedrift.cli.CommandError: --data-dir /nonexistent/edgedrift-data does not exist: no data ...
    """
    if not os.path.isdir(path):
        raise CommandError(f"--data-dir {path} does not exist: no data here. Give the data dir "
                           "the gateway writes (--data-dir DIR or EDGEDRIFT_DATA_DIR), or start "
                           "with `edgedrift demo`")
    return path


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", default=os.environ.get("EDGEDRIFT_CONFIG"),
                        help="TOML config file for all components (env EDGEDRIFT_CONFIG)")
    parser.add_argument("--data-dir", metavar="DIR",
                        default=os.environ.get("EDGEDRIFT_DATA_DIR", DEFAULT_DATA_DIR),
                        help="where keys, Parquet, the analytics DB and the alert outbox live "
                             f"(default {DEFAULT_DATA_DIR}; env EDGEDRIFT_DATA_DIR)")
    parser.add_argument("--log-level", default=os.environ.get("EDGEDRIFT_LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging verbosity")


def add_common_after_subcommand(parser: argparse.ArgumentParser) -> None:
    """Accept --config/--data-dir/--log-level after a sub-command too (``keys add X --data-dir D``).

    Defaults are suppressed, so a flag given before the sub-command is not overridden.
    """
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="edgedrift",
        description="Drift monitoring for ML models on edge devices.")
    top.add_argument("--version", action="version", version="edgedrift 0.1.0")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    for name, (module_name, help_text) in COMMANDS.items():
        parser = sub.add_parser(name, help=help_text, description=help_text)
        if name != chosen:
            continue
        add_common(parser)
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            parser.set_defaults(_import_error=exc)
            continue
        module.add_arguments(parser)
        parser.set_defaults(_run=module.run)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    missing = getattr(args, "_import_error", None)
    if missing is not None:
        print(f"edgedrift {args.command}: needs the server components ({missing}); "
              "install them with: pip install 'edgedrift[server]'", file=sys.stderr)
        return 2
    run = getattr(args, "_run", None)
    if run is None:  # a command group invoked without its sub-command
        parser.parse_args([args.command, "--help"])
        return 2
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except CommandError as exc:
        print(f"edgedrift {args.command}: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        if getattr(args, "log_level", "INFO") == "DEBUG":
            raise
        print(f"edgedrift {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
