"""HMAC-SHA256 signatures over a window's identity, send time and body.

Two signatures use the same key. Each envelope carries one over its window (what lands
in Kafka); each HTTP request carries one over its raw body in headers
(:func:`request_headers`), so the collector can authenticate a request before it
inflates or decodes anything.

The envelope's signed message is, byte for byte (``\\n`` is one 0x0A byte)::

    b"edgedrift/1\\n" + device_id + b"\\n" + model + b"\\n"
        + str(ts) + b"\\n" + str(seq) + b"\\n" + body

with ``device_id`` and ``model`` UTF-8 encoded, ``ts`` the send time in
whole Unix seconds and ``seq`` the window's sequence number, both in
decimal ASCII. The HMAC key is the UTF-8 bytes of the device key string.

>>> sig = sign("edk_secret", "dev-1", "kws", 1700000000, 7, b"body")
>>> len(sig), verify("edk_secret", "dev-1", "kws", 1700000000, 7, b"body", sig)
(32, True)
>>> verify("edk_secret", "dev-2", "kws", 1700000000, 7, b"body", sig)
False

The request's signed message is ``b"edgedrift-request/1\\n" + device_id + b"\\n" +
str(ts) + b"\\n" + content_encoding + b"\\n" + body`` with ``body`` the bytes exactly as
sent (after compression) and ``content_encoding`` the ``Content-Encoding`` header's
value (``identity`` when there is none); the signature travels hex-encoded:

>>> h = request_headers("edk_3f9a_secret", "dev-1", "3f9a", 1700000000, "deflate", b"x")
>>> sorted(h), len(h[SIGNATURE_HEADER])
(['X-Edgedrift-Device', 'X-Edgedrift-Key-Id', 'X-Edgedrift-Signature', \
'X-Edgedrift-Timestamp'], 64)
"""

from __future__ import annotations

import hashlib
import hmac

_PREFIX = b"edgedrift/1\n"


def signed_message(device_id: str, model: str, ts: int, seq: int, body: bytes) -> bytes:
    """The exact bytes that are signed (see the module docstring)."""
    return b"".join((_PREFIX, device_id.encode(), b"\n", model.encode(), b"\n",
                     str(int(ts)).encode(), b"\n", str(int(seq)).encode(), b"\n", body))


def sign(key: str, device_id: str, model: str, ts: int, seq: int, body: bytes) -> bytes:
    """32-byte HMAC-SHA256 signature."""
    return hmac.new(key.encode(), signed_message(device_id, model, ts, seq, body),
                    hashlib.sha256).digest()


def verify(key: str, device_id: str, model: str, ts: int, seq: int, body: bytes,
           signature: bytes) -> bool:
    """Constant-time check of a signature made by :func:`sign`."""
    return hmac.compare_digest(sign(key, device_id, model, ts, seq, body), signature)


DEVICE_HEADER = "X-Edgedrift-Device"
KEY_ID_HEADER = "X-Edgedrift-Key-Id"
TIMESTAMP_HEADER = "X-Edgedrift-Timestamp"
SIGNATURE_HEADER = "X-Edgedrift-Signature"
_REQUEST_PREFIX = b"edgedrift-request/1\n"


def request_message(device_id: str, ts: int, content_encoding: str, body: bytes) -> bytes:
    """The exact bytes signed for a request (see the module docstring)."""
    return b"".join((_REQUEST_PREFIX, device_id.encode(), b"\n", str(int(ts)).encode(), b"\n",
                     (content_encoding or "identity").encode(), b"\n", body))


def sign_request(key: str, device_id: str, ts: int, content_encoding: str,
                 body: bytes) -> bytes:
    """32-byte HMAC-SHA256 over :func:`request_message`."""
    return hmac.new(key.encode(), request_message(device_id, ts, content_encoding, body),
                    hashlib.sha256).digest()


def request_headers(key: str, device_id: str, key_id: str, ts: int, content_encoding: str,
                    body: bytes) -> dict[str, str]:
    """The headers that authenticate one request body (``key_id`` may be ``""``)."""
    headers = {DEVICE_HEADER: device_id, TIMESTAMP_HEADER: str(int(ts)),
               SIGNATURE_HEADER: sign_request(key, device_id, ts, content_encoding, body).hex()}
    if key_id:
        headers[KEY_ID_HEADER] = key_id
    return headers
