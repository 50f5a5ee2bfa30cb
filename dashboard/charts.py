"""Altair charts of the dashboard, readable without colour: states are shapes and labels too.

Every function takes a tidy DataFrame and returns an ``alt.Chart`` (or layer); no
data access and no Streamlit here.

>>> import pandas as pd
>>> df = pd.DataFrame({"t": pd.to_datetime(["2025-01-01", "2025-01-02"]), "v": [1.0, 2.0],
...                    "series": ["p95", "p95"]})
>>> lines(df, "t", "v", "series", "latency (ms)").to_dict()["layer"][0]["mark"]["type"]
'line'
"""

from __future__ import annotations

import altair as alt
import pandas as pd

STATE_SHAPES = alt.Scale(domain=["ok", "drift"], range=["circle", "triangle-up"])
STATE_COLORS = alt.Scale(domain=["ok", "drift"], range=["#2b8a3e", "#c92a2a"])
SERIES_DASH = alt.Scale(range=[[1, 0], [6, 3], [2, 2], [8, 2, 2, 2], [4, 4], [1, 3]])
SERIES_SHAPES = alt.Scale(range=["circle", "square", "triangle-up", "diamond", "cross",
                                 "triangle-down"])
HEIGHT = 260


def lines(df: pd.DataFrame, x: str, y: str, series: str, title: str,
          y_format: str = "") -> alt.LayerChart:
    """Time series: one line per ``series``, told apart by dash pattern and point shape."""
    base = alt.Chart(df).encode(
        x=alt.X(f"{x}:T", title=None),
        y=alt.Y(f"{y}:Q", title=title, axis=alt.Axis(format=y_format) if y_format else
                alt.Axis()),
        color=alt.Color(f"{series}:N", title=None),
        tooltip=[alt.Tooltip(f"{x}:T"), alt.Tooltip(f"{series}:N"),
                 alt.Tooltip(f"{y}:Q", format=".4g")])
    return alt.layer(
        base.mark_line().encode(strokeDash=alt.StrokeDash(f"{series}:N", scale=SERIES_DASH,
                                                          legend=None)),
        base.mark_point(filled=True, size=45).encode(
            shape=alt.Shape(f"{series}:N", scale=SERIES_SHAPES, title=None)),
    ).properties(height=HEIGHT)


