"""Models: verdicts per model/version, the drift timeline (features x windows), segments,
latency, throughput and accuracy, and two versions side by side.

>>> callable(main)
True
"""

from __future__ import annotations

from typing import Any

from dashboard.ui import literal

KINDS = ("drift", "quality", "latency", "accuracy")


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
    verdicts = data.verdicts(cfg, since, until)
    if verdicts.empty:
        st.info("No verdicts in this time range: widen the time range, or run "
                "`edgedrift analyze`.")
        return
    st.subheader("Every model, whole fleet")
    st.dataframe(_summary(verdicts), hide_index=True)
    if f.model:
        _model(cfg, f, since, until, verdicts)


def _summary(verdicts: Any) -> Any:
    import pandas as pd

    from dashboard import data, frames

    latest = data.latest_states(verdicts[verdicts["segment_tag"] == ""])
    rows = []
    for (model, version), g in latest.groupby(["model", "version"]):
        row: dict[str, Any] = {"model": model, "version": version}
        for kind in KINDS:
            k = g[g["kind"] == kind]
            row[kind] = frames.STATE_LABEL.get(k["state"].iloc[0], k["state"].iloc[0]) \
                if not k.empty else "– not evaluated"
            if kind == "drift" and not k.empty:
                row["drift since"] = k["since"].iloc[0] if k["state"].iloc[0] == "drift" else None
                row["drifted features"] = ", ".join(
                    d["feature"] for d in frames.drifted_features(k["drifted_features"].iloc[0]))
        row["last window"] = g["window_start"].max()
        rows.append(row)
    return pd.DataFrame(rows)


def _model(cfg: Any, f: Any, since: Any, until: Any, verdicts: Any) -> None:
    import streamlit as st

    from dashboard import charts, data, frames

    st.header(f"{literal(f.model)} {literal(f.version)} · {literal(f.segment_label)}")
    mine = verdicts[(verdicts["model"] == f.model) & (verdicts["version"] == f.version)]
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

    drift = seg[seg["kind"] == "drift"]
    latest = data.latest_states(drift)
    if not latest.empty:
        row = latest.iloc[0]
        feats = frames.drifted_features(row["drifted_features"])
        if row["state"] == "drift":
            st.error(f"▲ **Drift** since {row['since']:%Y-%m-%d %H:%M} UTC — drifted features: "
                     + ", ".join(f"**{literal(d['feature'])}** ({d['method']} {d['score']:.3g} > "
                                 f"{d['threshold']:.3g})" for d in feats))
        else:
            st.success(f"✔ No drift in the newest window ({row['window_start']:%Y-%m-%d %H:%M})"
                       + (f" — {literal(row['note'])}" if row["note"] else ""))
    st.altair_chart(charts.verdict_timeline(seg), width="stretch")

    st.subheader("Drift timeline (effect size / threshold; ✕ = drifted feature)")
    effect = data.feature_metrics(cfg, since, until, f.model, f.version, f.segment, role="effect")
    if effect.empty:
        st.info("No feature metrics for this selection" + (
            " (no reference profile)." if ref is None else "."))
    else:
        st.altair_chart(charts.drift_heatmap(effect, drift), width="stretch")

    st.subheader("Segments (newest window)")
    segs = data.latest_states(mine[mine["kind"] == "drift"])
    if segs.empty:
        st.caption("No drift verdicts per segment.")
    else:
        segs = segs.assign(segment=[f"{t}={v}" if t else "fleet" for t, v in
                                    zip(segs["segment_tag"], segs["segment_value"])],
                           verdict=segs["state"].map(frames.STATE_LABEL),
                           drifted=[", ".join(d["feature"] for d in frames.drifted_features(x))
                                    for x in segs["drifted_features"]])
        st.dataframe(segs[["segment", "verdict", "since", "share_drifted", "drifted", "note"]],
                     hide_index=True)

    mm = data.model_metrics(cfg, since, until, f.model, f.version, f.segment)
    _performance(st, mm, f)
    _compare(cfg, f, since, until)


def _performance(st: Any, mm: Any, f: Any) -> None:
    from dashboard import charts

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
            st.altair_chart(charts.lines(lat, "window_start", "ms", "quantile", "latency (ms)"),
                            width="stretch")
    with right:
        st.subheader("Throughput")
        st.altair_chart(charts.lines(mm.assign(series="records/s"), "window_start",
                                     "throughput_rps", "series", "records per second"),
                        width="stretch")
    st.subheader("Accuracy")
    labelled = mm[mm["label_n"].fillna(0) > 0]
    if labelled.empty:
        st.info(f"No labels for {literal(f.model)} {literal(f.version)}: accuracy needs ground "
                "truth sent with "
                "`Monitor.label(prediction_id, label)` on the devices.")
        return
    acc = labelled.melt(id_vars=["window_start"], value_vars=["accuracy", "mae"],
                        var_name="metric", value_name="value").dropna()
    st.altair_chart(charts.lines(acc, "window_start", "value", "metric", "accuracy / MAE"),
                    width="stretch")


def _compare(cfg: Any, f: Any, since: Any, until: Any) -> None:
    import pandas as pd
    import streamlit as st

    from dashboard import charts, data, frames

    st.subheader("Compare versions (e.g. canary vs stable)")
    cat = data.catalog(cfg)
    versions = sorted(cat[cat["model"] == f.model]["version"].unique().tolist(), reverse=True)
    if len(versions) < 2:
        st.caption(f"Only one version of {literal(f.model)} has data: nothing to compare.")
        return
    a, b = st.columns(2)
    va = a.selectbox("Version A", versions, index=0, key="cmp_a")
    vb = b.selectbox("Version B", versions, index=1, key="cmp_b")
    rows, scores = [], []
    for col, v in ((a, va), (b, vb)):
        vd = data.latest_states(data.verdicts(cfg, since, until, f.model, v, f.segment))
        mm = data.model_metrics(cfg, since, until, f.model, v, f.segment)
        eff = data.feature_metrics(cfg, since, until, f.model, v, f.segment, role="effect")
        state = {k: frames.STATE_LABEL.get(s, s) for k, s in zip(vd["kind"], vd["state"])}
        col.metric(f"{v}: drift", state.get("drift", "– not evaluated"))
        col.metric(f"{v}: latency p95 (ms)", f"{mm['latency_p95'].median():.2f}"
                   if not mm.empty and mm["latency_p95"].notna().any() else "–")
        col.metric(f"{v}: devices", int(mm["devices"].max()) if not mm.empty else 0)
        if not eff.empty:
            s = eff.groupby("feature", as_index=False)["score"].mean().assign(version=v)
            scores.append(s)
        rows.append(v)
    if scores:
        df = pd.concat(scores)
        df["label"] = df["version"] + ": " + df["score"].map(lambda x: f"{x:.3g}")
        st.altair_chart(charts.bars(df.assign(key=df["feature"] + " · " + df["version"]),
                                    "key", "score", "mean effect score", label="label"),
                        width="stretch")


if __name__ == "__main__":
    from dashboard.app import run_page
    run_page(main)
