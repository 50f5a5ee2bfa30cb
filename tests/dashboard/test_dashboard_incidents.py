"""The on-call views in AppTest: the Incidents landing page (incidents, onset, alert and
delivery; all clear), the onset independent of the time range, honest charts (legends,
thresholds in the plotted units), and deep links that name nothing."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from dashboard_fleet import BASE_MS, DRIFT_FROM, ROOT, W_MS, build_data_dir, write_rms_results
from streamlit.testing.v1 import AppTest

APP = str(ROOT / "dashboard" / "app.py")
PAGES = ["pages/incidents.py", "pages/fleet.py", "pages/models.py", "pages/feature.py",
         "pages/alerts.py"]
# the channels that tell series apart: each needs a legend when it encodes a field
SERIES_CHANNELS = ("color", "shape", "strokeDash", "fill", "stroke", "fillOpacity")


MODEL_VIEWS = ("Drift", "Segments", "Performance", "Compare versions")   # the Models tabs


def _app(monkeypatch, data_dir, config=None, page=None, **params) -> AppTest:
    monkeypatch.setenv("EDGEDRIFT_DATA_DIR", str(data_dir))
    if config:
        monkeypatch.setenv("EDGEDRIFT_CONFIG", str(config))
    else:
        monkeypatch.delenv("EDGEDRIFT_CONFIG", raising=False)
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "error", "warning", "info", "success", "caption", "header",
                 "subheader", "title"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return re.sub(r"\\(.)", r"\1", "\n".join(parts))


def _onset() -> str:
    return pd.Timestamp(BASE_MS + DRIFT_FROM * W_MS, unit="ms").strftime("%Y-%m-%d %H:%M")


def test_incidents_page_names_each_incident_its_onset_and_alert(monkeypatch, pipeline):
    at = _app(monkeypatch, pipeline["paths"].root)
    text = _text(at)
    assert "2 open incident(s)" in text
    for seg in ("fleet", "firmware=a"):
        assert f"drift · kws 1.0 · {seg}** · since {_onset()} UTC" in text, text
    table = next(d.value for d in at.dataframe if "worst" in d.value.columns)
    fleet = table[table["segment"] == "fleet"].iloc[0]
    # the alert raised for the whole fleet: one endpoint answered 204, the other 500
    assert fleet["alert"] == f"#{pipeline['alerts'][0].id}"
    assert fleet["delivery"] == "✖ failed"
    assert fleet["worst"].startswith("temp wasserstein ")
    seg = table[table["segment"] == "firmware=a"].iloc[0]
    assert seg["alert"] == "none raised"
    assert "./models?model=kws&version=1.0&segment=firmware%3Da" in seg["detail"]
    # the filters open on the oldest incident, not on the first model alphabetically
    assert at.selectbox(key="filter_model").value == "kws"


def test_all_clear_is_said_with_the_last_analysis(monkeypatch, tmp_path):
    built = build_data_dir(tmp_path / "calm", drift_from=None)
    at = _app(monkeypatch, built["paths"].root)
    ok = [s.value for s in at.success]
    assert any("All clear" in s and "last analysis pass finished" in s for s in ok), ok
    assert not at.error


@pytest.mark.parametrize("page", ["pages/incidents.py", "pages/models.py"])
def test_onset_does_not_move_with_the_time_range(monkeypatch, tmp_path, page):
    onset = write_rms_results(tmp_path, 0.5)     # drift began 30 windows before the newest
    for key in ("6h", "all"):
        at = _app(monkeypatch, tmp_path, page=None if page.endswith("incidents.py") else page,
                  range=key, model="kws", version="2.1", segment="firmware=2.1")
        text = _text(at)
        assert f"since {onset:%Y-%m-%d %H:%M} UTC" in text, (key, text)
        assert "ok since" not in text


def _specs(at: AppTest) -> list[dict]:
    """Every chart's Vega-Lite spec, its named data sets put back (Streamlit ships them
    apart as Arrow tables) as lists of records."""
    import json

    import pyarrow as pa
    out = []
    for kind in ("arrow_vega_lite_chart", "vega_lite_chart"):
        for el in at.get(kind):
            proto = el.proto
            spec = json.loads(proto.spec)
            sets = {}
            for named in getattr(proto, "datasets", []):
                table = pa.ipc.open_stream(named.data.data).read_all()
                sets[named.name] = table.to_pandas().to_dict("records")
            spec["datasets"] = {**spec.get("datasets", {}), **sets}
            out.append(spec)
    return out


def _missing_legends(spec: dict, where: str = "") -> list[str]:
    found = []
    for i, layer in enumerate(spec.get("layer", [])):
        found += _missing_legends(layer, f"{where}/layer{i}")
    for i, part in enumerate(spec.get("vconcat", []) + spec.get("hconcat", [])):
        found += _missing_legends(part, f"{where}/concat{i}")
    for channel in SERIES_CHANNELS:
        enc = spec.get("encoding", {}).get(channel)
        if isinstance(enc, dict) and "field" in enc and enc.get("legend", {}) is None:
            found.append(f"{where}:{channel}={enc['field']}")
    return found


def test_every_multi_series_chart_has_a_legend(monkeypatch, demo):
    seen = 0
    views = {"pages/models.py": MODEL_VIEWS}
    for page in PAGES:
        for view in views.get(page, ("",)):
            at = _app(monkeypatch, demo["data_dir"], demo["config"], page=page,
                      model="kws", version="1.3.0", segment="firmware=2.1", range="all",
                      **({"view": view} if view else {}))
            for spec in _specs(at):
                seen += 1
                assert _missing_legends(spec) == [], (page, view, spec.get("$schema"))
    assert seen >= 10


def test_metric_history_plots_what_its_threshold_applies_to(monkeypatch, demo):
    """Tests (KS, chi-square, Welch) are drawn as p-values against alpha, so a point is
    below the dashed line exactly when the method flagged it; effect sizes are drawn as
    scores, and a flagged point is never under its threshold."""
    at = _app(monkeypatch, demo["data_dir"], demo["config"], page="pages/feature.py",
              model="kws", version="1.3.0", segment="firmware=2.1", range="all")
    checked = 0
    for spec in _specs(at):
        layers = spec.get("layer", [])
        ytitle = str(layers[0].get("encoding", {}).get("y", {}).get("title", "")) \
            if layers else ""
        if not ytitle.startswith(("p-value", "effect score")):
            continue
        data = spec["datasets"]
        rows = [r for d in data.values() for r in d if r.get("series") in ("p-value", "score")]
        thresholds = {r["window_start"]: r["value"] for d in data.values() for r in d
                      if str(r.get("series", "")).startswith(("alpha", "threshold"))}
        for r in rows:
            flagged = r["state"] in ("over threshold", "drifted")
            thr = thresholds[r["window_start"]]
            if r["series"] == "p-value":
                assert flagged == (r["value"] < thr), r
            else:
                assert not flagged or r["value"] >= thr, r
            checked += 1
    assert checked > 20


def test_links_naming_nothing_say_so(monkeypatch, pipeline):
    at = _app(monkeypatch, pipeline["paths"].root, model="nope", range="all")
    assert any("model `nope`" in w.value for w in at.warning), [w.value for w in at.warning]
    at = _app(monkeypatch, pipeline["paths"].root, page="pages/alerts.py", alert="999")
    assert any("alert `999`" in w.value for w in at.warning), [w.value for w in at.warning]


def test_canary_and_stable_side_by_side(monkeypatch, demo):
    """har 2.1 (canary) and 2.0 (stable) on the Models page: state, latency and accuracy per
    version, effect per feature against its threshold, one feature's distributions overlaid
    on the reference."""
    at = _app(monkeypatch, demo["data_dir"], demo["config"], page="pages/models.py",
              model="har", version="2.1", segment="fleet", range="all",
              view="Compare versions")
    labels = {m.label for m in at.metric}
    for v in ("2.1", "2.0"):
        assert {f"{v}: drift", f"{v}: latency p95, median (ms)", f"{v}: accuracy"} <= labels
    sides = set()
    for spec in _specs(at):
        for rows in spec["datasets"].values():
            sides |= {r.get("side") for r in rows if "side" in r}
    assert "reference" in sides
    assert any(str(s).startswith("2.1 (") for s in sides)
    assert any(str(s).startswith("2.0 (") for s in sides)
