"""One window's sketches: every feature, the prediction, latency, energy and labels.

:class:`WindowSketch` is the in-memory form of a wire-format-v1 window body
(docs/wire-format.md). The Monitor fills one per window; the server decodes
the same body with :func:`edge_sdk.wire.decode_window` and, where it needs
objects, :meth:`WindowSketch.from_wire`.

>>> a, b, both = WindowSketch(), WindowSketch(), WindowSketch()
>>> for w in (a, both):
...     w.add_record({"rms": 0.2, "mic": "front"}, prediction=0.9, latency_ms=4.0)
>>> for w in (b, both):
...     w.add_record({"rms": float("nan"), "zcr": 3}, prediction=0.1, latency_ms=5.5)
>>> a.merge(b) == both
True
>>> both.finalize().features["rms"].missing, both.features["mic"].missing, both.n
(1, 1, 2)
"""

from __future__ import annotations

import logging
from typing import Any

from .categorical import CategoricalSketch
from .labels import LabelSketch
from .layout import BUILTIN_LAYOUTS, ENERGY, LATENCY, PROBABILITY, Layout, universal_layout
from .numeric import BUFFER_SIZE, NumericSketch
from .spec import MAX_NAME_LEN, RESERVED_FEATURES, FeatureSpec, Spec
from .values import as_number, category_key, is_missing

log = logging.getLogger(__name__)
MAX_REPORTED_NAMES = 100

Sketch = NumericSketch | CategoricalSketch
DEFAULT_MAX_FEATURES = 64


