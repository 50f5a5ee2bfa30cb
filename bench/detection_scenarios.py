"""Seeded drift scenarios for the detection benchmark and its regression tests.

A model with 20 numeric features of five shapes (normal, lognormal, gamma, uniform,
small integers, Student-t: heavy tails and ties included), three categoricals and a
numeric prediction. Each scenario changes one thing from a given window on:

>>> sorted(SCENARIOS)[:3]
['category_x2', 'mean_0.1', 'mean_0.25']
>>> cols = window_columns(SCENARIOS["stuck"], seed=1, device=0, window=5, records=4,
...                       drifting=True)
>>> cols["f00"]
[0.3, 0.3, 0.3, 0.3]
>>> sorted(reference_frame(100, seed=1).columns)[:4]
['c0', 'c1', 'c2', 'f00']

Every value of a (scenario, seed, device, window) comes from its own generator, so the
raw rows a peer tool sees are exactly the rows the devices logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

NUMERIC = [f"f{i:02d}" for i in range(20)]
CATEGORICAL = ["c0", "c1", "c2"]
CATS = ["a", "b", "c", "d"]
CAT_P = [0.4, 0.3, 0.2, 0.1]
SEGMENT_TAG = "firmware"
DRIFTED_FIRMWARE = "2.1"


@dataclass(frozen=True)
class Scenario:
    """One change: ``kind`` says what it does to ``feature`` from the onset window on."""

    name: str
    feature: str
    kind: str            # none, shift, scale, category_x2, new_category, missing, stuck
    size: float = 0.0
    segment_only: bool = False     # only the devices of firmware 2.1 change

    @property
    def expected_segment(self) -> str:
        """The segment whose alert counts as the detection ('' = the whole fleet)."""
        return f"{SEGMENT_TAG}={DRIFTED_FIRMWARE}" if self.segment_only else ""


SCENARIOS = {s.name: s for s in (
    Scenario("stationary", "f00", "none"),
    Scenario("mean_0.1", "f00", "shift", 0.1),
    Scenario("mean_0.25", "f00", "shift", 0.25),
    Scenario("mean_0.5", "f00", "shift", 0.5),
    Scenario("variance_x1.2", "f00", "scale", 1.2 ** 0.5),
    Scenario("variance_x1.5", "f00", "scale", 1.5 ** 0.5),
    Scenario("category_x2", "c0", "category_x2", 2.0),
    Scenario("new_category_5%", "c0", "new_category", 0.05),
    Scenario("missing_10%", "f01", "missing", 0.10),
    Scenario("stuck", "f00", "stuck", 0.3),
    Scenario("segment_mean_0.5", "f00", "shift", 0.5, segment_only=True),
)}


def firmware(device: int) -> str:
    """Every tenth device runs firmware 2.1."""
    return DRIFTED_FIRMWARE if device % 10 == 9 else "2.0"


def _numeric(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERIC):
        shape = i // 4 if i < 16 else 4 + (i >= 18)
        if shape == 0:
            cols[name] = rng.normal(0.0, 1.0, n)
        elif shape == 1:
            cols[name] = rng.lognormal(0.0, 1.0, n)
        elif shape == 2:
            cols[name] = rng.gamma(2.0, 1.5, n)
        elif shape == 3:
            cols[name] = rng.uniform(-1.0, 3.0, n)
        elif shape == 4:
            cols[name] = rng.poisson(4.0, n).astype(float)
        else:
            cols[name] = rng.standard_t(3.0, n)
    return cols


def _categorical(rng: np.random.Generator, n: int, probs: list[float]) -> np.ndarray:
    return np.asarray(CATS + ["z"])[rng.choice(len(probs), n, p=probs)]


def window_columns(scenario: Scenario, seed: int, device: int, window: int, records: int,
                   drifting: bool) -> dict[str, list[Any]]:
    """The raw values one device logs in one window, column by column (plain Python)."""
    rng = np.random.default_rng([seed, device, window])
    cols: dict[str, Any] = _numeric(rng, records)
    probs = {c: CAT_P + [0.0] for c in CATEGORICAL}
    on = drifting and (not scenario.segment_only or firmware(device) == DRIFTED_FIRMWARE)
    f = scenario.feature
    if on and scenario.kind == "shift":
        cols[f] = cols[f] + scenario.size
    elif on and scenario.kind == "scale":
        cols[f] = cols[f] * scenario.size
    elif on and scenario.kind == "stuck":
        cols[f] = np.full(records, scenario.size)
    elif on and scenario.kind == "category_x2":
        p = list(CAT_P)
        p[2] *= scenario.size                       # "c": 20% -> 40%, the others shrink
        rest = (1.0 - p[2]) / (1.0 - CAT_P[2])
        probs[f] = [x * rest if i != 2 else x for i, x in enumerate(p)] + [0.0]
    elif on and scenario.kind == "new_category":
        probs[f] = [x * (1.0 - scenario.size) for x in CAT_P] + [scenario.size]
    for c in CATEGORICAL:
        cols[c] = _categorical(rng, records, probs[c])
    logit = 0.8 * cols["f02"] - 0.5 * cols["f03"] + 0.3 * (cols["c1"] == "a")
    prediction = 1.0 / (1.0 + np.exp(-logit))
    out: dict[str, list[Any]] = {name: np.asarray(v).tolist() for name, v in cols.items()}
    if on and scenario.kind == "missing":
        out[f] = [None if u < scenario.size else x
                  for u, x in zip(rng.random(records).tolist(), out[f], strict=False)]
    out["prediction"] = prediction.tolist()
    return out


def reference_frame(rows: int, seed: int):
    """Training data: the stationary model, ``rows`` rows (a pandas DataFrame)."""
    import pandas as pd

    cols = window_columns(SCENARIOS["stationary"], seed, device=10**6, window=0, records=rows,
                          drifting=False)
    return pd.DataFrame(cols)
