"""Regressions for the analytics audit (after #4): mixed bin layouts of one feature, mixed
label tasks in one bucket, far-future window ends, slot counts against built-in layouts.

Every test writes real Parquet through the collector's embedded sink and runs the real
analysis pass into a real results DuckDB file."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import numpy as np
from analytics_fleet import BASE_MS, fleet, write

from analytics.config import AnalyticsConfig
from analytics.dataset import Dataset
from analytics.job import run_analysis
from analytics.reference import ReferenceStore
from edge_sdk.window import WindowSketch
from edge_sdk.wire import WIRE_VERSION, encode_window
from edgedrift.paths import DataPaths

W_MS = 600_000
NOW = BASE_MS + 24 * 3_600_000


def _query(db, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


# -- 1. one feature in two layouts -------------------------------------------------------------
def test_a_feature_sent_in_another_layout_is_scored_once_and_cannot_tip_the_fleet(tmp_path,
                                                                                  built):
    """Three devices send the spec's quantile layouts and are stationary; one device without
    the spec sends ``u1`` and drifts hard. The reference has histograms in both layouts. The
    fleet is judged on the reference's own layout only (one row per feature and method), the
    ``u1`` groups are named in the verdict's note, and the odd device's own segment is still
    judged (on ``u1``, its only layout)."""
    paths = DataPaths(tmp_path)
    built.save(ReferenceStore(paths.references))
    ok = fleet(built.spec, windows=1, devices=3, records=250, window_ms=W_MS, seed=3)
    odd = fleet(None, windows=1, devices=1, records=250, window_ms=W_MS, seed=4, drift_from=0,
                shift=8.0, tags_of=lambda d: {"firmware": "b"}, first_device=3)
    write(paths.dataset, ok + odd)
    config = AnalyticsConfig(window_s=W_MS // 1000, segment_tags=("firmware",), reports=False,
                             persistence_k=1, persistence_m=1)
    summary = run_analysis(config, paths, now_ms=NOW)

    dupes = _query(paths.analytics_db, """SELECT segment_tag, segment_value, feature, method,
                   count(*) FROM feature_metrics GROUP BY ALL HAVING count(*) > 1""")
    assert dupes == []
    spec_layout = built.spec.features["temp"].layout.layout_id
    fleet_temp = _query(paths.analytics_db, """SELECT DISTINCT layout, n FROM feature_metrics
                        WHERE segment_tag = '' AND feature = 'temp'""")
    assert fleet_temp == [(spec_layout, 750)]

    drift = {(v["segment_tag"], v["segment_value"]): v for v in summary.verdicts
             if v["kind"] == "drift"}
    fleet_v = drift[("", "")]
    assert fleet_v["features_evaluated"] == 4            # temp, rms, mic, __prediction__
    assert fleet_v["state"] == "ok"
    assert "temp [u1, n=250: another layout scored]" in fleet_v["note"]
    # the device's own segment has nothing but u1: it is judged there, and drifts
    seg_b = drift[("firmware", "b")]
    assert seg_b["state"] == "drift" and "temp" in seg_b["drifted_features"]
    assert _query(paths.analytics_db, """SELECT DISTINCT layout FROM feature_metrics
                  WHERE segment_value = 'b' AND feature = 'temp'""") == [("u1",)]


# -- 2. a stray regression label window in a classification bucket ------------------------------
def _label_body(device: str, seq: int, ws_ms: int, pairs: list[tuple[Any, Any]]) -> bytes:
    w = WindowSketch(None)
    for pred, label in pairs:
        w.add_record({"x": 1.0}, prediction=pred, latency_ms=5.0)
        w.label_sketch(pred, label).update(pred, label)
    body: dict[str, Any] = {"v": WIRE_VERSION, "d": device, "m": "clf", "mv": "1.0",
                            "mh": "sha256:m1",
                            "sq": seq, "ws": ws_ms, "we": ws_ms + W_MS, "tg": {"firmware": "a"},
                            "si": "", "sdk": "edge_sdk/0.1.0",
                            "hl": {"dp": 0, "dc": 0, "rj": 0, "sb": 0, "ie": 0, "sk": 5}}
    body.update(w.body_fields())
    return encode_window(body)


def test_a_stray_regression_window_cannot_hide_the_accuracy_alert(tmp_path):
    """A classification model at 60 % accuracy (floor 80 %) over 600 labels; one window of
    the same bucket carries 5 regression labels. The accuracy alert fires on the
    classification labels alone, and accuracy / MAE are computed per task."""
    paths = DataPaths(tmp_path)
    rng = np.random.default_rng(0)
    bodies = [("dev-0", _label_body("dev-0", 0, BASE_MS, [(3.0, 2.0)] * 5))]   # |err| = 1
    for d in range(3):
        right = rng.permutation([True] * 120 + [False] * 80)
        pairs = [("cat", "cat" if ok else "dog") for ok in right]
        bodies.append((f"dev-{d}", _label_body(f"dev-{d}", 1, BASE_MS + 1000, pairs)))
    write(paths.dataset, bodies)
    config = AnalyticsConfig(window_s=W_MS // 1000, segment_tags=(), reports=False,
                             persistence_k=1, persistence_m=1, accuracy_min=0.8)
    summary = run_analysis(config, paths, now_ms=NOW)

    acc = [v for v in summary.verdicts if v["kind"] == "accuracy"]
    assert [(v["state"], v["model"]) for v in acc] == [("drift", "clf")]
    mm = _query(paths.analytics_db, "SELECT label_n, accuracy, mae FROM model_metrics")
    assert len(mm) == 1
    label_n, accuracy, mae = mm[0]
    assert label_n == 605
    assert accuracy == 360 / 600
    assert mae == 1.0
    # the telemetry reference picks the dominant task and only its labels
    records, n, correct, windows, task = Dataset(paths.dataset).telemetry_labels(
        "clf", "1.0", BASE_MS, BASE_MS + W_MS)
    assert (task, n, correct, windows) == ("classification", 600, 360.0, 4)


# -- 4. a row that claims a built-in layout but has more slots --------------------------------
def _x_body(device: str, values: np.ndarray, layout: str, as_layout: bool) -> bytes:
    """Feature ``x`` binned in ``u1`` (64 slots), then labelled ``layout``; with
    ``as_layout`` the bins are re-counted in that built-in layout first (a well-formed row)."""
    from edge_sdk.layout import BUILTIN_LAYOUTS
    w = WindowSketch(None)
    for v in values:
        w.add_record({"x": float(v)})
    fields = w.body_fields()
    entry = fields["f"][0]
    entry[2] = layout
    entry[14] = b""          # (slot sums: u1's, which the relabelled bins no longer match)
    if as_layout:
        lay = BUILTIN_LAYOUTS[layout]
        counts = np.bincount([lay.slot_of(float(v)) for v in values], minlength=lay.slots)
        entry[11] = bytes([1, *counts.tolist()])              # 1-byte counts, lay.slots slots
    body: dict[str, Any] = {"v": WIRE_VERSION, "d": device, "m": "kws", "mv": "1.0",
                            "mh": "sha256:m1",
                            "sq": 0, "ws": BASE_MS, "we": BASE_MS + W_MS, "tg": {}, "si": "",
                            "sdk": "edge_sdk/0.1.0",
                            "hl": {"dp": 0, "dc": 0, "rj": 0, "sb": 0, "ie": 0, "sk": 5}}
    body.update(fields)
    return encode_window(body)


def _relabel_layout(root, old: str, new: str) -> None:
    """Rewrite the features files so rows of layout ``old`` claim ``new``: a dataset written
    before the wire refused such windows (the gateway and sink refuse them now)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    for path in root.glob("features/**/*.parquet"):
        table = pq.read_table(path, partitioning=None)
        col = table.schema.get_field_index("layout")
        fixed = pc.if_else(pc.equal(table["layout"], old), new, table["layout"])
        pq.write_table(table.set_column(col, "layout", fixed), path)


