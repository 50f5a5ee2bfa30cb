"""What kind of value is it? One definition for the SDK's sketches and the reference builder.

* **missing**: ``None``, a float NaN (numpy's included), pandas' ``NA`` and ``NaT``;
* **number** (numeric features): ``int``, ``float`` and any other real number (numpy
  integers and floats, ``Decimal``, ``Fraction``), never a bool (numpy's neither);
* **category key** (categorical features): a string (cut to 64 characters), a bool as
  ``"true"``/``"false"``, an integer -- or a float with an integral value, as integer codes
  read from a CSV column with gaps become -- in decimal digits, so ``16``, ``16.0``,
  ``numpy.int64(16)`` and ``"16"`` are one category;
* anything else is a type mismatch.

numpy and pandas are never imported: their scalars are recognised by the protocols they
implement (``numbers`` registrations, ``__index__``) and pandas' missing markers by type
name. Plain ``str``/``int``/``float`` values take the first test of each function.

>>> import math
>>> [is_missing(v) for v in (None, math.nan, 0.0, "")]
[True, True, False, False]
>>> as_number(3), as_number(True), as_number("3")
(3.0, None, None)
>>> category_key(16), category_key(16.0), category_key("16"), category_key(16.5)
('16', '16', '16', None)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

MAX_CATEGORY_LEN = 64
_PANDAS_MISSING = frozenset({"NAType", "NaTType"})


def is_missing(value: Any) -> bool:
    """None, a float NaN (any float type), pandas' NA or NaT."""
    if value is None:
        return True
    t = type(value)
    if t is float:
        return value != value
    if t is str or t is int or t is bool:
        return False
    if t.__name__ in _PANDAS_MISSING:
        return True
    if isinstance(value, numbers.Number) and not _is_bool(value):
        try:
            return math.isnan(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return False
    return False


def as_number(value: Any) -> float | None:
    """The float of a real, non-bool number (NaN and inf included); None for anything else.

    >>> as_number(10**400)
    inf
    """
    t = type(value)
    if t is float:
        return value
    if t is int:
        return _int_to_float(value)
    convert = _TO_NUMBER.get(t)
    if convert is None:
        convert = _TO_NUMBER.setdefault(t, _number_converter(t))
    return convert(value)


def category_key(value: Any) -> str | None:
    """Canonical category string for a value, or None when it is not categorical.

    >>> category_key("x" * 100) == "x" * 64, category_key(True), category_key(7), category_key(1.5)
    (True, 'true', '7', None)
    """
    t = type(value)
    if t is str:
        return value if len(value) <= MAX_CATEGORY_LEN else value[:MAX_CATEGORY_LEN]
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return str(value)[:MAX_CATEGORY_LEN]
    convert = _TO_KEY.get(t)
    if convert is None:
        convert = _TO_KEY.setdefault(t, _key_converter(t))
    return convert(value)


# What a type's values become, decided once per type (numpy scalars come in a few types, and
# the ABC checks behind that decision are the slow part).
_TO_NUMBER: dict[type, Callable[[Any], float | None]] = {}
_TO_KEY: dict[type, Callable[[Any], str | None]] = {}


def _number_converter(t: type) -> Callable[[Any], float | None]:
    if _is_bool_type(t) or issubclass(t, (str, bytes)) or t is type(None):
        return _none
    if issubclass(t, float):
        return float
    if issubclass(t, numbers.Integral):
        return lambda v: _int_to_float(int(v))
    if issubclass(t, numbers.Number):        # numpy floats, Fraction, Decimal (not complex)
        return _float_or_none
    return _none


def _key_converter(t: type) -> Callable[[Any], str | None]:
    if issubclass(t, str):                   # str subclasses such as numpy.str_
        return lambda v: str.__str__(v)[:MAX_CATEGORY_LEN]
    if _is_bool_type(t):
        return lambda v: "true" if v else "false"
    if issubclass(t, numbers.Integral):
        return lambda v: str(int(v))[:MAX_CATEGORY_LEN]
    if issubclass(t, numbers.Real):
        return _integral_float_key
    return _none


def _integral_float_key(value: Any) -> str | None:
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return str(int(f))[:MAX_CATEGORY_LEN] if math.isfinite(f) and f.is_integer() else None


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _none(value: Any) -> None:
    return None


def _is_bool(value: Any) -> bool:
    return _is_bool_type(type(value))


def _is_bool_type(t: type) -> bool:
    """bool or numpy.bool_ (which is neither a bool nor registered as a number)."""
    return t is bool or t.__name__ in ("bool_", "bool")


def _int_to_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
