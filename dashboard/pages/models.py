"""Models: verdicts per model/version, then one view at a time (tabs, ``view=`` in the URL):
Drift (verdict timeline, features x time heatmap), Segments (state per segment, segments x
features), Performance (latency, throughput, accuracy), Compare versions (side by side).
Only the open view is computed and drawn.

>>> callable(main)
True
"""

from __future__ import annotations

from typing import Any

from dashboard import compare
from dashboard.ui import literal

KINDS = ("drift", "quality", "latency", "accuracy")
VIEWS = ("Drift", "Segments", "Performance", "Compare versions")


def main() -> None:
    import streamlit as st

    from dashboard import data, ui
    from dashboard.filters import context

    cfg, f = context()
    st.title("Models")
    ov = data.overview(cfg)
    if not ui.guard(st, ov) or not ov.has_results:
        return
    st.fragment(run_every=cfg.refresh_s)(_body)(cfg, f)


def _body(cfg: Any, f: Any) -> None:
    import streamlit as st

    from dashboard import data

    since, until = data.time_range(cfg, f.range_key)
    states = data.current_states(cfg)
    if states.empty:
        st.info("No verdicts yet: run `edgedrift analyze`.")
        return
    st.subheader("Every model version (worst state over the fleet and its segments)")
    # a few rows: a static table (a data grid would cost the page's first paint its own
    # front-end code, loaded for this table alone in the default view)
    st.table(_as_text(_summary(states)), hide_index=True)
    if f.model:
        verdicts = data.verdicts(cfg, since, until, f.model, f.version)
        _model(cfg, f, since, until, verdicts, states)


def _summary(states: Any) -> Any:
    """One row per model version: per kind the worst state over the fleet and its segments,
    where it holds, and its true onset (independent of the time-range filter)."""
    import pandas as pd

    from dashboard import frames

    rows = []
    for (model, version), g in states.groupby(["model", "version"]):
        row: dict[str, Any] = {"model": model, "version": version}
        for kind in KINDS:
            k = g[g["kind"] == kind]
            bad = k[k["state"] == "drift"]
            if k.empty:
                row[kind] = "– not evaluated"
            elif bad.empty:
                row[kind] = frames.STATE_LABEL["ok"]
            else:
                row[kind] = frames.STATE_LABEL["drift"] + " in " + ", ".join(
                    frames.segment_label(t, v) for t, v in
                    zip(bad["segment_tag"], bad["segment_value"], strict=True))
            if kind == "drift":
                row["drift since (UTC)"] = bad["since"].min() if not bad.empty else None
                row["drifted features"] = ", ".join(sorted({
                    d["feature"] for x in bad["drifted_features"]
                    for d in frames.drifted_features(x)}))
        row["newest window"] = g["newest"].max()
        rows.append(row)
    return pd.DataFrame(rows)


def _as_text(frame: Any) -> Any:
    r"""``frame`` with every text cell escaped (:func:`dashboard.ui.literal`): a static
    table renders Markdown in its cells, and model names and versions come from devices.

    >>> import pandas as pd
    >>> t = _as_text(pd.DataFrame({"v": ["[x](y)", None], "n": [1, 2]}))
    >>> print(t["v"][0])
    \[x\]\(y\)
    >>> t["v"][1] is None, t["n"].tolist()
    (True, [1, 2])
    """
    out = frame.copy()
    for col in out.columns:
        out[col] = [literal(v) if isinstance(v, str) else v for v in out[col]]
    return out


def _markers(cfg: Any, f: Any, since: Any, until: Any, onset: Any) -> Any:
    """Onset of the current drift and the alerts raised for this selection, in range."""
    import pandas as pd

    from dashboard import outbox

    rows = []
    if onset is not None:
        rows.append({"t": onset, "label": "drift onset"})
    al = outbox.alert_windows(cfg, f.model, f.version)
    if not al.empty:
        seg = f.segment_label if f.segment[0] else ""
        al = al[(al["segment"] == seg) & al["window_start"].notna()]
        rows += [{"t": r.window_start, "label": f"alert #{r.id}"} for r in al.itertuples()]
    m = pd.DataFrame(rows, columns=["t", "label"])
    return m[(pd.to_datetime(m["t"]) >= since) & (pd.to_datetime(m["t"]) < until)]


