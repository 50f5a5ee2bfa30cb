"""The Streamlit entry point: ``streamlit run dashboard/app.py`` (what ``edgedrift dashboard`` runs).

Builds the :class:`~dashboard.config.DashboardConfig` from the environment, draws the
navigation (Fleet, Models, Feature, Alerts) and the shared filters in the sidebar,
then runs the chosen page. Nothing runs on import.

>>> [p[1] for p in PAGES]
['Fleet', 'Models', 'Feature', 'Alerts']
"""

from __future__ import annotations

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
    nav = st.navigation([st.Page(path, title=title, icon=icon, url_path=url, default=i == 0)
                         for i, (path, title, icon, url) in enumerate(PAGES)])
    st.sidebar.caption(f"data dir `{cfg.data_dir}`")
    ov = data.overview(cfg)
    chosen = filters.sidebar(data.catalog(cfg) if ov.has_results else _empty())
    filters.remember(cfg, chosen)
    ui.freshness_banner(st.sidebar, ov)
    nav.run()


def _empty():  # noqa: ANN202
    import pandas as pd
    return pd.DataFrame()


if __name__ == "__main__":
    main()
