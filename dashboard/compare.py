"""Two versions of a model side by side (e.g. canary vs stable), drawn on the Models page.

Per version: drift state and onset, median latency p95, accuracy when labels exist, devices;
then each feature's mean effect score of both versions against the method's threshold, and
one feature's distribution in each version's newest window over the reference.

>>> import pandas as pd
>>> e = pd.DataFrame({"feature": ["rms", "rms"], "score": [0.3, 0.1], "threshold": 0.1,
...                   "drifted": [True, False]})
>>> effect_frame({"2.1": e, "2.0": e.iloc[1:]})[["feature", "version", "score"]].values.tolist()
[['rms', '2.1', 0.2], ['rms', '2.0', 0.1]]
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dashboard.ui import literal


def effect_frame(by_version: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean effect score, threshold and windows drifted per (feature, version)."""
    parts = []
    for version, eff in by_version.items():
        if eff.empty:
            continue
        g = eff.groupby("feature", as_index=False).agg(
            score=("score", "mean"), threshold=("threshold", "max"),
            drifted=("drifted", lambda s: int(s.fillna(False).astype(bool).sum())))
        parts.append(g.assign(version=version))
    if not parts:
        return pd.DataFrame(columns=["feature", "score", "threshold", "drifted", "version"])
    return pd.concat(parts, ignore_index=True)[["feature", "version", "score", "threshold",
                                                "drifted"]]


def effect_chart(df: pd.DataFrame) -> Any:
    """Grouped bars (one colour per version, with a legend) and each feature's threshold."""
    import altair as alt

    base = alt.Chart().encode(y=alt.Y("feature:N", title=None))
    return alt.layer(
        base.mark_bar().encode(
            x=alt.X("score:Q", title="mean effect score in the range"),
            yOffset=alt.YOffset("version:N"),
            color=alt.Color("version:N", legend=alt.Legend(title="version", orient="top")),
            tooltip=["feature", "version", alt.Tooltip("score:Q", format=".3g"), "threshold",
                     alt.Tooltip("drifted:Q", title="windows drifted")]),
        base.mark_tick(color="black", thickness=2, size=26).encode(
            x="threshold:Q", tooltip=["feature", "threshold"]), data=df,
    ).properties(height=max(120, 44 * df["feature"].nunique()))


def section(cfg: Any, f: Any, since: Any, until: Any) -> None:
    import streamlit as st

    from dashboard import data, frames

    st.subheader("Compare versions (e.g. canary vs stable)")
    cat = data.catalog(cfg)
    versions = sorted(cat[cat["model"] == f.model]["version"].unique().tolist(), reverse=True)
    if len(versions) < 2:
        st.caption(f"Only one version of {literal(f.model)} has data: nothing to compare.")
        return
    a, b = st.columns(2)
    va = a.selectbox("Version A", versions, index=0, key="cmp_a")
    vb = b.selectbox("Version B", versions, index=1, key="cmp_b")
    states = data.current_states(cfg, f.model)
    effects = {}
    for col, v in ((a, va), (b, vb)):
        st_v = states[(states["version"] == v) & (states["segment_tag"] == f.segment[0])
                      & (states["segment_value"] == f.segment[1]) & (states["kind"] == "drift")]
        mm = data.model_metrics(cfg, since, until, f.model, v, f.segment)
        effects[v] = data.feature_metrics(cfg, since, until, f.model, v, f.segment,
                                          role="effect")
        if st_v.empty:
            state = "– not evaluated"
        else:
            r = st_v.iloc[0]
            state = frames.STATE_LABEL.get(r["state"], r["state"]) + (
                f" since {r['since']:%m-%d %H:%M}" if r["state"] == "drift" else "")
        col.metric(f"{v}: drift", state)
        col.metric(f"{v}: latency p95, median (ms)", f"{mm['latency_p95'].median():.2f}"
                   if not mm.empty and mm["latency_p95"].notna().any() else "–")
        labelled = mm[mm["label_n"].fillna(0) > 0] if not mm.empty else mm
        col.metric(f"{v}: accuracy", f"{labelled['accuracy'].mean():.1%}"
                   if not labelled.empty and labelled["accuracy"].notna().any() else
                   "– no labels")
        col.metric(f"{v}: devices (max per window)",
                   int(mm["devices"].max()) if not mm.empty else 0)
    df = effect_frame(effects)
    if not df.empty:
        st.altair_chart(effect_chart(df), width="stretch")
        st.caption("Bars: each feature's mean effect score over the time range, one colour per "
                   "version; black tick: the method's threshold.")
        _distributions(cfg, f, st, df, {va: effects[va], vb: effects[vb]})


def _distributions(cfg: Any, f: Any, st: Any, df: pd.DataFrame,
                   effects: dict[str, pd.DataFrame]) -> None:
    """One feature (default: where the versions differ most) in each version's newest
    window on a common value axis (each on the bins of its own reference layout, as density
    per unit of value), over the reference of the first version (outline)."""
    from dashboard import charts

    wide = df.pivot_table(index="feature", columns="version", values="score")
    gap = (wide.max(axis=1) - wide.min(axis=1)).sort_values(ascending=False)
    feature = st.selectbox("Distribution of", list(gap.index), key="cmp_feature",
                           help="default: the feature whose effect differs most between them")
    parts, numeric = [], True
    for i, (v, eff) in enumerate(effects.items()):
        part = _version_histogram(cfg, f, v, feature, eff)
        if part is None:
            continue
        frame, numeric = part
        keep = frame["side"] != "reference" if i else frame["side"].notna()
        parts.append(frame[keep])
    if not any((p["side"] != "reference").any() for p in parts):
        st.caption(f"No histogram of {literal(feature)} in the versions' newest windows.")
        return
    st.altair_chart(charts.distribution(pd.concat(parts, ignore_index=True), numeric=numeric),
                    width="stretch")
    st.caption(f"Outline: the reference of {literal(next(iter(effects)))}. Each version's "
               "newest window on its own reference layout's bins (share per unit of value).")


def _version_histogram(cfg: Any, f: Any, version: str, feature: str,
                       eff: pd.DataFrame) -> tuple[pd.DataFrame, bool] | None:
    """(reference + current rows of ``feature`` in the version's newest window, numeric)."""
    from dashboard import data, dataset, frames

    ref = data.reference(cfg, f.model, version)
    rows = eff[eff["feature"] == feature].sort_values("window_start")
    if ref is None or feature not in ref.features or rows.empty:
        return None
    fp, last = ref.features[feature], rows.iloc[-1]
    start = pd.Timestamp(last["window_start"]).to_pydatetime()
    end = pd.Timestamp(last["window_end"]).to_pydatetime()
    label = f"{version} ({start:%m-%d %H:%M})"
    if fp.type == "categorical":
        cur = dataset.current_histogram(cfg, f.model, version, feature, "", start, end, f.segment)
        part = frames.categorical_overlay(fp.categories, cur["categories"])
        return part.assign(side=part["side"].replace("current", label)), False
    layout = str(last["layout"])
    edges = fp.layout_edges(layout)
    if edges is None or layout not in fp.histograms:
        return None
    cur = dataset.current_histogram(cfg, f.model, version, feature, layout, start, end, f.segment)
    part = frames.numeric_overlay(list(fp.histograms[layout]), cur["counts"], edges)
    return part.assign(side=part["side"].replace("current", label)), True
