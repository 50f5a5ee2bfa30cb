"""The Models page's charts are built once per data version and selection, and stay true.

* :func:`dashboard.charts.vega_spec` (what the page sends instead of ``st.altair_chart``)
  is Altair's own spec, layer for layer, with the frames named instead of inlined;
* :mod:`dashboard.draw` builds a chart once per key and again for a new key;
* the Drift view is one chart (the verdicts are its top rows), and new results replace it
  (the cached spec is keyed by the results copy, so it is never stale).
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
from dashboard_fleet import ROOT, write_rms_results
from streamlit.testing.v1 import AppTest

APP = str(ROOT / "dashboard" / "app.py")


def _heatmap_inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    t = pd.date_range("2025-10-01", periods=6, freq="h")
    effect = pd.DataFrame([
        {"feature": f, "method": "wasserstein", "window_start": w,
         "window_end": w + pd.Timedelta(hours=1), "score": s, "lower": s * 0.8,
         "upper": s * 1.2, "threshold": 0.1, "exceeded": s > 0.1, "drifted": s > 0.2}
        for f in ("rms", "zcr") for w, s in zip(t, [0.02, 0.05, 0.3, 0.4, 0.05, 0.5],
                                                 strict=True)])
    verdicts = pd.DataFrame({"kind": ["drift"] * 6 + ["quality"] * 6,
                             "window_start": list(t) * 2,
                             "window_end": list(t + pd.Timedelta(hours=1)) * 2,
                             "state": ["ok", "ok", "drift", "drift", "ok", "drift"] + ["ok"] * 6,
                             "share_drifted": 0.5, "note": ""})
    markers = pd.DataFrame({"t": [t[2]], "label": ["drift onset"]})
    return effect, verdicts, markers


def _without_data(spec: dict) -> dict:
    out = {k: v for k, v in spec.items() if k not in ("data", "datasets", "config", "$schema")}
    if "layer" in out:
        out["layer"] = [_without_data(layer) for layer in out["layer"]]
    return out


def test_vega_spec_is_altairs_spec_with_the_frames_named():
    import altair as alt

    from dashboard import charts

    effect, verdicts, markers = _heatmap_inputs()
    t = effect["window_start"].unique()
    latency = pd.DataFrame({"t": list(t) * 2, "ms": np.arange(12.0),
                            "quantile": ["p50"] * 6 + ["p95"] * 6})
    built = [charts.drift_heatmap(effect, verdicts, markers),
             charts.lines(latency, "t", "ms", "quantile", "latency (ms)", markers=markers),
             charts.verdict_timeline(verdicts, markers)]
    for chart in built:
        ours = charts.vega_spec(chart)
        with alt.data_transformers.disable_max_rows():
            theirs = chart.to_dict()
        assert _without_data(ours) == _without_data(theirs)
        assert "config" not in ours
        pairs = [(ours, theirs)] + list(zip(ours.get("layer", []), theirs.get("layer", []),
                                            strict=True))
        for mine, alts in pairs:
            if "data" not in alts:
                assert "data" not in mine
                continue
            frame = ours["datasets"][mine["data"]["name"]]
            rows = theirs["datasets"][alts["data"]["name"]]
            assert isinstance(frame, pd.DataFrame)
            assert len(frame) == len(rows) and list(frame.columns) == list(rows[0])
    # the chart keeps its own frames (a cached spec must not share them with a later build)
    assert all(isinstance(layer.data, pd.DataFrame) for layer in built[0].layer)


def test_a_chart_is_built_once_per_key():
    from dashboard import charts, draw

    effect, verdicts, markers = _heatmap_inputs()
    builds: list[str] = []
    nonce = time.time_ns()      # keys of this test only (the cache lives for the process)

    def build(tag: str):
        def inner():
            builds.append(tag)
            return charts.drift_heatmap(effect, verdicts, markers)
        return inner

    first = draw.spec(("drift_heatmap", nonce, "v1"), build("v1"))
    again = draw.spec(("drift_heatmap", nonce, "v1"), build("v1 again"))
    other = draw.spec(("drift_heatmap", nonce, "v2"), build("v2"))
    assert builds == ["v1", "v2"]
    assert json.dumps(_without_data(first)) == json.dumps(_without_data(again))
    assert set(other["datasets"]) == set(first["datasets"])
    # each call gets its own copy: Streamlit takes the data sets out of the spec it is given
    first.pop("datasets")
    assert "datasets" in draw.spec(("drift_heatmap", nonce, "v1"), build("v1 third"))


def _drift_view(monkeypatch, root) -> dict:
    """The Models page's Drift view: its only chart's spec, data sets as records."""
    import pyarrow as pa

    monkeypatch.setenv("EDGEDRIFT_DATA_DIR", str(root))
    monkeypatch.delenv("EDGEDRIFT_CONFIG", raising=False)
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update(model="kws", version="2.1", segment="firmware=2.1", range="all")
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    charts = at.get("vega_lite_chart") + at.get("arrow_vega_lite_chart")
    assert len(charts) == 1, "the Drift view draws one chart"
    spec = json.loads(charts[0].proto.spec)
    spec["datasets"] = {d.name: pa.ipc.open_stream(d.data.data).read_all().to_pandas()
                        for d in charts[0].proto.datasets}
    return spec


def test_drift_view_is_one_chart_and_new_results_replace_it(monkeypatch, tmp_path):
    write_rms_results(tmp_path, 0.5, run_id="r0.5")
    spec = _drift_view(monkeypatch, tmp_path)
    rows = spec["layer"][0]["encoding"]["y"]["scale"]["domain"]
    assert rows == ["◆ drift verdict", "◆ quality verdict", "rms"]   # verdicts on top
    cells = spec["datasets"][spec["layer"][0]["data"]["name"]]
    assert cells["score"].max() == 0.5
    time.sleep(0.6)             # the results copy is checked at most every 0.5 s
    write_rms_results(tmp_path, 0.8, run_id="r0.8")
    spec = _drift_view(monkeypatch, tmp_path)
    cells = spec["datasets"][spec["layer"][0]["data"]["name"]]
    assert cells["score"].max() == 0.8, "a chart of the previous results was shown"


def _marks(spec: dict) -> list[dict]:
    return [spec["mark"]] if "mark" in spec else [m for layer in spec.get("layer", [])
                                                  for m in _marks(layer)]


def test_heatmap_tooltips_are_written_on_the_server():
    """The heatmap's tooltip values arrive as text (a format per field and cell would
    cost the browser's first paint), and say what the numbers said."""
    from dashboard import charts

    effect, verdicts, markers = _heatmap_inputs()
    spec = charts.vega_spec(charts.drift_heatmap(effect, verdicts, markers))
    cells = spec["layer"][0]
    tips = cells["encoding"]["tooltip"]
    assert all("format" not in t and t["type"] == "nominal" for t in tips), tips
    assert [t.get("title", t["field"]) for t in tips] == [
        "feature", "method", "from", "score [interval]", "threshold", "score / threshold",
        "drifted"]
    rows = spec["datasets"][cells["data"]["name"]]
    cell = rows[(rows["feature"] == "zcr") & (rows["score"] == 0.3)].iloc[0]
    assert (cell["at"], cell["estimate"], cell["limit"], cell["times"]) == (
        "2025-10-01 02:00", "0.300 [0.240, 0.360]", "0.1", "3.00")


