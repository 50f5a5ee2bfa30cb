"""Alerts: every alert with its delivery state, the webhook as sent (body, headers, every
attempt), a redeliver action, and the active policy.

>>> callable(main)
True
>>> headers_as_sent("msg_1", 1700000000)["webhook-timestamp"]
'1700000000'
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
        _policy(cfg, None)
        return
    st.fragment(run_every=cfg.refresh_s)(_body)(cfg, f)


def headers_as_sent(webhook_id: str, timestamp: int | None) -> dict[str, str]:
    """The request headers of one attempt (Standard Webhooks), the signature described:
    it is an HMAC of the body under the endpoint's secret and is not stored."""
    from analytics.alerts.delivery import USER_AGENT
    return {"content-type": "application/json", "user-agent": USER_AGENT,
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp) if timestamp is not None else "(at send time)",
            "webhook-signature": "v1,<base64 HMAC-SHA256 of id.timestamp.body under the "
                                 "endpoint's secret; one per secret; not stored>"}


def _label(r: Any) -> str:
    seg = r.segment or "fleet"
    return f"#{r.id} {r.event_type} · {r.model} {r.version} · {seg} · {r.created} ({r.state})"


def _body(cfg: Any, f: Any) -> None:
    import json

    import streamlit as st

    from dashboard import frames, outbox
    from dashboard.filters import synced_select

    only = st.toggle(f"Only model {f.model}", value=False, key="alerts_only_model") \
        if f.model else False
    table = outbox.alerts(cfg, model=f.model if only else None)
    if table.empty:
        st.info("No alerts yet.")
        _policy(cfg, None)
        return
    shown = table.assign(state=table["state"].map(frames.DELIVERY_LABEL),
                         segment=table["segment"].replace("", "fleet"))
    c = st.columns(3)
    c[0].metric("Alerts", len(table))
    c[1].metric("Failed deliveries", int(table["failed"].sum()))
    c[2].metric("Pending deliveries", int(table["pending"].sum()))
    st.dataframe(shown[["id", "created", "event_type", "model", "version", "segment", "state",
                        "delivered", "pending", "failed", "disabled"]], hide_index=True,
                 column_config={"created": "created (UTC)"})
    ids = [int(i) for i in table["id"]]
    label = {int(r.id): _label(r) for r in table.itertuples()}
    notes: list[str] = []
    picked = synced_select(st, st, "Alert", ids, "alert", "alerts_pick", notes=notes,
                           show=lambda i: label.get(i, str(i)))
    alert_id = int(picked)
    for note in notes:
        st.warning(note)
    body = outbox.alert_body(cfg, alert_id)
    payload = json.loads(body).get("data", {}) if body else {}
    if payload:
        feats = "; ".join(literal(frames.feature_line({
            "feature": x.get("name"), "method": x.get("method"), "score": x.get("score"),
            "lower": x.get("lower"), "upper": x.get("upper"), "threshold": x.get("threshold")}))
            for x in payload.get("features", []))
        seg = payload.get("segment") or "fleet"
        st.markdown(f"**{literal(payload.get('model'))} {literal(payload.get('version'))} · "
                    f"{literal(seg)}** · window {payload.get('window', {}).get('start')} → "
                    f"{payload.get('window', {}).get('end')} · incident since "
                    f"{payload.get('incident_started')} · suggested action "
                    f"**{literal(payload.get('suggested_action'))}**"
                    + (f" · features: {feats}" if feats else ""))
        links = payload.get("links") or {}
        if links.get("report", "") and str(links["report"]).startswith("file:"):
            name = str(links["report"]).rsplit("/", 1)[-1]
            st.page_link("pages/report.py", label="The report this alert links to ›",
                         query_params={"file": name})
    dl = outbox.deliveries(cfg, alert_id)
    at = outbox.attempts(cfg, alert_id)
    _as_sent(st, body, dl, at)
    retry = not dl.empty and bool((dl["status"].isin(["failed", "pending"])).any())
    if st.button("Redeliver failed deliveries", disabled=not retry, key="alerts_redeliver",
                 help="re-queue with the same webhook-id; the deliverer sends them"):
        n = outbox.redeliver(cfg, alert_id)
        st.success(f"Alert #{alert_id}: {n} delivery(ies) queued again (same webhook-id); "
                   "`edgedrift alerts deliver` sends them.")
    _policy(cfg, dl)


def _as_sent(st: Any, body: str, dl: Any, at: Any) -> None:
    """Body, headers and attempts of the chosen alert's webhook."""
    import json

    from dashboard import frames

    st.subheader("Webhook as sent")
    st.caption(f"POST body ({len(body.encode())} bytes, exactly as stored and sent to every "
               "endpoint):")
    st.code(json.dumps(json.loads(body), indent=2, ensure_ascii=False) if body else "",
            language="json", wrap_lines=True, height=420)
    with st.expander("the body's raw bytes (what the signature covers)"):
        st.code(body, language="json", wrap_lines=True)
    if dl.empty:
        st.caption("No endpoint was subscribed to this alert: nothing was sent.")
        return
    st.markdown("**Deliveries** (one per endpoint)")
    st.dataframe(dl.assign(status=dl["status"].map(frames.DELIVERY_LABEL)).drop(columns="id"),
                 hide_index=True, column_config={"next_attempt": "next attempt (UTC)",
                                                 "delivered": "delivered (UTC)"})
    st.markdown("**Attempts**")
    if at.empty:
        st.caption("No delivery attempt yet.")
    else:
        st.dataframe(at.drop(columns=["started_epoch"]), hide_index=True,
                     column_config={"started": "started (UTC)",
                                    "duration_ms": st.column_config.NumberColumn(
                                        "duration (ms)", format="%.1f")})
    first = dl.iloc[0]
    mine = at[at["webhook_id"] == first["webhook_id"]] if not at.empty else at
    head = headers_as_sent(str(first["webhook_id"]),
                           int(mine["started_epoch"].iloc[-1]) if not mine.empty else None)
    st.markdown(f"**Headers** of the newest attempt to `{first['endpoint']}`")
    st.code("\n".join(f"{k}: {v}" for k, v in head.items()), language="http")


def _policy(cfg: Any, dl: Any) -> None:
    import pandas as pd
    import streamlit as st

    from dashboard import outbox

    st.subheader("Active policy")
    policy, error = outbox.alert_policy(cfg)
    if policy is None:
        st.error(f"The [alerts] section of the config is invalid: {error}")
        return
    if not cfg.config_file:
        st.warning("The dashboard was started without `--config`: the policy below is the "
                   "built-in default, not necessarily what `edgedrift analyze` and the "
                   "deliverer run with. Start it with `edgedrift dashboard --config FILE`."
                   + ("" if dl is None or dl.empty else " The deliveries above went to: "
                      + ", ".join(f"`{e}`" for e in sorted(set(dl["endpoint"]))) + "."))
    src = cfg.config_file or "defaults (no --config)"
    st.caption(f"from {src} · cooldown {policy.cooldown_s:.0f} s · retries after "
               + ", ".join(f"{s:g}" for s in policy.retry_schedule_s) + " s"
               + (f" · dashboard links to {policy.dashboard_url}"
                  if getattr(policy, "dashboard_url", "") else ""))
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
    elif cfg.config_file:
        st.caption("No webhook endpoint configured ([[alerts.endpoints]]).")


if __name__ == "__main__":
    from dashboard.app import run_page
    run_page(main)
