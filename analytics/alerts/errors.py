"""Errors raised by the alerts package.

Every message names the field (or header), the bad value and what is allowed.

>>> str(AlertsConfigError("alerts.timeout_s", -1, "a positive number of seconds"))
'alerts.timeout_s: got -1, expected a positive number of seconds'
"""

from __future__ import annotations

from edge_sdk.errors import FieldValueError


class AlertsError(Exception):
    """Base class of every error the alerts package raises."""


class AlertsConfigError(AlertsError, FieldValueError):
    """A setting of the ``[alerts]`` config section is invalid.

    >>> AlertsConfigError("alerts.endpoints[0].url", "ftp://x", "an http(s) URL").field
    'alerts.endpoints[0].url'
    """


class UnsafeURLError(AlertsError, ValueError):
    """An endpoint URL is malformed or resolves to an address we refuse to call.

    >>> str(UnsafeURLError("http://10.0.0.1/", "resolves to private address 10.0.0.1"))
    'endpoint url http://10.0.0.1/: resolves to private address 10.0.0.1'
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"endpoint url {url}: {reason}")


class SignatureError(AlertsError, FieldValueError):
    """A webhook request failed verification (headers, timestamp or signature).

    >>> str(SignatureError("webhook-timestamp", "1", "within 300 s of now"))
    "webhook-timestamp: got '1', expected within 300 s of now"
    """


class NotFoundError(AlertsError, LookupError):
    """An alert, delivery or endpoint named on the command line does not exist.

    >>> str(NotFoundError("alert", 42))
    'alert 42: not found'
    """

    def __init__(self, what: str, ident: object) -> None:
        self.what = what
        self.ident = ident
        super().__init__(f"{what} {ident}: not found")
