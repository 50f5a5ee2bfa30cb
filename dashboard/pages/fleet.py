"""Fleet: who reports, who is silent, device health by segment (missing windows, gaps, growing
backlogs), which model versions and hashes run (and since when), SDK health, ingest.

>>> callable(main)
True
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dashboard.ui import literal

SILENT_ROWS = 200   # the silent-devices table lists at most this many (the longest silent)


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

    from dashboard import charts, data, dataset, draw, frames, ui

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    health = data.fleet_health(cfg)
    fresh = dataset.freshness(cfg)
    since, until = data.time_range(cfg, f.range_key)
    if health.empty:
        st.info("No device has been seen in an analysis pass yet: run `edgedrift analyze`.")
        return
    version = data.data_version(cfg)   # fleet_health is in the results: derived once per copy
    devices = draw.frame(("per_device", version), lambda: frames.per_device(health))
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
        bins = frames.bin_counts(devices["silent_for_h"] * 60)
        draw.chart(st, ("last_seen", draw.digest(bins)), lambda: charts.histogram(
            bins, "minutes since last seen", "devices"))
    with right:
        st.subheader("Silent devices")
        if silent.empty:
            st.success("✔ every device reported recently")
        else:
            shown = silent.nlargest(SILENT_ROWS, "silent_for_h")
            st.dataframe(shown.assign(silent_for=[ui.ago(h * 3600) for h in
                                                  shown["silent_for_h"]])[
                             ["device_id", "models", "last_seen", "silent_for"]],
                         hide_index=True, height=260,
                         column_config={"last_seen": "last seen (UTC)",
                                        "silent_for": "silent for"})
            if len(silent) > len(shown):
                st.caption(f"The {len(shown)} silent the longest of {len(silent)} silent "
                           "devices.")
    _by_segment(cfg, st, health, since, until, now)

    st.subheader("Model versions and model hashes")
    census = draw.frame(("hash_census", version), lambda: frames.hash_census(health))
    odd = census[census["status"] != "expected"]
    if not odd.empty:
        st.warning(f"⚠ {odd['devices'].sum()} device(s) run an unexpected model hash: "
                   + ", ".join(f"{literal(r.model)} {literal(r.version)} "
                               f"{literal(r.model_hash)}"
                               for r in odd.itertuples()))
    st.dataframe(census, hide_index=True)
    timeline = dataset.hash_timeline(cfg, since, until)
    if not timeline.empty and timeline["model_hash"].nunique() > 1:
        tl = timeline.assign(build=timeline["model"] + " " + timeline["version"] + " "
                             + timeline["model_hash"])
        draw.chart(st, ("builds", draw.digest(tl)), lambda: charts.lines(
            tl, "hour", "devices", "build", "devices running it",
            legend="model version and hash"))

    st.subheader("SDK health")
    growing = _growing(cfg, since, until)
    h = st.columns(4)
    h[0].metric("Devices with a growing backlog", len(growing),
                help="the spool backlog rose over the device's six newest windows and never "
                     "drained to 0 (a batching SDK keeps up to a batch waiting: not trouble)")
    h[1].metric("Dropped payloads", int(devices["dropped"].fillna(0).sum()))
    h[2].metric("Rejected payloads", int(devices["rejected"].fillna(0).sum()))
    skew = devices["clock_skew_ms"].abs().max()
    h[3].metric("Worst clock skew", f"{skew / 1000:.1f} s" if pd.notna(skew) else "–")
    counters = devices[["dropped", "rejected", "corrupt", "internal_errors"]].fillna(0)
    trouble = devices[(counters.sum(axis=1) > 0) | devices["device_id"].isin(growing)]
    if trouble.empty:
        st.success("✔ no device dropped, rejected or corrupted a payload, and no backlog grows")
    else:
        st.dataframe(trouble.assign(last_seen_ago=[ui.ago(h * 3600) for h in
                                                   trouble["silent_for_h"]],
                                    backlog_growing=trouble["device_id"].isin(growing))
                     .drop(columns=["silent_for_h"]), hide_index=True, height=220,
                     column_config={"last_seen": "last seen (UTC)",
                                    "last_seen_ago": "last seen"})

    st.subheader("Ingest")
    rate = dataset.ingest(cfg, since, until)
    if rate.empty:
        st.info("No windows received in this time range.")
    else:
        draw.chart(st, ("ingest", draw.digest(rate)), lambda: charts.lines(
            rate, "hour", "windows", "model", "windows received / hour"))
    if not fresh.empty:
        fresh = fresh.assign(age=[ui.ago((now - t).total_seconds())
                                  for t in pd.to_datetime(fresh["last_received"])])
        st.dataframe(fresh, hide_index=True)


def _segment_tag(cfg: Any) -> str:
    """The first segment tag the analytics use (e.g. firmware), from the results' catalog."""
    from dashboard import data
    cat = data.catalog(cfg)
    tags = sorted(t for t in cat["segment_tag"].unique() if t) if not cat.empty else []
    return tags[0] if tags else ""


def _growing(cfg: Any, since: Any, until: Any) -> set[str]:
    from dashboard import dataset, frames
    dev = frames.device_health(dataset.device_windows(cfg, since, until), _empty(), 1e18, until)
    return set(dev.loc[dev["growing"], "device_id"]) if not dev.empty else set()


def _empty() -> Any:
    import pandas as pd
    return pd.DataFrame()


def _by_segment(cfg: Any, st: Any, health: Any, since: Any, until: Any, now: Any) -> None:
    """Device health by segment: silent devices, missing windows, gaps, growing backlogs."""
    from dashboard import dataset, frames

    tag = _segment_tag(cfg)
    dev = frames.device_health(dataset.device_windows(cfg, since, until, tag), health,
                               cfg.silent_after_s, now)
    if dev.empty:
        return
    st.subheader(f"Device health by {literal(tag) if tag else 'model'} (time range)")
    seg = frames.segment_health(dev)
    st.dataframe(seg.rename(columns={"segment": tag or "segment"}), hide_index=True,
                 column_config={"missing_windows": st.column_config.NumberColumn(
                     "missing windows", help="windows not received since each device's first "
                                             "window in the range"),
                     "devices_with_gaps": "devices with gaps",
                     "growing_backlog": "devices with a growing backlog"})
    worst = dev[(dev["missing"] > 0) | dev["silent"] | dev["growing"]]
    if not worst.empty:
        st.caption("Devices with missing windows, silence or a growing backlog:")
        st.dataframe(worst.sort_values(["missing", "max_gap_windows"], ascending=False),
                     hide_index=True, height=220,
                     column_config={"last_seen": "last seen (UTC)",
                                    "max_gap_windows": "longest gap (windows)"})


if __name__ == "__main__":
    from dashboard.app import run_page
    run_page(main)
