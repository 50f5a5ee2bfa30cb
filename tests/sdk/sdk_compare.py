"""Comparison helpers for the SDK property tests: exact fields exactly, moments up to rounding.

Rounding tolerance is relative to the *data's* magnitude, not the result's: merging
[1e100] with [-1e100, 1.0] gives a mean of ~0 with an absolute rounding error near
1e84, which is float rounding, not a bug.

>>> from edge_sdk import NumericSketch
>>> a, b = NumericSketch(), NumericSketch()
>>> for x in (1.0, 2.0):
...     a.update(x)
>>> for x in (2.0, 1.0):
...     b.update(x)
>>> num_diff(a, b)
[]
"""

from __future__ import annotations

import math

from edge_sdk import CategoricalSketch, LabelSketch, NumericSketch, WindowSketch

REL = 1e-9


def num_diff(a: NumericSketch, b: NumericSketch, path: str = "num") -> list[str]:
    """Differences between two numeric sketches ([] when equal up to rounding)."""
    out = []
    for name in ("counts", "n", "nan", "inf", "missing", "type_mismatch", "out_of_range"):
        if getattr(a, name) != getattr(b, name):
            out.append(f"{path}.{name}: {getattr(a, name)} != {getattr(b, name)}")
    if a.layout.layout_id != b.layout.layout_id:
        out.append(f"{path}.layout: {a.layout.layout_id} != {b.layout.layout_id}")
    if a.n:
        if (a.min, a.max) != (b.min, b.max):
            out.append(f"{path}.min/max: {(a.min, a.max)} != {(b.min, b.max)}")
        scale = max(abs(a.min), abs(a.max), 1e-300)
        if abs(a.mean - b.mean) > REL * scale * (1 + math.log2(a.n + 1)):
            out.append(f"{path}.mean: {a.mean!r} != {b.mean!r}")
        spread = a.max - a.min            # deviations are off by ~eps * scale each
        m2_scale = a.n * (spread * spread + spread * scale)
        floor = a.n * (1e-12 * scale) ** 2    # identical values: the mean itself is rounded
        if abs(a.m2 - b.m2) > REL * m2_scale * (1 + math.log2(a.n + 1)) + floor:
            out.append(f"{path}.m2: {a.m2!r} != {b.m2!r}")
    return out


def cat_diff(a: CategoricalSketch, b: CategoricalSketch, path: str = "cat") -> list[str]:
    if a == b:
        return []
    return [f"{path}: {a._state()} != {b._state()}"]


def label_diff(a: LabelSketch | None, b: LabelSketch | None, path: str = "lb") -> list[str]:
    if a is None or b is None:
        empty = (a is None or a.is_empty()) and (b is None or b.is_empty())
        return [] if empty else [f"{path}: one side missing"]
    out = []
    if (a.cells, a.n, a.other, a.mismatch) != (b.cells, b.n, b.other, b.mismatch):
        out.append(f"{path}: {(a.cells, a.n, a.other, a.mismatch)} != "
                   f"{(b.cells, b.n, b.other, b.mismatch)}")
    for name in ("abs_err", "sq_err"):
        x, y = getattr(a, name), getattr(b, name)
        if abs(x - y) > REL * max(abs(x), abs(y), 1.0) * (1 + math.log2(a.n + 1)):
            out.append(f"{path}.{name}: {x!r} != {y!r}")
    if a.errors is not None or b.errors is not None:
        out += num_diff(a.errors, b.errors, f"{path}.err")
    return out


def sketch_diff(a, b, path: str) -> list[str]:
    if a is None or b is None:
        empty = (a is None or a.is_empty()) and (b is None or b.is_empty())
        return [] if empty else [f"{path}: one side missing ({a!r} vs {b!r})"]
    if type(a) is not type(b):
        return [f"{path}: type {type(a).__name__} != {type(b).__name__}"]
    if isinstance(a, NumericSketch):
        return num_diff(a, b, path)
    return cat_diff(a, b, path)


def window_diff(a: WindowSketch, b: WindowSketch) -> list[str]:
    """Differences between two window sketches ([] when equal up to rounding)."""
    a.finalize()
    b.finalize()
    out = []
    for name in ("n", "unknown_feature", "untyped", "bad_record"):
        if getattr(a, name) != getattr(b, name):
            out.append(f"w.{name}: {getattr(a, name)} != {getattr(b, name)}")
    fa = {k: v for k, v in a.features.items() if not v.is_empty()}
    fb = {k: v for k, v in b.features.items() if not v.is_empty()}
    if set(fa) != set(fb):
        out.append(f"w.features: {sorted(fa)} != {sorted(fb)}")
    for k in set(fa) & set(fb):
        out += sketch_diff(fa[k], fb[k], f"w.f[{k}]")
    out += sketch_diff(a.prediction, b.prediction, "w.pr")
    out += num_diff(a.latency, b.latency, "w.lt")
    out += sketch_diff(a.energy, b.energy, "w.en")
    out += label_diff(a.labels, b.labels)
    return out
