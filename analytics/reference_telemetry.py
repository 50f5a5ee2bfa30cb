"""Promote a past time range of live telemetry to be a model version's reference.

The merged sketches of ``[start, end)`` (deduplicated, all devices) become the
profile; the spec is the existing spec of that version when there is one (the
devices already use its layouts), else one built from what was seen (built-in
layouts, observed categories). Raw-row samples of the range, if devices sent
any, become the reference samples.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from collector.schema import BIN_COLUMNS, ENERGY, LABEL_ERROR, LATENCY, PREDICTION
from edge_sdk.layout import BUILTIN_LAYOUTS
from edge_sdk.spec import FeatureSpec, Spec

from .dataset import BAD_SLOTS, Dataset
from .errors import ReferenceProfileError
from .reference import FeatureProfile, ReferenceProfile, ReferenceStore, check_name
from .reference_build import BuiltReference
from .reports import samples_frame
from .slot_sums import merged_sums

log = logging.getLogger(__name__)


def build_from_telemetry(dataset: str, store: ReferenceStore, model: str, version: str,
                         start_ms: int, end_ms: int, sample_rows: int = 5000) -> BuiltReference:
    """Reference of ``model``/``version`` from telemetry in ``[start_ms, end_ms)``."""
    check_name("model", model)
    check_name("version", version)
    if end_ms <= start_ms:
        raise ReferenceProfileError("--from-telemetry", (start_ms, end_ms), "START before END")
    ds = Dataset(dataset)
    try:
        feats = ds.telemetry_features(model, version, start_ms, end_ms).to_pandas()
        cats = ds.telemetry_categories(model, version, start_ms, end_ms).to_pandas()
        records, label_n, label_sum, windows, task = ds.telemetry_labels(model, version,
                                                                          start_ms, end_ms)
        samples = ds.samples(model, version, start_ms, end_ms, sample_rows)
    finally:
        ds.close()
    if not feats.empty:
        bad = feats["layout"].astype(str).str.endswith(BAD_SLOTS)
        if bad.any():
            # counts past a built-in layout's slots (written before the wire refused them):
            # not that layout's histogram, and not trustworthy as a reference
            log.warning("reference %s %s: %d feature groups left out (more non-zero slots "
                        "than their built-in layout has): %s", model, version, int(bad.sum()),
                        sorted(set(zip(feats.loc[bad, "feature"], feats.loc[bad, "layout"],
                                       strict=True))))
            feats = feats[~bad]
    if feats.empty or not windows:
        raise ReferenceProfileError("--from-telemetry", f"{model} {version}",
                                    "telemetry windows of that model version in the range")
    existing = store.spec_path(model, version)
    spec_old = Spec.load(existing) if existing.exists() else None
    known = store.known_edges(model)
    profiles: dict[str, FeatureProfile] = {}
    for name, grp in feats.groupby("feature", sort=True):
        if name in (ENERGY, LABEL_ERROR):
            continue
        kind = int(grp["kind"].iloc[0])
        tot = grp.sum(numeric_only=True)
        n = int(tot["n"])
        quality: dict[str, Any] = {q: int(tot[q]) for q in (
            "missing", "nan", "inf", "type_mismatch", "out_of_range", "unseen")}
        rec = n + quality["missing"] + quality["nan"] + quality["inf"] + quality["type_mismatch"]
        if kind == 1:
            c = cats[cats["feature"] == name]
            profiles[name] = FeatureProfile(
                name, "categorical", n=n, records=rec, **quality,
                categories={str(k): int(v) for k, v in zip(c["category"], c["count"], strict=True)})
            continue
        hists, edges, sums = {}, {}, {}
        for layout, row in grp.set_index("layout").iterrows():
            counts = row[BIN_COLUMNS].to_numpy(dtype=np.int64)
            slots = _slots(layout, counts, known)
            hists[layout] = tuple(int(x) for x in counts[:slots])
            lay_edges = known.get(layout) or (BUILTIN_LAYOUTS[layout].edges
                                              if layout in BUILTIN_LAYOUTS else None)
            if layout in known:
                edges[layout] = known[layout]
            if lay_edges and "sums_n" in row and row["sums_n"] == row["n"] and row["n"] > 0:
                sums[layout] = merged_sums(row, counts, lay_edges)
        mean = float(tot["sum_x"]) / n if n else math.nan
        var = max(float(tot["sum_x2"]) / n - mean * mean, 0.0) if n else math.nan
        profiles[name] = FeatureProfile(
            name, "numeric", n=n, records=rec, **quality, min=float(grp["min"].min()),
            max=float(grp["max"].max()), mean=mean, std=math.sqrt(var) if n else math.nan,
            histograms=hists, edges=edges, slot_sums=sums)
    spec = spec_old or _spec(profiles, model, version)
    accuracy = mae = None
    if label_n:
        if task == "regression":
            mae = label_sum / label_n
        else:
            accuracy = label_sum / label_n
    start_iso = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC).isoformat()
    end_iso = dt.datetime.fromtimestamp(end_ms / 1000, dt.UTC).isoformat()
    profile = ReferenceProfile(
        model, version, int(records), profiles, source=f"telemetry {start_iso} .. {end_iso}",
        spec_id=spec.spec_id, task=task or spec.task, accuracy=accuracy, mae=mae,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    frame = samples_frame(samples) if samples else pd.DataFrame()
    return BuiltReference(profile, spec, frame)


def _slots(layout: str, counts: np.ndarray, known: dict) -> int:
    if layout in BUILTIN_LAYOUTS:
        return BUILTIN_LAYOUTS[layout].slots
    if layout in known:
        return len(known[layout]) + 1
    nz = np.flatnonzero(counts)
    return int(nz[-1]) + 1 if len(nz) else 1


def _spec(profiles: dict[str, FeatureProfile], model: str, version: str) -> Spec:
    feats: dict[str, FeatureSpec] = {}
    pred = None
    for name, fp in profiles.items():
        if name == LATENCY:
            continue
        if fp.type == "categorical":
            fs = FeatureSpec(name, "categorical", categories=tuple(list(fp.categories)[:1024]))
        else:
            lay = next((BUILTIN_LAYOUTS[k] for k in fp.histograms if k in BUILTIN_LAYOUTS), None)
            fs = FeatureSpec(name, "numeric", lay)
        if name == PREDICTION:
            pred = fs
        else:
            feats[name] = fs
    return Spec.from_dict(Spec(feats, pred, None, 0.5, model, version).to_dict())
