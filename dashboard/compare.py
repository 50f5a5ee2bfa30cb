"""Two versions of a model side by side (e.g. canary vs stable), drawn on the Models page.

Per version: drift state and onset, median latency p95, accuracy when labels exist, devices;
then each feature's mean effect score of both versions against the method's threshold.

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
