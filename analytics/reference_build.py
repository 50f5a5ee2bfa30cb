"""Build a reference profile and the SDK spec from training data (CSV, Parquet or a DataFrame).

Two passes over the input in chunks (so large files never sit in memory):
pass 1 types every column, accumulates moments and category counts and keeps
a uniform reservoir of rows (for quantile edges and for Evidently samples);
pass 2 fills the histograms of every layout a device may use -- the spec's
quantile edges and the universal ``u1`` (and ``p1`` for probabilities, ``lat1``
for a latency column).

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"t": rng.normal(size=500), "mic": rng.choice(["a", "b"], 500),
...                    "score": rng.uniform(size=500)})
>>> built = build_reference(df, "kws", "1.0", prediction="score")
>>> built.spec.features["t"].layout.slots, built.spec.features["mic"].categories
(64, ('a', 'b'))
>>> built.profile.features["t"].n, sum(built.profile.features["t"].histograms["u1"])
(500, 500)
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from collector.schema import LATENCY, PREDICTION
from edge_sdk.layout import LATENCY as LATENCY_LAYOUT
from edge_sdk.layout import MAX_EDGES, PROBABILITY, Layout, universal_layout
from edge_sdk.numeric import MAX_MAGNITUDE
from edge_sdk.spec import FeatureSpec, Spec
from edge_sdk.values import as_number, category_key, is_missing
from edge_sdk.window import infer_task

from .errors import ReferenceProfileError
from .reference import FeatureProfile, ReferenceProfile, ReferenceStore, check_name
from .reference_checks import MIN_ROWS, refuse_useless
from .slot_sums import exact_distances

Progress = Callable[[str, int, int], None]   # (phase, rows done, rows total or 0)
CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class BuildOptions:
    """Which columns play which role, and sampling sizes.

    >>> BuildOptions(prediction="p").prediction
    'p'
    """

    prediction: str | None = None
    label: str | None = None
    latency: str | None = None
    task: str | None = None
    categorical: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    sample_rows: int = 5000          # raw rows kept for Evidently reports
    edge_rows: int = 200_000         # rows used for the quantile edges
    max_categories: int = 1024
    seed: int = 0
    na_values: tuple[str, ...] = ("", "NaN", "nan", "NULL", "null")   # CSV cells read as missing
    min_rows: int = MIN_ROWS         # fewer rows are refused (they cannot back a verdict)


@dataclass
class BuiltReference:
    """What a build produces: the profile, the spec and a raw-row sample."""

    profile: ReferenceProfile
    spec: Spec
    samples: pd.DataFrame = field(repr=False)
    distinct: dict[str, str] = field(default_factory=dict)   # numeric feature -> distinct values

    def save(self, store: ReferenceStore) -> dict[str, Path]:
        """Write profile, spec and samples under ``store``; returns the paths."""
        m, v = self.profile.model, self.profile.version
        paths = {"profile": store.profile_path(m, v), "spec": store.spec_path(m, v),
                 "samples": store.samples_path(m, v)}
        paths["spec"].parent.mkdir(parents=True, exist_ok=True)
        tmp = paths["spec"].with_suffix(".tmp")
        self.spec.save(tmp)
        os.replace(tmp, paths["spec"])
        self.samples.to_parquet(paths["samples"], index=False)
        self.profile.save(paths["profile"])
        return paths


# -- input ------------------------------------------------------------------------
def iter_chunks(source: str | os.PathLike[str] | pd.DataFrame, chunk_rows: int = CHUNK_ROWS,
                na_values: tuple[str, ...] = BuildOptions.na_values
                ) -> tuple[Callable[[], Iterator[pd.DataFrame]], int]:
    """A re-startable chunk iterator over the input and its row count (0 if unknown).

    CSV cells are missing only when they are one of ``na_values`` (pandas' default list
    would also turn categories such as ``n/a`` or ``NA`` into missing values, which a
    device logging the string ``"n/a"`` would not).
    """
    if isinstance(source, pd.DataFrame):
        frame = source
        return (lambda: (frame.iloc[i:i + chunk_rows] for i in range(0, len(frame), chunk_rows)),
                len(frame))
    path = Path(source)
    if not path.exists():
        raise ReferenceProfileError("--input", str(path), "an existing .csv or .parquet file")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq
        total = pq.ParquetFile(path).metadata.num_rows
        return (lambda: (b.to_pandas() for b in
                         pq.ParquetFile(path).iter_batches(batch_size=chunk_rows)), total)
    if suffix in (".csv", ".gz", ".txt"):
        total = _count_lines(path) - 1 if suffix != ".gz" else 0
        return (lambda: iter(pd.read_csv(path, chunksize=chunk_rows, keep_default_na=False,
                                         na_values=list(na_values))), max(total, 0))
    raise ReferenceProfileError("--input", str(path), "a .csv or .parquet file")


def _count_lines(path: Path) -> int:
    count = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            count += block.count(b"\n")
    return count


# -- accumulators ---------------------------------------------------------------------
@dataclass
class _Numeric:
    n: int = 0
    records: int = 0
    missing: int = 0
    nan: int = 0
    inf: int = 0
    type_mismatch: int = 0
    out_of_range: int = 0
    min: float = math.inf
    max: float = -math.inf
    mean: float = 0.0
    m2: float = 0.0
    integral: bool = True            # every finite value is a whole number
    layouts: dict[str, Layout] = field(default_factory=dict)
    hist: dict[str, np.ndarray] = field(default_factory=dict)
    sums: dict[str, np.ndarray] = field(default_factory=dict)    # exact slot sums per layout

    def moments(self, col: pd.Series) -> np.ndarray:
        x, missing, type_mismatch = numbers_of(col)
        self.records += len(x)
        self.missing += int(missing.sum())
        self.type_mismatch += int(type_mismatch.sum())
        isinf = np.abs(np.nan_to_num(x, nan=0.0)) > MAX_MAGNITUDE
        self.inf += int(isinf.sum())
        fin = x[~np.isnan(x) & ~isinf]
        k = len(fin)
        if k:
            self.integral = self.integral and bool(np.all(fin == np.round(fin)))
            self.min = min(self.min, float(fin.min()))
            self.max = max(self.max, float(fin.max()))
            bmean = float(fin.mean())
            bm2 = float(((fin - bmean) ** 2).sum())
            total = self.n + k
            delta = bmean - self.mean
            self.mean += delta * k / total
            self.m2 += bm2 + delta * delta * self.n * k / total
            self.n = total
        return fin

    def histograms(self, col: pd.Series) -> None:
        x = numbers_of(col)[0]
        fin = x[np.abs(np.nan_to_num(x, nan=np.inf)) <= MAX_MAGNITUDE]
        for lid, lay in self.layouts.items():
            slots = np.searchsorted(np.asarray(lay.edges), fin, side="right")
            self.hist[lid] += np.bincount(slots, minlength=lay.slots)[:lay.slots]
            part = exact_distances(fin, lay.edges)
            self.sums[lid] = part if lid not in self.sums else self.sums[lid] + part
        if self.n:
            self.out_of_range += int(((fin < self.min) | (fin > self.max)).sum())

    def profile(self, name: str, spec_layout: str) -> FeatureProfile:
        return FeatureProfile(
            name, "numeric", n=self.n, records=self.records, missing=self.missing, nan=self.nan,
            inf=self.inf, type_mismatch=self.type_mismatch, out_of_range=self.out_of_range,
            min=self.min if self.n else math.nan, max=self.max if self.n else math.nan,
            mean=self.mean if self.n else math.nan,
            std=math.sqrt(self.m2 / self.n) if self.n else math.nan,
            histograms={lid: tuple(int(c) for c in h) for lid, h in self.hist.items()},
            slot_sums={lid: tuple((float(a), float(b)) for a, b in v)
                       for lid, v in self.sums.items()},
            edges={spec_layout: self.layouts[spec_layout].edges}
            if spec_layout in self.layouts else {})


@dataclass
class _Categorical:
    records: int = 0
    missing: int = 0
    type_mismatch: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def update(self, col: pd.Series) -> None:
        self.records += len(col)
        values = col.to_numpy(dtype=object)
        missing = pd.Series([is_missing(v) for v in values], index=col.index, dtype=bool) \
            if col.dtype == object else col.isna()
        self.missing += int(missing.sum())
        keys = col[~missing].map(category_key)
        self.type_mismatch += int(keys.isna().sum())
        for key, c in keys.dropna().value_counts().items():
            self.counts[key] = self.counts.get(key, 0) + int(c)

    def profile(self, name: str) -> FeatureProfile:
        n = sum(self.counts.values())
        return FeatureProfile(name, "categorical", n=n, records=self.records,
                              missing=self.missing, type_mismatch=self.type_mismatch,
                              categories=dict(sorted(self.counts.items(), key=lambda kv: -kv[1])))


def numbers_of(col: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float64 values, missing mask, type-mismatch mask) of a column, by the SDK's rules
    (:mod:`edge_sdk.values`): a numeric column is read as is (NaN / NA missing); in any other
    column each cell is judged alone, so the string "1.5" is a type mismatch, as on a device.

    >>> x, missing, mismatch = numbers_of(pd.Series([1, None, "1.5", True], dtype=object))
    >>> x.tolist()[0], missing.tolist(), mismatch.tolist()
    (1.0, [False, True, False, False], [False, False, True, True])
    """
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        x = col.to_numpy(dtype=np.float64, na_value=np.nan)
        return x, np.isnan(x), np.zeros(len(x), dtype=bool)
    values = col.to_numpy(dtype=object)
    missing = np.fromiter((is_missing(v) for v in values), dtype=bool, count=len(values))
    nums = [None if m else as_number(v) for v, m in zip(values, missing, strict=True)]
    mismatch = np.fromiter((n is None for n in nums), dtype=bool, count=len(nums)) & ~missing
    x = np.fromiter((np.nan if n is None else n for n in nums), dtype=np.float64,
                    count=len(nums))
    return x, missing, mismatch


