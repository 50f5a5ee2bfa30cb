"""Spec files: the per-model feature layout that ships to devices with the model.

A spec is JSON (``edgedrift-spec/1``), produced server-side by
``edgedrift reference build`` from training data, and optional on a device::

    {"format": "edgedrift-spec/1", "model": "kws", "version": "1.3.0",
     "features": {"rms": {"type": "numeric", "edges": [0.01, 0.02, ...], "range": [0, 1]},
                  "mic": {"type": "categorical", "categories": ["front", "rear"]}},
     "prediction": {"type": "numeric", "task": "binary", "threshold": 0.5,
                    "edges": [0.02, 0.04, ...]}}

Numeric ``edges`` are the histogram layout (training-data quantiles give the
best accuracy); ``range`` is the valid range whose violations are counted.

>>> spec = Spec.from_dict({"features": {"t": {"type": "numeric", "edges": [0, 1, 2]},
...                                     "mic": {"type": "categorical", "categories": ["a"]}}})
>>> spec.features["t"].layout.slots, spec.features["mic"].categories
(4, ('a',))
>>> Spec.from_dict(spec.to_dict()).spec_id == spec.spec_id
True
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .labels import TASKS
from .layout import BUILTIN_LAYOUTS, Layout, universal_layout

SPEC_FORMAT = "edgedrift-spec/1"
FEATURE_TYPES = ("numeric", "categorical")
MAX_FEATURES = 256
MAX_NAME_LEN = 64
# Names the dataset gives the window-level sketches (prediction, latency, energy,
# regression-label error): no feature may use them.
RESERVED_FEATURES = ("__prediction__", "__latency__", "__energy__", "__label_error__")


@dataclass(frozen=True)
class FeatureSpec:
    """Type and layout of one feature (or of the prediction)."""

    name: str
    type: str
    layout: Layout | None = None
    valid_range: tuple[float, float] | None = None
    categories: tuple[str, ...] = ()
    discrete: bool = False   # numeric: each slot holds one value (integer-valued data)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.layout is not None and self.layout.layout_id in BUILTIN_LAYOUTS:
            out["layout"] = self.layout.layout_id
        elif self.layout is not None and self.layout.edges:
            out["edges"] = list(self.layout.edges)
        if self.valid_range is not None:
            out["range"] = list(self.valid_range)
        if self.categories:
            out["categories"] = list(self.categories)
        if self.discrete:
            out["discrete"] = True
        return out


@dataclass(frozen=True)
class Spec:
    """A validated spec. Build with :meth:`load` (path) or :meth:`from_dict`."""

    features: dict[str, FeatureSpec]
    prediction: FeatureSpec | None = None
    task: str | None = None
    threshold: float = 0.5
    model: str = ""
    version: str = ""
    spec_id: str = field(default="")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Spec:
        """Read and validate a spec file; errors name the field (``spec.features.rms.edges``)."""
        try:
            with open(path, encoding="utf-8") as fh:
                raw = json.load(fh)
        except OSError as exc:
            raise ConfigError("spec", str(path), f"a readable spec file ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise ConfigError("spec", str(path),
                              f"valid JSON (line {exc.lineno}: {exc.msg})") from None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: Any) -> Spec:
        """Validate a decoded spec mapping."""
        if not isinstance(raw, dict):
            raise ConfigError("spec", type(raw).__name__, "a JSON object")
        fmt = raw.get("format", SPEC_FORMAT)
        if fmt != SPEC_FORMAT:
            raise ConfigError("spec.format", fmt, f"{SPEC_FORMAT!r}")
        feats = raw.get("features")
        if not isinstance(feats, dict) or not feats:
            raise ConfigError("spec.features", feats, "a non-empty object of feature name -> spec")
        if len(feats) > MAX_FEATURES:
            raise ConfigError("spec.features", len(feats), f"at most {MAX_FEATURES} features")
        features = {name: _feature(name, body, f"spec.features.{name}")
                    for name, body in feats.items()}
        prediction = None
        task = None
        threshold = 0.5
        pred_raw = raw.get("prediction")
        if pred_raw is not None:
            prediction = _feature("prediction", pred_raw, "spec.prediction")
            task = pred_raw.get("task")
            if task is not None and task not in TASKS:
                raise ConfigError("spec.prediction.task", task, f"one of {', '.join(TASKS)}")
            threshold = pred_raw.get("threshold", 0.5)
            if not isinstance(threshold, (int, float)) or isinstance(threshold, bool):
                raise ConfigError("spec.prediction.threshold", threshold, "a number")
        spec = cls(features, prediction, task, float(threshold),
                   str(raw.get("model", "")), str(raw.get("version", "")))
        return cls(spec.features, spec.prediction, spec.task, spec.threshold, spec.model,
                   spec.version, spec_hash(spec.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what :meth:`save` writes)."""
        out: dict[str, Any] = {"format": SPEC_FORMAT, "model": self.model, "version": self.version,
                               "features": {n: f.to_dict() for n, f in self.features.items()}}
        if self.prediction is not None:
            pred = self.prediction.to_dict()
            if self.task:
                pred["task"] = self.task
                pred["threshold"] = self.threshold
            out["prediction"] = pred
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the spec as pretty JSON."""
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=1)
            fh.write("\n")


def spec_hash(spec_dict: dict[str, Any]) -> str:
    """Stable id of a spec's content: ``s:`` + 16 hex chars of blake2b over canonical JSON."""
    body = {k: v for k, v in spec_dict.items() if k not in ("spec_id",)}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return "s:" + hashlib.blake2b(canon, digest_size=8).hexdigest()


