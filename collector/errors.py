"""Errors of the collector package: one base class, messages naming field, value and what is allowed.

>>> raise RecordError("w.f[2].bins", "counts below 2^31", got="4294967295")
Traceback (most recent call last):
...
collector.errors.RecordError: w.f[2].bins: expected counts below 2^31, got 4294967295
"""

from __future__ import annotations


class CollectorError(Exception):
    """Base class of every error raised by the collector (gateway and sink)."""


class RecordError(CollectorError):
    """A Kafka record (or embedded record) that the sink cannot turn into rows.

    The sink sends such a record to the dead-letter topic with this message as
    the reason and moves on.
    """

    def __init__(self, field: str, expected: str, got: str = "") -> None:
        self.field, self.expected, self.got = field, expected, got
        super().__init__(f"{field}: expected {expected}" + (f", got {got}" if got else ""))


class SinkError(CollectorError):
    """The sink cannot make data durable (I/O error, closed sink, broker unavailable)."""


class SinkClosedError(SinkError):
    """``write()`` was called on a sink that is closed or closing."""