def _model(cfg: Any, f: Any, since: Any, until: Any, verdicts: Any, states: Any) -> None:
    import streamlit as st

    from dashboard import data, frames

    st.header(f"{literal(f.model)} {literal(f.version)} · {literal(f.segment_label)}")
    mine = verdicts
    seg = mine[(mine["segment_tag"] == f.segment[0]) & (mine["segment_value"] == f.segment[1])]
    ref = data.reference(cfg, f.model, f.version)
    if ref is None:
        st.warning(f"No reference profile for {literal(f.model)}: drift is not computed for "
                   "this model. Build one with `edgedrift reference` (training data -> "
                   f"{literal(cfg.paths.references)}/{literal(f.model)}/{literal(f.version)}"
                   "/profile.json).")
    elif ref.version != f.version:
        st.caption(f"Compared against the reference of version {literal(ref.version)} "
                   f"(no profile for {literal(f.version)}).")

    vstates = states[(states["model"] == f.model) & (states["version"] == f.version)]
    cur = vstates[(vstates["segment_tag"] == f.segment[0])
                  & (vstates["segment_value"] == f.segment[1]) & (vstates["kind"] == "drift")]
    onset = None
    if not cur.empty:
        row = cur.iloc[0]
        feats = frames.worst_features(row["drifted_features"], n=10)
        if row["state"] == "drift":
            onset = row["since"]
            st.error(f"▲ **Drift** since {row['since']:%Y-%m-%d %H:%M} UTC "
                     f"({int(row['windows'])} windows) — drifted features: "
                     + "; ".join(literal(frames.feature_line(d)) for d in feats))
        else:
            st.success(f"✔ No drift in the newest window ({row['newest']:%Y-%m-%d %H:%M} UTC), "
                       f"ok since {row['since']:%Y-%m-%d %H:%M} UTC"
                       + (f" — {literal(row['note'])}" if row["note"] else ""))
    markers = _markers(cfg, f, since, until, onset)
    # what a chart of this selection shows: a chart is built once per key (dashboard.draw)
    sel = (data.data_version(cfg), f.model, f.version, f.segment, since, until,
           tuple(map(tuple, markers.astype(str).values)))
    # one view at a time: only the open tab's queries run and only its charts are sent
    # and drawn (the page's full load stays short); the tab is in the URL (``view=``)
    drift_tab, seg_tab, perf_tab, cmp_tab = st.tabs(
        list(VIEWS), key="view", bind="query-params", on_change="rerun")
    if drift_tab.open:
        with drift_tab:
            _drift(st, cfg, f, since, until, seg, ref, markers, sel)
    if seg_tab.open:
        with seg_tab:
            _segments(st, vstates, cfg, f)
    if perf_tab.open:
        with perf_tab:
            mm = data.model_metrics(cfg, since, until, f.model, f.version, f.segment)
            _performance(st, mm, f, markers, sel)
    if cmp_tab.open:
        with cmp_tab:
            compare.section(cfg, f, since, until)


