"""The named checks of a window's parts: the wire rules of record (docs/wire-format.md).

Each check raises :class:`~edge_sdk.errors.WireError` naming the field, what was
expected and what came. :func:`edge_sdk.wire.validate_window` applies them to a decoded
window; the collector's faster proofs (``collector/window_proof.py``,
``collector/chunk_checks.py``, ``collector/_sinkfast.c``) are held equal to them by tests.

>>> _sketch_entry([1, 3, 0, 0, 0, 1, {"a": 2}], "w.f[0]", records=3)
>>> _sketch_entry([1, 3, 0, 0, 0, 0, {"a": 2}], "w.f[0]", records=3)
Traceback (most recent call last):
...
edge_sdk.errors.WireError: w.f[0].n: expected the sum of counts plus other (2), got 3
"""

from __future__ import annotations

import math
import struct
import sys
from typing import Any

from .errors import WireError
from .layout import BUILTIN_LAYOUTS, MAX_SLOTS, sums_length

# The window body version the SDK writes (v2 numeric entries end with their slot sums).
WIRE_VERSION = 2
# Every count and counter is at most 2^40 - 1 (a trillion): the dataset stores int64 and
# the analytics sum counts over millions of windows, which must not overflow whatever one
# device sends.
MAX_UINT = 2**40 - 1
_MAX_I32 = 2**31 - 1
# a built-in layout id names its slot count: bins of another length cannot be merged with it
BUILTIN_SLOTS = {layout_id: lay.slots for layout_id, lay in BUILTIN_LAYOUTS.items()}


def _name(body: dict, key: str, max_len: int, path: str) -> None:
    _str(body.get(key), f"{path}.{key}", max_len, allow_empty=False)


def _str(value: Any, path: str, max_len: int, allow_empty: bool = True) -> None:
    if type(value) is not str or len(value) > max_len or (not allow_empty and not value):
        raise WireError(path, f"a {'non-empty ' if not allow_empty else ''}string of at most "
                              f"{max_len} characters", got=_describe(value))


def _uint(value: Any, path: str, top: int = MAX_UINT) -> None:
    if type(value) is not int or not 0 <= value <= top:
        raise WireError(path, "an unsigned integer", got=_describe(value))


def _float(value: Any, path: str) -> None:
    if not _finite_number(value):
        raise WireError(path, "a finite number", got=_describe(value))


def _finite_number(value: Any) -> bool:
    """A float that is finite, or an int that converts to one (msgpack's ints all do; an
    in-process int beyond ~1.8e308 does not, and must not raise OverflowError here)."""
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is not int:
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (missing)"
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    if isinstance(value, dict):
        return f"a map of {len(value)} entries"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


_NUMERIC_UINTS = ((2, "n"), (3, "missing"), (4, "nan"), (5, "inf"), (11, "type_mismatch"),
                  (12, "out_of_range"))
_NUMERIC_FLOATS = ((6, "min"), (7, "max"), (8, "mean"), (9, "m2"))


