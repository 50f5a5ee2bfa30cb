"""Wire v1 windows (no slot sums) are still decoded, stored and analysed beside v2 ones.

A fleet whose devices upgrade slowly: the same change of spread sent by v1 and v2
devices through the embedded sink into Parquet, merged by DuckDB and scored. Every
Wasserstein interval holds the exact distance of the raw values; a group whose values
all came with slot sums gets the tight lower bound, a group with any v1 window the
histogram-only one (never a wrong one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analytics_fleet import write
from scipy import stats

from analytics.config import AnalyticsConfig
from analytics.dataset import Dataset
from analytics.metrics import compute
from analytics.reference_build import build_reference
from edge_sdk.window import WindowSketch
from edge_sdk.wire import WIRE_VERSION, as_version, encode_window

BASE_MS = 1_760_000_000_000 // 3_600_000 * 3_600_000
HOUR = 3_600_000
DEVICES, RECORDS = 8, 2_000


def body(model: str, device: int, values: np.ndarray, spec, version: int) -> bytes:
    sk = WindowSketch(spec)
    for v in values.tolist():
        sk.add_record({"x": v})
    b = {"v": WIRE_VERSION, "d": f"{model}-{device}", "m": model, "mv": "1", "sq": 0,
         "ws": BASE_MS, "we": BASE_MS + HOUR, "si": spec.spec_id, **sk.body_fields()}
    return encode_window(as_version(b, version))


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    root = tmp_path_factory.mktemp("versions")
    rng = np.random.default_rng(3)
    ref = rng.normal(0.0, 1.0, 20_000)
    refs, sent, raw = {}, [], {}
    # all v2, half v1, all v1: the same change of spread (variance x1.5)
    for model, versions in (("v2", [2] * DEVICES), ("mixed", [1, 2] * (DEVICES // 2)),
                            ("v1", [1] * DEVICES)):
        built = build_reference(pd.DataFrame({"x": ref}), model, "1", seed=1)
        refs[(model, "1")] = built.profile
        cur = rng.normal(0.0, 1.5 ** 0.5, (DEVICES, RECORDS))
        raw[model] = cur.ravel()
        sent += [(f"{model}-{d}", body(model, d, cur[d], built.spec, v))
                 for d, v in enumerate(versions)]
    write(str(root), sent)
    ds = Dataset(str(root))
    tables = compute(ds.feature_groups(BASE_MS, BASE_MS + HOUR, 3600),
                     ds.category_groups(BASE_MS, BASE_MS + HOUR, 3600), refs,
                     AnalyticsConfig(window_s=3600, segment_tags=()))
    m = tables.metrics
    w = m[(m["method"] == "wasserstein") & (m["feature"] == "x")].set_index("model")
    exact = {k: stats.wasserstein_distance(v, ref) / ref.std() for k, v in raw.items()}
    return w, exact


@pytest.mark.parametrize("model", ["v2", "mixed", "v1"])
def test_every_interval_holds_the_exact_distance(scored, model):
    w, exact = scored
    assert w.loc[model, "lower"] <= exact[model] * (1 + 1e-9) <= w.loc[model, "upper"] * (1 + 1e-9)


def test_slot_sums_tighten_only_groups_they_fully_cover(scored):
    w, exact = scored
    assert w.loc["v2", "lower"] >= 0.95 * exact["v2"]           # tight: every value covered
    for model in ("mixed", "v1"):                                # the histogram-only bound
        assert w.loc[model, "lower"] <= 0.7 * exact[model]
