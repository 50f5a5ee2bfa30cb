"""Wire format: window bodies (v2, and v1 still accepted), signed envelopes and requests
(docs/wire-format.md).

This is the only parser of edgedrift payloads; the collector and analytics
use it too. Decoding untrusted bytes goes through :func:`safe_unpackb`, which
enforces explicit limits (sizes, lengths, nesting, no ext types, str keys).

>>> body = encode_window({"v": 2, "d": "dev-1", "m": "kws", "mv": "1.0", "sq": 0,
...                       "ws": 1_700_000_000_000, "we": 1_700_000_060_000, "n": 0,
...                       "f": [], "lt": [0, "lat1", 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0,
...                                       b"\\x01" + bytes(49), 0, 0, b""]})
>>> decode_window(body)["d"]
'dev-1'
>>> env = make_envelope("edk_k", "dev-1", "kws", 0, body, ts=1_700_000_000)
>>> [e["s"] for e in decode_request(encode_request([env]))]
[0]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from .errors import WireError
from .signing import sign
from .spec import RESERVED_FEATURES
from .wire_rules import (
    BUILTIN_SLOTS,
    MAX_UINT,
    WIRE_VERSION,
    _counter_map,
    _describe,
    _label_entry,
    _name,
    _samples,
    _sketch_entry,
    _str,
    _uint,
    bin_max,
    bin_total,
    sums_ok,
)

__all__ = ["BUILTIN_SLOTS", "MAX_UINT", "WIRE_VERSION", "bin_max", "bin_total", "sums_ok"]

# Window bodies: v2 numeric entries end with their slot sums (edge_sdk.layout.regions);
# v1 bodies (13-element numeric entries) stay accepted: devices upgrade slowly.
WINDOW_VERSIONS = (1, 2)
# Envelopes and requests did not change with window v2.
ENVELOPE_VERSION = 1
CONTENT_TYPE = "application/vnd.edgedrift.v1+msgpack"
MAX_U64 = 2**64 - 1
# Every count and counter is at most MAX_UINT = 2^40 - 1 (edge_sdk.wire_rules). Sequence
# numbers (time-based in the SDK) and window times are int64.
_MAX_INT64 = 2**63 - 1
# Feature names of the window-level sketches in the dataset (prediction, latency, energy,
# regression-label error): a feature of the window may not use them.
PSEUDO_FEATURES = RESERVED_FEATURES
_RESERVED = frozenset(PSEUDO_FEATURES)
# Window times must have a calendar date (9999-12-31T23:59:59.999Z at the latest).
MAX_TIME_MS = 253_402_300_799_999
# Model names name directories of the dataset (model=<name>): no '/', no leading '.'.
MODEL_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MODEL_NAME_RULE = ("a model name of at most 128 letters, digits, '.', '_' or '-', starting with "
                   "a letter or digit")


def is_model_name(name: Any) -> bool:
    """Whether ``name`` may name a model (it becomes a directory of the dataset).

    >>> is_model_name("kws-v2.1"), is_model_name("../etc"), is_model_name("a/b"), is_model_name("")
    (True, False, False, False)
    """
    return (type(name) is str and 0 < len(name) <= 128 and name[0].isalnum()
            and set(name) <= MODEL_NAME_CHARS)


@dataclass(frozen=True)
class WireLimits:
    """Explicit bounds for decoding untrusted payloads.

    >>> WireLimits().max_depth
    8
    """

    max_body_bytes: int = 1 << 20          # compressed request body
    max_inflated_bytes: int = 4 << 20      # after Content-Encoding is undone
    max_window_bytes: int = 256 << 10      # one window body
    max_str_len: int = 4096
    max_bin_len: int = 256 << 10
    max_array_len: int = 4096
    max_map_len: int = 1024
    max_depth: int = 8
    max_batch: int = 500
    max_features: int = 256
    max_name_len: int = 128


DEFAULT_LIMITS = WireLimits()

# (feature entries, max name length, the window's records, window version) -> True if every
# entry is valid: an optional faster proof (the collector's column-wise one) that lets
# validate_window skip its per-entry checks; False means "run them" (they name the field).
FeaturesProof = Callable[[list, int, int, int], bool]


def safe_unpackb(data: bytes | memoryview, limits: WireLimits = DEFAULT_LIMITS, path: str = "body",
                 check_depth: bool = True) -> Any:
    """Decode one msgpack object from untrusted bytes, or raise :class:`WireError`.

    >>> safe_unpackb(msgpack.packb({"a": [1, 2]}))
    {'a': [1, 2]}
    >>> safe_unpackb(msgpack.packb(1) + b"x")
    Traceback (most recent call last):
    ...
    edge_sdk.errors.WireError: body: expected exactly one msgpack object, got 1 trailing bytes
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WireError(path, "msgpack bytes", got=type(data).__name__)
    if not data:
        raise WireError(path, "a msgpack object", got="an empty body")
    try:   # unpackb bounds every length by the input size too (no max_buffer_size needed)
        obj = msgpack.unpackb(
            data, raw=False, strict_map_key=True, use_list=True,
            max_str_len=limits.max_str_len, max_bin_len=limits.max_bin_len,
            max_array_len=limits.max_array_len, max_map_len=limits.max_map_len,
            max_ext_len=0, ext_hook=_reject_ext)
    except msgpack.ExtraData as exc:
        raise WireError(path, "exactly one msgpack object",
                        got=f"{len(exc.extra)} trailing bytes") from None
    except UnicodeDecodeError:
        raise WireError(path, "valid UTF-8 in every string", got="invalid UTF-8") from None
    except WireError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        if str(exc) == "Unpack failed: incomplete input":
            raise WireError(path, "a complete msgpack object", got="truncated input") from None
        raise WireError(path, "msgpack within the limits (lengths, nesting, no ext types, "
                              "str map keys)", got=_short(str(exc) or type(exc).__name__)) from None
    if check_depth:  # callers that validate every field themselves skip the generic walk
        _check_depth(obj, limits.max_depth, path)
    return obj


