"""Errors of the dashboard; every message names the field, the bad value and what is allowed.

>>> str(DashboardError("dashboard.port", 0, "a TCP port between 1 and 65535"))
'dashboard.port: got 0, expected a TCP port between 1 and 65535'
"""

from __future__ import annotations


class DashboardError(ValueError):
    """A bad dashboard setting or argument."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field, self.value, self.expected = field, value, expected
        super().__init__(f"{field}: got {value!r}, expected {expected}")
