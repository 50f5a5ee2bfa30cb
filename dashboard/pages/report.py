"""Report: one Evidently HTML report, served by the dashboard (``/report?file=<name>.html``).

Only a file name directly inside the data dir's ``reports/`` folder is accepted, so a
link can name a report but never another path. Above the report: how Evidently's own
dataset-level headline relates to edgedrift's verdict (they use different rules).

The report is a file with scripts in it, so it runs sandboxed (:func:`sandboxed`): in an
``<iframe sandbox="allow-scripts">`` of its own, an opaque origin, so its scripts draw the
report but cannot reach the dashboard's page, cookies or storage, and a Content Security
Policy lets it load nothing from the network.

>>> callable(main)
True
"""

from __future__ import annotations

import html
import re
from typing import Any

from dashboard.ui import literal

# what the report may do inside its frame: run its own inline scripts and styles, show
# inline (data:) images and fonts; no request to any origin, no forms, no navigation
REPORT_CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
              "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
              "form-action 'none'; base-uri 'none'")
SANDBOX = "allow-scripts"   # no allow-same-origin: the frame cannot reach its parent


def main() -> None:
    import streamlit as st

    from dashboard import data, ui
    from dashboard.filters import context

    cfg, _f = context()
    st.title("Report")
    ov = data.overview(cfg)
    if not ui.guard(st, ov):
        return
    name = st.query_params.get("file", "")
    path = data.report_file(cfg, name)
    if path is None:
        found = data.report_files(cfg)
        if name:
            st.warning(f"No report named `{name.replace('`', '')[:120]}` in "
                       f"`{cfg.paths.reports}`.")
        if not found:
            st.info("No Evidently report yet: one is written when a verdict turns to drift "
                    "and the devices send raw-row samples.")
            return
        path = st.selectbox("Report", found, format_func=lambda p: p.name, key="report_pick")
        st.query_params["file"] = path.name
    show(st, path)


def show(st: Any, path: Any, height: int = 1100) -> None:
    """The explanation line and the report itself."""
    from dashboard import data, frames

    st.caption(f"{literal(path.name)} · written {_mtime(path)} UTC")
    summary = frames.evidently_summary(data.report_sidecar(path))
    if summary:
        st.info(summary)
    st.iframe(sandboxed(data.report_html(path), height), height=height + 4)


def sandboxed(doc: str, height: int) -> str:
    """``doc`` in an iframe with ``sandbox="allow-scripts"`` (an opaque origin: its scripts
    run but cannot reach this page) and :data:`REPORT_CSP` (no network requests).

    >>> frame = sandboxed("<p>hi</p><script>1</script>", 300)
    >>> 'sandbox="allow-scripts"' in frame, "&lt;script&gt;" in frame, "<script>" in frame
    (True, True, False)
    """
    policy = f'<meta http-equiv="Content-Security-Policy" content="{REPORT_CSP}">'
    head = re.search(r"<head[^>]*>", doc, re.IGNORECASE)   # a policy counts in <head> only
    doc = (doc[:head.end()] + policy + doc[head.end():]) if head else policy + doc
    return ("<style>html,body{margin:0;padding:0;overflow:hidden}</style>"
            f'<iframe sandbox="{SANDBOX}" title="Evidently report" referrerpolicy="no-referrer" '
            f'style="width:100%;height:{int(height)}px;border:0;display:block" '
            f'srcdoc="{html.escape(doc, quote=True)}"></iframe>')


def _mtime(path: Any) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).strftime("%Y-%m-%d %H:%M")


if __name__ == "__main__":
    from dashboard.app import run_page
    run_page(main)
