"""The ``edgedrift`` command: dispatch to each component's command module, lazily.

A command module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
Only the module of the command being run is imported, so ``edgedrift --help``
is fast and works on the base install (no extras).

Every command gets ``--config`` (the TOML file), ``--data-dir`` and ``--log-level``, before
or after the command's name. A server command run where its third-party packages are not
installed (the ``edgedrift`` base install: the command and the device SDK) exits 2 naming the
extra to install; an error the user can fix is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from typing import NoReturn

from .command import CommandError, add_common_after_subcommand
from .paths import DEFAULT_DATA_DIR

# name -> (module, one-line help). Modules are imported only when chosen.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("edgedrift.demo.pipeline",
             "run the whole pipeline on a simulated fleet and summarise it"),
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
    "init": ("edgedrift.init_cli", "write a commented starter config file (edgedrift.toml)"),
}

# The extra that brings every server component's third-party packages.
SERVER_EXTRA = "pip install 'edgedrift[server]'"
_ANALYSIS = ("numpy", "pandas", "pyarrow", "duckdb", "scipy", "httpx")
# The third-party modules each command needs (checked, without importing them, before the
# command's module is imported). `keys` and `init` need only the standard library.
NEEDS: dict[str, tuple[str, ...]] = {
    "demo": (*_ANALYSIS, "starlette", "uvicorn", "httptools", "prometheus_client"),
    "gateway": ("numpy", "pyarrow", "starlette", "uvicorn", "httptools", "prometheus_client"),
    "sink": ("numpy", "pyarrow", "kafka"),
    "compact": ("numpy", "pyarrow"),
    "reference": ("numpy", "pandas", "pyarrow"),
    "analyze": _ANALYSIS,
    "backtest": _ANALYSIS,
    "status": ("duckdb",),
    "alerts": ("httpx",),
    "webhook": ("httpx", "starlette", "uvicorn"),
    "dashboard": ("streamlit", "altair", "pandas", "duckdb", "pyarrow"),
}
GLOBAL_FLAGS = ("--config", "--data-dir", "--log-level")
# third-party loggers kept at WARNING unless --log-level DEBUG
QUIET_LOGGERS = ("kafka", "httpx", "httpcore")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors naming the command and where its help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def missing_modules(command: str) -> list[str]:
    """The third-party modules ``command`` needs that are not installed here."""
    return [m for m in NEEDS.get(command, ()) if importlib.util.find_spec(m) is None]


def needs_extra(command: str, modules: list[str]) -> str:
    """The one-line message for a server command run without its packages.

    >>> print(needs_extra("gateway", ["uvicorn"]))  # doctest: +NORMALIZE_WHITESPACE
    edgedrift gateway: needs uvicorn, not installed here;
    install the server with: pip install 'edgedrift[server]'
    """
    return (f"edgedrift {command}: needs {', '.join(modules)}, not installed here; "
            f"install the server with: {SERVER_EXTRA}")


def hoist_global_flags(argv: list[str]) -> list[str]:
    """Move ``--config``/``--data-dir``/``--log-level`` given before the command to after it.

    >>> hoist_global_flags(["--data-dir", "D", "keys", "list"])
    ['keys', '--data-dir', 'D', 'list']
    >>> hoist_global_flags(["--log-level=DEBUG", "status", "--json"])
    ['status', '--log-level=DEBUG', '--json']
    """
    moved: list[str] = []
    i = 0
    while i < len(argv) and argv[i].split("=", 1)[0] in GLOBAL_FLAGS:
        step = 1 if "=" in argv[i] else 2
        moved += argv[i:i + step]
        i += step
    if moved and i < len(argv) and argv[i] in COMMANDS:
        return [argv[i], *moved, *argv[i + 1:]]
    return argv


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", default=os.environ.get("EDGEDRIFT_CONFIG"),
                        help="TOML config file for all components (env EDGEDRIFT_CONFIG)")
    parser.add_argument("--data-dir", metavar="DIR",
                        default=os.environ.get("EDGEDRIFT_DATA_DIR", DEFAULT_DATA_DIR),
                        help="where keys, Parquet, the analytics DB and the alert outbox live "
                             f"(default {DEFAULT_DATA_DIR}; env EDGEDRIFT_DATA_DIR)")
    parser.add_argument("--log-level", default=os.environ.get("EDGEDRIFT_LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging verbosity")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    top = Parser(
        prog="edgedrift",
        description="Drift monitoring for ML models on edge devices.",
        epilog="--config FILE, --data-dir DIR and --log-level LEVEL may be given before or "
               "after COMMAND; `edgedrift COMMAND --help` lists them.")
    top.add_argument("--version", action="version", version="edgedrift 0.1.0")
    add_common_after_subcommand(top)
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    for name, (module_name, help_text) in COMMANDS.items():
        parser = sub.add_parser(name, help=help_text, description=help_text)
        if name != chosen:
            continue
        add_common(parser)
        module = importlib.import_module(module_name)
        module.add_arguments(parser)
        parser.set_defaults(_run=module.run, _parser=parser)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = hoist_global_flags(sys.argv[1:] if argv is None else list(argv))
    if argv and argv[0] in COMMANDS:
        missing = missing_modules(argv[0])
        if missing:             # before argparse: the command's own flags cannot be known
            print(needs_extra(argv[0], missing), file=sys.stderr)
            return 2
    try:
        parser = build_parser(argv)
    except ModuleNotFoundError as exc:
        if not argv or exc.name is None or exc.name.split(".")[0] in _OWN_PACKAGES:
            raise
        print(needs_extra(argv[0], [exc.name.split(".")[0]]), file=sys.stderr)
        return 2
    args, unknown = parser.parse_known_args(argv)
    if unknown:     # reported by the command's parser, which names the command
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if not args.command:
        parser.print_help()
        return 2
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_level != "DEBUG":       # third-party chatter: one line per request/connection
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    run = getattr(args, "_run", None)
    if run is None:  # a command group invoked without its sub-command
        parser.parse_args([args.command, "--help"])
        return 2
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:     # a server package imported lazily, deeper down
        if exc.name is None or exc.name.split(".")[0] in _OWN_PACKAGES:
            raise
        print(needs_extra(args.command, [exc.name.split(".")[0]]), file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"edgedrift {args.command}: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        if getattr(args, "log_level", "INFO") == "DEBUG":
            raise
        print(f"edgedrift {args.command}: {exc}", file=sys.stderr)
        return 1


_OWN_PACKAGES = ("edge_sdk", "collector", "analytics", "dashboard", "edgedrift")


if __name__ == "__main__":
    sys.exit(main())
