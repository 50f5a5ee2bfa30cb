"""Altair charts of the dashboard, readable without asking and without colour.

* every multi-series chart has a legend (colour, dash and point shape of a series are one
  legend entry), and states are shapes and labels as well as colours;
* thresholds are horizontal rules in the units of what is plotted: an effect size against
  its threshold, a test's p-value (log axis) against alpha;
* charts take the width of their container (``width="stretch"``), the heatmap included: its
  x axis is time, not one fixed-width band per window;
* the heatmap's colour scale is fixed (score / threshold, 1 = threshold), not relative to
  the data's maximum;
* ``markers`` (onset, alerts) are drawn as labelled vertical rules on time charts;
* marks carry no ARIA description: Streamlit draws on a canvas, where a description per
  mark is never read but costs the browser an expression per mark on the first paint.

Every function takes tidy DataFrames and returns an Altair chart; no data access and no
Streamlit here.

>>> import pandas as pd
>>> df = pd.DataFrame({"t": pd.to_datetime(["2025-01-01", "2025-01-02"]), "v": [1.0, 2.0],
...                    "series": ["p95", "p95"]})
>>> spec = lines(df, "t", "v", "series", "latency (ms)").to_dict()
>>> spec["layer"][0]["mark"]["type"], spec["layer"][0]["encoding"]["color"]["legend"]["title"]
('line', 'series')
"""

from __future__ import annotations

from typing import Any, cast

import altair as alt
import pandas as pd

STATE_SHAPES = alt.Scale(domain=["ok", "drift"], range=["circle", "triangle-up"])
STATE_COLORS = alt.Scale(domain=["ok", "drift"], range=["#2b8a3e", "#c92a2a"])
POINT_STATES = ["ok", "over threshold", "drifted"]
POINT_SHAPES = alt.Scale(domain=POINT_STATES, range=["circle", "diamond", "triangle-up"])
POINT_COLORS = alt.Scale(domain=POINT_STATES, range=["#2b8a3e", "#e67700", "#c92a2a"])
SERIES_DASH = alt.Scale(range=[[1, 0], [6, 3], [2, 2], [8, 2, 2, 2], [4, 4], [1, 3]])
SERIES_SHAPES = alt.Scale(range=["circle", "square", "triangle-up", "diamond", "cross",
                                 "triangle-down"])
# score / threshold: 0 = nothing, 1 = at the threshold, 2 and more = twice it (capped)
# (interpolated in Lab: Vega's default, HCL, swings the pale grey through cyan and green)
RATIO_SCALE = alt.Scale(domain=[0, 0.5, 1, 2], range=["#f8f9fa", "#ffec99", "#fd7e14", "#a61e4d"],
                        clamp=True, interpolate="lab")
HEIGHT = 260
# Streamlit fits the whole chart (legend and axes included) into its height: add room for them
CHROME = 110
VERDICT_ROW = "◆ model verdict"   # the top row when the verdicts carry no kind
KINDS = ("drift", "quality", "latency", "accuracy")   # order of the verdict rows


def _legend(title: str) -> alt.Legend:
    return alt.Legend(title=title, orient="top", titleLimit=400, labelLimit=300)


def lines(df: pd.DataFrame, x: str, y: str, series: str, title: str,
          y_format: str = "", legend: str | None = None,
          markers: pd.DataFrame | None = None) -> alt.LayerChart:
    """Time series: one line per ``series`` with a legend; dash pattern and point shape
    tell them apart without colour. ``markers``: ``t``, ``label`` for vertical rules."""
    name = legend or series
    axis = alt.Axis(format=y_format) if y_format else alt.Axis()
    base = alt.Chart().encode(
        x=alt.X(f"{x}:T", title=None),
        y=alt.Y(f"{y}:Q", title=title, axis=axis),
        color=alt.Color(f"{series}:N", legend=_legend(name)),
        tooltip=[alt.Tooltip(f"{x}:T"), alt.Tooltip(f"{series}:N"),
                 alt.Tooltip(f"{y}:Q", format=".4g")])
    layers: list[Any] = [
        base.mark_line(aria=False).encode(strokeDash=alt.StrokeDash(
            f"{series}:N", scale=SERIES_DASH, legend=_legend(name))),
        base.mark_point(filled=True, size=45, aria=False).encode(
            shape=alt.Shape(f"{series}:N", scale=SERIES_SHAPES, legend=_legend(name))),
    ]
    layers += _marker_layers(markers)
    return _sized(alt.layer(*layers, data=_slim(df, x, y, series)), HEIGHT)


