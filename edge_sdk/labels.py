"""Label-based quality: a confusion table for classifiers, an error sketch for regressors.

Labels arrive late (``Monitor.label``) and are counted in the window in
which they arrive, paired with the prediction the model made.

>>> a, b, both = (LabelSketch("classification") for _ in range(3))
>>> for p, y in (("yes", "yes"), ("no", "yes")):
...     a.update(p, y); both.update(p, y)
>>> b.update("no", "no"); both.update("no", "no")
>>> a.merge(b) == both, both.accuracy
(True, 0.6666666666666666)
>>> r = LabelSketch("regression")
>>> r.update(2.5, 2.0); r.update(1.0, 2.0)
>>> r.mae, LabelSketch.from_msgpack(r.to_msgpack()) == r
(0.75, True)
"""

from __future__ import annotations

from typing import Any

from .categorical import category_key
from .errors import WireError
from .layout import BUILTIN_LAYOUTS, universal_layout
from .numeric import NumericSketch

CLASSIFICATION_KIND = 2
REGRESSION_KIND = 3
CONFUSION_CAPACITY = 256
TASKS = ("classification", "regression", "binary")


class LabelSketch:
    """Mergeable label quality for one window.

    ``task`` is ``classification`` (predicted vs true class counts),
    ``binary`` (a score thresholded at ``threshold``, then as classification)
    or ``regression`` (a histogram of ``prediction - label`` plus absolute and
    squared error sums).
    """

    __slots__ = ("task", "threshold", "cells", "other", "n", "mismatch", "abs_err", "sq_err",
                 "errors")

    def __init__(self, task: str = "classification", threshold: float = 0.5) -> None:
        if task not in TASKS:
            raise ValueError(f"task: got {task!r}, expected one of {', '.join(TASKS)}")
        self.task = task
        self.threshold = threshold
        self.cells: dict[tuple[str, str], int] = {}
        self.other = 0
        self.n = 0
        self.mismatch = 0
        self.abs_err = 0.0
        self.sq_err = 0.0
        self.errors = NumericSketch(universal_layout()) if task == "regression" else None

    def update(self, prediction: Any, label: Any) -> None:
        """Count one (prediction, label) pair; unusable pairs count as ``mismatch``."""
        if self.task == "regression":
            try:
                err = float(prediction) - float(label)
            except Exception:  # user objects may raise anything from __float__
                self.mismatch += 1
                return
            if err != err or abs(err) > 1e100:
                self.mismatch += 1
                return
            self.n += 1
            self.abs_err += abs(err)
            self.sq_err += err * err
            self.errors.update(err)  # type: ignore[union-attr]
            return
        if self.task == "binary" and type(prediction) in (float, int):
            prediction = prediction >= self.threshold
            if type(label) is int and label in (0, 1):
                label = bool(label)
        p, y = category_key(prediction), category_key(label)
        if p is None or y is None:
            self.mismatch += 1
            return
        self.add_cell(p, y, 1)

    def add_cell(self, pred: str, label: str, count: int) -> None:
        self.n += count
        cell = (pred, label)
        if cell in self.cells:
            self.cells[cell] += count
        elif len(self.cells) < CONFUSION_CAPACITY:
            self.cells[cell] = count
        else:
            self.other += count

    def merge(self, other: LabelSketch) -> LabelSketch:
        """Fold ``other`` (same task) in and return self."""
        if (other.task == "regression") != (self.task == "regression"):
            raise ValueError(
                f"cannot merge label sketches of tasks {self.task!r} and {other.task!r}")
        for cell, c in other.cells.items():
            self.cells[cell] = self.cells.get(cell, 0) + c
        self.n += other.n
        self.other += other.other
        self.mismatch += other.mismatch
        self.abs_err += other.abs_err
        self.sq_err += other.sq_err
        if self.errors is not None and other.errors is not None:
            self.errors.merge(other.errors)
        return self

    def is_empty(self) -> bool:
        return not (self.n or self.mismatch)

    @property
    def accuracy(self) -> float | None:
        """Share of correct classifications (None for regression or no labels)."""
        if self.task == "regression" or not self.n:
            return None
        return sum(c for (p, y), c in self.cells.items() if p == y) / self.n

    @property
    def mae(self) -> float | None:
        """Mean absolute error (None for classifiers or no labels)."""
        if self.task != "regression" or not self.n:
            return None
        return self.abs_err / self.n

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSketch):
            return NotImplemented
        same = ((self.task == "regression") == (other.task == "regression")
                and self.cells == other.cells and self.n == other.n
                and self.other == other.other and self.mismatch == other.mismatch
                and abs(self.abs_err - other.abs_err) <= 1e-9 * max(1.0, abs(self.abs_err))
                and abs(self.sq_err - other.sq_err) <= 1e-9 * max(1.0, abs(self.sq_err)))
        return same and (self.errors == other.errors)

    __hash__ = None  # type: ignore[assignment]

    def to_msgpack(self) -> list:
        """Positional entry (docs/wire-format.md, "label entry")."""
        if self.task == "regression":
            return [REGRESSION_KIND, self.n, self.mismatch, self.abs_err, self.sq_err,
                    self.errors.to_msgpack()]  # type: ignore[union-attr]
        return [CLASSIFICATION_KIND, self.n, self.mismatch, self.other,
                [[p, y, c] for (p, y), c in self.cells.items()]]

    @classmethod
    def from_msgpack(cls, entry: list, path: str = "lb") -> LabelSketch:
        """Inverse of :meth:`to_msgpack`."""
        if not isinstance(entry, list) or not entry:
            raise WireError(path, "a label entry (array starting with kind 2 or 3)")
        if entry[0] == REGRESSION_KIND and len(entry) == 6:
            s = cls("regression")
            _, s.n, s.mismatch, abs_err, sq_err, err_entry = entry
            s.abs_err, s.sq_err = float(abs_err), float(sq_err)
            s.errors = NumericSketch.from_msgpack(err_entry, BUILTIN_LAYOUTS["u1"], f"{path}.err")
            return s
        if entry[0] == CLASSIFICATION_KIND and len(entry) == 5:
            s = cls("classification")
            _, n, s.mismatch, s.other, cells = entry
            if not isinstance(cells, list):
                raise WireError(f"{path}.cells", "an array of [prediction, label, count]")
            for i, cell in enumerate(cells):
                if (not isinstance(cell, list) or len(cell) != 3 or not isinstance(cell[0], str)
                        or not isinstance(cell[1], str) or type(cell[2]) is not int or cell[2] < 0):
                    raise WireError(f"{path}.cells[{i}]", "[prediction str, label str, count uint]")
                s.cells[(cell[0], cell[1])] = s.cells.get((cell[0], cell[1]), 0) + cell[2]
            s.n = sum(s.cells.values()) + s.other
            if s.n != n:
                raise WireError(f"{path}.n", f"the sum of cells plus other ({s.n})", got=str(n))
            return s
        raise WireError(path, "kind 2 (5 elements) or kind 3 (6 elements)")