def _reject_ext(code: int, data: bytes) -> Any:
    raise WireError("body", "no msgpack ext types", got=f"ext code {code}")


def _short(text: str) -> str:
    return text if len(text) <= 120 else text[:117] + "..."


def _check_depth(obj: Any, max_depth: int, path: str) -> None:
    # level by level (msgpack yields exact list/dict types): ~2.4x faster than a node stack
    level = [obj] if isinstance(obj, (list, dict)) else []
    depth = 1
    while level:
        if depth > max_depth:
            raise WireError(path, f"nesting at most {max_depth} levels deep")
        nxt: list[Any] = []
        for node in level:
            nxt += [v for v in (node.values() if isinstance(node, dict) else node)
                    if isinstance(v, (list, dict))]
        level = nxt
        depth += 1


# -- window bodies -----------------------------------------------------------------
def encode_window(body: dict[str, Any]) -> bytes:
    """msgpack bytes of a window body (keys as in docs/wire-format.md)."""
    return msgpack.packb(body, use_bin_type=True)


def decode_window(data: bytes, limits: WireLimits = DEFAULT_LIMITS, path: str = "w",
                  features_proof: FeaturesProof | None = None) -> dict[str, Any]:
    """Decode and validate a window body; the dict keeps the wire's short keys.

    ``features_proof`` (optional, see :data:`FeaturesProof`) only speeds up the checks of
    the feature entries; what is accepted or rejected does not change.
    """
    body = unpack_window(data, limits, path)
    validate_window(body, limits, path, features_proof)  # checks the type (so depth) of all
    return body


def unpack_window(data: bytes | memoryview, limits: WireLimits = DEFAULT_LIMITS,
                  path: str = "w") -> Any:
    """The msgpack half of :func:`decode_window`: size and msgpack limits, no schema checks
    (the caller must run :func:`validate_window` or an equivalent proof before using it)."""
    if isinstance(data, (bytes, bytearray, memoryview)) and len(data) > limits.max_window_bytes:
        raise WireError(path, f"a window of at most {limits.max_window_bytes} bytes",
                        got=f"{len(data)} bytes")
    return safe_unpackb(data, limits, path, check_depth=False)


