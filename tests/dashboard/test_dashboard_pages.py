"""AppTest for every page, on a data dir built by the real pipeline and on an empty one."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from dashboard_fleet import ROOT
from streamlit.testing.v1 import AppTest

APP = str(ROOT / "dashboard" / "app.py")


def _app(monkeypatch, data_dir, **params) -> AppTest:
    monkeypatch.setenv("EDGEDRIFT_DATA_DIR", str(data_dir))
    monkeypatch.delenv("EDGEDRIFT_CONFIG", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _text(at: AppTest) -> str:
    """The page's text as a reader sees it (Markdown's backslash escapes undone)."""
    parts = []
    for kind in ("markdown", "error", "warning", "info", "success", "caption", "header",
                 "subheader", "title"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return re.sub(r"\\(.)", r"\1", "\n".join(parts))


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_fleet_page_shows_devices_and_the_unexpected_hash(monkeypatch, pipeline_dir):
    at = _app(monkeypatch, pipeline_dir, range="all")
    at.switch_page("pages/fleet.py").run()
    _no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Devices known"] == "3"
    # the devices report a backlog of 0, 2, 4, 6 in turn: it drains, so it is no trouble
    assert metrics["Devices with a growing backlog"] == "0"
    assert "sha256:rogue" in _text(at)
    health = next(d.value for d in at.dataframe if "missing_windows" in d.value.columns)
    assert set(health["firmware"]) == {"a", "b"} and health["missing_windows"].sum() == 0


def test_models_page_lists_the_drifted_feature(monkeypatch, pipeline_dir):
    at = _app(monkeypatch, pipeline_dir, model="kws", version="1.0", range="all")
    at.switch_page("pages/models.py").run()
    _no_exception(at)
    errors = [e.value for e in at.error]
    assert any("Drift" in e and "temp" in e for e in errors), errors
    assert "Drift timeline" in _text(at) and "Latency" not in _text(at)   # one view at a time
    at = _app(monkeypatch, pipeline_dir, model="kws", version="1.0", range="all",
              view="Performance")
    at.switch_page("pages/models.py").run()
    _no_exception(at)
    assert "No labels for kws 1.0" in _text(at) and "Drift timeline" not in _text(at)


def test_models_page_says_when_a_model_has_no_reference(monkeypatch, pipeline_dir):
    at = _app(monkeypatch, pipeline_dir, model="asr", version="2.0", range="all")
    at.switch_page("pages/models.py").run()
    _no_exception(at)
    assert "No reference profile for asr" in _text(at)


def test_feature_page_defaults_to_the_drifted_feature(monkeypatch, pipeline_dir):
    at = _app(monkeypatch, pipeline_dir, model="kws", version="1.0", range="all")
    at.switch_page("pages/feature.py").run()
    _no_exception(at)
    assert at.selectbox(key="feature_feature").value == "temp"
    assert any("temp" in h.value and "drifted" in h.value for h in at.header)
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    at.selectbox(key="feature_feature").set_value("mic").run()
    _no_exception(at)
    assert any(h.value.startswith("mic") for h in at.header)


def test_alerts_page_shows_the_alert_its_attempts_and_redelivers(monkeypatch, pipeline):
    at = _app(monkeypatch, pipeline["paths"].root)
    at.switch_page("pages/alerts.py").run()
    _no_exception(at)
    alert_id = pipeline["alerts"][0].id
    assert at.selectbox(key="alerts_pick").value == alert_id
    # the webhook as sent: the body byte for byte (what the deliverer posts), its headers
    conn = sqlite3.connect(pipeline["paths"].outbox)
    try:
        raw = conn.execute("SELECT payload FROM alerts WHERE id = ?", (alert_id,)).fetchone()[0]
    finally:
        conn.close()
    codes = [c.value for c in at.code]
    assert raw in codes
    assert json.loads(raw)["data"]["segment"] == ""
    headers = next(c for c in codes if c.startswith("content-type"))
    assert "webhook-id: msg_" in headers and "webhook-timestamp: 1" in headers
    frames = [d.value for d in at.dataframe]
    deliveries = next(f for f in frames if "webhook_id" in f.columns and "status" in f.columns)
    delivered = deliveries[deliveries["status"].str.contains("delivered")]
    assert len(delivered) == 1 and delivered["next_attempt"].isna().all()
    assert any("drift.detected" in set(f.get("event_type", [])) for f in frames)
    attempts = next(f for f in frames if "outcome" in f.columns)
    assert sorted(attempts["outcome"]) == ["delivered", "failed"]
    button = at.button(key="alerts_redeliver")
    assert not button.disabled
    button.click().run()
    _no_exception(at)
    assert any("queued again" in s.value for s in at.success)
    from analytics.alerts.outbox import Outbox
    statuses = {d["endpoint"]: d["status"] for d in
                Outbox(pipeline["paths"].outbox).show(alert_id)["deliveries"]}
    assert statuses == {"retrain-ci": "delivered", "pager": "pending"}


@pytest.mark.parametrize("page", ["pages/incidents.py", "pages/fleet.py", "pages/models.py",
                                  "pages/feature.py", "pages/alerts.py", "pages/report.py"])
def test_empty_data_dir_says_what_to_run(monkeypatch, tmp_path, page):
    at = _app(monkeypatch, tmp_path / "fresh")
    if page != "pages/incidents.py":
        at.switch_page(page).run()
    _no_exception(at)
    text = _text(at)
    assert "No data yet" in text and "edgedrift demo" in text and "edgedrift analyze" in text