def test_no_mark_carries_an_aria_description():
    """Streamlit draws on a canvas: a description per mark is never read, only computed."""
    from dashboard import charts, frames

    effect, verdicts, markers = _heatmap_inputs()
    t = effect["window_start"].unique()
    latency = pd.DataFrame({"t": list(t) * 2, "ms": np.arange(12.0),
                            "quantile": ["p50"] * 6 + ["p95"] * 6})
    history = effect[effect["feature"] == "rms"].assign(p_value=0.5)
    overlay = frames.numeric_overlay([1, 2, 3, 0], [0, 2, 3, 1], (0.0, 1.0, 2.0))
    seg = effect.assign(segment_tag="firmware", segment_value="a")
    built = [charts.drift_heatmap(effect, verdicts, markers),
             charts.lines(latency, "t", "ms", "quantile", "latency (ms)", markers=markers),
             charts.verdict_timeline(verdicts, markers),
             charts.metric_history(history, "score", markers),
             charts.metric_history(history, "p_value"),
             charts.distribution(overlay, numeric=True),
             charts.distribution(frames.categorical_overlay({"a": 1}, {"b": 2}), numeric=False),
             charts.segment_matrix(seg),
             charts.histogram(frames.bin_counts(pd.Series([1.0, 5.0, 7.0])), "minutes",
                              "devices")]
    for chart in built:
        marks = _marks(charts.vega_spec(chart))
        assert marks and all(m.get("aria") is False for m in marks), marks