def _drift(st: Any, cfg: Any, f: Any, since: Any, until: Any, seg: Any, ref: Any,
           markers: Any, sel: tuple[Any, ...]) -> None:
    """The features x time drift heatmap with the verdicts per kind as its top rows (one
    chart: the view's first paint embeds one Vega view); the verdict timeline alone when
    there are no feature metrics."""
    from dashboard import charts, data, draw, frames

    # long ranges: the heatmap's cells merge windows (aggregated in DuckDB, a bounded number
    # of cells); the verdict rows are put on the same cells
    effect = data.effect_heatmap(cfg, since, until, f.model, f.version, f.segment)
    st.subheader("Drift timeline (effect score / threshold; ✕ = drifted feature)")
    if effect.empty:
        if not seg.empty:
            draw.chart(st, ("verdict_timeline", *sel),
                       lambda: charts.verdict_timeline(seg, markers))
        st.info("No feature metrics for this selection" + (
            " (no reference profile)." if ref is None else "."))
        return
    draw.chart(st, ("drift_heatmap", *sel), lambda: charts.drift_heatmap(
        effect, frames.verdict_cells(seg, effect), markers))
    merged = int(effect["per_cell"].max()) if "per_cell" in effect else 1
    st.caption("Colour: the effect score over its threshold on a fixed scale (1 = at the "
               "threshold, 2 or more = the darkest). ✕: the feature drifted in that window "
               "(the lower bound of its sketch-error interval reached the threshold and "
               "the test agreed). A coloured cell without ✕ is over the threshold on its "
               "point estimate only. Top rows (◆): the model's verdicts under the policy, "
               "one row per kind (drift, quality, ...)."
               + (f" This range is long: each cell covers up to {merged} windows and "
                  "shows the worst of them (✕ if any drifted); choose a shorter range "
                  "for one cell per window." if merged > 1 else ""))


def _segments(st: Any, vstates: Any, cfg: Any, f: Any) -> None:
    """Segments: the current drift state per segment, and a segments x features matrix."""
    from dashboard import charts, data, draw, frames

    drift = vstates[vstates["kind"] == "drift"]
    if drift.empty:
        st.caption("No drift verdicts per segment.")
        return
    st.dataframe(drift.assign(
        segment=[frames.segment_label(t, v) for t, v in
                 zip(drift["segment_tag"], drift["segment_value"], strict=True)],
        verdict=drift["state"].map(frames.STATE_LABEL),
        drifted=["; ".join(frames.feature_line(d) for d in frames.worst_features(x, n=5))
                 for x in drift["drifted_features"]])[
        ["segment", "verdict", "since", "windows", "share_drifted", "drifted", "note"]],
        hide_index=True, column_config={"since": "since (UTC)"})
    import datetime as dt

    import pandas as pd

    newest = pd.Timestamp(drift["newest"].max()).to_pydatetime()
    eff = data.feature_metrics(cfg, newest, newest + dt.timedelta(seconds=1), f.model,
                               f.version, role="effect")
    if not eff.empty:
        st.markdown("**Segments x features, newest window** (effect score / threshold)")
        draw.chart(st, ("segments", data.data_version(cfg), f.model, f.version, newest),
                   lambda: charts.segment_matrix(eff))


def _performance(st: Any, mm: Any, f: Any, markers: Any, sel: tuple[Any, ...]) -> None:
    from dashboard import charts, draw

    if mm.empty:
        st.info("No model metrics in this time range.")
        return
    left, right = st.columns(2)
    lat = mm.melt(id_vars=["window_start"], value_vars=["latency_p50", "latency_p95",
                                                        "latency_p99"],
                  var_name="quantile", value_name="ms").dropna()
    with left:
        st.subheader("Latency")
        if lat.empty:
            st.info("No latency reported by the devices.")
        else:
            lat["quantile"] = lat["quantile"].str.replace("latency_", "")
            draw.chart(st, ("latency", *sel), lambda: charts.lines(
                lat, "window_start", "ms", "quantile", "latency (ms)", markers=markers))
    with right:
        st.subheader("Throughput")
        draw.chart(st, ("throughput", *sel), lambda: charts.lines(
            mm.assign(series="records/s"), "window_start", "throughput_rps", "series",
            "records per second", markers=markers))
    st.subheader("Accuracy")
    labelled = mm[mm["label_n"].fillna(0) > 0]
    if labelled.empty:
        st.info(f"No labels for {literal(f.model)} {literal(f.version)}: accuracy needs ground "
                "truth sent with "
                "`Monitor.label(prediction_id, label)` on the devices.")
        return
    acc = labelled.melt(id_vars=["window_start"], value_vars=["accuracy", "mae"],
                        var_name="metric", value_name="value").dropna()
    draw.chart(st, ("accuracy", *sel), lambda: charts.lines(
        acc, "window_start", "value", "metric", "accuracy / MAE", markers=markers))


if __name__ == "__main__":
    from dashboard.app import run_page
    run_page(main)