def _sketch_entry(entry: Any, path: str, numeric_only: bool = False,
                  records: int | None = None, version: int = WIRE_VERSION) -> None:
    """Check one sketch entry; ``records``: the window's record count, which bounds the
    entry's n + missing + ... (None for the label-error histogram, which counts labels).
    ``version``: the window's; v2 numeric entries end with their slot sums."""
    if not isinstance(entry, list) or not entry:
        raise WireError(path, "a sketch entry (array starting with kind 0 or 1)",
                        got=_describe(entry))
    kind = entry[0]
    if kind == 0 and len(entry) == 12 + version:
        if version >= 2:
            _check_sums(entry[13], entry[10], f"{path}.sums")
        _str(entry[1], f"{path}.layout", 32, allow_empty=False)
        for j, key in _NUMERIC_UINTS:          # (the path is built only to name a failure)
            v = entry[j]
            if type(v) is not int or not 0 <= v <= MAX_UINT:
                _uint(v, f"{path}.{key}")
        for j, key in _NUMERIC_FLOATS:
            v = entry[j]
            if type(v) is not float or not math.isfinite(v):
                _float(v, f"{path}.{key}")
        packed = entry[10]
        if type(packed) is not bytes or len(packed) < 2 or packed[0] not in (1, 2, 4) \
                or (len(packed) - 1) % packed[0] \
                or not 1 <= (len(packed) - 1) // packed[0] <= MAX_SLOTS:
            raise WireError(f"{path}.bins",
                            f"bin bytes: width byte 1/2/4 then 1..{MAX_SLOTS} counts")
        slots, want = (len(packed) - 1) // packed[0], BUILTIN_SLOTS.get(entry[1])
        if want is not None and slots != want:
            raise WireError(f"{path}.bins", f"{want} counts (the slots of the built-in layout "
                                            f"{entry[1]!r})", got=f"{slots} counts")
        total = bin_total(packed)
        if total != entry[2]:
            raise WireError(f"{path}.bins", f"bin counts summing to n ({entry[2]})", got=str(total))
        if total > _MAX_I32 and bin_max(packed) > _MAX_I32:
            raise WireError(f"{path}.bins", "bin counts below 2^31", got=str(bin_max(packed)))
        if entry[2] and entry[6] > entry[7]:
            raise WireError(f"{path}.min", "min <= max", got=f"{entry[6]} > {entry[7]}")
        if not entry[2] and (entry[6] or entry[7]):
            raise WireError(f"{path}.min", "min = max = 0 when n is 0",
                            got=f"{entry[6]}, {entry[7]}")
        if entry[12] > entry[2]:
            raise WireError(f"{path}.out_of_range", f"at most n ({entry[2]}; out-of-range "
                                                    "values are in the bins too)",
                            got=str(entry[12]))
        seen = entry[2] + entry[3] + entry[4] + entry[5] + entry[11]
        if records is not None and seen > records:
            raise WireError(f"{path}.n", "n + missing + nan + inf + type_mismatch at most the "
                                         f"window's records ({records})", got=str(seen))
        return
    if kind == 1 and len(entry) == 7 and not numeric_only:
        for j, key in ((1, "n"), (2, "missing"), (3, "type_mismatch"), (4, "unseen"), (5, "other")):
            _uint(entry[j], f"{path}.{key}")
        counts = entry[6]
        if not isinstance(counts, dict):
            raise WireError(f"{path}.counts", "a map of category -> count", got=_describe(counts))
        total = entry[5]
        for k, v in counts.items():
            _str(k, f"{path}.counts", 64)
            _uint(v, f"{path}.counts[{k!r}]")
            total += v
        if total != entry[1]:
            raise WireError(f"{path}.n", f"the sum of counts plus other ({total})",
                            got=str(entry[1]))
        if entry[4] > entry[1]:
            raise WireError(f"{path}.unseen", f"at most n ({entry[1]})", got=str(entry[4]))
        seen = entry[1] + entry[2] + entry[3]
        if records is not None and seen > records:
            raise WireError(f"{path}.n", "n + missing + type_mismatch at most the window's "
                                         f"records ({records})", got=str(seen))
        return
    expected = "a numeric entry [0, layout, n, missing, nan, inf, min, max, mean, m2, bins, " \
               "type_mismatch, out_of_range" + (", sums]" if version >= 2 else "]")
    if not numeric_only:
        expected += " or a categorical entry [1, n, missing, type_mismatch, unseen, other, counts]"
    raise WireError(path, expected, got=f"kind {kind!r} with {len(entry)} elements")


