"""A real browser: `edgedrift dashboard` in a subprocess, each page in headless Chromium.

Screenshots go to tests/artifacts/dashboard-<page>.png (git-ignored).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from dashboard_fleet import ARTIFACTS, EVIL_VERSION, ROOT, free_port

PAGES = [("fleet", "Fleet"), ("models", "Models"), ("feature", "Feature"), ("alerts", "Alerts")]


@pytest.fixture()
def server(pipeline_dir):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEDRIFT_")}
    proc = subprocess.Popen([sys.executable, "-m", "edgedrift", "dashboard", "--data-dir",
                             str(pipeline_dir), "--port", str(port), "--host", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
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


def test_every_page_renders_in_chromium(server, chromium):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            # a fresh server learns the page list from the entry script's first run
            page.goto(f"{server}/", timeout=30_000)
            page.get_by_role("heading", name="Fleet").first.wait_for(timeout=30_000)
            for path, title in PAGES:
                page.goto(f"{server}/{path}?model=kws&version=1.0&segment=fleet&range=all",
                          timeout=30_000)
                page.get_by_role("heading", name=title).first.wait_for(timeout=30_000)
                if path != "alerts":
                    page.locator("[data-testid='stVegaLiteChart'] canvas, "
                                 "[data-testid='stVegaLiteChart'] svg").first.wait_for(
                        timeout=30_000)
                page.wait_for_load_state("networkidle", timeout=30_000)
                page.wait_for_timeout(1500)     # let the charts finish drawing
                page.screenshot(path=str(ARTIFACTS / f"dashboard-{path}.png"), full_page=True)
                assert page.locator("[data-testid='stException']").count() == 0, path
                body = page.inner_text("body")
                assert "Traceback" not in body, path
                for text in {"models": ["drifted features: temp"],
                             "alerts": ["Redeliver failed deliveries", "suggested action"],
                             "fleet": ["unexpected model hash"]}.get(path, []):
                    page.get_by_text(text).first.wait_for(timeout=10_000)
        finally:
            browser.close()


def test_device_supplied_markdown_renders_literally(server, chromium):
    """A model version holding a Markdown link and image is shown as written: no link, no
    image, and the browser never asks another origin for anything."""
    from urllib.parse import quote

    from playwright.sync_api import sync_playwright

    foreign: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(server)
                       else (foreign.append(route.request.url), route.abort()))
            page.goto(f"{server}/", timeout=30_000)
            page.get_by_role("heading", name="Fleet").first.wait_for(timeout=30_000)
            page.goto(f"{server}/models?model=cam&version={quote(EVIL_VERSION)}&segment=fleet"
                      "&range=all", timeout=30_000)
            page.get_by_role("heading", name="Models").first.wait_for(timeout=30_000)
            page.get_by_text("Session expired - click to log in").first.wait_for(timeout=30_000)
            page.wait_for_load_state("networkidle", timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "dashboard-planted-markdown.png"),
                            full_page=True)
            main = page.locator("section.main, [data-testid='stMain']").first
            shown = main.inner_text().replace("\u200b", "")   # zero-width spaces break URLs
            assert EVIL_VERSION in shown                         # shown as written
            # (the sidebar's same-origin page links carry the query string: not links out)
            links = page.eval_on_selector_all("a[href^='http://evil.example']",
                                              "els => els.map(e => e.outerHTML)")
            assert links == []
            assert page.locator("img[src*='evil.example']").count() == 0
        finally:
            browser.close()
    assert not [u for u in foreign if "evil.example" in u]