def validate_window(body: Any, limits: WireLimits = DEFAULT_LIMITS, path: str = "w",
                    features_proof: FeaturesProof | None = None) -> None:
    """Check a decoded window body against the schema; raise WireError naming the field.

    These named checks are the rules of record (the collector's column-wise proofs and its
    C fast path are held equal to them by tests). ``features_proof``: see
    :data:`FeaturesProof`.
    """
    if not isinstance(body, dict):
        raise WireError(path, "a map (window body)", got=type(body).__name__)
    version = body.get("v")
    if type(version) is not int or version not in WINDOW_VERSIONS:
        raise WireError(f"{path}.v", "window version 1 or 2", got=repr(version))
    for key in ("d", "m", "mv"):
        _name(body, key, limits.max_name_len, path)
    if not is_model_name(body["m"]):
        raise WireError(f"{path}.m", MODEL_NAME_RULE, got=repr(body["m"]))
    if "mh" in body:
        _str(body["mh"], f"{path}.mh", 128)
    if "si" in body:
        _str(body["si"], f"{path}.si", 64)
    if "sdk" in body:
        _str(body["sdk"], f"{path}.sdk", 64)
    for key in ("sq", "ws", "we", "n"):
        _uint(body.get(key), f"{path}.{key}", MAX_UINT if key == "n" else _MAX_INT64)
    if body["we"] < body["ws"]:
        raise WireError(f"{path}.we", "a window end >= the window start (ws)", got=str(body["we"]))
    if body["we"] > MAX_TIME_MS:     # the dataset is partitioned by calendar date
        raise WireError(f"{path}.we", "a Unix time in ms before the year 10000",
                        got=str(body["we"]))
    if "tg" in body:
        tags = body["tg"]
        if not isinstance(tags, dict) or len(tags) > 16:
            raise WireError(f"{path}.tg", "a map of at most 16 tag -> string")
        for k, v in tags.items():
            _str(k, f"{path}.tg", 64, allow_empty=False)
            _str(v, f"{path}.tg.{k}", 64)
    feats = body.get("f")
    if not isinstance(feats, list) or len(feats) > limits.max_features:
        raise WireError(f"{path}.f", f"an array of at most {limits.max_features} feature entries")
    seen: set[str] = set()
    records = body["n"]
    proven = features_proof is not None and features_proof(feats, limits.max_name_len,
                                                            records, version)
    for i, entry in enumerate(() if proven else feats):
        fpath = f"{path}.f[{i}]"
        if not isinstance(entry, list) or not entry:
            raise WireError(fpath, "[name, kind, ...] (a feature entry)")
        name = entry[0]
        _str(name, f"{fpath}.name", limits.max_name_len, allow_empty=False)
        if name in _RESERVED:
            raise WireError(f"{fpath}.name", "a feature name other than the reserved "
                                             + ", ".join(PSEUDO_FEATURES), got=repr(name))
        if name in seen:
            raise WireError(f"{fpath}.name", "feature names unique within a window", got=repr(name))
        seen.add(name)
        _sketch_entry(entry[1:], fpath, records=records, version=version)
    _sketch_entry(body.get("lt"), f"{path}.lt", numeric_only=True, records=records,
                  version=version)
    if body.get("pr") is not None:
        _sketch_entry(body["pr"], f"{path}.pr", records=records, version=version)
    if body.get("en") is not None:
        _sketch_entry(body["en"], f"{path}.en", numeric_only=True, records=records,
                      version=version)
    if body.get("lb") is not None:
        _label_entry(body["lb"], f"{path}.lb", version)
    for key in ("q", "hl"):
        if key in body:
            _counter_map(body[key], f"{path}.{key}")
    if "sm" in body:
        _samples(body["sm"], f"{path}.sm")
    for key, value in body.items():  # unknown keys are ignored, but must stay shallow
        if key not in _WINDOW_KEYS and isinstance(value, (list, dict)):
            _check_depth(value, limits.max_depth - 1, f"{path}.{key}")


_WINDOW_KEYS = frozenset(("v", "d", "m", "mv", "mh", "si", "sdk", "sq", "ws", "we", "n", "tg", "f",
                          "lt", "pr", "en", "lb", "q", "hl", "sm"))
def as_version(body: dict[str, Any], version: int) -> dict[str, Any]:
    """A window body (the SDK's, version 2) as wire ``version`` 1 or 2 encodes it: v1 numeric
    entries have no slot sums (``Monitor(wire_version=1)`` for a collector not upgraded yet).

    >>> b = {"v": 2, "f": [["x", 0, "u1", 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, b"", 0, 0, b""]],
    ...      "lt": [0, "lat1", 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, b"", 0, 0, b""]}
    >>> v1 = as_version(b, 1)
    >>> v1["v"], len(v1["f"][0]), len(v1["lt"]), len(b["lt"])
    (1, 14, 13, 14)
    """
    if version == WIRE_VERSION:
        return body

    def numeric(entry: list, offset: int) -> list:
        return entry[:13 + offset] if entry and entry[offset] == 0 else entry

    out = dict(body, f=[numeric(e, 1) for e in body.get("f", [])])
    if "v" in body:
        out["v"] = version
    for key in ("lt", "pr", "en"):
        if body.get(key) is not None:
            out[key] = numeric(body[key], 0)
    lb = body.get("lb")
    if lb is not None and lb[0] == 3:
        out["lb"] = [*lb[:5], numeric(lb[5], 0)]
    return out