class WindowSketch:
    """All sketches of one (device, model, version) window.

    With a ``spec`` the features are created up front with the spec's
    layouts; names outside the spec count as ``unknown_feature``. Without
    one, a feature's type is inferred from its first value (int/float ->
    numeric on the universal layout, str/bool -> categorical) up to
    ``max_features`` features.
    """

    def __init__(self, spec: Spec | None = None, max_features: int = DEFAULT_MAX_FEATURES,
                 category_capacity: int = 32, reported: set[str] | None = None) -> None:
        self.spec = spec
        # names already reported as unusable (the Monitor keeps one set across windows)
        self.reported: set[str] = set() if reported is None else reported
        self.max_features = max_features if spec is None else len(spec.features)
        self.category_capacity = category_capacity
        self.n = 0
        self.unknown_feature = 0   # values under names outside the spec or past max_features
        self.untyped = 0           # first value of a new feature was not a scalar
        self.bad_record = 0        # log() given something that is not a mapping
        self.features: dict[str, Sketch] = {}
        self.prediction: Sketch | None = None
        self.latency = NumericSketch(LATENCY)
        self.energy: NumericSketch | None = None
        self.labels: LabelSketch | None = None
        if spec is not None:
            for name, fs in spec.features.items():
                self.features[name] = self._from_spec(fs)
            if spec.prediction is not None:
                self.prediction = self._from_spec(spec.prediction)

    def _from_spec(self, fs: FeatureSpec) -> Sketch:
        if fs.type == "numeric":
            return self._staggered(NumericSketch(fs.layout or universal_layout(), fs.valid_range,
                                                 fs.discrete))
        return CategoricalSketch(fs.categories or None, self.category_capacity)

    def _staggered(self, sketch: Sketch) -> Sketch:
        """Offset a numeric sketch's first fold by its position, so folds spread over calls."""
        if isinstance(sketch, NumericSketch):
            sketch.fold_at = BUFFER_SIZE - (len(self.features) * 12) % (BUFFER_SIZE // 2)
        return sketch

    def new_feature(self, name: Any, value: Any) -> Sketch | None:
        """Create the sketch for a feature first seen with ``value`` (None: value not usable)."""
        if self.spec is not None or type(name) is not str or not 0 < len(name) <= MAX_NAME_LEN \
                or len(self.features) >= self.max_features or name in RESERVED_FEATURES:
            self.unknown_feature += 1
            self._report(name)
            return None
        if is_missing(value):  # no type yet; finalize() counts the record as missing later
            return None
        sketch = infer_sketch(value, self.category_capacity)
        if sketch is None:
            self.untyped += 1
            return None
        self.features[name] = self._staggered(sketch)
        return sketch

    def _report(self, name: Any) -> None:
        """Log why values under ``name`` are not sketched, once per name (at most 100)."""
        key = name if type(name) is str and len(name) <= 80 else repr(name)[:80]
        if key in self.reported or len(self.reported) >= MAX_REPORTED_NAMES:
            return
        self.reported.add(key)
        if self.spec is not None and type(name) is str:
            why = f"not in the spec {self.spec.spec_id} (its features: " \
                  f"{', '.join(sorted(self.spec.features)[:8])}...)"
        elif type(name) is not str:
            why = f"a feature name must be a string, got {type(name).__name__}"
        elif not 0 < len(name) <= MAX_NAME_LEN:
            why = f"a feature name must have 1 to {MAX_NAME_LEN} characters, got {len(name)}"
        elif name in RESERVED_FEATURES:
            why = "the name is reserved for the window-level sketches"
        else:
            why = f"the window already holds max_features={self.max_features} features"
        log.warning("edgedrift: values of feature %r are counted as unknown_feature: %s",
                    key, why)

    def add_record(self, features: Any, prediction: Any = None, latency_ms: Any = None,
                   energy_mj: Any = None) -> None:
        """Add one inference (the readable twin of ``Monitor.log``'s inlined hot path)."""
        self.n += 1
        if not isinstance(features, dict):
            self.bad_record += 1
        else:
            for name, value in features.items():
                sketch = self.features.get(name)
                if sketch is None:
                    sketch = self.new_feature(name, value)
                    if sketch is None:
                        continue
                sketch.update(value)
        self.add_prediction(prediction)
        if latency_ms is not None:
            self.latency.update(latency_ms)
        if energy_mj is not None:
            if self.energy is None:
                self.energy = NumericSketch(ENERGY)
            self.energy.update(energy_mj)

    def add_prediction(self, prediction: Any) -> None:
        if prediction is None:
            return
        if self.prediction is None:
            self.prediction = infer_sketch(prediction, self.category_capacity, prediction=True)
            if self.prediction is None:
                return
        self.prediction.update(prediction)

    def label_sketch(self, prediction: Any, label: Any) -> LabelSketch:
        """The window's label sketch, created with the task from the spec or inferred."""
        if self.labels is None:
            task = self.spec.task if self.spec is not None and self.spec.task else None
            threshold = self.spec.threshold if self.spec is not None else 0.5
            self.labels = LabelSketch(task or infer_task(prediction, label), threshold)
        return self.labels

    def merge(self, other: WindowSketch) -> WindowSketch:
        """Fold ``other`` in (server-side style: unbounded feature set) and return self."""
        self.n += other.n
        self.unknown_feature += other.unknown_feature
        self.untyped += other.untyped
        self.bad_record += other.bad_record
        for name, sk in other.features.items():
            self.features[name] = _merge_opt(self.features.get(name), sk)
        self.prediction = _merge_opt(self.prediction, other.prediction)
        self.latency.merge(other.latency)
        self.energy = _merge_opt(self.energy, other.energy)
        self.labels = _merge_opt(self.labels, other.labels)
        return self.finalize()

    def finalize(self) -> WindowSketch:
        """Count records that lacked a feature as that feature's ``missing`` (idempotent)."""
        for sk in self.features.values():
            _with_missing(sk, self.n)
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WindowSketch):
            return NotImplemented
        self.finalize()
        other.finalize()
        mine = {k: v for k, v in self.features.items() if not v.is_empty()}
        theirs = {k: v for k, v in other.features.items() if not v.is_empty()}
        return ((self.n, self.unknown_feature, self.untyped, self.bad_record)
                == (other.n, other.unknown_feature, other.untyped, other.bad_record)
                and mine == theirs and self.prediction == other.prediction
                and self.latency == other.latency and _eq_opt(self.energy, other.energy)
                and _eq_opt(self.labels, other.labels))

    __hash__ = None  # type: ignore[assignment]

    # -- wire form -------------------------------------------------------------
    def body_fields(self) -> dict[str, Any]:
        """The sketch part of a wire-v1 window body (the Monitor adds the header)."""
        self.finalize()
        out: dict[str, Any] = {
            "n": self.n,
            "f": [[name, *sk.to_msgpack()] for name, sk in self.features.items()],
            "lt": self.latency.to_msgpack(),
        }
        if self.prediction is not None:
            out["pr"] = self.prediction.to_msgpack()
        if self.energy is not None:
            out["en"] = self.energy.to_msgpack()
        if self.labels is not None:
            out["lb"] = self.labels.to_msgpack()
        if self.unknown_feature or self.untyped or self.bad_record:
            out["q"] = {"uf": self.unknown_feature, "ut": self.untyped, "br": self.bad_record}
        return out

    @classmethod
    def from_wire(cls, body: dict[str, Any], spec: Spec | None = None) -> WindowSketch:
        """Objects from a body already checked by :func:`edge_sdk.wire.decode_window`."""
        w = cls()
        w.n = body["n"]
        q = body.get("q") or {}
        w.unknown_feature, w.untyped, w.bad_record = q.get("uf", 0), q.get("ut", 0), q.get("br", 0)
        for entry in body["f"]:
            w.features[entry[0]] = sketch_from_entry(entry[1:], spec, entry[0])
        if body.get("pr") is not None:
            w.prediction = sketch_from_entry(body["pr"], spec, None, "pr")
        w.latency = sketch_from_entry(body["lt"], None, None, "lt")  # type: ignore[assignment]
        if body.get("en") is not None:
            w.energy = sketch_from_entry(body["en"], None, None, "en")  # type: ignore[assignment]
        if body.get("lb") is not None:
            w.labels = LabelSketch.from_msgpack(body["lb"])
        return w


