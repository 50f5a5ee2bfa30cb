"""The Streamlit entry point: ``streamlit run dashboard/app.py`` (what ``edgedrift dashboard`` runs).

Builds the :class:`~dashboard.config.DashboardConfig` from the environment, draws the
navigation (Fleet, Models, Feature, Alerts) and the shared filters in the sidebar,
then runs the chosen page. Nothing runs on import.

>>> [p[1] for p in PAGES]
['Fleet', 'Models', 'Feature', 'Alerts']
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_RUN = threading.local()   # set while main() runs the chosen page (per script thread)

PAGES = (("pages/fleet.py", "Fleet", ":material/devices:", "fleet"),
         ("pages/models.py", "Models", ":material/model_training:", "models"),
         ("pages/feature.py", "Feature", ":material/insights:", "feature"),
         ("pages/alerts.py", "Alerts", ":material/notifications:", "alerts"))


def main() -> None:
    import streamlit as st

    from dashboard import data, filters, ui
    from dashboard.config import from_env

    st.set_page_config(page_title="edgedrift", page_icon=":material/monitoring:",
                       layout="wide")
    cfg = from_env()
    pages = [st.Page(path, title=title, icon=icon, url_path=url, default=i == 0)
             for i, (path, title, icon, url) in enumerate(PAGES)]
    nav = st.navigation(pages, position="hidden")
    for page in pages:      # our own links: the pages/ folder must not add its own menu
        st.sidebar.page_link(page)
    st.sidebar.caption(f"data dir `{cfg.data_dir}`")
    ov = data.overview(cfg)
    chosen = filters.sidebar(data.catalog(cfg) if ov.has_results else _empty())
    filters.remember(cfg, chosen)
    ui.freshness_banner(st.sidebar, ov)
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


def _empty():  # noqa: ANN202
    import pandas as pd
    return pd.DataFrame()


if __name__ == "__main__":
    # run the imported module's main(), so the pages see the same run state (_RUN)
    from dashboard.app import main as app_main
    app_main()