def bars(df: pd.DataFrame, x: str, y: str, title: str, label: str | None = None,
         horizontal: bool = True) -> alt.LayerChart:
    """Bars with their value written at the end (``label``: a column to print instead)."""
    enc_cat = alt.Y(f"{x}:N", sort="-x", title=None) if horizontal else alt.X(f"{x}:N",
                                                                            title=None)
    enc_val = alt.X(f"{y}:Q", title=title) if horizontal else alt.Y(f"{y}:Q", title=title)
    base = alt.Chart(df).encode(enc_cat, enc_val, tooltip=list(df.columns))
    text = base.mark_text(align="left", dx=3) if horizontal else base.mark_text(dy=-6)
    return alt.layer(base.mark_bar(color="#4c6ef5"),
                     text.encode(text=alt.Text(f"{label or y}:N" if label else f"{y}:Q",
                                               format="" if label else ".3g"))
                     ).properties(height=max(HEIGHT // 2, 22 * len(df)) if horizontal else HEIGHT)


def histogram(df: pd.DataFrame, x: str, title: str, bins: int = 30) -> alt.Chart:
    """A plain histogram of one numeric column."""
    return alt.Chart(df).mark_bar(color="#4c6ef5").encode(
        x=alt.X(f"{x}:Q", bin=alt.Bin(maxbins=bins), title=title),
        y=alt.Y("count():Q", title="devices")).properties(height=HEIGHT // 1.3)


def drift_heatmap(effect: pd.DataFrame, verdicts: pd.DataFrame) -> alt.VConcatChart:
    """Features x windows: colour = effect score / threshold; a drifted cell also gets an X.

    Above it, one mark per window for the model verdict: a circle (ok) or a
    triangle (drift), labelled.
    """
    cells = effect.assign(ratio=effect["score"] / effect["threshold"].where(
        effect["threshold"] > 0), mark=effect["drifted"].map({True: "✕", False: ""}),
        window=_window_label(effect["window_start"]))
    strip_df = verdicts.assign(window=_window_label(verdicts["window_start"]))
    order = sorted(set(cells["window"]) | set(strip_df["window"]))
    x = alt.X("window:O", sort=order, scale=alt.Scale(domain=order), title=None,
              axis=alt.Axis(labelAngle=-45, labelOverlap=True))
    heat = alt.Chart(cells).encode(x=x, y=alt.Y("feature:N", title=None))
    grid = alt.layer(
        heat.mark_rect(stroke="white").encode(
            color=alt.Color("ratio:Q", title="score / threshold",
                            scale=alt.Scale(scheme="orangered", domainMin=0)),
            tooltip=["feature", "method", alt.Tooltip("window_start:T"),
                     alt.Tooltip("score:Q", format=".3f"), alt.Tooltip("lower:Q", format=".3f"),
                     alt.Tooltip("upper:Q", format=".3f"), "threshold", "drifted"]),
        heat.mark_text(fontSize=13, fontWeight="bold").encode(text="mark:N"),
    ).properties(height=max(120, 26 * cells["feature"].nunique()))
    strip = alt.Chart(strip_df).encode(x=alt.X("window:O", sort=order,
                                               scale=alt.Scale(domain=order), axis=None))
    top = alt.layer(
        strip.mark_point(size=120, filled=True).encode(
            shape=alt.Shape("state:N", scale=STATE_SHAPES, title="verdict"),
            color=alt.Color("state:N", scale=STATE_COLORS, legend=None),
            tooltip=[alt.Tooltip("window_start:T"), "state", "share_drifted", "note"]),
        strip.mark_text(dy=-14, fontSize=10).encode(text="state:N"),
    ).properties(height=40, title="model verdict per window")
    return alt.vconcat(top, grid, spacing=4).resolve_scale(color="independent", x="shared")


def _window_label(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).dt.strftime("%m-%d %H:%M")


def metric_history(df: pd.DataFrame) -> alt.LayerChart:
    """Score with its sketch interval (band), threshold (dashed rule) and drifted points (X)."""
    df = df.assign(state=df["drifted"].map({True: "drift", False: "ok"}))
    base = alt.Chart(df).encode(x=alt.X("window_start:T", title=None))
    return alt.layer(
        base.mark_area(opacity=0.25).encode(y=alt.Y("lower:Q", title="score"), y2="upper:Q"),
        base.mark_line().encode(y="score:Q"),
        base.mark_rule(strokeDash=[6, 4], color="black").encode(y="threshold:Q"),
        base.mark_point(size=70, filled=True).encode(
            y="score:Q", shape=alt.Shape("state:N", scale=STATE_SHAPES, title="feature state"),
            color=alt.Color("state:N", scale=STATE_COLORS, legend=None),
            tooltip=[alt.Tooltip("window_start:T"), alt.Tooltip("score:Q", format=".4f"),
                     alt.Tooltip("lower:Q", format=".4f"), alt.Tooltip("upper:Q", format=".4f"),
                     "threshold", "state"]),
    ).properties(height=HEIGHT // 1.3)


def distribution(df: pd.DataFrame, numeric: bool) -> alt.Chart:
    """Reference vs current share per bin/category: hollow outlined bars vs solid bars.

    ``df``: ``bin`` (label), ``order``, ``side`` (reference/current), ``share``.
    """
    x = alt.X("bin:N", sort=alt.SortField("order"), title=None,
              axis=alt.Axis(labelAngle=-45 if numeric else 0, labelOverlap=True))
    return alt.Chart(df).mark_bar(strokeWidth=1.5).encode(
        x=x, xOffset=alt.XOffset("side:N", sort=["reference", "current"]),
        y=alt.Y("share:Q", title="share of values", axis=alt.Axis(format="%")),
        color=alt.Color("side:N", scale=alt.Scale(domain=["reference", "current"],
                                                  range=["#868e96", "#1c7ed6"]), title=None),
        fillOpacity=alt.FillOpacity("side:N", scale=alt.Scale(domain=["reference", "current"],
                                                              range=[0.15, 0.9]), legend=None),
        stroke=alt.Stroke("side:N", scale=alt.Scale(domain=["reference", "current"],
                                                    range=["#212529", "#1c7ed6"]), legend=None),
        tooltip=["bin", "side", alt.Tooltip("share:Q", format=".2%")],
    ).properties(height=HEIGHT)


def verdict_timeline(df: pd.DataFrame) -> alt.LayerChart:
    """Verdict state per window and kind: shapes and a text label, one row per kind."""
    base = alt.Chart(df).encode(x=alt.X("window_start:T", title=None),
                                y=alt.Y("kind:N", title=None))
    return alt.layer(
        base.mark_point(size=110, filled=True).encode(
            shape=alt.Shape("state:N", scale=STATE_SHAPES, title="state"),
            color=alt.Color("state:N", scale=STATE_COLORS, legend=None),
            tooltip=[alt.Tooltip("window_start:T"), "kind", "state", "note"]),
    ).properties(height=40 + 28 * max(1, df["kind"].nunique()))
