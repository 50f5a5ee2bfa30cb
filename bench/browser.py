"""Page times in a real browser: ``edgedrift dashboard`` in a subprocess, headless Chromium
(Debian's ``/usr/bin/chromium``) driven by playwright, every request to another origin
blocked.

A page counts as loaded when Streamlit's script run is over (no status widget, no
skeleton), every chart has its canvas, and the number of elements then stays the same for
250 ms; the figure is the time until that stable state was first seen.

Beside the wall time, the CPU time a warm load costs (the dashboard server, Chromium and
playwright's driver: every process this one started) is read from ``/proc``. The wall time
of a page on a shared machine depends on what else runs; its CPU time depends on that less
(it still holds the polling of the page-drawn wait, which lasts longer on a loaded machine),
so it is a second view when two versions are compared in one run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
SETTLE_MS = 250
DRAWN = """() => {
  const running = document.querySelector('[data-testid="stStatusWidget"]');
  const charts = document.querySelectorAll('[data-testid="stVegaLiteChart"]');
  const drawn = document.querySelectorAll(
      '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg');
  const skeleton = document.querySelector('[data-testid="stSkeleton"]');
  return !running && !skeleton && drawn.length >= charts.length
      && document.querySelector('h1') !== null;
}"""
# how many elements the page holds (a dataframe's own lazy cells do not count)
SIZE = """() => document.querySelectorAll(
    '[data-testid="stMain"] [data-testid="stElementContainer"]').length"""


def wait_drawn(page: Any, timeout_ms: int = 60_000, settle_ms: int = SETTLE_MS) -> float:
    """Until the script run is over, every chart is drawn, and no element was added for
    ``settle_ms`` (a fragment may still be filling in). Returns the
    ``time.perf_counter()`` at which that final, stable state was first seen."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        page.wait_for_function(DRAWN, timeout=timeout_ms, polling=20)
        seen = time.perf_counter()
        before = page.evaluate(SIZE)
        page.wait_for_timeout(settle_ms)
        if page.evaluate(DRAWN) and page.evaluate(SIZE) == before:
            return seen
        if time.monotonic() > deadline:
            raise TimeoutError("the page kept changing")


def descendants_cpu_s(root: int | None = None) -> float:
    """CPU seconds (user + system, with those of reaped children) of every process below
    ``root`` (default: this process), from ``/proc``; NaN where there is no ``/proc``."""
    root = os.getpid() if root is None else root
    parent: dict[int, int] = {}
    used: dict[int, int] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return float("nan")
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:          # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        parent[int(name)] = int(fields[1])
        used[int(name)] = sum(int(x) for x in fields[11:15])
    total = 0
    for pid, ticks in used.items():
        up = parent.get(pid)
        while up is not None and up != root and up > 1:
            up = parent.get(up)
        if up == root:
            total += ticks
    return total / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(data_dir: Path, code_root: Path = ROOT, config: Path | None = None) -> Iterator[str]:
    """``edgedrift dashboard`` over ``data_dir`` with the code under ``code_root``."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEDRIFT_")}
    env["PYTHONPATH"] = str(code_root)
    cmd = [sys.executable, "-m", "edgedrift", "dashboard", "--data-dir", str(data_dir),
           "--port", str(port), "--host", "127.0.0.1"]
    if config is not None:
        cmd += ["--config", str(config)]
    proc = subprocess.Popen(cmd, cwd=code_root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dashboard did not start (exit {proc.poll()})")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def page_times(url: str, pages: list[tuple[str, str]], query: str,
               repeats: int = 5) -> dict[str, dict[str, float]]:
    """Per page (url path, sidebar title): ``cold`` (first load), ``warm`` (median full
    page load after it), ``nav`` (median in-app navigation by the sidebar link) and
    ``cpu`` (CPU seconds per warm load: server, browser and driver; see the module), in s.
    Raises ``RuntimeError`` with the reason when Chromium or playwright is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise RuntimeError("playwright is not installed (pip install playwright)") from exc
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    foreign: list[str] = []
    out: dict[str, dict[str, float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})

            def only_here(route: Any) -> None:
                if route.request.url.startswith(url):
                    route.continue_()
                else:
                    foreign.append(route.request.url)
                    route.abort()

            page.route("**/*", only_here)
            page.goto(f"{url}/?{query}", timeout=120_000)
            wait_drawn(page, 120_000)
            for path, title in pages:
                loads, cpu = [], descendants_cpu_s()
                for i in range(repeats + 1):     # the first load is the cold one
                    if i == 1:
                        cpu = descendants_cpu_s()
                    t = time.perf_counter()
                    page.goto(f"{url}/{path}?{query}", timeout=120_000)
                    loads.append(wait_drawn(page, 120_000) - t)
                cpu = (descendants_cpu_s() - cpu) / repeats
                navs = []
                for _ in range(repeats):
                    other = next(t for p_, t in pages if t != title)
                    page.locator("[data-testid='stSidebar'] a").filter(
                        has_text=other).first.click()
                    page.get_by_role("heading", name=other).first.wait_for(timeout=120_000)
                    wait_drawn(page, 120_000)
                    t = time.perf_counter()
                    page.locator("[data-testid='stSidebar'] a").filter(
                        has_text=title).first.click()
                    page.get_by_role("heading", name=title).first.wait_for(timeout=120_000)
                    navs.append(wait_drawn(page, 120_000) - t)
                out[path or "(landing)"] = {"cold": loads[0],
                                            "warm": statistics.median(loads[1:]),
                                            "nav": statistics.median(navs), "cpu": cpu}
        finally:
            browser.close()
    if foreign:
        out["_foreign_requests"] = {"count": float(len(foreign))}
    return out
