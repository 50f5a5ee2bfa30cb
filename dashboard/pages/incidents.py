"""Incidents (the landing page): what is drifting, where, since when, how badly, what was sent.

Every model / version / segment whose newest verdict of a kind (drift, quality, latency,
accuracy) is in alarm, with its true onset (the first window of the current run of alarm
verdicts, over every analysed window: the time-range filter does not move it), the worst
features with their effect sizes and sketch-error intervals, the alert raised for it and
its delivery state, and one click to the detail. "All clear" is said explicitly, with the
time of the last analysis pass.

>>> callable(main)
True
"""

from __future__ import annotations

from typing import Any

from dashboard.ui import literal

KIND_LABEL = {"drift": "▲ drift", "quality": "▲ quality", "latency": "▲ latency",
              "accuracy": "▲ accuracy"}


def main() -> None:
    import streamlit as st

    from dashboard import data, ui
    from dashboard.filters import context

    cfg, f = context()
    st.title("Incidents")
    ov = data.overview(cfg)
    if not ui.guard(st, ov) or not ov.has_results:
        return
    st.fragment(run_every=cfg.refresh_s)(_body)(cfg, f, ov)


def _body(cfg: Any, f: Any, ov: Any) -> None:
    import pandas as pd
    import streamlit as st

    from dashboard import data, frames, outbox, ui

    states = data.current_states(cfg)
    if states.empty:
        st.info("No verdict yet: no closed window has been analysed. Run `edgedrift analyze`.")
        return
    inc = frames.incidents(states, outbox.alerts(cfg))
    finished = ov.last_run.get("finished_at")
    newest = pd.Timestamp(states["newest_end"].max())
    as_of = (f"last analysis pass finished {finished:%Y-%m-%d %H:%M} UTC "
             f"({ui.ago(_age_s(finished))} ago)" if finished is not None else
             "no finished analysis pass") \
        + f"; newest analysed window ends {newest:%Y-%m-%d %H:%M} UTC"
    streams = len(states)
    if inc.empty:
        st.success(f"✔ **All clear** — none of the {streams} model / version / segment / kind "
                   f"streams is in drift or quality alarm in its newest window ({as_of}).")
        _resolved(st, states)
        return
    where = sorted({f"{literal(m)} {literal(v)}" for m, v in zip(inc["model"], inc["version"],
                                                                 strict=True)})
    st.error(f"▲ **{len(inc)} open incident(s)** in {', '.join(where)} — oldest since "
             f"{inc['since'].min():%Y-%m-%d %H:%M} UTC ({as_of}).")
    table = inc.assign(state=inc["kind"].map(KIND_LABEL),
                       since=pd.to_datetime(inc["since"]).dt.strftime("%Y-%m-%d %H:%M"),
                       detail=[_url("models", r) for r in inc.itertuples()])
    st.dataframe(
        table[["state", "model", "version", "segment", "since", "hours", "alert", "delivery",
               "worst", "windows", "detail"]], hide_index=True,
        column_config={
            "since": st.column_config.TextColumn("since (UTC)", help="onset: the first window "
                                                 "of the current run of alarm verdicts"),
            "hours": st.column_config.NumberColumn("for (h)", format="%.1f"),
            "windows": st.column_config.NumberColumn("windows", help="windows in alarm"),
            "worst": st.column_config.TextColumn(
                "worst features (method score [interval] > threshold)", width="large"),
            "alert": st.column_config.TextColumn("alert"),
            "delivery": st.column_config.TextColumn("webhook"),
            "detail": st.column_config.LinkColumn("detail", display_text="open ›")})
    for r in inc.head(20).itertuples():
        _incident(st, r)
    _resolved(st, states)


def _incident(st: Any, r: Any) -> None:
    """One incident: a line of text and the links to its model, worst feature and alert."""
    import pandas as pd

    seg = {"model": r.model, "version": r.version, "segment": r.segment, "range": "all"}
    cols = st.columns([7, 1.5, 1.5, 1.5])
    cols[0].markdown(f"**{KIND_LABEL.get(r.kind, r.kind)} · {literal(r.model)} "
                     f"{literal(r.version)} · {literal(r.segment)}** · since "
                     f"{r.since:%Y-%m-%d %H:%M} UTC ({r.hours:.1f} h) · alert {r.alert} "
                     f"{r.delivery}  \n{literal(r.worst)}")
    cols[1].page_link("pages/models.py", label="Models ›", query_params=seg)
    if r.feature and r.kind in ("drift", "quality"):
        cols[2].page_link("pages/feature.py", label="Feature ›",
                          query_params={**seg, "feature": r.feature})
    if pd.notna(r.alert_id):
        cols[3].page_link("pages/alerts.py", label=f"Alert #{int(r.alert_id)} ›",
                          query_params={"alert": str(int(r.alert_id))})


def _resolved(st: Any, states: Any) -> None:
    """Streams that were in alarm and are ok now (when they recovered)."""
    import pandas as pd

    from dashboard import frames

    done = states[(states["state"] == "ok") & states["first_drift"].notna()]
    if done.empty:
        return
    st.subheader("Recovered")
    st.dataframe(pd.DataFrame({
        "kind": done["kind"], "model": done["model"], "version": done["version"],
        "segment": [frames.segment_label(t, v) for t, v in
                    zip(done["segment_tag"], done["segment_value"], strict=True)],
        "first alarm (UTC)": pd.to_datetime(done["first_drift"]).dt.strftime("%Y-%m-%d %H:%M"),
        "ok since (UTC)": pd.to_datetime(done["since"]).dt.strftime("%Y-%m-%d %H:%M")}),
        hide_index=True)


def _url(page: str, r: Any) -> str:
    """A same-origin link to a page with an incident's filters (relative: no host)."""
    from urllib.parse import urlencode
    return f"./{page}?" + urlencode({"model": r.model, "version": r.version,
                                     "segment": r.segment, "range": "all"})


def _age_s(t: Any) -> float:
    import datetime as dt

    import pandas as pd
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return (now - pd.Timestamp(t).to_pydatetime()).total_seconds()


if __name__ == "__main__":
    from dashboard.app import run_page
    run_page(main)
