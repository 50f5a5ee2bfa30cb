"""Report: one Evidently HTML report, served by the dashboard (``/report?file=<name>.html``).

Only a file name directly inside the data dir's ``reports/`` folder is accepted, so a
link can name a report but never another path. Above the report: how Evidently's own
dataset-level headline relates to edgedrift's verdict (they use different rules).

>>> callable(main)
True
"""

from __future__ import annotations

from typing import Any

from dashboard.ui import literal


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
    st.iframe(path, height=height)


def _mtime(path: Any) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).strftime("%Y-%m-%d %H:%M")


if __name__ == "__main__":
    from dashboard.app import run_page
    run_page(main)
