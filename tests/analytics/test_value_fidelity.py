"""The same column through the reference builder and through the SDK gives identical sketches
and counters, whatever carries it: plain Python, numpy arrays, pandas from CSV or Parquet.

One definition of a value's kind (edge_sdk.values) serves both sides: None, NaN, pandas'
NA / NaT are missing; numpy scalars are their Python equivalents; integer codes are one
category whether they arrive as int, integral float or string.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.reference_build import build_reference
from edge_sdk.numeric import NumericSketch
from edge_sdk.window import WindowSketch

NUMBERS = st.one_of(st.floats(-1e6, 1e6), st.integers(-1000, 1000),
                    st.sampled_from([math.nan, math.inf, -math.inf, None, 1e150]))
CODES = st.one_of(st.integers(0, 20), st.sampled_from([None, math.nan, "n/a", "red", "16", True]))


def through_sdk(spec, values) -> object:
    w = WindowSketch(spec)
    for v in values:
        w.add_record({"x": v, "y": 1.0})
    return w.finalize().features["x"]


def profile_of(frame_or_path, categorical: bool):
    built = build_reference(frame_or_path, "m", "1", min_rows=1,
                            categorical=("x",) if categorical else ())
    return built.spec, built.profile.features["x"]


def same_numeric(sk: NumericSketch, prof, layout_id: str) -> None:
    assert (sk.n, sk.missing, sk.nan, sk.inf, sk.type_mismatch) == \
        (prof.n, prof.missing, prof.nan, prof.inf, prof.type_mismatch)
    assert list(sk.counts) == list(prof.histograms[layout_id])
    if sk.n:
        assert (sk.min, sk.max) == (prof.min, prof.max)
        assert sk.mean == pytest.approx(prof.mean, rel=1e-9, abs=1e-9)


def same_categorical(sk, prof) -> None:
    got = {k: c for k, c in sk.counts.items() if c}
    assert got == prof.categories
    assert (sk.missing, sk.type_mismatch) == (prof.missing, prof.type_mismatch)


def frame(values) -> pd.DataFrame:
    return pd.DataFrame({"x": pd.Series(values, dtype=object)
                         if any(isinstance(v, (str, bool)) for v in values) else values,
                         "y": 1.0})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(NUMBERS, min_size=1, max_size=300).filter(
    lambda v: any(isinstance(x, (int, float)) and x is not None and math.isfinite(x)
                  and abs(x) <= 1e100 for x in v)))
def test_numeric_python_and_numpy(values):
    df = frame(values)
    spec, prof = profile_of(df, categorical=False)
    layout = spec.features["x"].layout.layout_id
    same_numeric(through_sdk(spec, values), prof, layout)                   # plain Python
    same_numeric(through_sdk(spec, df["x"].to_numpy()), prof, layout)      # numpy scalars


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CODES, min_size=1, max_size=300).filter(
    lambda v: any(x is not None and x == x for x in v)))
def test_categorical_python_and_numpy(values):
    df = frame(values)
    spec, prof = profile_of(df, categorical=True)
    same_categorical(through_sdk(spec, values), prof)
    same_categorical(through_sdk(spec, df["x"].to_numpy()), prof)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_integer_codes_with_gaps_from_files(tmp_path, fmt):
    """Integer codes with a missing value are read back as float64 (16.0): one category
    '16' on both sides, and a missing value on both sides."""
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 30, 2000).astype(float)
    codes[rng.random(2000) < 0.1] = np.nan
    df = pd.DataFrame({"x": codes, "y": rng.normal(size=2000)})
    path = tmp_path / f"ref.{fmt}"
    df.to_csv(path, index=False) if fmt == "csv" else df.to_parquet(path)
    spec, prof = profile_of(path, categorical=True)
    assert prof.n == int((~np.isnan(codes)).sum()) and prof.missing == int(np.isnan(codes).sum())
    assert all(k.isdigit() for k in prof.categories)
    back = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    same_categorical(through_sdk(spec, back["x"].to_numpy()), prof)       # np.float64 codes
    same_categorical(through_sdk(spec, back["x"].astype("Int64").tolist()), prof)  # int / NA
    same_categorical(through_sdk(spec, [None if math.isnan(c) else str(int(c)) for c in codes]),
                     prof)


def test_missing_at_the_same_rate_is_not_a_quality_change(tmp_path):
    """NaN in the reference and NaN / None / pd.NA on the device are all missing: equal
    missing rates, no NaN rate on either side."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=5000)
    x[rng.random(5000) < 0.1] = np.nan
    spec, prof = profile_of(pd.DataFrame({"x": x, "y": 1.0}), categorical=False)
    device = [pd.NA if math.isnan(v) and i % 3 == 0 else None if math.isnan(v) and i % 3 == 1
              else v for i, v in enumerate(x.tolist())]
    sk = through_sdk(spec, device)
    assert sk.missing == prof.missing and sk.nan == prof.nan == 0


