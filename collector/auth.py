"""Envelope authentication: key lookup, HMAC check, clock skew and replay.

Order per envelope (the first failure is the 401 reason): key id ``k`` ->
key known (``unknown_key``) -> key's device == envelope ``d``
(``key_device_mismatch``) -> key not revoked (``revoked``) -> HMAC over the
signed message (``bad_signature``; with no ``k`` the device's active keys are
tried, ``unknown_device`` if it has none) -> ``|t - now| <= skew_s``
(``timestamp_skew``) -> ``(d, m, s, t)`` not seen within the window
(``replay``).

>>> import tempfile, os
>>> from edge_sdk.wire import make_envelope
>>> reg = KeyRegistry(os.path.join(tempfile.mkdtemp(), "keys.json"))
>>> key = reg.add("dev-1")
>>> auth = Authenticator(reg, skew_s=300)
>>> env = make_envelope(key, "dev-1", "kws", 0, b"\\x80", ts=1_700_000_000)
>>> auth.authenticate(env, now=1_700_000_010)
>>> auth.authenticate(env, now=1_700_000_011)
Traceback (most recent call last):
...
collector.errors.AuthError: body: replay (expected an envelope (d, m, s, t) not seen before)
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from typing import Any

from edge_sdk.signing import (
    DEVICE_HEADER,
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    request_message,
    signed_message,
)

from .errors import AuthError, PayloadError
from .keys import KeyRegistry

Identity = tuple[str, str, int]

_GIL_CHUNK = 2047   # hashlib releases the GIL for updates of >= 2048 bytes


def _mac(key: str, msg: bytes, signature: bytes) -> bool:
    mac = hmac.new(key.encode(), digestmod=hashlib.sha256)
    if len(msg) <= _GIL_CHUNK:
        mac.update(msg)
    else:
        view = memoryview(msg)
        for i in range(0, len(msg), _GIL_CHUNK):
            mac.update(view[i:i + _GIL_CHUNK])
    return hmac.compare_digest(mac.digest(), signature)


def verify(key: str, device_id: str, model: str, ts: int, seq: int, body: bytes,
           signature: bytes) -> bool:
    """:func:`edge_sdk.signing.verify`, computed without releasing the GIL.

    A ~3 KB window takes ~4 us to hash; releasing the GIL for that and then waiting to get it
    back from the Kafka client's threads cost ~50 us per request under load.

    >>> from edge_sdk.signing import sign
    >>> sig = sign("k", "d", "m", 1, 2, bytes(5000))
    >>> verify("k", "d", "m", 1, 2, bytes(5000), sig), verify("k", "d", "m", 1, 3, bytes(5000), sig)
    (True, False)
    """
    return _mac(key, signed_message(device_id, model, ts, seq, body), signature)


class RequestAuth:
    """The ``X-Edgedrift-*`` headers of one request (see :mod:`edge_sdk.signing`).

    >>> RequestAuth.parse({}) is None
    True
    >>> RequestAuth.parse({"x-edgedrift-device": "dev-1"})
    Traceback (most recent call last):
    ...
    collector.errors.PayloadError: x-edgedrift-timestamp: expected the send time in decimal \
Unix seconds (sent with X-Edgedrift-Device and X-Edgedrift-Signature), got none
    """

    __slots__ = ("device", "key_id", "ts", "signature")

    def __init__(self, device: str, key_id: str | None, ts: int, signature: bytes) -> None:
        self.device, self.key_id, self.ts, self.signature = device, key_id, ts, signature

    @classmethod
    def parse(cls, headers: dict[str, str]) -> RequestAuth | None:
        """From lower-cased header names; None if the request has none of them (an SDK
        older than request signatures); 400 naming the header if they are incomplete."""
        names = (DEVICE_HEADER.lower(), TIMESTAMP_HEADER.lower(), SIGNATURE_HEADER.lower(),
                 KEY_ID_HEADER.lower())
        device, ts, sig, kid = (headers.get(n) for n in names)
        if device is None and ts is None and sig is None and kid is None:
            return None
        if not device or len(device) > 128:
            raise PayloadError(names[0], "the device id (1 to 128 characters, sent with "
                               "X-Edgedrift-Timestamp and X-Edgedrift-Signature)",
                               got=repr((device or "")[:32]) if device else "none")
        if ts is None or not ts.isdigit() or len(ts) > 18:
            raise PayloadError(names[1], "the send time in decimal Unix seconds (sent with "
                               "X-Edgedrift-Device and X-Edgedrift-Signature)",
                               got=repr(ts[:32]) if ts else "none")
        try:
            raw = bytes.fromhex(sig or "")
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise PayloadError(names[2], "64 hex digits of HMAC-SHA256 over the request body",
                               got=repr(sig[:32]) if sig else "none")
        return cls(device, kid or None, int(ts), raw)


class ReplayGuard:
    """Remembers ``(d, m, s, t)`` seen in the last ``window_s`` seconds, in bounded memory.

    Entries live in buckets keyed by ``t // bucket_s``; buckets whose times are
    older than the window are dropped whole. Past ``capacity`` entries the
    oldest bucket is dropped early (an envelope that old is then refused by the
    skew check only if it is outside the window; this trades a tiny replay
    window under flood for bounded memory).

    >>> g = ReplayGuard(window_s=300)
    >>> g.check_and_add(("d", "m", 1, 100), now=100), g.check_and_add(("d", "m", 1, 100), now=101)
    (True, False)
    >>> g.forget(("d", "m", 1, 100)); g.check_and_add(("d", "m", 1, 100), now=102)
    True
    """

    def __init__(self, window_s: int = 300, capacity: int = 1_000_000, bucket_s: int = 10) -> None:
        self.window_s = window_s
        self.capacity = capacity
        self.bucket_s = bucket_s
        self._buckets: dict[int, set[tuple[str, str, int, int]]] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def check_and_add(self, entry: tuple[str, str, int, int], now: float) -> bool:
        """True (and remember it) if the entry is new; False if it is a replay."""
        self._expire(now)
        bucket = entry[3] // self.bucket_s
        seen = self._buckets.get(bucket)
        if seen is None:
            seen = self._buckets[bucket] = set()
        elif entry in seen:
            return False
        seen.add(entry)
        self._size += 1
        while self._size > self.capacity and len(self._buckets) > 1:
            oldest = min(self._buckets)
            self._size -= len(self._buckets.pop(oldest))
        return True

    def forget(self, entry: tuple[str, str, int, int]) -> None:
        """Drop an entry (its window was not accepted, so the same envelope may come again)."""
        seen = self._buckets.get(entry[3] // self.bucket_s)
        if seen is not None and entry in seen:
            seen.discard(entry)
            self._size -= 1

    def _expire(self, now: float) -> None:
        horizon = (int(now) - self.window_s) // self.bucket_s - 1
        if self._buckets and min(self._buckets) < horizon:
            for b in [b for b in self._buckets if b < horizon]:
                self._size -= len(self._buckets.pop(b))


class AcceptedSet:
    """LRU of window identities ``(d, m, s)`` already made durable (answers "duplicate").

    >>> a = AcceptedSet(capacity=2)
    >>> a.add(("d", "m", 1)); a.add(("d", "m", 2)); a.add(("d", "m", 3))
    >>> ("d", "m", 1) in a, ("d", "m", 3) in a
    (False, True)
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Identity, None] = OrderedDict()

    def __contains__(self, ident: object) -> bool:
        return ident in self._items

    def add(self, ident: Identity) -> None:
        if self.capacity <= 0:
            return
        self._items[ident] = None
        self._items.move_to_end(ident)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)


