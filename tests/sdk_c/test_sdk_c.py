"""The C SDK (edge_sdk_c/) against the Python SDK: the same records give the same windows
(decoded by edge_sdk.wire), its envelopes and HMACs verify, its fuzzed windows decode, and
its windows go through the real gateway into Parquet and the analysis.

Needs a C compiler (skipped with the reason otherwise); about 15 s.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from csdk import KEY, ROOT, Replay, assert_windows_equal, build, python_window, sanitizers

from bench.bench_sdk import MODEL, VERSION, make_records
from edge_sdk.signing import sign_request, verify
from edge_sdk.wire import (
    CONTENT_TYPE,
    decode_request,
    decode_window,
    encode_request,
    make_envelope,
)

sys.path.insert(0, str(ROOT / "tests" / "collector"))
WS = 1_760_000_000_000 // 3_600_000 * 3_600_000


@pytest.fixture(scope="module")
def reference():
    """The SDK benchmark's spec (analytics' reference builder on its records) and profile."""
    from analytics.reference_build import build_reference

    recs = make_records(4000, seed=12345)
    built = build_reference(pd.DataFrame([r.row() for r in recs]), MODEL, VERSION,
                            prediction="prediction", latency="latency_ms",
                            categorical=("mic", "fw", "lang"))
    return built


@pytest.fixture(scope="module")
def cbuild(reference, tmp_path_factory) -> Path:
    return build(reference.spec, tmp_path_factory.mktemp("csdk"))


def run_both(cbuild, spec, records, wire_version=2, capacity=32, by_name=False, seq=7):
    """(C body bytes, Python body bytes) for the same records and window times."""
    names = list(spec.features)
    rp = Replay(cbuild)
    try:
        rp.init(WS, wire_version, capacity)
        for feats, pred, lat, *energy in records:
            rp.log(feats, names, pred, lat, energy[0] if energy else None, by_name=by_name)
        py = python_window(spec, records, WS, WS + 60_000, wire_version, capacity)
        c = rp.seal(WS + 60_000, py["sq"])
    finally:
        rp.close()
    from edge_sdk.wire import encode_window
    return c, encode_window(py)


def test_a_1000_record_window_matches_the_python_sdk(cbuild, reference):
    records = [(r.features, r.prediction, r.latency_ms) for r in make_records(1000, seed=5)]
    c, py = run_both(cbuild, reference.spec, records)
    assert_windows_equal(decode_window(c), decode_window(py))
    # the same bytes per window, but for the SDK's name ("edgedrift-c/..." is 1 byte shorter)
    assert len(c) - len(py) == len("edgedrift-c/0.1.0") - len("edgedrift-py/0.1.0")


def test_wire_v1_and_every_kind_of_bad_value_match(cbuild, reference):
    # cut to 64 characters (non-ASCII keys: to 64 bytes in C, see docs/sdk-c.md)
    big = "é€😀" + "x" * 20
    odd = [
        {"f00": math.nan, "f01": math.inf, "f02": -1e200, "f03": -0.0, "f04": None,
         "f05": "text", "f06": True, "f07": 2**62, "mic": 16.0, "fw": 3, "lang": big},
        {"f00": 1e100, "f01": 5e-324, "mic": math.nan, "fw": False, "lang": 1.5,
         "f19": -(2**63)},
        {"mic": "side", "fw": "9.9.9", "lang": "x" * 70, "f10": 0.0, "nope": 1.0},
        {"mic": "roof", "fw": "8.8.8", "lang": "yy", "f11": 1e-310},
    ] * 3
    records = [(f, p, lat) for f, p, lat in zip(
        odd, [0.5, math.nan, None, 2.5] * 3, [4.0, None, math.inf, -1.0] * 3, strict=True)]
    records += [(r.features, r.prediction, r.latency_ms) for r in make_records(50, seed=9)]
    known = [({k: v for k, v in f.items() if k != "nope"}, p, lat) for f, p, lat in records]
    for version, capacity, by_name in ((1, 32, True), (2, 4, True), (2, 32, False)):
        c, py = run_both(cbuild, reference.spec, records if by_name else known, version,
                         capacity, by_name)
        cw, pw = decode_window(c), decode_window(py)
        assert cw["v"] == version and len(cw["lt"]) == 12 + version
        assert_windows_equal(cw, pw)
        if by_name:     # "nope": an unknown feature under the by-name API
            assert cw["q"] == {"uf": 3, "ut": 0, "br": 0}


def test_tail_values_match_to_double_precision(cbuild, reference):
    """Values beyond the outer edges (summed in the C SDK's extended floats, not fixed
    point): mean and m2 to 1e-12 and the float32 tail distances bit for bit."""
    import random

    rnd = random.Random(21)
    names = [n for n, f in reference.spec.features.items() if f.type == "numeric"]
    records = [({n: rnd.choice((1, -1)) * rnd.uniform(1e3, 1e7) * rnd.random() ** 9
                 + rnd.choice((1e4, -1e4)) for n in names}, 0.5, 5e4 * rnd.random() + 1e3)
               for _ in range(300)]
    c, py = run_both(cbuild, reference.spec, records)
    cw, pw = decode_window(c), decode_window(py)
    assert_windows_equal(cw, pw)
    for ce, pe in zip(cw["f"], pw["f"], strict=True):
        if ce[1] != 0:
            continue
        assert math.isclose(ce[9], pe[9], rel_tol=1e-12), f"{ce[0]}.mean {ce[9]} {pe[9]}"
        assert math.isclose(ce[10], pe[10], rel_tol=1e-12), f"{ce[0]}.m2 {ce[10]} {pe[10]}"
        assert ce[14][-8:] == pe[14][-8:], f"{ce[0]}: tail distances"


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """A spec with no prediction, no edges and no categories, and its C build."""
    from edge_sdk.spec import Spec

    spec = Spec.from_dict({"model": "kws", "version": "1.3.0", "features": {
        "x": {"type": "numeric"}, "y": {"type": "numeric", "layout": "lat1"},
        "c": {"type": "categorical"}}})
    return spec, build(spec, tmp_path_factory.mktemp("csdk-bare"))


@pytest.mark.parametrize("first_prediction", ["cat", 3, 0.25, 7.5])
def test_a_spec_without_prediction_layouts_or_categories(first_prediction, bare):
    """Built-in layouts (u1 by default, lat1 named), a categorical feature with no known
    categories, energy, and the prediction sketch inferred from the first prediction (a
    string or int: categorical; in [0, 1]: p1; else u1), later ones of other types."""
    spec, cdir = bare
    values = [-3.5e4, -2.0, -1e-4, 0.0, 1e-4, 0.3, 7.0, 3.1e4, 1e9, math.nan, None, "s"]
    preds = [first_prediction, "dog", 0.9, 2, True, None, math.nan, 1e300]
    records = [({"x": values[i % 12], "y": abs(values[(i * 5) % 12] or 0.0)
                 if isinstance(values[(i * 5) % 12], float) else 1.0,
                 "c": ["a", "b", 7, True, 2.0][i % 5]},
                preds[i % 8], 0.5 * i, [1.0, None, 1e-4, 3e5][i % 4]) for i in range(120)]
    c, py = run_both(cdir, spec, records, capacity=3)
    assert_windows_equal(decode_window(c), decode_window(py))


def test_hmac_envelope_and_request_signature(cbuild, reference):
    rp = Replay(cbuild)
    try:
        # RFC 4231 test cases 1, 2, 6 and 7, against hashlib too
        cases = [(b"\x0b" * 20, b"Hi There",
                  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
                 (b"Jefe", b"what do ya want for nothing?",
                  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
                 (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
                  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
                 (b"\xaa" * 131, b"This is a test using a larger than block-size key and a "
                  b"larger than block-size data. The key needs to be hashed before being used"
                  b" by the HMAC algorithm.",
                  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2")]
        for key, msg, want in cases:
            assert rp.hmac(key, msg).hex() == want
        for n in (0, 55, 56, 63, 64, 65, 1000):
            msg = bytes(range(256)) * 4
            assert rp.hmac(b"k" * 70, msg[:n]) == hmac.new(b"k" * 70, msg[:n],
                                                            hashlib.sha256).digest()
        rp.init(WS)
        rp.log({"f00": 1.0}, list(reference.spec.features), 0.5, 3.0)
        body = rp.seal(WS + 1000, 42)
        env = rp.envelope(KEY, 1_760_000_123, 42)
        sig = rp.request_signature(KEY, "dev-c", 1_760_000_124, "identity", env)
    finally:
        rp.close()
    assert env == encode_request([make_envelope(KEY, "dev-c", "kws", 42, body, 1_760_000_123)])
    (decoded,) = decode_request(env)
    assert verify(KEY, "dev-c", "kws", decoded["t"], 42, body, decoded["g"])
    assert sig == sign_request(KEY, "dev-c", 1_760_000_124, "identity", env).hex()


def test_fuzzed_inputs_under_sanitizers_give_valid_windows(reference, tmp_path):
    """make fuzz: random inputs under ASan+UBSan; every fuzzed window decodes."""
    sanitizers()
    build_dir = build(reference.spec, tmp_path / "san", target="fuzz FUZZ_ITERS=150")
    windows = (build_dir / "fuzz.out").read_text().split("\n")
    bodies = [bytes.fromhex(w[2:]) for w in windows if w.startswith("W ")]
    assert len(bodies) == 150
    for body in bodies:
        decode_window(body)


def test_posix_spool_drops_oldest_counts_corrupt_and_python_reads_it(cbuild, tmp_path):
    from edge_sdk.spool import Spool

    out = subprocess.run([str(cbuild / "posix_send"), "spool", str(tmp_path)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    first, second = out.splitlines()
    assert first.startswith("dropped=2 oldest=2 ")      # 5 windows, at most 3 files
    assert second == "corrupt=1 oldest=3 backlog=2"      # the flipped one skipped, counted
    windows = Spool(tmp_path / "kws").oldest(10)         # the Python SDK reads the C files
    assert len(windows) == 2
    assert [decode_window(body)["n"] for _, body in windows] == [20, 20]


def test_c_windows_through_the_gateway_into_parquet_and_the_analysis(cbuild, reference,
                                                                      tmp_path):
    """Two devices' C-made windows, signed by C, accepted by a real gateway (embedded sink),
    read back from Parquet and scored against the reference profile."""
    from gateway_harness import GatewayProcess, KeyPool

    from analytics.config import AnalyticsConfig
    from analytics.dataset import Dataset
    from analytics.metrics import compute

    pool = KeyPool(tmp_path, count=3)
    names = list(reference.spec.features)
    hour = WS
    with GatewayProcess(tmp_path) as gw, gw.client() as client:
        # the POSIX port: two windows spooled, then POSTed by its HTTP client
        device, key = pool.take()
        out = subprocess.run([str(cbuild / "posix_send"), "send", str(tmp_path / "spool"),
                              "127.0.0.1", str(gw.port), key, device, "2", "100"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        assert out.split() == ["status=202", "status=202", "backlog=0", "rejected=0"], out
        for d in range(2):
            device, key = pool.take()
            rp = Replay(cbuild, device=device)
            try:
                rp.init(hour)
                for w in range(2):
                    for r in make_records(300, seed=10 * d + w):
                        rp.log(r.features, names, r.prediction, r.latency_ms)
                    rp.seal(hour + 60_000 * (w + 1), 100 + w)
                    ts = int(time.time())
                    env = rp.envelope(key, ts, 100 + w)
                    sig = rp.request_signature(key, device, ts, "identity", env)
                    resp = client.post("/v1/telemetry", content=env, headers={
                        "content-type": CONTENT_TYPE, "X-Edgedrift-Device": device,
                        "X-Edgedrift-Timestamp": str(ts), "X-Edgedrift-Signature": sig,
                        "X-Edgedrift-Key-Id": key.split("_")[1]})
                    assert resp.status_code == 202, resp.text
            finally:
                rp.close()
    con = duckdb.connect()
    rows_n = con.execute("SELECT device_id, count(*), sum(n) FROM read_parquet(?, "
                         "hive_partitioning=true) GROUP BY device_id ORDER BY device_id",
                         [str(tmp_path / "telemetry" / "windows" / "**" / "*.parquet")]).fetchall()
    con.close()
    assert [r[1:] for r in rows_n] == [(2, 200), (2, 600), (2, 600)]
    ds = Dataset(str(tmp_path / "telemetry"))
    groups = ds.feature_groups(hour, hour + 3_600_000, 3600)
    cats = ds.category_groups(hour, hour + 3_600_000, 3600)
    rows = groups.to_pandas()
    rows = rows[rows["grp"] == 0] if "grp" in rows else rows
    per_feature = rows.groupby("feature")["n"].sum()
    assert per_feature[[f"f{i:02d}" for i in range(20)]].tolist() == [1200] * 20
    tables = compute(groups, cats, {(MODEL, VERSION): reference.profile},
                     AnalyticsConfig(window_s=3600, segment_tags=()))
    scored = set(tables.metrics["feature"])
    assert set(names) <= scored, sorted(set(names) - scored)


def test_generator_doctests_and_builtin_layouts_are_current(tmp_path):
    """gen_header's examples hold, and src/edc_layouts.c is what --builtins writes today
    (edge_sdk.layout's edges), so the device bins exactly as the server expects."""
    import doctest
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_header", ROOT / "edge_sdk_c" /
                                                  "gen_header.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert doctest.testmod(gen).failed == 0
    assert gen.builtins_c() == (ROOT / "edge_sdk_c" / "src" / "edc_layouts.c").read_text()
