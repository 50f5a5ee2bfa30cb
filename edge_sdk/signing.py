"""HMAC-SHA256 signatures over a window's identity, send time and body.

The signed message is, byte for byte (``\\n`` is one 0x0A byte)::

    b"edgedrift/1\\n" + device_id + b"\\n" + model + b"\\n" + str(ts) + b"\\n" + str(seq) + b"\\n" + body

with ``device_id`` and ``model`` UTF-8 encoded, ``ts`` the send time in
whole Unix seconds and ``seq`` the window's sequence number, both in
decimal ASCII. The HMAC key is the UTF-8 bytes of the device key string.

>>> sig = sign("edk_secret", "dev-1", "kws", 1700000000, 7, b"body")
>>> len(sig), verify("edk_secret", "dev-1", "kws", 1700000000, 7, b"body", sig)
(32, True)
>>> verify("edk_secret", "dev-2", "kws", 1700000000, 7, b"body", sig)
False
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
