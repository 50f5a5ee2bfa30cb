"""Feature: reference vs current distribution for one window, quantiles, metric history with
thresholds, data-quality rates, and the Evidently report when one exists.

>>> callable(main)
True
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from dashboard.ui import literal

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def main() -> None:
    import streamlit as st

    from dashboard import data, ui
    from dashboard.filters import context

    cfg, f = context()
    st.title("Feature")
    ov = data.overview(cfg)
    if not ui.guard(st, ov) or not ov.has_results:
        return
    if not f.model:
        st.info("Choose a model in the sidebar.")
        return
    _body(cfg, f)


def _pick(st: Any, label: str, options: list[Any], param: str, fmt: Any = str) -> Any:
    from dashboard.filters import synced_select
    return synced_select(st, st, label, options, param, f"feature_{param}", fmt=fmt)


def _body(cfg: Any, f: Any) -> None:
    import streamlit as st

    from dashboard import charts, data, draw

    since, until = data.time_range(cfg, f.range_key)
    metrics = data.feature_metrics(cfg, since, until, f.model, f.version, f.segment)
    ref = data.reference(cfg, f.model, f.version)
    if metrics.empty:
        if ref is None:
            st.warning(f"No reference profile for {literal(f.model)} {literal(f.version)}, so "
                       "no feature is "
                       "compared. Build one with `edgedrift reference`.")
        else:
            st.info("No feature metrics in this time range for this selection.")
        return
    drifted = set(metrics[metrics["drifted"].fillna(False).astype(bool)]["feature"])
    features = sorted(metrics["feature"].unique(),
                      key=lambda x: (x not in drifted, x.startswith("__"), x))
    left, right = st.columns(2)
    with left:
        feature = _pick(st, "Feature", features, "feature")
    mine = metrics[metrics["feature"] == feature]
    windows = sorted(mine["window_start"].unique(), reverse=True)
    with right:
        window = _pick(st, "Window", [dt.datetime.fromisoformat(str(w)) for w in windows],
                       "window", fmt=lambda w: f"{w:%Y-%m-%d %H:%M}")
    if drifted:
        st.caption("Features that drifted in this range: "
                   + ", ".join(literal(x) for x in sorted(drifted)))
    st.header(f"{literal(feature)} — {'▲ drifted' if feature in drifted else '✔ no drift'}")
    row = mine[mine["window_start"] == window]
    _distribution(cfg, f, st, feature, row, ref, window)

    st.subheader("Metric history against each method's threshold")
    st.caption("Effect sizes: the score with its sketch-error interval (band) and the "
               "threshold (dashed); the feature drifts when the interval's lower bound reaches "
               "it. Tests: the p-value on a log axis against alpha (dashed); it drifts below.")
    order = {"effect": 0, "test": 1, "info": 2}
    groups = sorted(mine.groupby("method"), key=lambda mg: (order.get(mg[1]["role"].iloc[0], 3),
                                                           mg[0]))
    info = [m for m, g in groups if g["role"].iloc[0] == "info"]
    show_info = bool(info) and st.toggle(
        f"Also the informational methods ({', '.join(info)}: no verdict rests on them)",
        key="feature_show_info")
    for method, g in groups:
        role = g["role"].iloc[0]
        if role == "info" and not show_info:
            continue
        on = _threshold_on(method)
        st.markdown(f"**{literal(method)}** ({role}, threshold on the "
                    f"{on.replace('_', '-')})")
        draw.chart(st, ("metric_history", on, draw.digest(g)),
                   functools.partial(charts.metric_history, g, on))

    st.subheader("Data quality")
    dq = data.data_quality(cfg, since, until, f.model, f.version, f.segment, feature)
    if dq.empty:
        st.info("No data-quality rows for this feature.")
    else:
        rates = [c for c in dq.columns if c.endswith("_rate") and not c.startswith("ref_")]
        long = dq.melt(id_vars=["window_start"], value_vars=rates, var_name="rate",
                       value_name="value").dropna()
        long["rate"] = long["rate"].str.replace("_rate", "")
        draw.chart(st, ("quality_rates", draw.digest(long)), lambda: charts.lines(
            long, "window_start", "value", "rate", "share of records", y_format="%",
            legend="rate"))
        flagged = dq[dq["flagged"].fillna(False).astype(bool)]
        if not flagged.empty:
            st.warning(f"Quality problem flagged in {len(flagged)} window(s): worst "
                       f"{', '.join(sorted(flagged['worst'].dropna().unique()))}")
    _report(cfg, f, st, since, until)


def _threshold_on(method: str) -> str:
    """``score`` or ``p_value``: what the method's threshold applies to (the registry says).

    >>> _threshold_on("ks"), _threshold_on("wasserstein"), _threshold_on("unknown")
    ('p_value', 'score', 'score')
    """
    from analytics.methods.registry import METHODS
    desc = METHODS.get(method)
    return desc.threshold_on if desc is not None else "score"


def _distribution(cfg: Any, f: Any, st: Any, feature: str, row: Any, ref: Any,
                  window: dt.datetime) -> None:
    import pandas as pd

    from dashboard import charts, dataset, draw, frames

    st.subheader(f"Reference vs current, window {window:%Y-%m-%d %H:%M}")
    if ref is None or feature not in ref.features:
        st.info("The reference profile has no entry for this feature.")
        return
    fp = ref.features[feature]
    end = pd.Timestamp(row["window_end"].iloc[0]).to_pydatetime() if not row.empty else window
    if fp.type == "categorical":
        cur = dataset.current_histogram(cfg, f.model, f.version, feature, "", window, end,
                                        f.segment)
        df = frames.categorical_overlay(fp.categories, cur["categories"])
        draw.chart(st, ("distribution", False, draw.digest(df)),
                   lambda: charts.distribution(df, numeric=False))
        st.caption(f"current: {cur['windows']} device windows")
        return
    layout = str(row["layout"].iloc[0]) if not row.empty else ""
    edges = fp.layout_edges(layout) if layout else None
    if edges is None or layout not in fp.histograms:
        st.info(f"The reference has no histogram for layout {literal(layout or '(none)')}.")
        return
    cur = dataset.current_histogram(cfg, f.model, f.version, feature, layout, window, end,
                                    f.segment)
    ref_counts = list(fp.histograms[layout])
    overlay = frames.numeric_overlay(ref_counts, cur["counts"], edges)
    draw.chart(st, ("distribution", True, draw.digest(overlay)),
               lambda: charts.distribution(overlay, numeric=True))
    q = pd.DataFrame({"quantile": [f"p{int(x * 100)}" for x in QUANTILES],
                      "reference": [frames.hist_quantile(ref_counts, edges, x)
                                    for x in QUANTILES],
                      "current": [frames.hist_quantile(cur["counts"], edges, x)
                                  for x in QUANTILES]})
    st.table(q.set_index("quantile").T)   # two rows: no data grid to load for them
    st.caption(f"current: {cur['windows']} device windows, {sum(cur['counts'])} values; "
               f"reference: {sum(ref_counts)} values (quantiles interpolated within bins)")


def _report(cfg: Any, f: Any, st: Any, since: Any, until: Any) -> None:
    from dashboard import data
    from dashboard.pages import report

    st.subheader("Evidently report")
    vd = data.verdicts(cfg, since, until, f.model, f.version, None, "drift")
    found = data.reports(cfg, vd, f.model, f.version)
    if not found:
        st.caption("No Evidently report for this model version yet (one is written when a "
                   "verdict turns to drift and the devices send raw-row samples).")
        return
    path = st.selectbox("Report", found, format_func=lambda p: p.name, key="feature_report")
    st.page_link("pages/report.py", label="Open the report on its own page ›",
                 query_params={"file": path.name})
    if st.toggle("Show the report inline", key="feature_show_report"):
        report.show(st, path, height=900)


if __name__ == "__main__":
    from dashboard.app import run_page
    run_page(main)
