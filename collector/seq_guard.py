"""Which windows are already written: per (device, model), the sequence numbers seen, in
bounded memory.

The SDK numbers a device's windows of one model with a counter (``sq``: it starts at the
install time in ms and goes up by one per window), so the written sequence numbers of one
(device, model) are, almost always, one run ``floor .. hwm`` with a few holes (windows
still in the device's spool, or dropped there). :class:`SeqGuard` keeps exactly that per
(device, model): ``floor``, ``hwm`` (the highest written), and up to ``max_gaps`` holes
as ranges. A sequence number is then

* ``NEW``: above ``hwm``, inside a hole, below ``floor`` of a (device, model) whose
  ``floor`` is the lowest number ever written (its first window), or of an unknown pair;
* ``WRITTEN``: inside ``floor .. hwm`` and in no hole;
* ``UNTRACKED``: below a ``floor`` that was raised to keep at most ``max_gaps`` holes
  (the lowest hole is forgotten first). The sink writes such a window (losing it would be
  worse) and counts it: only a redelivery older than ``max_gaps`` holes can be written twice.

Memory is one small entry per (device, model), whatever the history: ~0.2 KB, plus
16 bytes per hole remembered (measured, 100,000 devices x 2 models: 37 MiB without holes,
150 MiB if every pair kept ``max_gaps`` = 32). The state is a function of the identities added,
in order, so a sink that rebuilds it from its snapshot and the Parquet rows written since
reaches the same state as the one that made them (:mod:`collector.seq_state`).

>>> g = SeqGuard(max_gaps=2)
>>> for s in (10, 11, 14):
...     g.add("dev-1", "kws", s)
>>> [g.check("dev-1", "kws", s) for s in (9, 11, 12, 14, 15)] == [NEW, WRITTEN, NEW, WRITTEN, NEW]
True
>>> g.add("dev-1", "kws", 12); g.check("dev-1", "kws", 12) == WRITTEN
True
>>> SeqGuard.from_bytes(g.to_bytes()) == g
True
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import Any

import msgpack

NEW, WRITTEN, UNTRACKED = 0, 1, 2
_FORMAT = 1

# per (device, model): [floor, hwm, pruned, holes]; holes: None or a flat array of
# a0, b0, a1, b1 ... (ranges a..b, inclusive, ascending) inside floor .. hwm (an array: no
# int objects, 16 bytes a hole); pruned: floor was raised past forgotten holes
_Entry = list


class SeqGuard:
    """Written sequence numbers per (device, model): a run with at most ``max_gaps`` holes.

    Parameters
    ----------
    max_gaps
        Holes remembered per (device, model); past it the lowest is forgotten and numbers
        below it become ``UNTRACKED``.

    >>> g = SeqGuard()
    >>> g.check("d", "m", 5) == NEW
    True
    >>> g.add("d", "m", 5); g.check("d", "m", 5) == WRITTEN, len(g)
    (True, 1)
    """

    def __init__(self, max_gaps: int = 32) -> None:
        if isinstance(max_gaps, bool) or not isinstance(max_gaps, int) or max_gaps < 0:
            raise ValueError(f"max_gaps: got {max_gaps!r}, expected an integer >= 0")
        self.max_gaps = max_gaps
        self._models: dict[str, dict[str, _Entry]] = {}

    def __len__(self) -> int:
        return sum(map(len, self._models.values()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SeqGuard) and self.max_gaps == other.max_gaps \
            and self._models == other._models

    def __repr__(self) -> str:
        return f"SeqGuard(max_gaps={self.max_gaps}, pairs={len(self)})"

    def check(self, device: str, model: str, seq: int) -> int:
        """``NEW``, ``WRITTEN`` or ``UNTRACKED`` (see the module docstring)."""
        devices = self._models.get(model)
        e = None if devices is None else devices.get(device)
        if e is None or seq > e[1]:
            return NEW
        if seq < e[0]:
            return UNTRACKED if e[2] else NEW
        gaps = e[3]
        if gaps is not None:
            for i in range(0, len(gaps), 2):
                if gaps[i] <= seq <= gaps[i + 1]:
                    return NEW
        return WRITTEN

    def add(self, device: str, model: str, seq: int) -> None:
        """Record ``seq`` as written (a no-op if it is written or untracked)."""
        devices = self._models.get(model)
        if devices is None:
            devices = self._models[model] = {}
        e = devices.get(device)
        if e is None:
            devices[device] = [seq, seq, False, None]
            return
        floor, hwm = e[0], e[1]
        if seq > hwm:
            if seq > hwm + 1:
                self._hole(e, hwm + 1, seq - 1, append=True)
            e[1] = seq
        elif seq < floor:
            if e[2]:
                return                              # untracked: nothing to remember
            if seq < floor - 1:
                self._hole(e, seq + 1, floor - 1, append=False)
            if not e[2]:      # (the new hole may have been forgotten at once)
                e[0] = seq
        elif e[3] is not None:
            self._fill(e, seq)

    def _hole(self, e: _Entry, a: int, b: int, append: bool) -> None:
        gaps = e[3]
        if gaps is None:
            gaps = e[3] = array("q", (a, b))
        elif append:
            gaps.append(a)
            gaps.append(b)
        else:
            gaps[0:0] = array("q", (a, b))
        if len(gaps) > 2 * self.max_gaps:          # forget the lowest holes
            drop = len(gaps) - 2 * self.max_gaps
            e[0], e[2] = gaps[drop - 1] + 1, True
            del gaps[:drop]
            if not gaps:
                e[3] = None

    @staticmethod
    def _fill(e: _Entry, seq: int) -> None:
        gaps = e[3]
        for i in range(0, len(gaps), 2):
            a, b = gaps[i], gaps[i + 1]
            if a <= seq <= b:
                rest: list[int] = []
                if a < seq:
                    rest += (a, seq - 1)
                if seq < b:
                    rest += (seq + 1, b)
                flat = list(gaps)
                flat[i:i + 2] = rest
                e[3] = array("q", flat) if flat else None
                return

    def items(self) -> Iterator[tuple[str, str, int, int, bool, list[list[int]]]]:
        """``(device, model, floor, hwm, pruned, holes)`` of every pair."""
        for model, devices in self._models.items():
            for device, (floor, hwm, pruned, gaps) in devices.items():
                flat = list(gaps or ())
                yield device, model, floor, hwm, pruned, [flat[i:i + 2]
                                                          for i in range(0, len(flat), 2)]

    # -- bytes ---------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """msgpack: ``{"v": 1, "max_gaps": n, "models": {model: [device, floor, hwm,
        pruned, [a, b, ...]] ...}}``."""
        models: dict[str, list[Any]] = {}
        for model, devices in self._models.items():
            rows = models[model] = []
            for device, (floor, hwm, pruned, gaps) in devices.items():
                rows.append([device, floor, hwm, pruned, list(gaps or ())])
        return msgpack.packb({"v": _FORMAT, "max_gaps": self.max_gaps, "models": models},
                             use_bin_type=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> SeqGuard:
        """Inverse of :meth:`to_bytes`; raises ValueError naming what is wrong."""
        try:
            obj = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception as exc:
            raise ValueError(f"seq state: not msgpack ({exc})") from None
        if not isinstance(obj, dict) or obj.get("v") != _FORMAT:
            raise ValueError(f"seq state.v: expected {_FORMAT}")
        guard = cls(obj.get("max_gaps", 32))
        try:
            for model, rows in obj["models"].items():
                devices = guard._models[model] = {}
                for device, floor, hwm, pruned, flat in rows:
                    if len(flat) % 2:
                        raise ValueError(f"holes of {device!r}: an odd count")
                    devices[device] = [floor, hwm, bool(pruned),
                                       array("q", flat) if flat else None]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"seq state.models: malformed ({exc})") from None
        return guard