class Authenticator:
    """Checks one envelope (already type-checked by ``validate_envelope``).

    >>> import tempfile, os
    >>> from edge_sdk.wire import make_envelope
    >>> reg = KeyRegistry(os.path.join(tempfile.mkdtemp(), "keys.json"))
    >>> auth = Authenticator(reg, skew_s=300)
    >>> try:
    ...     auth.authenticate(make_envelope("edk_0a1b2c3d_x", "dev-1", "kws", 0, b"w", 100), 100)
    ... except AuthError as exc:
    ...     print(exc.reason, exc.field)
    unknown_key body.k
    """

    def __init__(self, registry: KeyRegistry, skew_s: int = 300,
                 replay_capacity: int = 1_000_000) -> None:
        self.registry = registry
        self.skew_s = skew_s
        self.replay = ReplayGuard(skew_s, replay_capacity)

    def authenticate(self, env: dict[str, Any], now: float, path: str = "body") -> None:
        """Return if the envelope is authentic and fresh; raise :class:`AuthError` if not."""
        d, m, t, s, w, g = env["d"], env["m"], env["t"], env["s"], env["w"], env["g"]
        kid = env.get("k")
        if kid is not None:
            entry = self.registry.lookup_id(kid)
            if entry is None:
                raise AuthError("unknown_key", f"{path}.k")
            if entry.device_id != d:
                raise AuthError("key_device_mismatch", f"{path}.k")
            if entry.revoked:
                raise AuthError("revoked", f"{path}.k")
            if not verify(entry.key, d, m, t, s, w, g):
                raise AuthError("bad_signature", f"{path}.g")
        else:
            keys = self.registry.device_keys(d)
            if not keys:
                raise AuthError("unknown_device", f"{path}.d")
            active = [k for k in keys if not k.revoked]
            if not any(verify(k.key, d, m, t, s, w, g) for k in active):
                revoked = any(verify(k.key, d, m, t, s, w, g) for k in keys if k.revoked)
                raise AuthError("revoked" if revoked else "bad_signature", f"{path}.g")
        if abs(t - now) > self.skew_s:
            raise AuthError("timestamp_skew", f"{path}.t")
        if not self.replay.check_and_add((d, m, s, t), now):
            raise AuthError("replay", path)

    def authenticate_request(self, req: RequestAuth, content_encoding: str, body: bytes,
                             now: float) -> None:
        """Check a request's headers against its raw body (before any inflating or
        decoding); raise :class:`AuthError` naming the header if they do not hold.
        Replays are caught per envelope, after decoding."""
        d = req.device
        if req.key_id is not None:
            entry = self.registry.lookup_id(req.key_id)
            if entry is None:
                raise AuthError("unknown_key", KEY_ID_HEADER.lower())
            if entry.device_id != d:
                raise AuthError("key_device_mismatch", KEY_ID_HEADER.lower())
            if entry.revoked:
                raise AuthError("revoked", KEY_ID_HEADER.lower())
            candidates = [entry]
        else:
            candidates = self.registry.device_keys(d)
            if not candidates:
                raise AuthError("unknown_device", DEVICE_HEADER.lower())
        msg = request_message(d, req.ts, content_encoding, body)
        good = [k for k in candidates if _mac(k.key, msg, req.signature)]
        if not any(not k.revoked for k in good):
            raise AuthError("revoked" if good else "bad_signature", SIGNATURE_HEADER.lower())
        if abs(req.ts - now) > self.skew_s:
            raise AuthError("timestamp_skew", TIMESTAMP_HEADER.lower())

    def forget(self, env: dict[str, Any]) -> None:
        """Undo the replay mark of an envelope that was not accepted (429/503)."""
        self.replay.forget((env["d"], env["m"], env["s"], env["t"]))
