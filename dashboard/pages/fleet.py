"""Fleet: who reports, who is silent, which model versions and hashes run, SDK health, ingest.

>>> callable(main)
True
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dashboard.ui import literal


def main() -> None:
    import streamlit as st

    from dashboard import data, ui
    from dashboard.filters import context

    cfg, f = context()
    st.title("Fleet")
    ov = data.overview(cfg)
    if not ui.guard(st, ov):
        return
    st.fragment(run_every=cfg.refresh_s)(_body)(cfg, f)


def _body(cfg: Any, f: Any) -> None:
    import pandas as pd
    import streamlit as st

    from dashboard import charts, data, frames, ui

    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    health = data.fleet_health(cfg)
    fresh = data.freshness(cfg)
    since, until = data.time_range(cfg, f.range_key)
    if health.empty:
        st.info("No device has been seen in an analysis pass yet: run `edgedrift analyze`.")
        return
    devices = health.groupby("device_id", as_index=False).agg(
        last_seen=("last_seen", "max"), models=("model", lambda s: ", ".join(sorted(set(s)))),
        backlog=("sdk_backlog", "max"), dropped=("sdk_dropped", "max"),
        rejected=("sdk_rejected", "max"), corrupt=("sdk_corrupt", "max"),
        internal_errors=("sdk_internal_errors", "max"), clock_skew_ms=("clock_skew_ms", "max"),
        delivery_lag_ms=("delivery_lag_ms", "max"))
    devices["silent_for_h"] = (now - pd.to_datetime(devices["last_seen"])).dt.total_seconds() / 3600
    silent = devices[devices["silent_for_h"] * 3600 > cfg.silent_after_s]
    newest = pd.to_datetime(fresh["last_received"]).max() if not fresh.empty else None
    c = st.columns(5)
    c[0].metric("Devices known", len(devices), help="devices seen in the telemetry")
    c[1].metric("Reporting now", len(devices) - len(silent),
                help=f"heard from in the last {cfg.silent_after_s:.0f} s")
    c[2].metric("Silent", len(silent))
    c[3].metric("Newest window", ui.ago((now - newest).total_seconds()) + " ago"
                if newest is not None else "never")
    c[4].metric("Models", health["model"].nunique())

    left, right = st.columns(2)
    with left:
        st.subheader("Last seen")
        st.altair_chart(charts.histogram(devices, "silent_for_h", "hours since last seen"),
                        width="stretch")
    with right:
        st.subheader("Silent devices")
        if silent.empty:
            st.success("✔ every device reported recently")
        else:
            st.dataframe(silent[["device_id", "models", "last_seen", "silent_for_h"]]
                         .sort_values("silent_for_h", ascending=False), hide_index=True,
                         height=260)

    st.subheader("Model versions and model hashes")
    census = frames.hash_census(health)
    odd = census[census["status"] != "expected"]
    if not odd.empty:
        st.warning(f"⚠ {odd['devices'].sum()} device(s) run an unexpected model hash: "
                   + ", ".join(f"{literal(r.model)} {literal(r.version)} "
                               f"{literal(r.model_hash)}"
                               for r in odd.itertuples()))
    st.dataframe(census, hide_index=True)

    st.subheader("SDK health")
    c = st.columns(4)
    c[0].metric("Spool backlog (windows)", int(devices["backlog"].fillna(0).sum()))
    c[1].metric("Dropped payloads", int(devices["dropped"].fillna(0).sum()))
    c[2].metric("Rejected payloads", int(devices["rejected"].fillna(0).sum()))
    skew = devices["clock_skew_ms"].abs().max()
    c[3].metric("Worst clock skew", f"{skew / 1000:.1f} s" if pd.notna(skew) else "–")
    trouble = devices[(devices[["backlog", "dropped", "rejected", "corrupt",
                                "internal_errors"]].fillna(0).sum(axis=1) > 0)]
    if not trouble.empty:
        st.dataframe(trouble.drop(columns=["silent_for_h"]), hide_index=True, height=220)

    st.subheader("Ingest")
    rate = data.ingest(cfg, since, until)
    if rate.empty:
        st.info("No windows received in this time range.")
    else:
        st.altair_chart(charts.lines(rate, "hour", "windows", "model", "windows received / hour"),
                        width="stretch")
    if not fresh.empty:
        fresh = fresh.assign(age=[ui.ago((now - t).total_seconds())
                                  for t in pd.to_datetime(fresh["last_received"])])
        st.dataframe(fresh, hide_index=True)


if __name__ == "__main__":
    from dashboard.app import run_page
    run_page(main)