# -- envelopes and requests ---------------------------------------------------------
def make_envelope(key: str, device_id: str, model: str, seq: int, window: bytes,
                  ts: int) -> dict[str, Any]:
    """A signed envelope for one encoded window, signed at send time ``ts`` (Unix seconds).

    ``k`` carries the key id (the middle part of an ``edk_<id>_<secret>`` key) so the
    collector finds the key without trying every device's keys; it is not secret.
    """
    env = {"v": ENVELOPE_VERSION, "d": device_id, "m": model, "t": int(ts), "s": seq,
           "w": window, "g": sign(key, device_id, model, ts, seq, window)}
    kid = key_id(key)
    if kid:
        env["k"] = kid
    return env


def key_id(key: str) -> str:
    """The public id part of a device key ``edk_<id>_<secret>`` ('' for other key shapes).

    >>> key_id("edk_3f9a1c2b_c2VjcmV0"), key_id("plain-secret")
    ('3f9a1c2b', '')
    """
    parts = key.split("_", 2)
    if len(parts) == 3 and parts[0] == "edk" and parts[1] and len(parts[1]) <= 32:
        return parts[1]
    return ""


def encode_request(envelopes: list[dict[str, Any]]) -> bytes:
    """Request body: one envelope (a map) or a batch (an array of envelopes)."""
    return msgpack.packb(envelopes[0] if len(envelopes) == 1 else envelopes, use_bin_type=True)


def decode_request(data: bytes, limits: WireLimits = DEFAULT_LIMITS) -> list[dict[str, Any]]:
    """Decode a request body into envelopes with checked field types (signatures unchecked)."""
    obj = safe_unpackb(data, limits, "body")
    if isinstance(obj, dict):
        envelopes, single = [obj], True
    elif isinstance(obj, list):
        envelopes, single = obj, False
        if not obj:
            raise WireError("body", "at least one envelope", got="an empty array")
        if len(obj) > limits.max_batch:
            raise WireError("body", f"a batch of at most {limits.max_batch} envelopes",
                            got=f"{len(obj)} envelopes")
    else:
        raise WireError("body", "an envelope map or an array of envelopes", got=_describe(obj))
    for i, env in enumerate(envelopes):
        validate_envelope(env, limits, "body" if single else f"body[{i}]")
    return envelopes


def validate_envelope(env: Any, limits: WireLimits = DEFAULT_LIMITS, path: str = "body") -> None:
    """Check an envelope's fields (types and sizes; not the signature)."""
    if not isinstance(env, dict):
        raise WireError(path, "an envelope map {v, d, m, t, s, w, g}", got=_describe(env))
    if env.get("v") != ENVELOPE_VERSION:
        raise WireError(f"{path}.v", f"envelope version {ENVELOPE_VERSION}",
                        got=_describe(env.get("v")))
    _str(env.get("d"), f"{path}.d", limits.max_name_len, allow_empty=False)
    _str(env.get("m"), f"{path}.m", limits.max_name_len, allow_empty=False)
    if not is_model_name(env["m"]):
        raise WireError(f"{path}.m", MODEL_NAME_RULE, got=repr(env["m"]))
    _uint(env.get("t"), f"{path}.t", _MAX_INT64)     # a time, not a count
    _uint(env.get("s"), f"{path}.s", _MAX_INT64)     # a sequence number, not a count
    w = env.get("w")
    if type(w) is not bytes or not w or len(w) > limits.max_window_bytes:
        raise WireError(f"{path}.w", f"window bytes (1 to {limits.max_window_bytes})",
                        got=_describe(w) if type(w) is not bytes else f"{len(w)} bytes")
    g = env.get("g")
    if type(g) is not bytes or len(g) != 32:
        raise WireError(f"{path}.g", "a 32-byte HMAC-SHA256 signature", got=_describe(g))
    if "k" in env:
        _str(env["k"], f"{path}.k", 32, allow_empty=False)
    extra = set(env) - {"v", "d", "m", "t", "s", "w", "g", "k"}
    if extra:
        raise WireError(f"{path}.{sorted(extra)[0]}",
                        "only the envelope keys v, d, m, t, s, w, g, k")


def check_window_matches(env: dict[str, Any], window: dict[str, Any], path: str = "body") -> None:
    """The signed envelope and its window must name the same device, model and sequence."""
    for ekey, wkey in (("d", "d"), ("m", "m"), ("s", "sq")):
        if env[ekey] != window[wkey]:
            raise WireError(f"{path}.w.{wkey}", f"the envelope's {ekey} ({env[ekey]!r})",
                            got=repr(window[wkey]))
