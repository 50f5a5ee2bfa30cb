"""The Streamlit entry point: ``streamlit run dashboard/app.py`` (``edgedrift dashboard``).

Builds the :class:`~dashboard.config.DashboardConfig` from the environment, draws the
navigation (Incidents, Fleet, Models, Feature, Alerts, Report) and the shared filters in
the sidebar, then runs the chosen page. Incidents is the landing page. Nothing runs on
import.

>>> [p[1] for p in PAGES]
['Incidents', 'Fleet', 'Models', 'Feature', 'Alerts', 'Report']
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_RUN = threading.local()   # set while main() runs the chosen page (per script thread)

# (script, title, icon, url path); the icons are glyphs of the bundled Material font
PAGES = (("pages/incidents.py", "Incidents", ":material/emergency:", "incidents"),
         ("pages/fleet.py", "Fleet", ":material/devices:", "fleet"),
         ("pages/models.py", "Models", ":material/model_training:", "models"),
         ("pages/feature.py", "Feature", ":material/insights:", "feature"),
         ("pages/alerts.py", "Alerts", ":material/notifications:", "alerts"),
         ("pages/report.py", "Report", ":material/description:", "report"))
# Streamlit pushes a browser-history entry for every query-parameter write; this keeps one
# entry per page: a push that only changes the query string replaces the current entry.
# A constant script (no data in it), installed once per browser tab.
HISTORY_SCRIPT = """<script>
(function () {
  if (window.__edgedriftHistory) { return; }
  window.__edgedriftHistory = true;
  var push = window.history.pushState.bind(window.history);
  window.history.pushState = function (state, title, url) {
    try {
      var next = new URL(url, window.location.href);
      if (next.pathname === window.location.pathname) {
        return window.history.replaceState(state, title, url);
      }
    } catch (e) { /* fall through */ }
    return push(state, title, url);
  };
})();
</script>"""
# the favicon: an emoji drawn by the browser (a Material icon would be fetched from a CDN)
FAVICON = "\N{CHART WITH UPWARDS TREND}"


def main() -> None:
    import streamlit as st

    from dashboard import data, filters, ui
    from dashboard.config import from_env

    st.set_page_config(page_title="edgedrift", page_icon=FAVICON, layout="wide")
    st.sidebar.html(HISTORY_SCRIPT, unsafe_allow_javascript=True)
    cfg = from_env()
    pages = [st.Page(path, title=title, icon=icon, url_path=url, default=i == 0)
             for i, (path, title, icon, url) in enumerate(PAGES)]
    nav = st.navigation(pages, position="hidden")
    for page in pages[:-1]:  # our own links (the pages/ folder must not add its own menu);
        st.sidebar.page_link(page)   # a report is opened from a link, not the menu
    st.sidebar.caption(f"data dir `{cfg.data_dir}`")
    ov = data.overview(cfg)
    chosen = filters.sidebar(data.catalog(cfg), _first_incident(cfg)) if ov.has_results \
        else filters.sidebar(_empty())
    filters.remember(cfg, chosen)
    ui.freshness_banner(st.sidebar, ov)
    for note in chosen.notes:    # a deep link naming something that does not exist
        st.warning(note, icon="\N{WARNING SIGN}")
    _RUN.inside = True
    try:
        nav.run()
    finally:
        _RUN.inside = False


def run_page(page_main: Callable[[], None]) -> None:
    """Run a page script: its ``main()`` inside the app, else the whole app.

    Streamlit runs ``pages/<name>.py`` directly (its legacy folder mode) when a
    fresh server's first request is a page URL; going through :func:`main`
    registers the navigation, which then runs that same page.
    """
    if getattr(_RUN, "inside", False):
        page_main()
    else:
        main()


def _first_incident(cfg: object) -> tuple[str, str, str]:
    """(model, version, segment label) of the oldest open drift or quality incident."""
    from dashboard import data
    from dashboard.filters import format_segment

    states = data.current_states(cfg)  # type: ignore[arg-type]
    if states.empty:
        return ("", "", "")
    bad = states[states["state"] == "drift"].sort_values(["since", "segment_tag"])
    if bad.empty:
        return ("", "", "")
    r = bad.iloc[0]
    return (str(r["model"]), str(r["version"]),
            format_segment((str(r["segment_tag"]), str(r["segment_value"]))))


def _empty():  # noqa: ANN202
    import pandas as pd
    return pd.DataFrame()


if __name__ == "__main__":
    # run the imported module's main(), so the pages see the same run state (_RUN)
    from dashboard.app import main as app_main
    app_main()
