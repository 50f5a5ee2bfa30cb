"""What every command module shares: the error a user can fix, and argument helpers.

Command modules (``collector/*_cli.py``, ``analytics/*_cli.py``, ``dashboard/cli.py``,
``edgedrift/init_cli.py``, ``edgedrift/demo/pipeline.py``) import this module, never the
dispatcher :mod:`edgedrift.cli` (which imports them): no import cycle. Standard library only.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket


class CommandError(Exception):
    """A command failed in a way the user can fix; printed without a traceback."""


def ensure_port_free(host: str, port: int, flag: str = "--port") -> None:
    """Refuse, naming the port, to start a server on a port another process listens on
    (instead of starting, announcing itself and then failing to bind)."""
    if not port:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return          # e.g. an address not on this machine: the server reports it
            raise CommandError(f"{flag} {port}: {host}:{port} is already in use by another "
                               f"process; stop it or choose another port with {flag}") from None


def existing_data_dir(path: str) -> str:
    """``path`` if it is a directory; else a :class:`CommandError` for commands that only read
    (they would otherwise create it and report zeros as if the fleet were silent).

    >>> existing_data_dir("/nonexistent/edgedrift-data")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    edgedrift.command.CommandError: --data-dir /nonexistent/edgedrift-data does not exist: ...
    """
    if not os.path.isdir(path):
        raise CommandError(f"--data-dir {path} does not exist: no data here. Give the data dir "
                           "the gateway writes (--data-dir DIR or EDGEDRIFT_DATA_DIR), or start "
                           "with `edgedrift demo`")
    return path


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
