"""Helpers shared by the whole suite: a free TCP port, and waiting for a condition.

``tests/conftest.py`` puts ``tests/`` on ``sys.path``, so any test module imports them
with ``from support import free_port, wait_until``.

>>> 1024 <= free_port() < 65536
True
>>> wait_until(lambda: 42, timeout=1, what="the answer")
42
>>> wait_until(lambda: 0, timeout=0.05, interval=0.01, what="zero to be truthy")
Traceback (most recent call last):
...
AssertionError: timed out after 0.05 s waiting for zero to be truthy
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], T], timeout: float = 20.0, *, interval: float = 0.1,
               what: str = "the condition", proc: subprocess.Popen | None = None) -> T:
    """Call ``predicate`` until it returns something truthy, and return that value.

    Fails the test (``AssertionError`` naming ``what``) after ``timeout`` seconds, or at
    once when ``proc`` - the process expected to make the condition true - has exited.
    The predicate is always tried once more after the deadline, so a slow machine that
    only got there at the last moment still passes.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} while waiting for "
                                 f"{what}")
        if time.monotonic() > deadline:
            value = predicate()
            if value:
                return value
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
