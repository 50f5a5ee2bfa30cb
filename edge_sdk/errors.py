"""Errors raised by the edge SDK.

Only *configuration* errors are raised to the application (at construction
time). Data errors inside ``Monitor.log`` are counted, never raised.
"""

from __future__ import annotations


class EdgeDriftError(Exception):
    """Base class of every error the SDK raises."""


class FieldValueError(ValueError):
    """A value is not what a named field allows: ``field: got VALUE, expected WHAT``.

    The shared shape of every edgedrift error about a setting or an input
    (the server packages derive their errors from it too).

    >>> str(FieldValueError("port", "x" * 100, "a TCP port"))[:22]
    "port: got 'xxxxxxxxxxx"
    """

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{field}: got {shown}, expected {expected}")


class ConfigError(EdgeDriftError, FieldValueError):
    """A constructor argument or spec file is invalid.

    ``field`` names the offending setting, ``value`` the bad value and the
    message says what is allowed.

    >>> err = ConfigError("window_s", -1, "a positive number of seconds")
    >>> str(err)
    'window_s: got -1, expected a positive number of seconds'
    """


class WireError(EdgeDriftError, ValueError):
    """A payload does not follow wire format v1.

    ``field`` is a dotted path into the payload (``w.f[3].bins``) and
    ``expected`` says what the format requires there.

    >>> str(WireError("w.sq", "an unsigned integer", got="'7'"))
    "w.sq: expected an unsigned integer, got '7'"
    """

    def __init__(self, field: str, expected: str, got: str | None = None) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        msg = f"{field}: expected {expected}"
        if got is not None:
            msg += f", got {got}"
        super().__init__(msg)

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form used by the collector's 4xx bodies."""
        out = {"field": self.field, "expected": self.expected}
        if self.got is not None:
            out["got"] = self.got
        return out
