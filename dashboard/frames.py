"""Shaping helpers: turn query results into the tidy frames the charts and tables show.

>>> bin_labels((0.0, 1.0))
['< 0', '[0, 1)', '≥ 1']
>>> round(hist_quantile([0, 10, 10, 0], (0.0, 1.0, 2.0), 0.5), 3)
1.0
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

STATE_LABEL = {"ok": "✔ ok", "drift": "▲ drift", None: "–"}
DELIVERY_LABEL = {"delivered": "✔ delivered", "pending": "⏳ pending", "failed": "✖ failed",
                  "disabled": "⊘ disabled", "no endpoint": "– no endpoint"}


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def bin_labels(edges: tuple[float, ...] | list[float]) -> list[str]:
    """Labels of the ``len(edges) + 1`` slots of a layout (underflow ... overflow)."""
    if not len(edges):
        return ["all"]
    out = [f"< {_fmt(edges[0])}"]
    out += [f"[{_fmt(a)}, {_fmt(b)})" for a, b in zip(edges[:-1], edges[1:])]
    out.append(f"≥ {_fmt(edges[-1])}")
    return out


def hist_quantile(counts: list[int], edges: tuple[float, ...], q: float) -> float:
    """Quantile ``q`` of a layout histogram, linear within a bin (open ends: the edge)."""
    counts = list(counts)[: len(edges) + 1]
    total = float(sum(counts))
    if total <= 0 or not len(edges):
        return float("nan")
    target = q * total
    cum = 0.0
    for i, c in enumerate(counts):
        if c and cum + c >= target:
            if i == 0:
                return float(edges[0])
            if i == len(edges):
                return float(edges[-1])
            lo, hi = edges[i - 1], edges[i]
            return float(lo + (hi - lo) * (target - cum) / c)
        cum += c
    return float(edges[-1])


def numeric_overlay(ref_counts: list[int], cur_counts: list[int],
                    edges: tuple[float, ...]) -> pd.DataFrame:
    """Reference vs current shares per bin, trimmed to the bins either side uses."""
    n = len(edges) + 1
    ref = np.asarray(list(ref_counts)[:n] + [0] * (n - len(ref_counts[:n])), float)
    cur = np.asarray(list(cur_counts)[:n] + [0] * (n - len(cur_counts[:n])), float)
    used = np.nonzero((ref > 0) | (cur > 0))[0]
    lo, hi = (int(used.min()), int(used.max()) + 1) if len(used) else (0, n)
    labels = bin_labels(edges)
    rows = []
    for side, arr in (("reference", ref), ("current", cur)):
        total = arr.sum() or 1.0
        rows += [{"bin": labels[i], "order": i, "side": side, "share": arr[i] / total}
                 for i in range(lo, hi)]
    return pd.DataFrame(rows)


def categorical_overlay(ref: dict[str, int], cur: dict[str, int]) -> pd.DataFrame:
    """Reference vs current shares per category (newest categories included)."""
    cats = sorted(set(ref) | set(cur), key=lambda c: -(ref.get(c, 0) + cur.get(c, 0)))
    rt, ct = float(sum(ref.values()) or 1), float(sum(cur.values()) or 1)
    rows = []
    for i, c in enumerate(cats):
        rows.append({"bin": c, "order": i, "side": "reference", "share": ref.get(c, 0) / rt})
        rows.append({"bin": c, "order": i, "side": "current", "share": cur.get(c, 0) / ct})
    return pd.DataFrame(rows)


def drifted_features(value: Any) -> list[dict[str, Any]]:
    """The ``drifted_features`` JSON of a verdict row, as a list (bad JSON: empty)."""
    try:
        out = json.loads(value or "[]")
    except (TypeError, ValueError):
        return []
    return out if isinstance(out, list) else []


def hash_census(health: pd.DataFrame) -> pd.DataFrame:
    """Devices per (model, version, model hash); a hash other than the most common one of its
    model version is flagged ``unexpected``.

    >>> h = pd.DataFrame({"device_id": ["a", "b", "c"], "model": "kws", "versions": "1",
    ...                   "model_hashes": ["h1", "h1", "h2"]})
    >>> hash_census(h)[["model_hash", "devices", "status"]].values.tolist()
    [['h1', 2, 'expected'], ['h2', 1, '⚠ UNEXPECTED']]
    """
    if health.empty:
        return pd.DataFrame(columns=["model", "version", "model_hash", "devices", "status"])
    rows = health.assign(version=health["versions"].fillna("").str.split(","),
                         model_hash=health["model_hashes"].fillna("").str.split(","))
    rows = rows.explode("version").explode("model_hash")
    census = rows.groupby(["model", "version", "model_hash"], as_index=False).agg(
        devices=("device_id", "nunique"))
    top = census.groupby(["model", "version"])["devices"].transform("max")
    first = census.sort_values("devices", ascending=False).groupby(
        ["model", "version"])["model_hash"].transform("first")
    expected = (census["devices"] == top) & (census["model_hash"] == first.reindex(census.index))
    census["status"] = np.where(expected, "expected", "⚠ UNEXPECTED")
    return census.sort_values(["model", "version", "devices"],
                              ascending=[True, True, False]).reset_index(drop=True)
