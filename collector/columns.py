"""The one choice between the C accelerator and the pure-Python columns of a chunk.

A :class:`Backend` bundles the four jobs that have a C and a Python form: splitting a
window body (numeric entries packed in C; in Python nothing is split), and the numeric,
categorical and label columns of a chunk. :data:`PYTHON` is the reference
(:mod:`collector.columns_py`); :data:`C` (:mod:`collector.columns_c`) is None when
``collector._sinkfast`` is not built. :func:`active` is the one in use (C when built);
:func:`use` switches it for a block (tests compare the two).

>>> active() is (C or PYTHON)
True
>>> with use(PYTHON):
...     active().name
'python'
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from edge_sdk.errors import WireError
from edge_sdk.wire import DEFAULT_LIMITS, WireLimits, unpack_window

from . import columns_c, columns_py
from .columns_py import CategoricalColumns, LabelColumns, NumericColumns

ColumnsFn = Callable[[list, WireLimits, bool], Any]


class Backend(NamedTuple):
    """One implementation of the chunk columns (see the module docstring)."""

    name: str
    split: Callable[[bytes | memoryview, WireLimits], tuple | None]
    numeric: ColumnsFn
    categorical: ColumnsFn
    labels: ColumnsFn


PYTHON = Backend("python", lambda data, limits: None, columns_py.numeric_columns_py,
                 columns_py.categorical_columns_py, columns_py.label_columns_py)
C: Backend | None = None if columns_c.native is None else Backend(
    "c", columns_c.split_numeric, columns_c.numeric_columns_c,
    columns_c.categorical_columns_c, columns_c.label_columns_c)
_active: list[Backend] = [C or PYTHON]


def active() -> Backend:
    """The backend in use: :data:`C` when built, else :data:`PYTHON`."""
    return _active[0]


@contextlib.contextmanager
def use(backend: Backend) -> Iterator[Backend]:
    """Use ``backend`` within the block (not thread-safe: for tests and benchmarks)."""
    saved, _active[0] = _active[0], backend
    try:
        yield backend
    finally:
        _active[0] = saved


class Split(NamedTuple):
    """A window's sketch entries and labels, taken out of it and packed as checked rows by
    the C accelerator (see :func:`unpack_split`); what
    :meth:`collector.row_builder.RowBuilder.add` takes with the rest of the window.

    >>> from collector.fake_windows import make_window_body
    >>> rest, split = unpack_split(make_window_body("dev-1", 1, records=10))
    >>> split.count, split.cat_count, split.packed, sorted(rest)[:3]
    (23, 3, 7, ['d', 'f', 'hl'])
    """

    rows: bytes        # packed rows (collector/_sinkfast.c): ``f``'s, then pr, lt, en
    count: int  # type: ignore[assignment]  # rows in ``rows`` (shadows tuple.count)
    f_count: int       # entries in the original ``f`` (numeric ones included)
    packed: int        # which of pr, lt, en were packed (bits 1, 2, 4): gone from the window
    cats: bytes        # packed categorical rows, in the order of ``f``
    cat_count: int     # rows in ``cats``
    labels: bytes | None   # packed classification labels (then gone from the window)
    raw: bytes | memoryview    # the whole window body, for the exact per-window check
    version: int = 1   # the packed numeric entries' wire version (must be the window's)


def unpack_split(data: bytes | memoryview,
                 limits: WireLimits = DEFAULT_LIMITS) -> tuple[Any, Split | None]:
    """:func:`edge_sdk.wire.unpack_window`, except that the numeric feature entries are
    checked and packed in C instead of becoming ~14 Python objects each (when the
    accelerator is in use and the window is ordinary): returns ``(window, split)``, the
    window's ``f`` then holding only its other entries. ``split`` is None when the whole
    window was decoded by msgpack (and any WireError is the one msgpack's decode gives).

    >>> from collector.fake_windows import make_window_body
    >>> w, split = unpack_split(make_window_body("dev-1", 1, records=10))
    >>> len(w["f"]), split.f_count, split.count, split.cat_count, "lt" in w
    (0, 23, 23, 3, False)
    """
    parts = _active[0].split(data, limits)
    if parts is not None:
        rest, rows, count, f_count, packed, cats, cat_count, labels, version = parts
        try:
            return unpack_window(rest, limits), Split(rows, count, f_count, packed, cats,
                                                      cat_count, labels, data, version)
        except WireError:
            pass              # the plain decode below gives (and names) the error
    return unpack_window(data, limits), None


def numeric_columns(nums: list, limits: WireLimits = DEFAULT_LIMITS,
                    check: bool = True) -> NumericColumns | None:
    """The numeric entries' columns by the active backend. ``nums``: decoded entries, and
    (C only) the packed rows of :func:`unpack_split`.

    >>> from collector.fake_windows import make_window_body
    >>> from edge_sdk.wire import decode_window
    >>> nums = [e for e in decode_window(make_window_body("d", 1, records=5))["f"] if e[1] == 0]
    >>> order, names, layouts, ints, floats, bins, sums = numeric_columns(nums)
    >>> ints[0].to_pylist()[:3], len(bins), sums[-1].to_pylist()[:3]     # sums_n: n
    ([5, 5, 5], 64, [5, 5, 5])
    """
    return _active[0].numeric(nums, limits, check)


def categorical_columns(cats: list, limits: WireLimits = DEFAULT_LIMITS,
                        check: bool = True) -> CategoricalColumns | None:
    """The categorical entries' columns by the active backend; ``cats``: decoded entries
    and (C only) the packed rows of :func:`unpack_split`.

    >>> from collector.fake_windows import make_window_body
    >>> from edge_sdk.wire import decode_window
    >>> cats = [e for e in decode_window(make_window_body("d", 1, records=5))["f"] if e[1] == 1]
    >>> names, ints, entry_of, keys, values = categorical_columns(cats)
    >>> names.to_pylist(), ints[0].to_pylist(), sum(values.to_pylist())
    (['c0', 'c1', 'c2'], [5, 5, 5], 15)
    """
    return _active[0].categorical(cats, limits, check)


def label_columns(sets: list, limits: WireLimits = DEFAULT_LIMITS,
                  check: bool = True) -> LabelColumns | None:
    """Classification label sets ``[2, n, mismatch, other, [[predicted, actual, count], ...]]``
    (and, C only, the packed labels of :func:`unpack_split`) -> columns, by the active
    backend.

    >>> (n, mm, good), cell_of, pred, actual, counts = label_columns(
    ...     [[2, 5, 0, 1, [["a", "a", 3], ["a", "b", 1]]]])
    >>> n, good, cell_of.tolist(), actual.to_pylist()
    ([5], [3], [0, 0], ['a', 'b'])
    """
    return _active[0].labels(sets, limits, check)
