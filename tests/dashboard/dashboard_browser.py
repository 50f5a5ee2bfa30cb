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

# a page is drawn when Streamlit's script run is over and every chart has its canvas
DRAWN = """() => {
  const running = document.querySelector('[data-testid="stStatusWidget"]');
  const charts = document.querySelectorAll('[data-testid="stVegaLiteChart"]');
  const drawn = document.querySelectorAll(
      '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg');
  const skeleton = document.querySelector('[data-testid="stSkeleton"]');
  return !running && !skeleton && drawn.length >= charts.length
      && document.querySelector('h1') !== null;
}"""


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


SIZE = "() => document.querySelector('[data-testid=\"stMain\"]')?.innerText.length ?? 0"


def wait_drawn(page: Any, timeout_ms: int = 60_000, settle_ms: int = 250) -> None:
    """Until the script run is over, every chart on the page is drawn, and the page's text
    stopped changing for ``settle_ms`` (a fragment may still be filling in)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        page.wait_for_function(DRAWN, timeout=timeout_ms, polling=50)
        before = page.evaluate(SIZE)
        page.wait_for_timeout(settle_ms)
        if page.evaluate(DRAWN) and page.evaluate(SIZE) == before:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the page kept changing")
