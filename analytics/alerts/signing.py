"""Standard Webhooks signatures: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.

The signed content is ``f"{id}.{timestamp}.{body}"`` (UTF-8), the key is the
base64-decoded part of a ``whsec_...`` secret, and the signature header is a
space-separated list of ``v1,<base64 HMAC-SHA256>``: one per secret, so an
endpoint can rotate its secret by listing the new and the old one for a while.
See https://www.standardwebhooks.com/ .

>>> secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
>>> headers = sign_headers([secret], "msg_1", 1700000000, b'{"a":1}')
>>> headers["webhook-signature"]
'v1,hVsFLpmw4Ib/Xm0eZLt3KqYBZdt0U8gdGeuz0EsGv78='
>>> verify([secret], headers, b'{"a":1}', now=1700000010)
'msg_1'
>>> verify([secret], headers, b'{"a":2}', now=1700000010)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
analytics.alerts.errors.SignatureError: webhook-signature: got 'v1,hVsF...', expected a v1 HMAC...
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
import time
from collections.abc import Mapping, Sequence

from .errors import SignatureError

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300  # the spec's recommended clock-skew / replay window


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_...`` secret (base64 after the prefix).

    >>> secret_key("whsec_AAEC")
    b'\\x00\\x01\\x02'
    >>> secret_key("AAEC")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    analytics.alerts.errors.SignatureError: secret: got 'AAEC', expected whsec_ followed by ...
    """
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise SignatureError("secret", secret, "whsec_ followed by base64 (24 to 64 random bytes)")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("secret", secret, "whsec_ followed by valid base64") from None
    if not key:
        raise SignatureError("secret", secret, "a non-empty key after whsec_")
    return key


def generate_secret(nbytes: int = 32) -> str:
    """A fresh random ``whsec_`` secret.

    >>> len(secret_key(generate_secret()))
    32
    """
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(nbytes)).decode()


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64>`` for one secret.

    >>> signature("whsec_AAEC", "msg_1", 1, b"{}")[:3]
    'v1,'
    """
    to_sign = f"{msg_id}.{int(timestamp)}.".encode() + body
    mac = hmac.new(secret_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def sign_headers(secrets: Sequence[str], msg_id: str, timestamp: int,
                 body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, one signature per secret (rotation).

    >>> h = sign_headers(["whsec_AAEC", "whsec_AQID"], "msg_1", 5, b"{}")
    >>> len(h["webhook-signature"].split(" ")), h["webhook-timestamp"]
    (2, '5')
    """
    if not secrets:
        raise SignatureError("secrets", list(secrets), "at least one whsec_ secret")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in secrets),
    }


def verify(secrets: Sequence[str], headers: Mapping[str, str], body: bytes, *,
           now: float | None = None, tolerance_s: int = TOLERANCE_S) -> str:
    """Check a request's headers and body; return its ``webhook-id`` or raise SignatureError.

    Header names are matched case-insensitively. A timestamp more than
    ``tolerance_s`` away from ``now`` is refused (stale or from the future).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id", "")
    ts_text = lower.get("webhook-timestamp", "")
    sig_text = lower.get("webhook-signature", "")
    if not msg_id:
        raise SignatureError("webhook-id", msg_id, "a non-empty message id")
    try:
        ts = int(ts_text)
    except ValueError:
        raise SignatureError("webhook-timestamp", ts_text, "whole Unix seconds") from None
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance_s:
        raise SignatureError("webhook-timestamp", ts_text, f"within {tolerance_s} s of now")
    expected = [signature(s, msg_id, ts, body).encode() for s in secrets]
    for candidate in sig_text.split(" "):
        if not candidate.startswith("v1,"):
            continue
        if any(hmac.compare_digest(candidate.encode(), e) for e in expected):
            return msg_id
    raise SignatureError("webhook-signature", sig_text,
                         "a v1 HMAC-SHA256 made with one of the endpoint's secrets")
