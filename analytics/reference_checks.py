"""What ``reference build`` saw, and what it refuses to build.

:func:`refuse_useless` raises a :class:`~analytics.errors.ReferenceProfileError` naming the
column for inputs that would silently build a reference that monitors nothing: fewer rows
than a verdict needs, a feature column with no usable value (all missing, or no value of
its kind), a categorical column with no category. :func:`summary` is the per-column table
the command prints (kind, values, missing, mismatches, distinct, range or top categories).

>>> import numpy as np, pandas as pd
>>> from analytics.reference_build import build_reference
>>> df = pd.DataFrame({"t": np.arange(300.0), "mic": ["a", "b", None] * 100})
>>> print("\\n".join(summary(build_reference(df, "m", "1"))))  # doctest: +NORMALIZE_WHITESPACE
column kind        values missing mismatched distinct range / top categories
t      numeric        300       0          0      300 0 .. 299
mic    categorical    200     100          0        2 a 100, b 100
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ReferenceProfileError
from .reference import FeatureProfile

if TYPE_CHECKING:
    from .reference_build import BuiltReference

MIN_ROWS = 200     # the analytics' default min_samples: fewer rows cannot back a verdict


def refuse_useless(built: BuiltReference, roles: dict[str, str], min_rows: int) -> None:
    """Raise for a reference that would monitor nothing (see the module docstring)."""
    prof = built.profile
    if prof.records < min_rows:
        raise ReferenceProfileError(
            "--input", f"{prof.records} rows",
            f"at least {min_rows} rows (a window needs min_samples values before a verdict; "
            "--min-rows lowers this)")
    for column, name in roles.items():
        fp = prof.features.get(name)
        if fp is None:
            continue
        if fp.n == 0:
            raise ReferenceProfileError(f"column {column!r}", _what_was_read(fp), _fix(column, fp))


def _what_was_read(fp: FeatureProfile) -> str:
    inf = f", {fp.inf} infinite or beyond 1e100" if fp.type == "numeric" and fp.inf else ""
    return (f"no usable {fp.type} value in {fp.records} rows ({fp.missing} missing, "
            f"{fp.type_mismatch} of another type{inf})")


def _fix(column: str, fp: FeatureProfile) -> str:
    if fp.missing == fp.records:
        return f"a column with values; drop it with --exclude {column}"
    if fp.type == "numeric":
        return (f"numbers; if it holds categories, --categorical {column}; "
                f"else --exclude {column}")
    return (f"categories (strings, integers or bools); "
            f"if it holds measurements, remove --categorical {column}")


def summary(built: BuiltReference) -> list[str]:
    """One line per column: what the builder read (header first)."""
    rows = [("column", "kind", "values", "missing", "mismatched", "distinct",
             "range / top categories")]
    for name, fp in built.profile.features.items():
        if fp.type == "numeric":
            detail = f"{_g(fp.min)} .. {_g(fp.max)}" if fp.n else "-"
            distinct = built.distinct.get(name)   # from the sample of rows the edges used
        else:
            top = list(fp.categories.items())[:3]
            more = len(fp.categories) - len(top)
            detail = ", ".join(f"{k} {c}" for k, c in top) + (f" (+{more} more)" if more else "")
            distinct = str(len(fp.categories))
        rows.append((name, fp.type, str(fp.n), str(fp.missing), str(fp.type_mismatch),
                     "?" if distinct is None else str(distinct), detail or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    out = []
    for r in rows:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])] + \
            [r[i].rjust(widths[i]) for i in range(2, 6)] + [r[6]]
        out.append(" ".join(cells).rstrip())
    return out


def _g(x: float) -> str:
    return f"{x:.6g}"