def _feature(name: Any, body: Any, path: str) -> FeatureSpec:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LEN:
        raise ConfigError(path, name, f"a feature name of 1 to {MAX_NAME_LEN} characters")
    if name in RESERVED_FEATURES:
        raise ConfigError(path, name, "a feature name other than the reserved "
                                      + ", ".join(RESERVED_FEATURES))
    if not isinstance(body, dict):
        raise ConfigError(path, body, 'an object such as {"type": "numeric", "edges": [...]}')
    ftype = body.get("type")
    if ftype not in FEATURE_TYPES:
        raise ConfigError(f"{path}.type", ftype, f"one of {', '.join(FEATURE_TYPES)}")
    if ftype == "categorical":
        cats = body.get("categories", [])
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            raise ConfigError(f"{path}.categories", cats, "a list of strings")
        if len(cats) > 1024:
            raise ConfigError(f"{path}.categories", len(cats), "at most 1024 categories")
        return FeatureSpec(name, ftype, categories=tuple(cats))
    if "edges" in body:
        layout = Layout.from_edges(body["edges"], field_name=f"{path}.edges")
    elif "layout" in body:
        if body["layout"] not in BUILTIN_LAYOUTS:
            raise ConfigError(f"{path}.layout", body["layout"],
                              f"one of the built-in layouts {', '.join(sorted(BUILTIN_LAYOUTS))} "
                              "(or give \"edges\")")
        layout = BUILTIN_LAYOUTS[body["layout"]]
    else:
        layout = universal_layout()
    valid_range = None
    if "range" in body:
        rng = body["range"]
        if (not isinstance(rng, list) or len(rng) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rng)
                or not all(math.isfinite(v) for v in rng) or rng[0] > rng[1]):
            raise ConfigError(f"{path}.range", rng, "[low, high] with finite low <= high")
        valid_range = (float(rng[0]), float(rng[1]))
    discrete = body.get("discrete", False)
    if not isinstance(discrete, bool):
        raise ConfigError(f"{path}.discrete", discrete, "true or false")
    return FeatureSpec(name, ftype, layout=layout, valid_range=valid_range, discrete=discrete)
