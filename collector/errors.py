"""Errors of the collector package: one base class, messages naming field, value and what is
allowed.

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


# -- gateway (HTTP ingest) ----------------------------------------------------------
class GatewayError(CollectorError):
    """A request or envelope the gateway refuses; ``status`` is the HTTP status and
    ``reason`` the label under which the rejection is counted in ``/metrics``."""

    status = 400
    reason = "malformed"

    def as_dict(self) -> dict[str, str]:
        """The ``error`` object of the JSON answer."""
        return {"field": getattr(self, "field", "body"), "reason": self.reason}


class PayloadError(GatewayError):
    """A body, envelope or window that breaks the format or a limit (400/413/415/422).

    >>> err = PayloadError("body.w.f[3].bins", "bin bytes", got="7 bytes", status=422,
    ...                    reason="schema")
    >>> err.status, err.as_dict()["field"], str(err)
    (422, 'body.w.f[3].bins', 'body.w.f[3].bins: expected bin bytes, got 7 bytes')
    """

    def __init__(self, field: str, expected: str, got: str | None = None,
                 status: int = 400, reason: str = "malformed") -> None:
        self.field, self.expected, self.got = field, expected, got
        self.status, self.reason = status, reason
        super().__init__(f"{field}: expected {expected}" + (f", got {got}" if got is not None
                                                            else ""))

    @classmethod
    def from_wire(cls, exc: Exception, status: int = 400,
                  reason: str = "malformed") -> PayloadError:
        """From an :class:`edge_sdk.errors.WireError` (keeps its field, expected and got)."""
        return cls(getattr(exc, "field", "body"), getattr(exc, "expected", str(exc)),
                   getattr(exc, "got", None), status, reason)

    def as_dict(self) -> dict[str, str]:
        out = {"field": self.field, "expected": self.expected, "reason": self.reason}
        if self.got is not None:
            out["got"] = self.got
        return out


AUTH_REASONS = ("bad_signature", "unknown_device", "unknown_key", "revoked",
                "key_device_mismatch", "timestamp_skew", "replay")
_AUTH_EXPECTED = {
    "bad_signature": "an HMAC-SHA256 signature made with the device's key",
    "unknown_device": "a device id with a key in the registry",
    "unknown_key": "a key id present in the registry",
    "revoked": "a key that is not revoked",
    "key_device_mismatch": "a key issued to the envelope's device",
    "timestamp_skew": "a send time within the allowed clock skew of the server",
    "replay": "an envelope (d, m, s, t) not seen before",
}


class AuthError(GatewayError):
    """An envelope that fails authentication (401); ``reason`` is one of :data:`AUTH_REASONS`.

    >>> AuthError("revoked", "body.k").as_dict()
    {'field': 'body.k', 'reason': 'revoked', 'expected': 'a key that is not revoked'}
    """

    status = 401

    def __init__(self, reason: str, field: str) -> None:
        if reason not in _AUTH_EXPECTED:
            raise ValueError(f"reason: got {reason!r}, expected one of {', '.join(AUTH_REASONS)}")
        self.reason, self.field = reason, field
        super().__init__(f"{field}: {reason} (expected {_AUTH_EXPECTED[reason]})")

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason, "expected": _AUTH_EXPECTED[self.reason]}


class RateLimited(GatewayError):
    """A device past its rate limit (429 + ``Retry-After``).

    >>> err = RateLimited("dev-1", 3)
    >>> err.status, err.retry_after, err.as_dict()["reason"]
    (429, 3, 'rate_limited')
    """

    status = 429
    reason = "rate_limited"

    def __init__(self, device_id: str, retry_after: int) -> None:
        self.field, self.retry_after = "body.d", retry_after
        super().__init__(f"body.d: device {device_id[:64]!r} is over its rate limit; "
                         f"retry after {retry_after} s")


class Unavailable(GatewayError):
    """The windows could not be made durable (Kafka or sink down): 503 + ``Retry-After``.

    >>> Unavailable("kafka", 5).as_dict()["expected"]
    'kafka available (retry later)'
    """

    status = 503
    reason = "unavailable"

    def __init__(self, backend: str, retry_after: int) -> None:
        self.field, self.backend, self.retry_after = "body", backend, retry_after
        super().__init__(f"{backend}: not available; retry after {retry_after} s")

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason,
                "expected": f"{self.backend} available (retry later)"}


class KeyRegistryError(CollectorError, ValueError):
    """The key registry file or a key command argument is invalid.

    >>> str(KeyRegistryError("device_id", "", "a non-empty string"))
    "device_id: got '', expected a non-empty string"
    """

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field, self.value, self.expected = field, value, expected
        super().__init__(f"{field}: got {value!r}, expected {expected}")
