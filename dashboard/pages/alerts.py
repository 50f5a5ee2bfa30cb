"""Alerts: every alert with its delivery state, each attempt, a redeliver action, the policy.

>>> callable(main)
True
"""

from __future__ import annotations

from typing import Any

from dashboard.ui import literal


def main() -> None:
    import streamlit as st

    from dashboard import data, ui
    from dashboard.filters import context

    cfg, f = context()
    st.title("Alerts")
    ov = data.overview(cfg)
    if not ov.has_outbox:
        if ui.guard(st, ov):
            st.info("No alert has been raised yet (the outbox "
                    f"`{cfg.paths.outbox}` does not exist). Alerts appear when a verdict "
                    "changes and `edgedrift analyze` hands it to the alert engine.")
        _policy(cfg)
        return
    st.fragment(run_every=cfg.refresh_s)(_body)(cfg, f)
    _policy(cfg)


def _body(cfg: Any, f: Any) -> None:
    import streamlit as st

    from dashboard import data, frames

    only = st.toggle(f"Only model {f.model}", value=False, key="alerts_only_model") \
        if f.model else False
    table = data.alerts(cfg, model=f.model if only else None)
    if table.empty:
        st.info("No alerts yet.")
        return
    shown = table.assign(state=table["state"].map(frames.DELIVERY_LABEL))
    c = st.columns(3)
    c[0].metric("Alerts", len(table))
    c[1].metric("Failed deliveries", int(table["failed"].sum()))
    c[2].metric("Pending deliveries", int(table["pending"].sum()))
    st.dataframe(shown[["id", "created", "event_type", "model", "version", "segment", "state",
                        "delivered", "pending", "failed", "disabled"]], hide_index=True)
    ids = table["id"].tolist()
    label = {r.id: f"#{r.id} {r.event_type} {r.model} {r.version} ({r.state})"
             for r in table.itertuples()}
    wanted = st.query_params.get("alert")
    index = ids.index(int(wanted)) if wanted and wanted.isdigit() and int(wanted) in ids else 0
    alert_id = st.selectbox("Alert", ids, index=index, format_func=label.get, key="alerts_pick")
    st.query_params["alert"] = str(alert_id)
    payload = data.alert_payload(cfg, alert_id).get("data", {})
    if payload:
        feats = ", ".join(f"{literal(x['name'])} ({x['method']} {x['score']})"
                          for x in payload.get("features", []))
        st.markdown(f"window {payload.get('window', {}).get('start')} → "
                    f"{payload.get('window', {}).get('end')} · suggested action "
                    f"**{payload.get('suggested_action')}**" + (f" · features: {feats}"
                                                                if feats else ""))
    st.markdown("**Deliveries**")
    dl = data.deliveries(cfg, alert_id)
    if dl.empty:
        st.caption("No endpoint was subscribed to this alert.")
    else:
        st.dataframe(dl.assign(status=dl["status"].map(frames.DELIVERY_LABEL)),
                     hide_index=True)
    st.markdown("**Attempts**")
    at = data.attempts(cfg, alert_id)
    if at.empty:
        st.caption("No delivery attempt yet.")
    else:
        st.dataframe(at, hide_index=True)
    retry = not dl.empty and bool((dl["status"].isin(["failed", "pending"])).any())
    if st.button("Redeliver failed deliveries", disabled=not retry, key="alerts_redeliver",
                 help="re-queue with the same webhook-id; the deliverer sends them"):
        n = data.redeliver(cfg, alert_id)
        st.success(f"Alert #{alert_id}: {n} delivery(ies) queued again (same webhook-id); "
                   "`edgedrift alerts deliver` sends them.")


def _policy(cfg: Any) -> None:
    import pandas as pd
    import streamlit as st

    from dashboard import data

    st.subheader("Active policy")
    policy, error = data.alert_policy(cfg)
    if policy is None:
        st.error(f"The [alerts] section of the config is invalid: {error}")
        return
    src = cfg.config_file or "defaults (no --config)"
    st.caption(f"from {src} · cooldown {policy.cooldown_s:.0f} s · retries after "
               + ", ".join(f"{s:.0f}" for s in policy.retry_schedule_s) + " s")
    st.dataframe(pd.DataFrame([{
        "kind": p.kind, "models": ", ".join(p.models) or "all",
        "segments": ", ".join(p.segments) or "all",
        "critical features": ", ".join(p.critical_features) or "any",
        "bound": next((f"{n} {v}" for n, v in (("max p95 ms", p.max_p95_ms),
                                                ("min accuracy", p.min_accuracy),
                                                ("max silence s", p.max_silence_s))
                       if v is not None), "verdict"),
        "open after windows": p.open_after_windows, "action": p.action or "suggested"}
        for p in policy.policies]), hide_index=True)
    if policy.endpoints:
        st.dataframe(pd.DataFrame([{"endpoint": e.name, "url": e.url,
                                    "models": ", ".join(e.models) or "all",
                                    "events": ", ".join(e.events) or "all",
                                    "enabled": e.enabled} for e in policy.endpoints]),
                     hide_index=True)
    else:
        st.caption("No webhook endpoint configured ([[alerts.endpoints]]).")


if __name__ == "__main__":
    from dashboard.app import run_page
    run_page(main)