def test_rows_with_more_slots_than_their_builtin_layout_are_not_merged(tmp_path):
    """dev-1's rows claim ``p1`` (52 slots) for counts binned in 64 slots (written before the
    wire refused that). They stay apart from the well-formed ``p1`` rows, and are reported
    as not scored."""
    from analytics.metrics import compute
    from analytics.reference import FeatureProfile, ReferenceProfile
    from edge_sdk.layout import PROBABILITY

    rng = np.random.default_rng(0)
    good = rng.uniform(0.0, 1.0, 300)
    write(tmp_path, [("dev-0", _x_body("dev-0", good, "p1", as_layout=True)),
                     ("dev-1", _x_body("dev-1", rng.uniform(5e3, 2e4, 40), "e:wide", False))])
    _relabel_layout(tmp_path, "e:wide", "p1")
    groups = Dataset(tmp_path).feature_groups(BASE_MS, BASE_MS + W_MS, W_MS)
    x = groups.filter(np.array(groups.column("feature").to_pylist()) == "x").to_pandas()
    assert sorted(zip(x["layout"], x["n"], strict=True)) == [("p1", 300), ("p1!slots", 40)]
    assert x.loc[x["layout"] == "p1", [f"b{i:02d}" for i in range(52, 64)]].sum().sum() == 0

    ref_values = rng.uniform(0, 1, 5000)
    ref_counts = np.bincount([PROBABILITY.slot_of(v) for v in ref_values],
                             minlength=PROBABILITY.slots)
    fp = FeatureProfile("x", "numeric", n=5000, records=5000, min=0.0, max=1.0,
                        mean=float(ref_values.mean()), std=float(ref_values.std()),
                         histograms={"p1": tuple(int(c) for c in ref_counts)})
    refs = {("kws", "1.0"): ReferenceProfile("kws", "1.0", 5000, {"x": fp})}
    tables = compute(groups, Dataset(tmp_path).category_groups(BASE_MS, BASE_MS + W_MS, W_MS),
                     refs, AnalyticsConfig(window_s=W_MS // 1000, segment_tags=()))
    scored = tables.metrics[tables.metrics["feature"] == "x"]
    assert set(scored["layout"]) == {"p1"} and set(scored["n"]) == {300}
    # the scored group is dev-0's 300 values alone: its interval holds their exact distance
    from scipy.stats import wasserstein_distance
    exact = wasserstein_distance(good, ref_values) / ref_values.std()
    [w] = scored[scored["method"] == "wasserstein"].itertuples()
    assert w.lower - 1e-9 <= exact <= w.upper + 1e-9
    skipped = tables.skipped[tables.skipped["feature"] == "x"]
    assert skipped[["layout", "reason"]].values.tolist() == [
        ["p1!slots", "more non-zero slots than the built-in layout has"]]


# -- second audit ------------------------------------------------------------------------------
def _accuracy_run(tmp_path, n_reg: int, reference=None, **cfg) -> tuple[Any, DataPaths]:
    """600 classification labels at 60 % (3 devices) plus ``n_reg`` regression labels
    (|err| = 1) from a stray device, all in one bucket; returns (summary, paths)."""
    paths = DataPaths(tmp_path)
    if reference is not None:
        p = ReferenceStore(paths.references).profile_path("clf", "1.0")
        p.parent.mkdir(parents=True)
        reference.save(p)
    rng = np.random.default_rng(0)
    bodies = [("dev-9", _label_body("dev-9", 0, BASE_MS, [(3.0, 2.0)] * n_reg))]
    for d in range(3):
        right = rng.permutation([True] * 120 + [False] * 80)
        bodies.append((f"dev-{d}", _label_body(f"dev-{d}", 1, BASE_MS + 1000,
                                               [("cat", "cat" if ok else "dog") for ok in right])))
    write(paths.dataset, bodies)
    config = AnalyticsConfig(window_s=W_MS // 1000, segment_tags=(), reports=False,
                             persistence_k=1, persistence_m=1, **cfg)
    return run_analysis(config, paths, now_ms=NOW), paths


def test_stray_regression_labels_outnumbering_the_fleet_cannot_hide_the_accuracy_alert(tmp_path):
    """No reference task: 700 stray regression labels outnumber the 600 classification
    labels of the bucket (majority task: regression). Classification is still judged (an
    accuracy floor is configured) and the alert fires; regression is not judged (no
    reference MAE to compare with)."""
    summary, paths = _accuracy_run(tmp_path, 700, accuracy_min=0.8)
    acc = [v for v in summary.verdicts if v["kind"] == "accuracy"]
    assert [(v["state"], v["model"]) for v in acc] == [("drift", "clf")]
    detail = json.loads(acc[0]["drifted_features"])[0]
    assert detail["score"] == 360 / 600 and detail["threshold"] == 0.8
    assert _query(paths.analytics_db, "SELECT label_n, accuracy, mae FROM model_metrics") == [
        (1300, 0.6, 1.0)]


def test_a_reference_without_a_task_judges_regression_only_with_its_mae(tmp_path):
    """A reference without a task (built without labels) but with an MAE of 0.5: the
    regression labels (MAE 1.0 > 1.5 x 0.5) are judged and alert, although the bucket's
    classification labels are fine without a floor. Without ``accuracy_min`` and without an
    MAE nothing has a limit: no accuracy verdict."""
    from analytics.reference import ReferenceProfile
    summary, _ = _accuracy_run(tmp_path / "a", 300, ReferenceProfile("clf", "1.0", 1, {}, mae=0.5))
    acc = [v for v in summary.verdicts if v["kind"] == "accuracy"]
    assert [v["state"] for v in acc] == ["drift"]
    assert json.loads(acc[0]["drifted_features"])[0]["score"] == 1.0
    summary, _ = _accuracy_run(tmp_path / "b", 300, ReferenceProfile("clf", "1.0", 1, {}))
    assert [v for v in summary.verdicts if v["kind"] == "accuracy"] == []


def test_the_layout_most_of_the_fleet_sends_is_scored_not_a_canary_in_the_references_layout(
        tmp_path, built):
    """One canary device sends the spec's quantile layouts (the reference's own) and drifts
    hard; four devices without the spec send ``u1`` (4x the values) and are stationary. The
    fleet is judged on ``u1``: the canary can neither decide nor (mirror image, test above)
    hide the fleet verdict."""
    paths = DataPaths(tmp_path)
    built.save(ReferenceStore(paths.references))
    canary = fleet(built.spec, windows=1, devices=1, records=250, window_ms=W_MS, seed=3,
                   drift_from=0, shift=8.0)
    rest = fleet(None, windows=1, devices=4, records=250, window_ms=W_MS, seed=4,
                 first_device=1)
    write(paths.dataset, canary + rest)
    config = AnalyticsConfig(window_s=W_MS // 1000, segment_tags=(), reports=False,
                             persistence_k=1, persistence_m=1)
    summary = run_analysis(config, paths, now_ms=NOW)
    assert _query(paths.analytics_db, """SELECT DISTINCT layout, n FROM feature_metrics
                  WHERE feature = 'temp'""") == [("u1", 1000)]
    (v,) = [v for v in summary.verdicts if v["kind"] == "drift"]
    spec_layout = built.spec.features["temp"].layout.layout_id
    assert v["state"] == "ok" and v["features_evaluated"] == 4
    assert f"temp [{spec_layout}, n=250: another layout scored]" in v["note"]


def test_a_reference_from_telemetry_leaves_out_rows_with_more_slots_than_their_layout(tmp_path):
    """Rows claiming ``p1`` (52 slots) with counts in slots 52..63 are kept apart by
    ``telemetry_features`` and left out of a reference built from telemetry: its ``p1``
    histogram, count and range are the well-formed rows' only."""
    from analytics.reference_telemetry import build_from_telemetry

    rng = np.random.default_rng(0)
    write(tmp_path / "ds", [
        ("dev-0", _x_body("dev-0", rng.uniform(0, 1, 300), "p1", as_layout=True)),
        ("dev-1", _x_body("dev-1", rng.uniform(5e3, 2e4, 40), "e:wide", False))])
    _relabel_layout(tmp_path / "ds", "e:wide", "p1")
    t = Dataset(tmp_path / "ds").telemetry_features("kws", "1.0", BASE_MS,
                                                    BASE_MS + W_MS).to_pandas()
    x = t[t["feature"] == "x"]
    assert sorted(zip(x["layout"], x["n"], strict=True)) == [("p1", 300), ("p1!slots", 40)]
    ref = build_from_telemetry(str(tmp_path / "ds"), ReferenceStore(tmp_path / "refs"), "kws",
                               "1.0", BASE_MS, BASE_MS + W_MS)
    fp = ref.profile.features["x"]
    assert list(fp.histograms) == ["p1"]
    assert fp.n == sum(fp.histograms["p1"]) == 300
    assert fp.max <= 1.0


def test_a_feature_without_reference_in_two_layouts_is_not_reported_as_another_layout_scored(
        tmp_path, built):
    """The reference does not know ``temp``; devices send it in the spec's layout and in
    ``u1``. Neither is scored, so neither is named 'another layout scored' in the note."""
    import dataclasses
    paths = DataPaths(tmp_path)
    prof = built.profile
    feats = {k: v for k, v in prof.features.items() if k != "temp"}
    dataclasses.replace(built, profile=dataclasses.replace(prof, features=feats)).save(
        ReferenceStore(paths.references))
    ok = fleet(built.spec, windows=1, devices=3, records=250, window_ms=W_MS, seed=3)
    odd = fleet(None, windows=1, devices=1, records=250, window_ms=W_MS, seed=4, first_device=3)
    write(paths.dataset, ok + odd)
    config = AnalyticsConfig(window_s=W_MS // 1000, segment_tags=(), reports=False,
                             persistence_k=1, persistence_m=1)
    summary = run_analysis(config, paths, now_ms=NOW)
    assert _query(paths.analytics_db,
                  "SELECT count(*) FROM feature_metrics WHERE feature = 'temp'") == [(0,)]
    (v,) = [v for v in summary.verdicts if v["kind"] == "drift"]
    assert "temp" not in v["note"]
    assert "rms [u1, n=250: another layout scored]" in v["note"]     # known features still are


def test_a_window_whose_groups_are_all_skipped_gets_an_ok_drift_verdict_naming_them(tmp_path):
    """Devices send ``x`` in ``u1``; the reference has only a spec layout for it. Every group
    of the window is skipped: an ``ok`` drift verdict with nothing evaluated is still written
    (and stored), its note naming the skipped group and why."""
    from analytics.reference import FeatureProfile, ReferenceProfile
    from edge_sdk.layout import Layout

    paths = DataPaths(tmp_path)
    rng = np.random.default_rng(0)
    write(paths.dataset, [(f"dev-{d}", _x_body(f"dev-{d}", rng.normal(5, 1, 300) + 20 * (d == 0),
                                               "u1", False)) for d in range(3)])
    lay = Layout.from_edges(list(np.linspace(0, 10, 20)))
    counts = np.bincount([lay.slot_of(v) for v in rng.normal(5, 1, 5000)], minlength=lay.slots)
    fp = FeatureProfile("x", "numeric", n=5000, records=5000, min=0.0, max=10.0, mean=5, std=1,
                        histograms={lay.layout_id: tuple(int(c) for c in counts)},
                        edges={lay.layout_id: lay.edges})
    p = ReferenceStore(paths.references).profile_path("kws", "1.0")
    p.parent.mkdir(parents=True)
    ReferenceProfile("kws", "1.0", 5000, {"x": fp}).save(p)
    config = AnalyticsConfig(window_s=W_MS // 1000, segment_tags=(), reports=False,
                             persistence_k=1, persistence_m=1)
    summary = run_analysis(config, paths, now_ms=NOW)
    (v,) = [v for v in summary.verdicts if v["kind"] == "drift"]
    note = "not scored: x [u1, n=900: no reference histogram for this layout]"
    assert (v["state"], v["features_evaluated"], v["note"]) == ("ok", 0, note)
    assert _query(paths.analytics_db, """SELECT state, features_evaluated, note FROM verdicts
                  WHERE kind = 'drift'""") == [("ok", 0, note)]


# -- fleet health does not depend on the order of rows in files (compaction reorders them) --
def test_latest_sdk_counters_break_receive_time_ties_by_window_then_seq(tmp_path):
    """A device's spooled windows arrive in one batch, in one millisecond: "latest" must be
    the latest window, not whichever row a scan meets first (found comparing analyses
    before and after ``edgedrift compact``)."""
    import msgpack

    from collector.fake_windows import make_window_body

    def body(seq: int, backlog: int) -> bytes:
        w = msgpack.unpackb(make_window_body("dev-1", seq, records=10, window_index=seq))
        w["hl"] = {**(w.get("hl") or {}), "sb": backlog}
        return encode_window(w)

    for order in ([(1, 50), (2, 7)], [(2, 7), (1, 50)]):       # two files, either order
        root = tmp_path / str(order[0][0])
        for seq, backlog in order:
            write(root, [("dev-1", body(seq, backlog))], received_ms=BASE_MS)
        health = Dataset(root).fleet_health().to_pylist()
        assert [(h["windows"], h["sdk_backlog"]) for h in health] == [(2, 7)], order
        # the roll-ups' incremental health (analytics/health_rollup.py) picks the same row
        from analytics.rollup_reader import RollupReader
        from analytics.rollups import refresh
        from analytics.windows import Cadence
        from collector.fake_windows import BASE_MS as WINDOWS_FROM
        ds, minute, now = Dataset(root), Cadence.parse("1m"), WINDOWS_FROM + 600_000
        assert refresh(ds, minute, now, 0, WINDOWS_FROM).built == 2
        rolled = RollupReader(str(root), minute, (), ds, minute.floor(now)).fleet_health()
        assert [(h["windows"], h["sdk_backlog"]) for h in rolled.to_pylist()] == [(2, 7)]
