"""The one registry of statistical methods: an explicit mapping name -> descriptor.

To add a method, write a module with a ``DESCRIPTOR`` (see
:class:`~analytics.methods.base.MethodDescriptor`) and add one line to
:data:`METHODS` -- nothing is registered by import side effects.

>>> sorted(METHODS)
['chi_square', 'jensen_shannon', 'ks', 'psi', 'wasserstein', 'welch']
>>> get_method("ks").display_name
'Kolmogorov-Smirnov'
>>> get_method("kolmogorov")
Traceback (most recent call last):
...
analytics.errors.UnknownMethodError: method: got 'kolmogorov',
    expected one of chi_square, jensen_shannon, ks, psi, wasserstein, welch
"""

from __future__ import annotations

from ..errors import AnalyticsError, UnknownMethodError
from . import chi_square, jensen_shannon, ks, psi, wasserstein, welch
from .base import MethodDescriptor

METHODS: dict[str, MethodDescriptor] = {
    "psi": psi.DESCRIPTOR,
    "jensen_shannon": jensen_shannon.DESCRIPTOR,
    "wasserstein": wasserstein.DESCRIPTOR,
    "ks": ks.DESCRIPTOR,
    "chi_square": chi_square.DESCRIPTOR,
    "welch": welch.DESCRIPTOR,
}


def get_method(name: str, kind: str | None = None, field: str = "method") -> MethodDescriptor:
    """The descriptor of ``name``; ``kind`` (numeric/categorical) checks it applies."""
    desc = METHODS.get(name)
    if desc is None:
        raise UnknownMethodError(field, name, f"one of {', '.join(sorted(METHODS))}")
    if kind is not None and kind not in desc.kinds:
        valid = sorted(n for n, d in METHODS.items() if kind in d.kinds)
        raise AnalyticsError(field, name, f"a method for {kind} features: {', '.join(valid)}")
    return desc
