"""Browser-test helpers: ``edgedrift dashboard`` in a subprocess, a headless Chromium page
that blocks (and records) every request to another origin, and a wait for a page to finish
drawing."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_fleet import ROOT, free_port

if str(ROOT) not in sys.path:      # the page-drawn wait is shared with the benchmark
    sys.path.insert(0, str(ROOT))
from bench.browser import wait_drawn  # noqa: E402

__all__ = ["browser_page", "dashboard_server", "wait_drawn"]


@contextlib.contextmanager
def dashboard_server(data_dir: Path, config: Path | None = None) -> Iterator[str]:
    """``edgedrift dashboard`` over ``data_dir`` in a subprocess; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEDRIFT_")}
    cmd = [sys.executable, "-m", "edgedrift", "dashboard", "--data-dir", str(data_dir),
           "--port", str(port), "--host", "127.0.0.1"]
    if config is not None:
        cmd += ["--config", str(config)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 40
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"dashboard did not start: {out}")
        time.sleep(0.3)
    try:
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextlib.contextmanager
def browser_page(chromium: str, origin: str, foreign: list[str],
                 height: int = 900) -> Iterator[Any]:
    """A headless Chromium page at 1440 x ``height``; every request to another origin than
    ``origin`` is recorded in ``foreign`` and blocked."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": height})
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(origin)
                       else (foreign.append(route.request.url), route.abort()))
            yield page
        finally:
            browser.close()
