"""Turning an untrusted HTTP body into envelopes, with explicit limits.

Steps: content type (415) -> body size while streaming (413) -> undo
``Content-Encoding`` with a streaming decompressor bounded by
``max_inflated_bytes`` so a decompression bomb stops early (413) -> msgpack
with :func:`edge_sdk.wire.safe_unpackb` (400) -> per-envelope
:func:`edge_sdk.wire.validate_envelope` (400) -> window with the same
parser's ``safe_unpackb`` (400) and ``validate_window`` /
``check_window_matches`` (422). There is no second parser: every check is
the SDK's wire module.

>>> import msgpack, zlib
>>> inflate(zlib.compress(b"x" * 100), "deflate", max_bytes=1000)[:3]
b'xxx'
>>> try:
...     inflate(zlib.compress(b"x" * 10_000), "deflate", max_bytes=1000)
... except PayloadError as exc:
...     print(exc.status, exc.expected)
413 at most 1000 bytes after Content-Encoding deflate
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Any

from edge_sdk.errors import WireError
from edge_sdk.wire import (
    WireLimits,
    check_window_matches,
    safe_unpackb,
    validate_envelope,
    validate_window,
)

from .errors import PayloadError
from .window_proof import features_ok

CONTENT_TYPES = frozenset({"application/vnd.edgedrift.v1+msgpack", "application/msgpack",
                           "application/x-msgpack"})
ENCODINGS = frozenset({"identity", "deflate", "gzip", "x-gzip"})
_CHUNK = 64 << 10


def check_content_type(content_type: str | None, encoding: str | None) -> str:
    """Return the normalised Content-Encoding, or raise a 415 :class:`PayloadError`.

    >>> check_content_type("application/msgpack; charset=binary", "GZIP")
    'gzip'
    >>> try:
    ...     check_content_type("application/json", None)
    ... except PayloadError as exc:
    ...     print(exc.status, exc.field, exc.got)
    415 content-type 'application/json'
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in CONTENT_TYPES:
        raise PayloadError("content-type", "application/vnd.edgedrift.v1+msgpack (or "
                           "application/msgpack, application/x-msgpack)", got=repr(media[:64]),
                           status=415, reason="unsupported_media_type")
    enc = (encoding or "identity").strip().lower() or "identity"
    if enc not in ENCODINGS:
        raise PayloadError("content-encoding", "identity, deflate or gzip", got=repr(enc[:64]),
                           status=415, reason="unsupported_media_type")
    return enc


async def read_body(chunks: AsyncIterator[bytes], max_bytes: int,
                    declared: str | None = None) -> bytes:
    """Collect a request body, refusing (413) as soon as it passes ``max_bytes``."""
    if declared is not None:
        try:
            if int(declared) > max_bytes:
                raise _too_large("body", max_bytes, "")
        except ValueError:
            raise PayloadError("content-length", "a decimal byte count",
                               got=repr(declared[:32])) from None
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise _too_large("body", max_bytes, "")
        parts.append(chunk)
    return b"".join(parts)


def inflate(data: bytes, encoding: str, max_bytes: int) -> bytes:
    """Undo ``Content-Encoding`` producing at most ``max_bytes`` (413 past that, 400 if corrupt)."""
    if encoding == "identity":
        return data
    wbits = 47 if encoding in ("gzip", "x-gzip") else 15   # 47: gzip (or zlib) header
    d = zlib.decompressobj(wbits)
    out = bytearray()
    pending = data
    try:
        while pending:
            out += d.decompress(pending, max_bytes + 1 - len(out))
            if len(out) > max_bytes:
                raise _too_large("body", max_bytes, f" after Content-Encoding {encoding}")
            pending = d.unconsumed_tail
            if d.eof:
                break
        if not d.eof:
            raise PayloadError("body", f"a complete {encoding} stream", got="truncated data")
        if d.unused_data:
            raise PayloadError("body", f"one {encoding} stream",
                               got=f"{len(d.unused_data)} trailing bytes")
    except zlib.error as exc:
        raise PayloadError("body", f"{encoding}-compressed data", got=str(exc)[:80]) from None
    return bytes(out)


def inflate_head(data: bytes, encoding: str, size: int) -> bytes:
    """The first ``size`` bytes (at most) of ``data`` with ``Content-Encoding`` undone, for
    cheap checks before the whole body is inflated; ``b""`` if they cannot be had (the
    full :func:`inflate` then reports why).

    >>> inflate_head(zlib.compress(b"x" * 100_000), "deflate", 10)
    b'xxxxxxxxxx'
    """
    if encoding == "identity":
        return data[:size]
    try:
        return zlib.decompressobj(47 if encoding in ("gzip", "x-gzip") else 15).decompress(
            data, size)
    except zlib.error:
        return b""


def _too_large(field: str, max_bytes: int, what: str) -> PayloadError:
    return PayloadError(field, f"at most {max_bytes} bytes{what}", got="more",
                        status=413, reason="too_large")


def decode_body(data: bytes, limits: WireLimits) -> tuple[list[Any], bool]:
    """msgpack body -> (items, single). Items are not yet validated envelopes."""
    try:
        obj = safe_unpackb(data, limits, "body")
    except WireError as exc:
        raise PayloadError.from_wire(exc) from None
    if isinstance(obj, dict):
        return [obj], True
    if isinstance(obj, list):
        if not obj:
            raise PayloadError("body", "at least one envelope", got="an empty array")
        if len(obj) > limits.max_batch:
            raise PayloadError("body", f"a batch of at most {limits.max_batch} envelopes",
                               got=f"{len(obj)} envelopes", status=413, reason="too_large")
        return obj, False
    raise PayloadError("body", "an envelope map or an array of envelopes",
                       got=type(obj).__name__)


def check_envelope(env: Any, limits: WireLimits, path: str) -> None:
    """Envelope field types and sizes (400)."""
    try:
        validate_envelope(env, limits, path)
    except WireError as exc:
        raise PayloadError.from_wire(exc) from None


def check_window(env: dict[str, Any], limits: WireLimits, path: str) -> dict[str, Any]:
    """Decode and validate the window ``w``: 400 if not msgpack, 422 if it breaks the schema.

    The generic nesting walk (400 when too deep) runs only when the schema checks fail:
    ``validate_window`` checks the type of every value, so a window that passes it is at
    most :data:`_VALID_WINDOW_DEPTH` levels deep. The answer is the same, in the same order.
    """
    wpath = f"{path}.w"
    window = env["w"]
    try:
        body = safe_unpackb(window, limits, wpath,
                            check_depth=limits.max_depth < _VALID_WINDOW_DEPTH)
    except WireError as exc:
        raise PayloadError.from_wire(exc) from None
    try:
        validate_window(body, limits, wpath, features_ok)
        check_window_matches(env, body, path)
    except Exception as exc:
        try:   # too deep is reported first (400), as when the walk ran before the schema
            safe_unpackb(window, limits, wpath)
        except WireError as deep:
            raise PayloadError.from_wire(deep) from None
        if isinstance(exc, WireError):
            raise PayloadError.from_wire(exc, status=422, reason="schema") from None
        raise
    return body


# deepest valid window: body -> f -> entry -> categorical counts (or lb -> cells -> cell,
# sm -> r -> row); unknown keys are walked by validate_window itself
_VALID_WINDOW_DEPTH = 5
