"""Errors raised by the analytics package.

Every message names the field (or input), the bad value and what is allowed.

>>> str(AnalyticsError("analytics.window_s", -5, "a positive number of seconds"))
'analytics.window_s: got -5, expected a positive number of seconds'
"""

from __future__ import annotations

from edge_sdk.errors import FieldValueError


class AnalyticsError(FieldValueError):
    """Base class of every analytics error: ``field: got VALUE, expected WHAT``."""


class UnknownMethodError(AnalyticsError, KeyError):
    """A statistical method name is not in the registry (the message lists the valid ones)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return ValueError.__str__(self)


class ReferenceError_(AnalyticsError):
    """A reference profile is missing, unreadable or inconsistent with its input."""


ReferenceProfileError = ReferenceError_


class DatasetError(AnalyticsError):
    """The Parquet dataset cannot be read as collector/schema.py describes."""
