"""Smoke tests of the SDK benchmark modules: they import, their helpers build real data,
and the Figure table renders. No timings are asserted and the peer venv is never built."""

from __future__ import annotations

import importlib
import sys
import zlib
from pathlib import Path

import pytest

# `bench` is a repo-root folder, not an installed package: under a bare `pytest` this very
# folder (tests/bench, no __init__) would shadow it as a namespace package.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
if getattr(sys.modules.get("bench"), "__file__", "") is None:
    del sys.modules["bench"]

from bench.figures import HEADER, Figure  # noqa: E402


@pytest.mark.parametrize("name", ["bench.bench_sdk", "bench.peers", "bench.peer_whylogs"])
def test_modules_import_and_expose_their_entry_points(name):
    module = importlib.import_module(name)
    entry = {"bench.bench_sdk": "run", "bench.peers": "PEERS", "bench.peer_whylogs": "main"}[name]
    assert hasattr(module, entry)


def test_figure_rows_render_as_a_markdown_table():
    with_peer = Figure("log() median", "<= 10 us", 3.7, "us", peer=343.0, peer_name="whylogs")
    without = Figure("import edge_sdk", "<= 50 ms", 12.0, "ms", note="(x)")
    bigger_is_better = Figure("rate", "", 50.0, "/s", peer=5.0, peer_name="p",
                              lower_is_better=False)
    table = "\n".join([HEADER, with_peer.row(), without.row(), bigger_is_better.row()])
    lines = table.splitlines()
    assert all(line.startswith("|") and line.endswith("|") for line in lines)
    assert len({line.count("|") for line in lines}) == 1  # every row has the header's columns
    assert "343 us (whylogs)" in with_peer.row() and with_peer.row().endswith("| 93x |")
    assert without.ratio() is None and "12.0 ms (x)" in without.row()
    assert bigger_is_better.ratio() == 10.0


def test_records_have_the_benchmark_schema_and_are_deterministic():
    from bench.bench_sdk import make_records

    a, b = make_records(50, seed=3), make_records(50, seed=3)
    assert a == b
    kinds = [type(v) for v in a[0].features.values()]
    assert len(kinds) == 23 and kinds.count(str) == 3
    assert all(k in (float, int) for k in kinds[:20])
    assert set(a[0].row()) == set(a[0].features) | {"prediction", "latency_ms"}


@pytest.mark.parametrize("source", ["numpy", "auto"])
def test_reference_spec_is_a_valid_spec_with_quantile_edges(source):
    from bench.bench_sdk import MICS, reference_spec
    from edge_sdk import Spec

    spec = reference_spec(seed=5, n=3000, source=source)
    assert Spec.from_dict(spec.to_dict()).spec_id == spec.spec_id
    assert len(spec.features) == 23
    edges = spec.features["f00"].layout.edges
    assert 32 <= len(edges) <= 63 and list(edges) == sorted(set(edges))
    assert sorted(spec.features["mic"].categories) == sorted(MICS)


@pytest.mark.parametrize("use_spec", [True, False])
def test_window_request_is_what_the_collector_decodes(use_spec):
    """The measured payload is a real request: inflate, decode, verify, and count records."""
    from bench.bench_sdk import DEVICE, KEY, MODEL, make_records, reference_spec, window_request
    from edge_sdk.signing import verify
    from edge_sdk.wire import decode_request, decode_window

    spec = reference_spec(seed=5, n=2000) if use_spec else None
    body = window_request(make_records(200, seed=9), spec)
    (env,) = decode_request(zlib.decompress(body))
    assert verify(KEY, DEVICE, MODEL, env["t"], env["s"], env["w"], env["g"])
    window = decode_window(env["w"])
    assert window["n"] == 200 and window["we"] - window["ws"] == 60_000
    assert len(window["f"]) == 23
    assert ("si" in window) is use_spec


def test_peer_env_is_not_ready_in_an_empty_dir(tmp_path):
    from bench.peers import PEERS, PeerEnv

    env = PeerEnv(tmp_path / "peers")
    assert not env.ready()
    assert env.python().is_relative_to(tmp_path)
    assert PEERS.root.name == ".peers"


def test_sink_bench_measures_a_real_sink_pass():
    from bench.bench_sink import measure

    m = measure(n=300, per_file=100, repeats=1)
    assert m["files"] >= 3 * 3                     # 3 batches x (windows, features, ...)
    assert 0 < m["bytes_per_window"] < m["window_bytes"]
    assert m["sink_per_cpu_s"] > 0 and m["sink_machine_per_s"] > 0 and m["embedded_per_s"] > 0


def test_compaction_bench_merges_small_files_into_one_per_directory():
    from bench.bench_compaction import GROUP, measure

    m = measure(8 * GROUP)
    tables = 6     # windows, features, categories, labels, feature_sums, category_sums
    assert m["files_before"] == 8 * tables and m["files_after"] == tables   # one date
    assert m["merge_before_s"] > 0 and m["merge_after_s"] > 0
    assert 0 < m["bytes_after"] < m["bytes_before"]


def test_the_gateway_attack_bench_sends_what_it_claims():
    """The amplification body: ~9 KB on the wire, within the inflate limit, ~4 million
    msgpack objects (so the gateway's refusal is the object bound, not a size limit)."""
    from bench.bench_gateway_attacks import _bomb
    from collector.msgpack_bounds import count_objects

    body = _bomb()
    raw = zlib.decompress(body)
    assert len(body) < 10_000 and len(raw) <= 4 << 20
    assert count_objects(raw, 10**7) > 4_000_000


def test_scale_bench_writes_windows_in_the_sinks_schema(tmp_path):
    import pyarrow.dataset as pads

    from bench.bench_scale import build_day
    from collector.schema import SCHEMAS
    build_day(tmp_path, 30, range(22, 24))
    for table in ("windows", "features"):
        t = pads.dataset(tmp_path / table, format="parquet", partitioning="hive").to_table()
        assert t.select(SCHEMAS[table].names).schema.equals(SCHEMAS[table]), table
    w = pads.dataset(tmp_path / "windows", format="parquet", partitioning="hive").to_table()
    assert w.num_rows == 60 and len(set(w["device_id"].to_pylist())) == 30
    assert len(set(zip(w["device_id"].to_pylist(), w["seq"].to_pylist(), strict=True))) == 60


def test_analytics_bench_dataset_holds_the_windows_it_claims(tmp_path):
    """Every window of the 1M-window bench is its own window: distinct (device, seq), each
    with one windows row per delivery and its 26 feature rows (the templates once all
    shared seq 0, so 1 window in 8 carried eight windows' rows)."""
    import duckdb

    from bench.bench_analytics import build_dataset

    build_dataset(tmp_path, 2_000)
    con = duckdb.connect()
    rows, windows, deliveries = con.execute(
        "SELECT count(*), count(DISTINCT (device_id, seq)), count(DISTINCT ingest_id) "
        f"FROM read_parquet('{tmp_path}/windows/**/*.parquet')").fetchone()
    assert windows == 2_000 and rows == deliveries and 2_000 < rows < 2_200
    per_window = con.execute(
        "SELECT min(c), max(c) FROM (SELECT count(*) AS c FROM "
        f"read_parquet('{tmp_path}/features/**/*.parquet') GROUP BY ingest_id)").fetchone()
    assert per_window[0] == per_window[1] > 0
