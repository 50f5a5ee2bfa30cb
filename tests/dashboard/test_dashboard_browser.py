"""A real browser: `edgedrift dashboard` in a subprocess, each page in headless Chromium at
1440 x 900, every request to another origin blocked and recorded.

On the demo's data (``edgedrift demo``: drift injected in kws ``rms`` on firmware 2.1): the
landing page names the incident and its onset; no chart is wider than its container; one
Back leaves a page; no request leaves the dashboard's origin. On the pipeline data dir:
planted Markdown/HTML renders literally. Screenshots go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from dashboard_browser import browser_page, dashboard_server, wait_drawn
from dashboard_fleet import ARTIFACTS, EVIL_VERSION

PAGES = [("", "Incidents"), ("fleet", "Fleet"), ("models", "Models"), ("feature", "Feature"),
         ("alerts", "Alerts")]
# a chart may not be wider than the block that holds it (1 px of rounding allowed)
OVERFLOW = """() => Array.from(document.querySelectorAll('[data-testid="stVegaLiteChart"]'))
  .map(el => {
    const box = el.parentElement.getBoundingClientRect();
    const drawn = el.querySelector('canvas, svg');
    const w = drawn ? drawn.getBoundingClientRect().width : 0;
    return {chart: w, box: box.width, scroll: el.scrollWidth, client: el.clientWidth};
  })"""


@pytest.fixture(scope="module")
def demo_server(demo):
    with dashboard_server(demo["data_dir"], demo["config"]) as url:
        yield url


@pytest.fixture(scope="module")
def pipeline_server(pipeline_dir):
    with dashboard_server(pipeline_dir) as url:
        yield url


def _expected_incidents(demo) -> list[dict]:
    """The drifting streams, read from the results with the CLI's own query (not the
    dashboard's): what the landing page must name."""
    from analytics.status_cli import current
    state = current(demo["data_dir"] / "analytics.snapshot.duckdb")
    return [v for v in state["verdicts"] if v["state"] == "drift"]


def test_landing_page_names_the_injected_incident_and_its_onset(demo, demo_server, chromium):
    expected = _expected_incidents(demo)
    assert {v["segment"] for v in expected} >= {"firmware=2.1"}      # the injected drift
    foreign: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with browser_page(chromium, demo_server, foreign) as page:
        # a narrow time range must not move the onset (it is not a range property)
        page.goto(f"{demo_server}/?range=6h", timeout=60_000)
        page.get_by_role("heading", name="Incidents").first.wait_for(timeout=60_000)
        wait_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "dashboard-incidents.png"))
        main = page.locator("[data-testid='stMain']").first.inner_text()
        assert f"{len(expected)} open incident(s)" in main
        where = {}
        for v in expected:
            since = v["since"][:16].replace("T", " ")          # 2026-12-04T20:00 -> ... 20:00
            seg = v["segment"] or "fleet"
            line = f"{v['kind']} · {v['model']} {v['version']} · {seg} · since {since} UTC"
            assert line in main, (line, main)
            where[seg] = main.index(line)
        assert "rms wasserstein" in main                           # the worst feature, with
        assert "__prediction__" in main                            # its score; not Markdown
        assert "✔ delivered" in main and "Alert #" in main
        # one click to the detail: the injected segment on the Models page
        page.get_by_role("link", name="Models ›").nth(
            sorted(where.values()).index(where["firmware=2.1"])).click()
        page.get_by_role("heading", name="Models").first.wait_for(timeout=60_000)
        page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"]')"
                               ".innerText.includes('Drift since')", timeout=60_000)
        wait_drawn(page)
        assert "segment=firmware%3D2.1" in page.url
        detail = page.locator("[data-testid='stMain']").first.inner_text()
        assert "kws 1.3.0 · firmware=2.1" in detail and "Drift since" in detail
    assert foreign == []


def test_pages_fit_their_containers_and_ask_no_other_origin(demo_server, chromium):
    """Every chart on every page is at most as wide as its block, and not one request
    leaves the dashboard's origin (fonts and icons included)."""
    foreign: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with browser_page(chromium, demo_server, foreign, height=900) as page:
        page.goto(f"{demo_server}/", timeout=60_000)
        page.get_by_role("heading", name="Incidents").first.wait_for(timeout=60_000)
        views = [(path, title, "") for path, title in PAGES] + [
            ("models", "Models", view) for view in ("Segments", "Performance",
                                                    "Compare versions")]
        for path, title, view in views:
            query = "range=all" + (f"&view={quote(view)}" if view else "")
            page.goto(f"{demo_server}/{path}?{query}", timeout=60_000)
            page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
            wait_drawn(page)
            name = (path or "incidents") + (f"-{view.split()[0].lower()}" if view else "")
            page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-full.png"), full_page=True)
            assert page.locator("[data-testid='stException']").count() == 0, path
            sizes = page.evaluate(OVERFLOW)
            if path in ("models", "feature", "fleet") and not view:
                assert sizes, f"{path}: no chart drawn"
            for s in sizes:
                assert s["chart"] <= s["box"] + 1 and s["scroll"] <= s["client"] + 1, (path, s)
    assert foreign == [], foreign