# -- edges --------------------------------------------------------------------------------
def quantile_edges(values: np.ndarray, max_edges: int = MAX_EDGES) -> tuple[float, ...]:
    """Up to ``max_edges`` strictly increasing edges: one slot per value for discrete data,
    else quantiles at k/(max_edges+1), with an atom (a repeated quantile) isolated in a slot.

    >>> quantile_edges(np.array([1.0, 2.0, 2.0, 3.0]))
    (2.0, 3.0)
    >>> len(quantile_edges(np.arange(1000.0)))
    63
    >>> quantile_edges(np.array([5.0, 5.0]))
    (5.0,)
    """
    fin = values[np.isfinite(values)]
    if not len(fin):
        return (0.0,)
    uniq = np.unique(fin)
    if len(uniq) <= max_edges + 1:
        return tuple(float(v) for v in (uniq[1:] if len(uniq) > 1 else uniq))
    qs = np.quantile(fin, np.arange(1, max_edges + 1) / (max_edges + 1))
    edges, counts = np.unique(qs, return_counts=True)
    out = set(float(e) for e in edges)
    for e in edges[counts > 1]:          # an atom: put it alone in [e, next float)
        out.add(float(np.nextafter(e, np.inf)))
    result = sorted(out)
    while len(result) > max_edges:       # keep the atoms' upper edges, thin the rest evenly
        result.pop(len(result) // 2)
    return tuple(result)


# -- the build ----------------------------------------------------------------------------
def build_reference(source: str | os.PathLike[str] | pd.DataFrame, model: str, version: str,
                    options: BuildOptions | None = None, progress: Progress | None = None,
                    **kw: Any) -> BuiltReference:
    """Profile + spec + samples of ``source`` for ``model``/``version`` (see module doc).

    Keyword arguments are :class:`BuildOptions` fields (``prediction="score"``...).
    """
    opts = options or BuildOptions(**kw)
    check_name("model", model)
    check_name("version", version)
    chunks, total = iter_chunks(source, na_values=opts.na_values)
    rng = np.random.default_rng(opts.seed)
    roles = {opts.prediction: PREDICTION, opts.latency: LATENCY}
    numeric: dict[str, _Numeric] = {}
    categorical: dict[str, _Categorical] = {}
    reservoir: pd.DataFrame | None = None
    label_pairs: list[pd.DataFrame] = []
    done = 0
    columns: list[str] = []
    for chunk in chunks():
        if not columns:
            columns = _columns(chunk, opts)
            for col in columns:
                kind = _kind(chunk[col], col in opts.categorical)
                if kind == "numeric":
                    numeric[col] = _Numeric()
                else:
                    categorical[col] = _Categorical()
        _require(chunk, columns, opts)
        for col, acc in numeric.items():
            acc.moments(chunk[col])
        for col, cat_acc in categorical.items():
            cat_acc.update(chunk[col])
        keys = pd.Series(rng.random(len(chunk)), index=chunk.index, name="__key__")
        part = pd.concat([chunk[columns], keys], axis=1)
        reservoir = part if reservoir is None else pd.concat([reservoir, part])
        if len(reservoir) > opts.edge_rows:
            reservoir = reservoir.nsmallest(opts.edge_rows, "__key__")
        if opts.prediction and opts.label:
            label_pairs.append(chunk[[opts.prediction, opts.label]].dropna())
        done += len(chunk)
        if progress:
            progress("profile", done, total)
    if reservoir is None or not columns:
        raise ReferenceProfileError("--input", str(source) if not isinstance(source, pd.DataFrame)
                                    else "DataFrame", "at least one row and one feature column")
    spec_layouts: dict[str, str] = {}
    for col, acc in numeric.items():
        if col == opts.latency:
            lays = [LATENCY_LAYOUT]
        else:
            edges = quantile_edges(numbers_of(reservoir[col])[0])
            spec_lay = Layout.from_edges(edges, field_name=f"{col}.edges")
            spec_layouts[col] = spec_lay.layout_id
            lays = [spec_lay, universal_layout()]
            if col == opts.prediction and acc.n and 0.0 <= acc.min and acc.max <= 1.0:
                lays.append(PROBABILITY)
        acc.layouts = {lay.layout_id: lay for lay in lays}
        acc.hist = {lay.layout_id: np.zeros(lay.slots, dtype=np.int64) for lay in lays}
    done = 0
    for chunk in chunks():
        for col, acc in numeric.items():
            acc.histograms(chunk[col])
        done += len(chunk)
        if progress:
            progress("histograms", done, total)
    features: dict[str, FeatureProfile] = {}
    feature_specs: dict[str, FeatureSpec] = {}
    pred_spec: FeatureSpec | None = None
    for col in columns:
        name = roles.get(col, col)
        if col in numeric:
            acc = numeric[col]
            prof = acc.profile(name, spec_layouts.get(col, ""))
            lay = acc.layouts[spec_layouts[col]] if col != opts.latency else None
            fs = None if col == opts.latency else FeatureSpec(
                name, "numeric", lay, (acc.min, acc.max) if acc.n else None,
                discrete=bool(lay is not None and acc.n and len(lay.edges) < MAX_EDGES
                              and acc.integral))
        else:
            prof = categorical[col].profile(name)
            cats = tuple(list(prof.categories)[:opts.max_categories])
            fs = FeatureSpec(name, "categorical", categories=cats)
        features[name] = prof
        if col == opts.prediction:
            pred_spec = fs
        elif fs is not None:
            feature_specs[name] = fs
    if not feature_specs:
        raise ReferenceProfileError("--input", columns, "at least one feature column besides "
                                    "the prediction, label and latency columns")
    task, accuracy, mae = _labels(label_pairs, opts)
    spec = Spec.from_dict(Spec(feature_specs, pred_spec, task, 0.5, model, version).to_dict())
    profile = ReferenceProfile(
        model, version, done, features,
        source=str(source) if not isinstance(source, pd.DataFrame) else "DataFrame",
        spec_id=spec.spec_id, task=task, accuracy=accuracy, mae=mae,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    samples = reservoir.nsmallest(opts.sample_rows, "__key__").drop(columns="__key__")
    samples = samples.rename(columns={c: roles[c] for c in samples.columns if c in roles})
    sampled = "~" if len(reservoir) < done else ""
    distinct = {roles.get(c, c): sampled + str(len(np.unique(v[np.isfinite(v)])))
                for c in numeric for v in [numbers_of(reservoir[c])[0]]}
    built = BuiltReference(profile, spec, samples.reset_index(drop=True), distinct)
    refuse_useless(built, {c: roles.get(c, c) for c in columns}, opts.min_rows)
    return built


def _columns(chunk: pd.DataFrame, opts: BuildOptions) -> list[str]:
    skip = set(opts.exclude) | ({opts.label} if opts.label else set())
    return [str(c) for c in chunk.columns if c not in skip]


def _require(chunk: pd.DataFrame, columns: list[str], opts: BuildOptions) -> None:
    for role, col in (("--prediction", opts.prediction), ("--label", opts.label),
                      ("--latency", opts.latency)):
        if col and col not in chunk.columns:
            raise ReferenceProfileError(role, col, f"a column of the input ({', '.join(columns)})")


def _kind(col: pd.Series, force_categorical: bool) -> str:
    if force_categorical or pd.api.types.is_bool_dtype(col):
        return "categorical"
    return "numeric" if pd.api.types.is_numeric_dtype(col) else "categorical"


def _labels(pairs: list[pd.DataFrame], opts: BuildOptions) -> tuple[str | None, float | None,
                                                                       float | None]:
    if not pairs:
        return opts.task, None, None
    both = pd.concat(pairs)
    if both.empty:
        return opts.task, None, None
    pred, label = both[opts.prediction], both[opts.label]
    first_p, first_y = pred.iloc[0], label.iloc[0]
    first_p = first_p.item() if hasattr(first_p, "item") else first_p
    first_y = first_y.item() if hasattr(first_y, "item") else first_y
    task = opts.task or infer_task(first_p, first_y)
    if task == "regression":
        err = pd.to_numeric(pred, errors="coerce") - pd.to_numeric(label, errors="coerce")
        return task, None, float(err.abs().mean())
    if task == "binary":
        hit = (pd.to_numeric(pred, errors="coerce") >= 0.5) == label.astype(bool)
    else:
        hit = pred.map(category_key) == label.map(category_key)
    return task, float(hit.mean()), None