def resolve_layout(layout_id: str, slots: int, spec: Spec | None, name: str | None) -> Layout:
    """Layout for an id: a built-in, the spec's edges for that feature, or an opaque stand-in."""
    lay = BUILTIN_LAYOUTS.get(layout_id)
    if lay is not None:
        return lay
    if spec is not None:
        fs = spec.features.get(name) if name is not None else spec.prediction
        if fs is not None and fs.layout is not None and fs.layout.layout_id == layout_id:
            return fs.layout
    return Layout.opaque(layout_id, slots)


def sketch_from_entry(entry: list, spec: Spec | None, name: str | None, path: str = "f") -> Sketch:
    """Sketch object from a positional entry (kind first)."""
    if entry[0] == 1:
        return CategoricalSketch.from_msgpack(entry, path)
    packed = entry[10]
    slots = (len(packed) - 1) // packed[0] if packed and packed[0] in (1, 2, 4) else 0
    sketch = NumericSketch.from_msgpack(entry, resolve_layout(entry[1], slots, spec, name), path)
    if spec is not None:  # per-feature facts the wire does not carry (the spec does)
        fs = spec.features.get(name) if name is not None else spec.prediction
        if fs is not None and fs.layout is not None and fs.layout.layout_id == entry[1]:
            sketch.discrete = fs.discrete
            sketch.valid_range = fs.valid_range
    return sketch


def infer_sketch(value: Any, capacity: int, prediction: bool = False) -> Sketch | None:
    """Sketch for a feature whose first value is ``value`` (None if it is not a scalar).

    >>> type(infer_sketch(1.5, 32)).__name__, type(infer_sketch("a", 32)).__name__
    ('NumericSketch', 'CategoricalSketch')
    >>> infer_sketch(0.93, 32, prediction=True).layout.layout_id
    'p1'
    >>> infer_sketch([1, 2], 32) is None
    True
    """
    t = type(value)
    number = value if t is float else None if t is int or isinstance(value, str) \
        else as_number(value)
    if number is not None:
        if prediction and 0.0 <= number <= 1.0:
            return NumericSketch(PROBABILITY)
        return NumericSketch(universal_layout())
    if t is int:
        return CategoricalSketch(capacity=capacity) if prediction else NumericSketch()
    if category_key(value) is not None:
        return CategoricalSketch(capacity=capacity)
    return None


def infer_task(prediction: Any, label: Any) -> str:
    """Label task from the first (prediction, label) pair.

    >>> infer_task(0.9, 1), infer_task("cat", "dog"), infer_task(3.2, 2.5)
    ('binary', 'classification', 'regression')
    """
    if type(prediction) is float and (label in (0, 1) or type(label) is bool):
        return "binary"
    if type(prediction) in (str, bool, int):
        return "classification"
    return "regression"


def _with_missing(sk: Sketch, n_records: int) -> Sketch:
    """Numeric sketches derive ``missing`` from the window's record count at seal time."""
    if isinstance(sk, NumericSketch):
        seen = sk.n + sk.nan + sk.inf + sk.type_mismatch + sk.missing
        if n_records > seen:
            sk.missing += n_records - seen
    else:
        seen = sk.n + sk.missing + sk.type_mismatch
        if n_records > seen:
            sk.missing += n_records - seen
    return sk


def _merge_conflict(a: Sketch, b: Sketch) -> Sketch:
    """Two devices inferred different types (or numeric layouts) for one feature (no spec):
    keep the sketch with more values (numeric, then the smaller layout id, on a tie) and
    count the other's values as type mismatches.

    >>> num, cat = NumericSketch(), CategoricalSketch()
    >>> num.update(1.0); cat.update("a"); cat.update("b")
    >>> kept = _merge_conflict(num, cat)
    >>> type(kept).__name__, kept.n, kept.type_mismatch
    ('CategoricalSketch', 2, 1)
    """
    def values(sk: Sketch) -> int:
        return sk.n + (sk.nan + sk.inf if isinstance(sk, NumericSketch) else 0) + sk.type_mismatch

    def rank(sk: Sketch) -> tuple:
        layout = sk.layout.layout_id if isinstance(sk, NumericSketch) else "~"
        return (values(sk), isinstance(sk, NumericSketch), [-ord(c) for c in layout])

    keep, drop = (a, b) if rank(a) >= rank(b) else (b, a)
    kept = _copy(keep)
    kept.type_mismatch += values(drop)
    kept.missing += drop.missing
    return kept


def _copy(sk: Any) -> Any:
    fresh = type(sk)(sk.layout) if isinstance(sk, NumericSketch) else (
        CategoricalSketch() if isinstance(sk, CategoricalSketch)
        else LabelSketch(sk.task, sk.threshold))
    return fresh.merge(sk)


def _merge_opt(a: Any, b: Any) -> Any:
    """Merge two optional sketches; different types or layouts resolve by _merge_conflict."""
    if b is None:
        return a
    if a is None:
        return _copy(b)
    if type(a) is not type(b) or (isinstance(a, NumericSketch)
                                  and a.layout.layout_id != b.layout.layout_id):
        return _merge_conflict(a, b)
    return a.merge(b)


def _eq_opt(a: Any, b: Any) -> bool:
    if a is None or (hasattr(a, "is_empty") and a.is_empty()):
        return b is None or b.is_empty()
    return a == b
