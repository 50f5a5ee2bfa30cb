"""Reference profiles: the sketches of a model version's training (or promoted live) data.

A profile holds, per feature (and the pseudo-features ``__prediction__`` and
``__latency__``), the same merged state the SDK keeps -- counts, quality
counters, moments and a histogram for every layout a device may use (the
spec's quantile edges and the universal ``u1``) or category counts -- so the
analysis compares like with like. Stored as JSON beside the spec file::

    <data-dir>/references/<model>/<version>/profile.json
    <data-dir>/references/<model>/<version>/spec.json       (ships to devices)
    <data-dir>/references/<model>/<version>/samples.parquet (raw rows for Evidently)

>>> fp = FeatureProfile("t", "numeric", n=4, histograms={"e:x": (1, 3)}, edges={"e:x": (0.5,)})
>>> prof = ReferenceProfile("kws", "1.0", 4, {"t": fp})
>>> ReferenceProfile.from_dict(prof.to_dict()) == prof
True
>>> prof.features["t"].rate("missing")
0.0
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_sdk.layout import BUILTIN_LAYOUTS

from .errors import ReferenceProfileError

PROFILE_FORMAT = "edgedrift-reference/1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
QUALITY_FIELDS = ("missing", "nan", "inf", "type_mismatch", "out_of_range", "unseen")


@dataclass(frozen=True)
class FeatureProfile:
    """Reference state of one feature: counts, quality counters, moments, histograms/categories."""

    name: str
    type: str                                   # numeric | categorical
    n: int = 0                                  # values counted (finite numbers / categories)
    records: int = 0                            # records seen (n + missing + nan + ...)
    missing: int = 0
    nan: int = 0
    inf: int = 0
    type_mismatch: int = 0
    out_of_range: int = 0
    unseen: int = 0
    min: float = math.nan
    max: float = math.nan
    mean: float = math.nan
    std: float = math.nan
    histograms: dict[str, tuple[int, ...]] = field(default_factory=dict)  # layout id -> counts
    edges: dict[str, tuple[float, ...]] = field(default_factory=dict)     # non-built-in layouts
    categories: dict[str, int] = field(default_factory=dict)
    # layout id -> per region [low, high] of the values' distance sums (analytics/slot_sums.py)
    slot_sums: dict[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)

    def rate(self, counter: str) -> float:
        """Share of records with quality problem ``counter`` (missing, nan, ...)."""
        total = self.records or self.n
        return getattr(self, counter) / total if total else 0.0

    def layout_edges(self, layout_id: str) -> tuple[float, ...] | None:
        """Edges of a layout id: built-in ones or the ones stored with the profile."""
        if layout_id in self.edges:
            return self.edges[layout_id]
        lay = BUILTIN_LAYOUTS.get(layout_id)
        return lay.edges if lay is not None else None

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("type", "n", "records", *QUALITY_FIELDS)}
        for k in ("min", "max", "mean", "std"):
            v = getattr(self, k)
            out[k] = None if v is None or math.isnan(v) else v
        out["histograms"] = {k: list(v) for k, v in self.histograms.items()}
        out["edges"] = {k: list(v) for k, v in self.edges.items()}
        out["categories"] = dict(self.categories)
        if self.slot_sums:
            out["slot_sums"] = {k: [list(p) for p in v] for k, v in self.slot_sums.items()}
        return out

    @classmethod
    def from_dict(cls, name: str, raw: dict[str, Any]) -> FeatureProfile:
        kw: dict[str, Any] = {k: raw.get(k, 0) for k in ("n", "records", *QUALITY_FIELDS)}
        floats: dict[str, Any] = {k: math.nan if raw.get(k) is None else float(raw[k])
                  for k in ("min", "max", "mean", "std")}
        return cls(name, raw["type"], **kw, **floats,
                   histograms={k: tuple(int(c) for c in v)
                               for k, v in raw.get("histograms", {}).items()},
                   edges={k: tuple(float(e) for e in v) for k, v in raw.get("edges", {}).items()},
                   categories={str(k): int(v) for k, v in raw.get("categories", {}).items()},
                   slot_sums={k: tuple((float(a), float(b)) for a, b in v)
                              for k, v in raw.get("slot_sums", {}).items()})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureProfile):
            return NotImplemented
        return self.to_dict() == other.to_dict() and self.name == other.name


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference of one model version (see the module docstring)."""

    model: str
    version: str
    records: int
    features: dict[str, FeatureProfile]
    source: str = ""
    spec_id: str = ""
    task: str | None = None
    accuracy: float | None = None               # classification / binary
    mae: float | None = None                    # regression
    created_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"format": PROFILE_FORMAT, "model": self.model, "version": self.version,
                "records": self.records, "source": self.source, "spec_id": self.spec_id,
                "task": self.task, "accuracy": self.accuracy, "mae": self.mae,
                "created_at": self.created_at,
                "features": {n: f.to_dict() for n, f in self.features.items()}}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ReferenceProfile:
        if not isinstance(raw, dict) or raw.get("format") != PROFILE_FORMAT:
            raise ReferenceProfileError("profile.format", raw.get("format") if isinstance(raw, dict)
                                        else raw, repr(PROFILE_FORMAT))
        return cls(raw["model"], raw["version"], int(raw["records"]),
                   {n: FeatureProfile.from_dict(n, f) for n, f in raw["features"].items()},
                   raw.get("source", ""), raw.get("spec_id", ""), raw.get("task"),
                   raw.get("accuracy"), raw.get("mae"), raw.get("created_at", ""))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the profile JSON atomically (temp file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReferenceProfile:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ReferenceProfileError("reference", str(path),
                                        f"a readable profile ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise ReferenceProfileError("reference", str(path), f"JSON ({exc.msg})") from None
        return cls.from_dict(raw)


def check_name(field_name: str, value: str) -> str:
    """Model and version names become directory names: letters, digits, ``._+-``.

    >>> check_name("version", "1.3.0")
    '1.3.0'
    >>> check_name("model", "../x")
    Traceback (most recent call last):
    ...
    analytics.errors.ReferenceError_: model: got '../x', expected letters, digits and ._+-
        (1-128 characters, not starting with a dot)
    """
    if not isinstance(value, str) or not _NAME.match(value):
        raise ReferenceProfileError(field_name, value, "letters, digits and ._+- (1-128 "
                                    "characters, not starting with a dot)")
    return value


@dataclass(frozen=True)
class ReferenceStore:
    """Where profiles, specs and samples live under ``DataPaths.references``.

    >>> store = ReferenceStore("/srv/refs")
    >>> str(store.profile_path("kws", "1.0")), str(store.spec_path("kws", "1.0"))
    ('/srv/refs/kws/1.0/profile.json', '/srv/refs/kws/1.0/spec.json')
    """

    root: str | os.PathLike[str]

    def directory(self, model: str, version: str) -> Path:
        return Path(self.root) / check_name("model", model) / check_name("version", version)

    def profile_path(self, model: str, version: str) -> Path:
        return self.directory(model, version) / "profile.json"

    def spec_path(self, model: str, version: str) -> Path:
        return self.directory(model, version) / "spec.json"

    def samples_path(self, model: str, version: str) -> Path:
        return self.directory(model, version) / "samples.parquet"

    def find(self, model: str, version: str) -> ReferenceProfile | None:
        """The profile of (model, version), else the newest profile of the model, else None."""
        try:
            exact = self.profile_path(model, version)
        except ReferenceProfileError:
            return None
        if exact.exists():
            return ReferenceProfile.load(exact)
        model_dir = Path(self.root) / model
        if not model_dir.is_dir():
            return None
        found = sorted(model_dir.glob("*/profile.json"), key=lambda p: p.stat().st_mtime)
        return ReferenceProfile.load(found[-1]) if found else None

    def known_edges(self, model: str) -> dict[str, tuple[float, ...]]:
        """Layout id -> edges from every spec file of ``model`` (resolves device layouts)."""
        from edge_sdk.spec import Spec
        out: dict[str, tuple[float, ...]] = {}
        model_dir = Path(self.root) / model
        for path in sorted(model_dir.glob("*/spec.json")) if model_dir.is_dir() else []:
            spec = Spec.load(path)
            for fs in [*spec.features.values(), spec.prediction]:
                if fs is not None and fs.layout is not None and fs.layout.edges:
                    out[fs.layout.layout_id] = fs.layout.edges
        return out
