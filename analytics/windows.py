"""Evaluation windows: a fixed number of seconds, or calendar units in a time zone.

``analytics.window`` (or ``analyze --window``) takes ``N`` + a unit: ``s``, ``m``, ``h``,
``d`` (fixed lengths, aligned to the Unix epoch in UTC: hours and days start on the hour
and at midnight UTC) or ``w`` / ``mo`` (calendar weeks from Monday and calendar months,
one at a time), all aligned to ``analytics.timezone`` when it is not UTC (then days,
weeks and months start at local midnight, whatever the daylight-saving offset). A bare
number is seconds (``analytics.window_s``, the older setting).

A window is identified by its start in Unix ms (the *bucket*); :meth:`Cadence.end` gives
its end, :meth:`Cadence.index` an ordinal that counts windows (for "the previous window").

>>> m = Cadence.parse("1mo", "UTC")
>>> import datetime as dt
>>> def utc(ms): return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).date().isoformat()
>>> start = m.floor(1_740_000_000_000)            # 2025-02-19T21:20Z
>>> utc(start), utc(m.end(start)), m.index(m.end(start)) - m.index(start)
('2025-02-01', '2025-03-01', 1)
>>> Cadence.parse("3600").sql("ws")
('(epoch_ms(ws) // 3600000) * 3600000', [])
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from .errors import AnalyticsError

UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 2_629_746}
_SPELLING = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w|mo)?\s*$")


@dataclass(frozen=True)
class Cadence:
    """How evaluation windows are cut (see the module docstring).

    >>> Cadence.parse("1d", "Europe/Berlin").fixed_ms is None, Cadence.parse("1d").fixed_ms
    (True, 86400000)
    """

    count: int
    unit: str
    timezone: str = "UTC"

    @classmethod
    def parse(cls, text: str | int, timezone: str = "UTC",
              field: str = "analytics.window") -> Cadence:
        match = _SPELLING.match(str(text))
        if not match or int(match.group(1)) < 1:
            raise AnalyticsError(field, text, "a window such as 3600 (seconds), 15m, 1h, 1d, "
                                 "1w or 1mo")
        count, unit = int(match.group(1)), match.group(2) or "s"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise AnalyticsError("analytics.timezone", timezone,
                                 "an IANA time zone such as UTC or Europe/Berlin") from None
        cadence = cls(count, unit, timezone)
        if unit in ("w", "mo") and count != 1 or (unit == "d" and count != 1
                                                   and cadence.fixed_ms is None):
            raise AnalyticsError(field, text, f"1{unit}: calendar {unit} windows come one "
                                 "at a time (or use a fixed length such as 14d in UTC)")
        return cadence

    # -- lengths ----------------------------------------------------------------------
    @property
    def fixed_ms(self) -> int | None:
        """The length when every window has the same one and starts at a multiple of it."""
        if self.unit in ("s", "m", "h") or (self.unit == "d" and self.timezone == "UTC"):
            return self.count * UNITS_S[self.unit] * 1000
        return None

    @property
    def nominal_ms(self) -> int:
        """The typical length (a month: 30.44 days), for sizes and gap counts."""
        return self.count * UNITS_S[self.unit] * 1000

    @property
    def label(self) -> str:
        tz = "" if self.timezone == "UTC" else f" ({self.timezone})"
        return f"{self.count}{self.unit}{tz}"

    # -- where windows fall -------------------------------------------------------------
    def floor(self, ms: int) -> int:
        """The start of the window holding ``ms``."""
        fixed = self.fixed_ms
        if fixed is not None:
            return int(ms) // fixed * fixed
        local = self._local(ms)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.unit == "w":
            day -= dt.timedelta(days=day.weekday())
        elif self.unit == "mo":
            day = day.replace(day=1)
        return _ms(day)

    def end(self, bucket_ms: int) -> int:
        """The end of the window starting at ``bucket_ms`` (the next window's start)."""
        fixed = self.fixed_ms
        if fixed is not None:
            return int(bucket_ms) + fixed
        local = self._local(bucket_ms)
        if self.unit == "mo":
            nxt = (local.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        else:
            nxt = local + dt.timedelta(days=7 if self.unit == "w" else 1)
        return _ms(nxt)   # aware arithmetic is wall-clock: the offset is that date's (DST)

    def shift(self, bucket_ms: int, windows: int) -> int:
        """The start of the window ``windows`` before (negative) or after ``bucket_ms``'s."""
        b = self.floor(bucket_ms)
        fixed = self.fixed_ms
        if fixed is not None:
            return b + windows * fixed
        for _ in range(abs(windows)):
            b = self.end(b) if windows > 0 else self.floor(b - 1)
        return b

    def index(self, bucket_ms: int) -> int:
        """An ordinal of the window holding ``bucket_ms``: consecutive windows differ by 1."""
        fixed = self.fixed_ms
        if fixed is not None:
            return int(bucket_ms) // fixed
        local = self._local(self.floor(bucket_ms))
        if self.unit == "mo":
            return local.year * 12 + local.month - 1
        days = local.date().toordinal()
        return days // 7 if self.unit == "w" else days

    def sql(self, column: str) -> tuple[str, list]:
        """A DuckDB expression (and its parameters) for the bucket of a TIMESTAMPTZ column (the
        dataset's ``window_start``)."""
        fixed = self.fixed_ms
        if fixed is not None:
            return f"(epoch_ms({column}) // {fixed}) * {fixed}", []
        width = {"d": "1 day", "w": "1 week", "mo": "1 month"}[self.unit]
        return (f"epoch_ms(time_bucket(INTERVAL '{width}', {column}::TIMESTAMPTZ, ?))",
                [self.timezone])

    def _local(self, ms: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(int(ms) / 1000, ZoneInfo(self.timezone))


def ends(cadence: Cadence, buckets: Any) -> np.ndarray:
    """The end (ms) of each window start in ``buckets`` (an array or Series of ms)."""
    b = np.asarray(buckets, dtype=np.int64)
    if cadence.fixed_ms is not None:
        return b + cadence.fixed_ms
    return _per_unique(b, cadence.end)


def indices(cadence: Cadence, buckets: Any) -> np.ndarray:
    """:meth:`Cadence.index` of each window start in ``buckets``."""
    b = np.asarray(buckets, dtype=np.int64)
    if cadence.fixed_ms is not None:
        return b // cadence.fixed_ms
    return _per_unique(b, cadence.index)


def _per_unique(b: np.ndarray, f: Any) -> np.ndarray:
    uniq, inverse = np.unique(b, return_inverse=True)
    return np.array([f(int(x)) for x in uniq], dtype=np.int64)[inverse.reshape(-1)] \
        if len(b) else b


def _ms(t: dt.datetime) -> int:
    return int(round(t.timestamp() * 1000))
