"""Count the objects of untrusted msgpack bytes before decoding them, stopping early.

The wire limits bound bytes, string and container lengths and nesting, not the number
of objects: 4 MiB of msgpack can hold ~4 million empty containers, which msgpack turns
into ~280 MB of Python objects in ~0.5 s. :func:`check_object_count` walks the type
bytes (skipping string and binary payloads without reading them) and refuses as soon
as the count passes the limit, so the work is at most ``limit`` steps however the body
is shaped. It does not decode and decides nothing else: a body it lets through is
decoded (and judged) by :func:`edge_sdk.wire.safe_unpackb`, the one parser.

>>> import msgpack
>>> count_objects(msgpack.packb({"a": [1, 2, b"xyz"]}), limit=100)
6
>>> try:
...     check_object_count(msgpack.packb([[]] * 1000), limit=100)
... except PayloadError as exc:
...     print(exc.status, exc)
413 body: expected at most 100 msgpack objects, got more
"""

from __future__ import annotations

from .errors import PayloadError

# payload bytes after the type byte, for the fixed-size types
_FIXED = {0xc0: 0, 0xc2: 0, 0xc3: 0, 0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8,
          0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8, 0xd4: 2, 0xd5: 3, 0xd6: 5, 0xd7: 9, 0xd8: 17}
# (bytes of the length field, extra bytes after the payload's length) for str/bin/ext
_SIZED = {0xc4: (1, 0), 0xc5: (2, 0), 0xc6: (4, 0), 0xd9: (1, 0), 0xda: (2, 0), 0xdb: (4, 0),
          0xc7: (1, 1), 0xc8: (2, 1), 0xc9: (4, 1)}
# containers with a length field: (bytes of the length, objects per element)
_CONTAINERS = {0xdc: (2, 1), 0xdd: (4, 1), 0xde: (2, 2), 0xdf: (4, 2)}


def count_objects(data: bytes, limit: int) -> int:
    """Objects in ``data`` (map keys and values count one each), or ``limit + 1`` as soon
    as there are more than ``limit``. Malformed or truncated input ends the count (the
    decoder reports it)."""
    n = len(data)
    pos = 0
    pending = 1          # objects still to read
    count = 0
    while pending and pos < n:
        b = data[pos]
        pos += 1
        pending -= 1
        count += 1
        if count > limit:
            return count
        if b <= 0x7f or b >= 0xe0:               # fixint
            continue
        if b <= 0x8f:                            # fixmap
            pending += 2 * (b & 0x0f)
        elif b <= 0x9f:                          # fixarray
            pending += b & 0x0f
        elif b <= 0xbf:                          # fixstr
            pos += b & 0x1f
        elif b in _FIXED:
            pos += _FIXED[b]
        elif b in _SIZED:
            width, extra = _SIZED[b]
            pos += width + int.from_bytes(data[pos:pos + width], "big") + extra
        elif b in _CONTAINERS:
            width, per = _CONTAINERS[b]
            pending += per * int.from_bytes(data[pos:pos + width], "big")
            pos += width
        else:                                    # 0xc1: never used; the decoder refuses it
            break
    return count


def check_object_count(data: bytes, limit: int, path: str = "body") -> None:
    """Refuse (413) msgpack ``data`` holding more than ``limit`` objects."""
    if count_objects(data, limit) > limit:
        raise PayloadError(path, f"at most {limit} msgpack objects", got="more", status=413,
                           reason="too_large")