def _slim(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """Only the columns a chart uses (less to hash, serialise and ship to the browser)."""
    return df[list(dict.fromkeys(c for c in cols if c in df.columns))]


def _sized(chart: Any, height: int) -> alt.LayerChart:
    """``chart`` with its height (Streamlit gives it the container's width)."""
    return cast(alt.LayerChart, chart.properties(height=height))


def _marker_layers(markers: pd.DataFrame | None) -> list[Any]:
    """Labelled vertical rules (onset of an incident, alerts sent)."""
    if markers is None or markers.empty:
        return []
    merged = markers.groupby("t", as_index=False)["label"].agg(" · ".join)
    m = alt.Chart(merged).encode(x=alt.X("t:T"))
    return [m.mark_rule(color="#495057", strokeDash=[2, 2], aria=False).encode(
                tooltip=[alt.Tooltip("t:T"), "label:N"]),
            m.mark_text(align="left", dx=3, dy=-4, fontSize=10, color="#495057", baseline="top",
                        aria=False).encode(text="label:N", y=alt.value(0))]


def bars(df: pd.DataFrame, x: str, y: str, title: str, label: str | None = None,
         horizontal: bool = True) -> alt.LayerChart:
    """Bars with their value written at the end (``label``: a column to print instead)."""
    enc_cat = alt.Y(f"{x}:N", sort="-x", title=None) if horizontal else alt.X(f"{x}:N",
                                                                            title=None)
    enc_val = alt.X(f"{y}:Q", title=title) if horizontal else alt.Y(f"{y}:Q", title=title)
    base = alt.Chart().encode(enc_cat, enc_val, tooltip=list(df.columns))
    text = base.mark_text(align="left", dx=3) if horizontal else base.mark_text(dy=-6)
    return _sized(alt.layer(base.mark_bar(color="#4c6ef5"),
                            text.encode(text=alt.Text(f"{label or y}:N" if label else f"{y}:Q",
                                                      format="" if label else ".3g")),
                            data=df),
                  max(HEIGHT // 2, 22 * len(df)) if horizontal else HEIGHT)


def histogram(bins: pd.DataFrame, title: str, count_title: str) -> alt.Chart:
    """A histogram of bins counted on the server (:func:`dashboard.frames.bin_counts`:
    ``lo``, ``hi``, ``count``): the browser gets one row per bin, not one per value."""
    return alt.Chart(_slim(bins, "lo", "hi", "count")).mark_bar(
        color="#4c6ef5", aria=False).encode(
        x=alt.X("lo:Q", bin="binned", title=title), x2="hi:Q",
        y=alt.Y("count:Q", title=count_title),
        tooltip=[alt.Tooltip("lo:Q", title="from"), alt.Tooltip("hi:Q", title="to"),
                 alt.Tooltip("count:Q", title=count_title)]).properties(height=HEIGHT // 1.3)


def drift_heatmap(effect: pd.DataFrame, verdicts: pd.DataFrame,
                  markers: pd.DataFrame | None = None) -> alt.LayerChart:
    """Features x time: colour = effect score / threshold on a fixed scale (1 = threshold),
    ``✕`` = the feature drifted in that window; the top rows are the model's verdicts, one
    per ``kind`` (drift, quality, ...: shape and colour, with a legend). ``effect`` may hold
    cells of several windows (``windows``, ``drifted_windows``: from
    :func:`analytics.queries.results.effect_heatmap` on a long range): each shows its worst.

    One layered chart on a time axis, so it takes its container's width whatever the
    number of windows; the colour legend and the newest window are always visible. It is
    the Drift view's only chart (the verdict timeline is its top rows): one chart to embed,
    and its marks carry no ARIA description (drawn on a canvas, where a description per
    cell is never read but costs the browser an expression per cell).

    >>> import pandas as pd
    >>> t = pd.to_datetime(["2025-01-01 00:00", "2025-01-01 01:00"])
    >>> e = pd.DataFrame({"feature": "rms", "method": "wasserstein", "window_start": t,
    ...                   "window_end": t + pd.Timedelta(hours=1), "score": [0.05, 0.4],
    ...                   "lower": [0.0, 0.3], "upper": [0.1, 0.5], "threshold": 0.1,
    ...                   "exceeded": [False, True], "drifted": [False, True]})
    >>> tt = t.append(t)
    >>> v = pd.DataFrame({"kind": ["drift", "drift", "quality", "quality"],
    ...                   "window_start": tt, "window_end": tt + pd.Timedelta(hours=1),
    ...                   "state": ["ok", "drift", "ok", "ok"], "share_drifted": [0.0, 1.0, 0, 0],
    ...                   "note": ""})
    >>> spec = drift_heatmap(e, v).to_dict()
    >>> spec["layer"][0]["encoding"]["color"]["scale"]["domain"]
    [0, 0.5, 1, 2]
    >>> spec["layer"][0]["encoding"]["y"]["scale"]["domain"]
    ['◆ drift verdict', '◆ quality verdict', 'rms']
    """
    features = sorted(effect["feature"].unique())
    strip = _verdict_rows(verdicts)
    rows = [*dict.fromkeys(strip["row"]), *features]
    y = alt.Y("feature:N", title=None, scale=alt.Scale(domain=rows))
    merged = "per_cell" in effect and bool((effect["per_cell"] > 1).any())
    ratio = effect["score"] / effect["threshold"].where(effect["threshold"] > 0)
    # the tooltip's values are written here: a format per field and cell in the browser
    # costs the page's first paint more than the text does
    cells = _slim(effect.assign(
        ratio=ratio, at=pd.to_datetime(effect["window_start"]).dt.strftime("%Y-%m-%d %H:%M"),
        estimate=[f"{_num(s, '.3f')} [{_num(lo, '.3f')}, {_num(hi, '.3f')}]" for s, lo, hi in
                  zip(effect["score"], effect["lower"], effect["upper"], strict=True)],
        limit=[_num(t, ".3g") for t in effect["threshold"]],
        times=[_num(r, ".2f") for r in ratio]),
        "feature", "method", "window_start", "window_end", "score", "ratio", "drifted",
        "at", "estimate", "limit", "times", *(("windows", "drifted_windows") if merged else ()))
    drifted = effect[effect["drifted"].fillna(False).astype(bool)]
    crosses = pd.DataFrame({"feature": drifted["feature"], "mid": _mid(drifted), "mark": "✕"})
    layers: list[Any] = [
        alt.Chart(cells).mark_rect(stroke="white", strokeWidth=0.5, aria=False).encode(
            x=alt.X("window_start:T", title=None), x2="window_end:T", y=y,
            color=alt.Color("ratio:Q", scale=RATIO_SCALE, legend=alt.Legend(
                title="effect score / threshold (1 = threshold)", orient="top",
                gradientLength=220, values=[0, 0.5, 1, 1.5, 2], titleLimit=400)),
            tooltip=[alt.Tooltip("feature:N"), alt.Tooltip("method:N"),
                     alt.Tooltip("at:N", title="from"),
                     alt.Tooltip("estimate:N", title="score [interval]"),
                     alt.Tooltip("limit:N", title="threshold"),
                     alt.Tooltip("times:N", title="score / threshold"),
                     alt.Tooltip("drifted:N"),
                     *([alt.Tooltip("windows:N", title="windows in cell (worst shown)"),
                        alt.Tooltip("drifted_windows:N", title="windows drifted")]
                       if merged else [])]),
    ]
    if not crosses.empty:
        layers.append(alt.Chart(crosses).mark_text(
            fontSize=12, fontWeight="bold", color="white", aria=False).encode(
            x="mid:T", y=y, text="mark:N"))
    if not strip.empty:
        layers.append(alt.Chart(strip).mark_point(size=90, filled=True, aria=False).encode(
            x=alt.X("mid:T"), y=alt.Y("row:N", scale=alt.Scale(domain=rows)),
            shape=alt.Shape("state:N", scale=STATE_SHAPES, legend=_legend("verdict")),
            color=alt.Color("state:N", scale=STATE_COLORS, legend=_legend("verdict")),
            tooltip=[alt.Tooltip("kind:N"),
                     alt.Tooltip("window_start:T", format="%Y-%m-%d %H:%M", title="from"),
                     alt.Tooltip("state:N"), alt.Tooltip("share_drifted:Q"),
                     alt.Tooltip("note:N")]))
    layers += _marker_layers(markers)
    return _sized(alt.layer(*layers).resolve_scale(color="independent", shape="independent"),
                  CHROME + 30 * len(rows))


def _num(x: Any, fmt: str) -> str:
    """``x`` formatted, ``–`` when it is missing.

    >>> _num(0.31234, ".3f"), _num(None, ".3f"), _num(float("nan"), ".2f")
    ('0.312', '–', '–')
    """
    return "–" if x is None or pd.isna(x) else format(float(x), fmt)


def _verdict_rows(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The verdicts as the heatmap's top rows: ``row`` (one per kind, drift first), ``mid``.

    >>> import pandas as pd
    >>> t = pd.to_datetime(["2025-01-01"])
    >>> v = pd.DataFrame({"window_start": t, "window_end": t + pd.Timedelta(hours=1),
    ...                   "state": "ok", "share_drifted": 0.0, "note": ""})
    >>> _verdict_rows(v)[["row", "kind"]].values.tolist()
    [['◆ model verdict', 'drift']]
    """
    cols = ["row", "kind", "window_start", "mid", "state", "share_drifted", "note"]
    if verdicts.empty:
        return pd.DataFrame(columns=cols)
    v = verdicts if "kind" in verdicts else verdicts.assign(kind="drift")
    order = {k: i for i, k in enumerate(KINDS)}
    v = v.assign(order=v["kind"].map(order).fillna(len(order)), mid=_mid(v)).sort_values(
        ["order", "kind"], kind="stable")
    v["row"] = [f"◆ {k} verdict" for k in v["kind"]] if "kind" in verdicts else VERDICT_ROW
    return v.reindex(columns=cols)


def segment_matrix(effect: pd.DataFrame) -> alt.LayerChart:
    """Segments x features for one window: colour = score / threshold (fixed scale),
    ``✕`` = drifted, the ratio written in each cell."""
    cells = effect.assign(
        segment=[f"{t}={v}" if t else "fleet" for t, v in
                 zip(effect["segment_tag"], effect["segment_value"], strict=True)],
        ratio=effect["score"] / effect["threshold"].where(effect["threshold"] > 0))
    cells["label"] = [("✕ " if d else "") + (f"{r:.2g}" if pd.notna(r) else "–")
                      for d, r in zip(cells["drifted"].fillna(False).astype(bool),
                                      cells["ratio"], strict=True)]
    cells = _slim(cells, "segment", "feature", "method", "score", "lower", "upper", "threshold",
                  "drifted", "ratio", "label")
    base = alt.Chart().encode(
        x=alt.X("feature:N", title=None, axis=alt.Axis(labelAngle=0, labelLimit=140)),
        y=alt.Y("segment:N", title=None, sort=alt.EncodingSortField("segment")))
    return _sized(alt.layer(
        base.mark_rect(stroke="white", aria=False).encode(
            color=alt.Color("ratio:Q", scale=RATIO_SCALE, legend=alt.Legend(
                title="effect score / threshold (1 = threshold)", orient="top",
                values=[0, 0.5, 1, 1.5, 2], titleLimit=400)),
            tooltip=["segment:N", "feature:N", "method:N", alt.Tooltip("score:Q", format=".3f"),
                     alt.Tooltip("lower:Q", format=".3f"), alt.Tooltip("upper:Q", format=".3f"),
                     "threshold:Q", "drifted:N"]),
        base.mark_text(fontSize=11, aria=False).encode(text="label:N"), data=cells,
    ), CHROME + 40 + 34 * cells["segment"].nunique())


def _mid(frame: pd.DataFrame) -> pd.Series:
    """The middle of each row's window (where a cell's text and a verdict's mark sit)."""
    start = pd.to_datetime(frame["window_start"])
    return start + (pd.to_datetime(frame["window_end"]) - start) / 2


def metric_history(df: pd.DataFrame, threshold_on: str = "score",
                   markers: pd.DataFrame | None = None) -> alt.LayerChart:
    """One method's history against its threshold, in the units the threshold applies to.

    ``threshold_on="score"`` (effect sizes): the score with its sketch-error interval (band)
    and the threshold as a line (a feature drifts when the lower bound reaches it).
    ``threshold_on="p_value"`` (tests): the p-value on a log axis and alpha as a line (a
    feature drifts when the p-value falls below it). Points: ok / over threshold (this
    method) / drifted (the feature's state after the verdict policy).

    >>> import pandas as pd
    >>> d = pd.DataFrame({"window_start": pd.to_datetime(["2025-01-01", "2025-01-02"]),
    ...                   "score": [4.3, 9.0], "lower": [4.0, 8.0], "upper": [5.0, 10.0],
    ...                   "p_value": [0.4, 1e-5], "threshold": 0.05,
    ...                   "exceeded": [False, True], "drifted": [False, True]})
    >>> spec = metric_history(d, "p_value").to_dict()
    >>> spec["layer"][0]["encoding"]["y"]["field"], spec["layer"][0]["encoding"]["y"]["scale"]
    ('value', {'type': 'log'})
    """
    test = threshold_on == "p_value"
    state = [("drifted" if d else "over threshold" if e else "ok")
             for d, e in zip(df["drifted"].fillna(False).astype(bool),
                             df["exceeded"].fillna(False).astype(bool), strict=True)]
    what = "p-value" if test else "score"
    value = df["p_value"].clip(lower=1e-16) if test else df["score"]
    thr_name = f"alpha ({df['threshold'].iloc[0]:.3g})" if test else \
        f"threshold ({df['threshold'].iloc[0]:.3g})"
    long = pd.concat([
        pd.DataFrame({"window_start": df["window_start"], "value": value, "series": what,
                      "state": state}),
        pd.DataFrame({"window_start": df["window_start"], "value": df["threshold"],
                      "series": thr_name, "state": None})], ignore_index=True)
    yscale = alt.Scale(type="log") if test else alt.Scale(zero=True)
    ytitle = "p-value (log scale; drift below alpha)" if test else \
        "effect score (drift when the interval's lower bound reaches the threshold)"
    series = alt.Color("series:N", scale=alt.Scale(domain=[what, thr_name],
                                                   range=["#1c7ed6", "#212529"]),
                       legend=_legend("series"))
    dash = alt.StrokeDash("series:N", scale=alt.Scale(domain=[what, thr_name],
                                                      range=[[1, 0], [6, 4]]),
                          legend=_legend("series"))
    base = alt.Chart(long).encode(x=alt.X("window_start:T", title=None))
    layers: list[Any] = [base.mark_line(aria=False).encode(
        y=alt.Y("value:Q", title=ytitle, scale=yscale), color=series, strokeDash=dash)]
    if not test:
        band = _slim(df, "window_start", "lower", "upper").assign(band="sketch-error interval")
        layers.insert(0, alt.Chart(band).mark_area(opacity=0.25, aria=False).encode(
            x="window_start:T", y="lower:Q", y2="upper:Q",
            fill=alt.Fill("band:N", scale=alt.Scale(range=["#74c0fc"]), legend=_legend(""))))
    pts = long[long["state"].notna()]
    layers.append(alt.Chart(pts).mark_point(size=60, filled=True, aria=False).encode(
        x="window_start:T", y=alt.Y("value:Q", scale=yscale),
        shape=alt.Shape("state:N", scale=POINT_SHAPES, legend=_legend("window")),
        color=alt.Color("state:N", scale=POINT_COLORS, legend=_legend("window")),
        tooltip=[alt.Tooltip("window_start:T"), alt.Tooltip("value:Q", format=".4g",
                                                            title=what), "state:N"]))
    layers += _marker_layers(markers)
    return _sized(alt.layer(*layers).resolve_scale(color="independent"), HEIGHT)


CURRENT_COLORS = ["#1c7ed6", "#e8590c", "#2f9e44"]


def distribution(df: pd.DataFrame, numeric: bool) -> alt.Chart | alt.LayerChart:
    """The reference and one or more current distributions, overlaid.

    ``side`` is ``reference`` or the name of a current distribution (``current``, or a
    version when two are compared). Numeric (``df`` from
    :func:`dashboard.frames.numeric_overlay`: ``lo``, ``hi``, ``density``): bins on a real
    value axis, the reference as an outline, each current side as translucent bars.
    Categorical (``bin``, ``order``, ``share``): side-by-side bars per category.

    >>> import pandas as pd
    >>> d = pd.DataFrame({"bin": "a", "order": 0, "side": ["reference", "2.1", "2.0"],
    ...                   "share": [0.5, 0.6, 0.4], "lo": 0.0, "hi": 1.0, "density": 0.5})
    >>> distribution(d, True).to_dict()["layer"][0]["encoding"]["color"]["scale"]["domain"]
    ['2.1', '2.0']
    """
    current = [x for x in dict.fromkeys(df["side"]) if x != "reference"]
    colors = alt.Scale(domain=current, range=CURRENT_COLORS[:len(current)] or ["#1c7ed6"])
    if numeric:
        base = alt.Chart().encode(
            x=alt.X("lo:Q", title="value (bin edges of the reference layout)"),
            x2="hi:Q", y=alt.Y("density:Q", title="share per unit of value"),
            tooltip=["bin:N", "side:N", alt.Tooltip("share:Q", format=".2%")])
        return _sized(alt.layer(
            base.transform_filter("datum.side != 'reference'").mark_rect(
                opacity=0.45, aria=False).encode(
                color=alt.Color("side:N", scale=colors, legend=_legend("current"))),
            base.transform_filter("datum.side == 'reference'").mark_rect(
                fillOpacity=0, strokeWidth=1.5, aria=False).encode(
                stroke=alt.Stroke("side:N", scale=alt.Scale(domain=["reference"],
                                                            range=["#212529"]),
                                  legend=_legend("outline"))),
            data=df).resolve_scale(color="independent"), HEIGHT)
    sides = ["reference", *current]
    x = alt.X("bin:N", sort=alt.SortField("order"), title=None,
              axis=alt.Axis(labelAngle=0, labelOverlap=True))
    return alt.Chart(df).mark_bar(strokeWidth=1.5, aria=False).encode(
        x=x, xOffset=alt.XOffset("side:N", sort=sides),
        y=alt.Y("share:Q", title="share of values", axis=alt.Axis(format="%")),
        color=alt.Color("side:N", scale=alt.Scale(
            domain=sides, range=["#adb5bd", *CURRENT_COLORS[:len(current)]]),
                        legend=_legend("distribution")),
        tooltip=["bin:N", "side:N", alt.Tooltip("share:Q", format=".2%")],
    ).properties(height=HEIGHT)


def verdict_timeline(df: pd.DataFrame, markers: pd.DataFrame | None = None) -> alt.LayerChart:
    """Verdict state per window and kind: shape and colour (one legend), one row per kind
    (the Drift view draws it alone only when there is no heatmap to put the verdicts on)."""
    df = _slim(df, "window_start", "kind", "state", "note")
    base = alt.Chart(df).encode(x=alt.X("window_start:T", title=None),
                                y=alt.Y("kind:N", title=None))
    layers: list[Any] = [base.mark_point(size=110, filled=True, aria=False).encode(
        shape=alt.Shape("state:N", scale=STATE_SHAPES, legend=_legend("verdict")),
        color=alt.Color("state:N", scale=STATE_COLORS, legend=_legend("verdict")),
        tooltip=[alt.Tooltip("window_start:T", format="%Y-%m-%d %H:%M"),
                 alt.Tooltip("kind:N"), alt.Tooltip("state:N"), alt.Tooltip("note:N")])]
    layers += _marker_layers(markers)
    return _sized(alt.layer(*layers), CHROME + 30 * max(1, df["kind"].nunique()))


def vega_spec(chart: Any) -> dict[str, Any]:
    """``chart`` as a Vega-Lite spec whose data frames stay frames under ``datasets``
    (Streamlit ships them as Arrow), built without schema validation or a theme: what
    ``st.altair_chart`` sends, at a fraction of the cost, so it can be cached.

    Every field must carry its type (``"feature:N"``): the frames are named, not inlined,
    so Altair cannot infer one.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"t": pd.to_datetime(["2025-01-01"]), "v": [1.0], "s": ["a"]})
    >>> spec = vega_spec(lines(df, "t", "v", "s", "ms"))
    >>> list(spec["datasets"]) == [spec["data"]["name"]], "config" in spec
    (True, False)
    """
    datasets: dict[str, pd.DataFrame] = {}

    def named(data: Any) -> Any:
        if not isinstance(data, pd.DataFrame):
            return data
        name = f"data-{len(datasets)}"
        datasets[name] = data
        return alt.NamedData(name=name)

    def name_frames(part: Any) -> Any:   # a copy of ``part`` whose frames are named
        part = part.copy(deep=False)
        if isinstance(getattr(part, "data", None), pd.DataFrame):
            part.data = named(part.data)
        for attr in ("layer", "vconcat", "hconcat", "concat"):
            subs = getattr(part, attr, None)
            if isinstance(subs, list):
                setattr(part, attr, [name_frames(sub) for sub in subs])
        return part

    spec: dict[str, Any] = name_frames(chart).to_dict(validate=False)
    view = spec.get("config", {}).get("view", {})
    for key in ("continuousWidth", "continuousHeight"):   # Altair's default theme
        view.pop(key, None)
    if "config" in spec and not view:
        spec["config"].pop("view", None)
        if not spec["config"]:
            del spec["config"]
    spec["datasets"] = datasets
    return spec