def test_one_back_leaves_a_page(demo_server, chromium):
    """Query-parameter writes (filters, picked feature/alert) replace the history entry:
    after a tour of the pages, each Back returns to the previous page."""
    foreign: list[str] = []
    with browser_page(chromium, demo_server, foreign) as page:
        page.goto(f"{demo_server}/", timeout=60_000)
        page.get_by_role("heading", name="Incidents").first.wait_for(timeout=60_000)
        wait_drawn(page)
        start = page.evaluate("history.length")
        tour = ["Fleet", "Models", "Feature", "Alerts"]
        for title in tour:
            page.locator("[data-testid='stSidebar'] a").filter(has_text=title).first.click()
            page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
            wait_drawn(page)
        assert page.evaluate("history.length") == start + len(tour)
        for title in ["Feature", "Models", "Fleet", "Incidents"]:
            page.go_back()
            page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
            wait_drawn(page)
    assert foreign == []


def test_device_supplied_markdown_renders_literally(pipeline_server, chromium):
    """A model version holding a Markdown link and image is shown as written: no link, no
    image, and the browser never asks another origin for anything."""
    foreign: list[str] = []
    with browser_page(chromium, pipeline_server, foreign, height=1200) as page:
        page.goto(f"{pipeline_server}/", timeout=60_000)
        page.get_by_role("heading", name="Incidents").first.wait_for(timeout=60_000)
        page.goto(f"{pipeline_server}/models?model=cam&version={quote(EVIL_VERSION)}"
                  "&segment=fleet&range=all", timeout=60_000)
        page.get_by_role("heading", name="Models").first.wait_for(timeout=60_000)
        page.get_by_text("Session expired - click to log in").first.wait_for(timeout=60_000)
        wait_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "dashboard-planted-markdown.png"), full_page=True)
        main = page.locator("section.main, [data-testid='stMain']").first
        shown = main.inner_text().replace("\u200b", "")   # zero-width spaces break URLs
        assert EVIL_VERSION in shown                         # shown as written
        # (the sidebar's same-origin page links carry the query string: not links out)
        links = page.eval_on_selector_all("a[href^='http://evil.example']",
                                          "els => els.map(e => e.outerHTML)")
        assert links == []
        assert page.locator("img[src*='evil.example']").count() == 0
    assert foreign == []


@pytest.fixture(scope="module")
def report_dir(pipeline_dir, tmp_path_factory):
    """A copy of the pipeline data dir with a real Evidently report in ``reports/``."""
    import shutil

    import numpy as np
    import pandas as pd

    from analytics.reports import write_drift_report
    root = tmp_path_factory.mktemp("report-data") / "data"
    shutil.copytree(pipeline_dir, root)
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"rms": rng.normal(0, 1, 300), "mic": rng.choice(["a", "b"], 300)})
    cur = pd.DataFrame({"rms": rng.normal(2, 1, 300), "mic": rng.choice(["a", "b"], 300)})
    assert write_drift_report(ref, cur, root / "reports", "probe_report") is not None
    return root


# run inside the report's frame: what it can reach of the dashboard's page
REACH = """() => {
  const tryit = (f) => { try { f(); return 'reachable'; } catch (e) { return e.name; } };
  return {origin: window.origin, parent: tryit(() => window.parent.document.title),
          top: tryit(() => window.top.document.title), storage: tryit(() => localStorage.length),
          cookie: tryit(() => document.cookie)};
}"""


def test_report_renders_sandboxed_and_cannot_reach_the_dashboard(report_dir, chromium):
    """The Evidently report's scripts draw it, but from an opaque origin: its frame cannot
    read the dashboard's page (parent or top), storage or cookies, and asks no origin."""
    foreign: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with dashboard_server(report_dir) as url, \
            browser_page(chromium, url, foreign, height=1300) as page:
        page.goto(f"{url}/report?file=probe_report.html", timeout=60_000)
        page.get_by_role("heading", name="Report").first.wait_for(timeout=60_000)
        frame_el = page.locator("iframe").first.element_handle(timeout=60_000)
        outer = frame_el.content_frame()
        report = outer.wait_for_selector('iframe[title="Evidently report"]', timeout=60_000)
        assert report.get_attribute("sandbox") == "allow-scripts"
        inner = report.content_frame()
        # drawn by the report's scripts (the raw file holds its text only inside scripts)
        inner.wait_for_function("() => document.body && document.body.innerText.includes("
                                "'Drift') && document.querySelectorAll('svg, canvas').length",
                                timeout=90_000)
        page.screenshot(path=str(ARTIFACTS / "dashboard-report-sandboxed.png"), full_page=True)
        reach = inner.evaluate(REACH)
        assert reach == {"origin": "null", "parent": "SecurityError", "top": "SecurityError",
                         "storage": "SecurityError", "cookie": "SecurityError"}, reach
    assert foreign == [], foreign