def _check_sums(sums: Any, packed: Any, path: str) -> None:
    """Raise WireError naming ``path`` unless ``sums`` are valid slot sums for ``packed`` bins."""
    if type(sums) is not bytes:
        raise WireError(path, "slot sums bytes", got=_describe(sums))
    if type(packed) is bytes and len(packed) >= 2 and packed[0] in (1, 2, 4) \
            and not sums_ok(sums, (len(packed) - 1) // packed[0]):
        want = sums_length((len(packed) - 1) // packed[0])
        if len(sums) not in (0, want):
            raise WireError(path, f"0 or {want} bytes (a byte per region and two float32 "
                                  "tail sums)", got=f"{len(sums)} bytes")
        raise WireError(path, "tail sums that are finite and >= 0",
                        got=str(struct.unpack("<2f", sums[-8:])))


def sums_ok(sums: Any, slots: int) -> bool:
    """Slot sums of a v2 entry with ``slots`` slots: none (b"") or a byte per region and two
    float32 tail distances, finite and >= 0.

    >>> sums_ok(b"", 64), sums_ok(bytes(8) + struct.pack("<2f", 1.0, 2.0), 64)
    (True, True)
    >>> sums_ok(bytes(16) + struct.pack("<2f", -1.0, 2.0), 64), sums_ok(bytes(3), 64)
    (False, False)
    """
    if type(sums) is not bytes:
        return False
    if not sums:
        return True
    if len(sums) != sums_length(slots):
        return False
    low, high = struct.unpack("<2f", sums[-8:])
    return 0.0 <= low < math.inf and 0.0 <= high < math.inf


def bin_max(packed: bytes) -> int:
    """The largest count of packed bins.

    >>> bin_max(bytes([2, 1, 0, 44, 1]))
    300
    """
    width = packed[0]
    return max(int.from_bytes(packed[1 + k * width:1 + (k + 1) * width], "little")
               for k in range((len(packed) - 1) // width))


def bin_total(packed: bytes) -> int:
    """Sum of the little-endian counts after the width byte (memoryview: no per-bin loop).

    >>> bin_total(bytes([2, 1, 0, 44, 1])), bin_total(bytes([1, 5, 6]))
    (301, 11)
    """
    width, counts = packed[0], memoryview(packed)[1:]
    if width == 1:
        return sum(counts)
    if sys.byteorder == "little":
        return sum(counts.cast("H" if width == 2 else "I"))
    return sum(int.from_bytes(packed[1 + k * width:1 + (k + 1) * width], "little")
               for k in range((len(packed) - 1) // width))


def _label_entry(entry: Any, path: str, version: int = WIRE_VERSION) -> None:
    if not isinstance(entry, list) or not entry:
        raise WireError(path, "a label entry (array starting with kind 2 or 3)")
    if entry[0] == 2 and len(entry) == 5:
        for j, key in ((1, "n"), (2, "mismatch"), (3, "other")):
            _uint(entry[j], f"{path}.{key}")
        cells = entry[4]
        if not isinstance(cells, list):
            raise WireError(f"{path}.cells", "an array of [prediction, label, count]")
        total = entry[3]
        for i, cell in enumerate(cells):
            if (not isinstance(cell, list) or len(cell) != 3 or type(cell[0]) is not str
                    or type(cell[1]) is not str or type(cell[2]) is not int
                    or not 0 <= cell[2] <= MAX_UINT):
                raise WireError(f"{path}.cells[{i}]", "[prediction str, label str, count uint]")
            total += cell[2]
        if total != entry[1]:
            raise WireError(f"{path}.n", f"the sum of cells plus other ({total})",
                            got=str(entry[1]))
        return
    if entry[0] == 3 and len(entry) == 6:
        for j, key in ((1, "n"), (2, "mismatch")):
            _uint(entry[j], f"{path}.{key}")
        _float(entry[3], f"{path}.abs_err")
        _float(entry[4], f"{path}.sq_err")
        _sketch_entry(entry[5], f"{path}.err", numeric_only=True, version=version)
        return
    raise WireError(path, "kind 2 [2, n, mismatch, other, cells] or kind 3 "
                          "[3, n, mismatch, abs_err, sq_err, err]")


def _counter_map(value: Any, path: str) -> None:
    if not isinstance(value, dict) or len(value) > 32:
        raise WireError(path, "a map of at most 32 counter -> unsigned integer")
    for k, v in value.items():
        _str(k, path, 16, allow_empty=False)
        if k == "sk":   # clock skew may be negative
            if type(v) is not int or abs(v) > MAX_UINT:
                raise WireError(f"{path}.{k}", "an integer of magnitude < 2^63", got=_describe(v))
            continue
        _uint(v, f"{path}.{k}")


def _samples(value: Any, path: str) -> None:
    if not isinstance(value, dict) or not isinstance(value.get("c"), list) \
            or not isinstance(value.get("r"), list):
        raise WireError(path, 'a map {"c": [column names], "r": [[row values], ...]}')
    cols = value["c"]
    for c in cols:
        _str(c, f"{path}.c", 128, allow_empty=False)
    if len(value["r"]) > 1024:
        raise WireError(f"{path}.r", "at most 1024 sampled rows")
    for i, row in enumerate(value["r"]):
        if not isinstance(row, list) or len(row) != len(cols):
            raise WireError(f"{path}.r[{i}]", f"a row of {len(cols)} values (one per column)")
        for v in row:
            if v is not None and type(v) not in (int, float, str, bool) \
                    or type(v) is float and not math.isfinite(v):   # stored as JSON
                raise WireError(f"{path}.r[{i}]", "scalar values (finite number, string, bool, "
                                                  "nil)", got=_describe(v))
