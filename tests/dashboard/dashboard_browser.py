"""Browser-test helpers: ``edgedrift dashboard`` in a subprocess, a headless Chromium page
that blocks (and records) every request to another origin, and a wait for a page to finish
drawing."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_fleet import ROOT

if str(ROOT) not in sys.path:      # the page-drawn wait is shared with the benchmark
    sys.path.insert(0, str(ROOT))
from bench.browser import serve, wait_drawn  # noqa: E402

__all__ = ["browser_page", "dashboard_server", "wait_drawn"]


@contextlib.contextmanager
def dashboard_server(data_dir: Path, config: Path | None = None) -> Iterator[str]:
    """``edgedrift dashboard`` over ``data_dir`` in a subprocess (the benchmark's own
    :func:`bench.browser.serve`); yields its base URL."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(serve(data_dir, config=config))
        except RuntimeError as exc:
            pytest.fail(str(exc))
        yield url


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