def test_literal_na_strings_stay_categories_in_a_csv(tmp_path):
    path = tmp_path / "ref.csv"
    path.write_text("x,y\nn/a,1\nNA,2\nred,3\n,4\n")
    _, prof = profile_of(path, categorical=True)
    assert prof.categories == {"n/a": 1, "NA": 1, "red": 1}
    assert prof.missing == 1


def test_same_missingness_on_both_sides_raises_no_quality_alarm(tmp_path):
    """10% missing at random in the reference (NaN from pandas) and on the devices (None,
    NaN and pd.NA mixed): the analysis sees the same missing rate, no quality verdict fires;
    a numeric integer-coded categorical from numpy is evaluated, not a type mismatch."""
    from analytics_fleet import write

    from analytics.config import AnalyticsConfig
    from analytics.job import run_analysis
    from analytics.reference import ReferenceStore
    from edge_sdk.wire import WIRE_VERSION, encode_window
    from edgedrift.paths import DataPaths

    rng = np.random.default_rng(5)

    def rows(n):
        x = rng.normal(size=n)
        x[rng.random(n) < 0.1] = np.nan
        return pd.DataFrame({"x": x, "code": rng.integers(0, 6, n), "y": rng.normal(size=n)})

    paths = DataPaths(tmp_path)
    built = build_reference(rows(20_000), "m", "1", categorical=("code",))
    built.save(ReferenceStore(paths.references))
    hour, t0 = 3_600_000, 1_760_000_000_000 // 3_600_000 * 3_600_000
    bodies = []
    markers = [None, math.nan, pd.NA]
    for d in range(4):
        for w in range(6):
            frame = rows(2000)
            sk = WindowSketch(built.spec)
            xs = [markers[i % 3] if math.isnan(v) else v
                  for i, v in enumerate(frame["x"].tolist())]
            for x, code, y in zip(xs, frame["code"].to_numpy(), frame["y"].to_numpy(),
                                  strict=True):
                sk.add_record({"x": x, "code": code, "y": y})      # numpy scalars for two
            body = {"v": WIRE_VERSION, "d": f"d{d}", "m": "m", "mv": "1", "sq": w,
                    "ws": t0 + w * hour, "we": t0 + (w + 1) * hour, "si": built.spec.spec_id}
            body.update(sk.body_fields())
            bodies.append((f"d{d}", encode_window(body)))
    write(paths.dataset, bodies)
    summary = run_analysis(AnalyticsConfig(window_s=3600, reports=False, segment_tags=()),
                           paths, since_ms=t0, now_ms=t0 + 24 * hour)
    quality = [v for v in summary.verdicts if v["kind"] == "quality"]
    drift = [v for v in summary.verdicts if v["kind"] == "drift"]
    assert len(quality) == 6 and all(v["state"] == "ok" for v in quality)
    assert all(v["state"] == "ok" and v["features_evaluated"] == 3 for v in drift)
    import duckdb
    con = duckdb.connect(str(paths.analytics_db), read_only=True)
    rates = con.execute("SELECT missing_rate, ref_missing_rate, nan_rate, type_mismatch_rate "
                        "FROM data_quality WHERE feature = 'x'").fetchall()
    con.close()
    assert len(rates) == 6
    for missing, ref_missing, nan, mismatch in rates:
        assert abs(missing - ref_missing) < 0.02 and nan == 0 and mismatch == 0
