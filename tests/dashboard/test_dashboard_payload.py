"""What a page sends to the browser stays bounded, and a chart is built once per input.

* Fleet: the last-seen histogram arrives as one row per bin (counted on the server), not
  one row per device with every column; the silent-devices table lists at most
  ``SILENT_ROWS`` devices (the longest silent) and says how many there are;
* Models: the default view's summary is a static table (no data grid to load);
* Feature: a metric-history chart is built once for the same data (the spec is cached).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from dashboard_fleet import ROOT, write_rms_results
from streamlit.testing.v1 import AppTest

APP = str(ROOT / "dashboard" / "app.py")
DEVICES = 500


def _write_fleet_health(root: Path, devices: int, seen: pd.Timestamp) -> pd.DataFrame:
    """``devices`` devices of kws, each last seen a different whole minute before ``seen``
    (within a day); returns them."""
    from analytics.results import ResultsDB
    from edgedrift.paths import DataPaths

    rng = np.random.default_rng(1)
    health = pd.DataFrame({
        "device_id": [f"dev-{d:04d}" for d in range(devices)], "model": "kws",
        "last_seen": [seen - pd.Timedelta(minutes=int(m))
                      for m in rng.permutation(1440)[:devices]],
        "windows": 48, "duplicates": 0, "versions": "2.1", "model_hashes": "sha256:m1",
        "sdk": "edge_sdk/0.1.0", "sdk_dropped": 0, "sdk_corrupt": 0, "sdk_rejected": 0,
        "sdk_backlog": 0, "sdk_internal_errors": 0, "clock_skew_ms": 0,
        "delivery_lag_ms": 1000})
    db = ResultsDB(DataPaths(root).analytics_db).open()
    try:
        db.replace_fleet_health(health)
    finally:
        db.close()
    return health


def _run(monkeypatch, root: Path, page: str, **params: str) -> AppTest:
    monkeypatch.setenv("EDGEDRIFT_DATA_DIR", str(root))
    monkeypatch.delenv("EDGEDRIFT_CONFIG", raising=False)
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update(model="kws", version="2.1", range="all", **params)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _charts(at: AppTest) -> list[dict]:
    """Every chart's spec, its data sets as frames (what the browser receives)."""
    out = []
    for chart in at.get("vega_lite_chart") + at.get("arrow_vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        spec["datasets"] = {d.name: pa.ipc.open_stream(d.data.data).read_all().to_pandas()
                            for d in chart.proto.datasets}
        out.append(spec)
    return out


def test_fleet_page_sends_bins_and_a_capped_silent_list(monkeypatch, tmp_path):
    from dashboard.pages.fleet import SILENT_ROWS

    write_rms_results(tmp_path, 0.5)
    # every device is silent (its newest window is in 2025): all of them are listed as such
    health = _write_fleet_health(tmp_path, DEVICES, pd.Timestamp("2025-10-02"))
    at = _run(monkeypatch, tmp_path, "pages/fleet.py")
    assert {m.label: m.value for m in at.metric}["Silent"] == str(DEVICES)
    (hist,) = _charts(at)     # no Parquet data here: the last-seen histogram is the only chart
    (rows,) = hist["datasets"].values()
    assert len(rows) <= 31, "one row per device was sent, not one per bin"
    assert list(rows.columns) == ["lo", "hi", "count"] and rows["count"].sum() == DEVICES
    assert hist["encoding"]["x"]["bin"] == "binned"
    silent = next(d.value for d in at.dataframe if "silent_for" in d.value.columns)
    assert len(silent) == SILENT_ROWS < DEVICES
    assert silent["last_seen"].is_monotonic_increasing, "not the longest silent first"
    assert set(silent["device_id"]) == set(health.nsmallest(SILENT_ROWS,
                                                            "last_seen")["device_id"])
    assert any(f"of {DEVICES} silent devices" in c.value for c in at.caption)


def test_models_default_view_has_a_static_summary_table(monkeypatch, tmp_path):
    write_rms_results(tmp_path, 0.5)
    at = _run(monkeypatch, tmp_path, "pages/models.py", segment="firmware=2.1")
    assert not at.dataframe, "a data grid in the default view"
    from dashboard.ui import literal

    (summary,) = at.table          # its cells are Markdown: device text arrives escaped
    assert summary.value[["model", "version"]].values.tolist() == [["kws", literal("2.1")]]
    assert literal("drift in firmware=2.1") in summary.value["drift"].iloc[0]


def test_feature_charts_are_built_once_per_data(monkeypatch, tmp_path):
    from dashboard import charts

    # a score no other test writes: the first run cannot find this chart cached
    write_rms_results(tmp_path, 0.3 + (time.time_ns() % 10_000) / 1e7)
    built: list[str] = []
    real = charts.metric_history

    def counted(df, threshold_on="score", markers=None):  # noqa: ANN001, ANN202
        built.append(threshold_on)
        return real(df, threshold_on, markers)

    monkeypatch.setattr(charts, "metric_history", counted)
    first = _run(monkeypatch, tmp_path, "pages/feature.py", segment="firmware=2.1")
    assert built == ["score"]          # rms has one method here (wasserstein)
    assert len(_charts(first)) == 1
    again = _run(monkeypatch, tmp_path, "pages/feature.py", segment="firmware=2.1")
    assert built == ["score"], "the same chart was built again"
    assert _charts(again)[0]["datasets"].keys() == _charts(first)[0]["datasets"].keys()
