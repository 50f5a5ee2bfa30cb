"""Fault injection for the "killed at step X" tests.

``EDGEDRIFT_FAULT=alerts:after_store`` kills the process (SIGKILL) right after
an alert is committed to the outbox; ``alerts:after_send`` right after a
webhook got its answer and before the result is recorded. Unset: no effect.

>>> fault("after_store")  # EDGEDRIFT_FAULT is not set in doctests
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)


def fault(point: str) -> None:
    """SIGKILL this process if ``EDGEDRIFT_FAULT`` names ``alerts:<point>``."""
    if os.environ.get("EDGEDRIFT_FAULT") == f"alerts:{point}":
        log.warning("EDGEDRIFT_FAULT=alerts:%s: killing the process", point)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
