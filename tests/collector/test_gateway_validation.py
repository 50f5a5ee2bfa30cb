"""Hostile and malformed bodies at the running gateway: each gets its 4xx naming the field,
is counted, never causes a 500, and the process keeps serving."""

from __future__ import annotations

import gzip
import zlib

import msgpack
import pytest
from gateway_harness import GatewayProcess, KeyPool, envelope, metrics, post, rejected, window

from edge_sdk.wire import encode_window, make_envelope

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def gw(kafka_bootstrap, tmp_path_factory):
    data = tmp_path_factory.mktemp("gw-validation")
    pool = KeyPool(data)
    with GatewayProcess(data, kafka=kafka_bootstrap) as proc:
        with proc.client() as client:
            yield proc, client, pool
            m = metrics(client)
            assert not any(k.startswith('edgedrift_gateway_requests_total{code="5') for k in m), m
            assert client.get("/healthz").status_code == 200
            assert proc.proc is not None and proc.proc.poll() is None


def _expect(client, body, status: int, reason: str, field: str | None = None,
            headers: dict[str, str] | None = None) -> dict:
    before = rejected(client, reason)
    r = post(client, body, headers)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["reason"] == reason
    if field is not None:
        assert err["field"] == field, err
    assert rejected(client, reason) == before + 1
    return err


def _nested(depth: int) -> bytes:
    return b"\x91" * depth + b"\xc0"           # [[[...[nil]...]]]


# -- whole-body problems -------------------------------------------------------------
def test_decompression_bomb_gzip_and_deflate_are_413(gw):
    _, client, _ = gw
    bomb = b"\x00" * (64 << 20)                   # 64 MiB of zeros -> ~64 KiB compressed
    err = _expect(client, gzip.compress(bomb, 9), 413, "too_large", "body",
                  {"content-encoding": "gzip"})
    assert "after Content-Encoding" in err["expected"]
    _expect(client, zlib.compress(bomb, 9), 413, "too_large", "body",
            {"content-encoding": "deflate"})


def test_compressed_valid_request_is_accepted(gw):
    _, client, pool = gw
    device, key = pool.take()
    body = msgpack.packb(envelope(key, device, 0), use_bin_type=True)
    r = post(client, zlib.compress(body), {"content-encoding": "deflate"})
    assert r.status_code == 202, r.text
    r = post(client, gzip.compress(msgpack.packb(envelope(key, device, 1), use_bin_type=True)),
             {"content-encoding": "gzip"})
    assert r.status_code == 202, r.text


def test_corrupt_or_truncated_compression_is_400(gw):
    _, client, _ = gw
    _expect(client, b"not zlib at all", 400, "malformed", "body", {"content-encoding": "deflate"})
    _expect(client, zlib.compress(b"\x80" * 100)[:-6], 400, "malformed", "body",
            {"content-encoding": "deflate"})


def test_body_over_limit_is_413(gw):
    _, client, _ = gw
    _expect(client, b"\xc4" + b"\x00" * (2 << 20), 413, "too_large", "body")


def test_content_type_and_encoding_are_415(gw):
    _, client, _ = gw
    _expect(client, b"{}", 415, "unsupported_media_type", "content-type",
            {"content-type": "application/json"})
    _expect(client, b"\x80", 415, "unsupported_media_type", "content-encoding",
            {"content-encoding": "br"})


def test_deep_nesting_2000_levels(gw):
    _, client, _ = gw
    _expect(client, _nested(2000), 400, "malformed", "body")
    _expect(client, msgpack.packb({"v": 1, "x": None})[:-1] + _nested(2000), 400, "malformed")


def test_arrays_and_maps_declaring_2_32_minus_1_elements(gw):
    _, client, _ = gw
    _expect(client, b"\xdd\xff\xff\xff\xff", 400, "malformed", "body")       # array32
    _expect(client, b"\xdf\xff\xff\xff\xff", 400, "malformed", "body")       # map32
    _expect(client, b"\xdb\xff\xff\xff\xff", 400, "malformed", "body")       # str32
    _expect(client, b"\xc6\xff\xff\xff\xff", 400, "malformed", "body")       # bin32


def test_invalid_utf8_in_key_and_value(gw):
    _, client, _ = gw
    _expect(client, b"\x81\xa2\xff\xfe\x01", 400, "malformed", "body")      # {"\xff\xfe": 1}
    _expect(client, b"\x81\xa1d\xa2\xc3\x28", 400, "malformed", "body")     # {"d": "\xc3("}


def test_trailing_bytes(gw):
    _, client, pool = gw
    device, key = pool.take()
    body = msgpack.packb(envelope(key, device, 0), use_bin_type=True)
    err = _expect(client, body + b"\x00", 400, "malformed", "body")
    assert "trailing" in err["got"]


def test_ext_types_any_code(gw):
    _, client, _ = gw
    for code in (5, 127):
        _expect(client, msgpack.packb({"v": 1, "d": msgpack.ExtType(code, b"xx")}),
                400, "malformed", "body")
    head = b"\x82\xa1v\x01\xa1d"
    _expect(client, head + b"\xd6\xff\x00\x00\x00\x00", 400, "malformed", "body")  # timestamp -1
    _expect(client, head + b"\xd4\x80\x00", 400, "malformed", "body")   # fixext1 code -128
    _expect(client, head + b"\xc9\xff\xff\xff\xff\x05", 400, "malformed", "body")  # ext32 huge


def test_non_string_map_keys_and_wrong_shapes(gw):
    _, client, _ = gw
    _expect(client, msgpack.packb({1: 2}), 400, "malformed", "body")
    _expect(client, msgpack.packb(42), 400, "malformed", "body")
    _expect(client, msgpack.packb([]), 400, "malformed", "body")
    _expect(client, b"", 400, "malformed", "body")
    _expect(client, msgpack.packb([{"v": 1}] * 501), 413, "too_large", "body")


def test_envelope_field_errors_name_the_field(gw):
    _, client, pool = gw
    device, key = pool.take()
    env = envelope(key, device, 0)
    for field, value in (("t", -5), ("s", "7"), ("g", b"short"), ("w", b""), ("v", 2)):
        bad = {**env, field: value}
        _expect(client, bad, 400, "malformed", f"body.{field}")
    _expect(client, {**env, "zz": 1}, 400, "malformed", "body.zz")


# -- problems inside a correctly signed window -----------------------------------------
def _signed(key, device, seq, body: bytes) -> dict:
    import time
    return make_envelope(key, device, "kws", seq, body, ts=int(time.time()))


def test_hostile_window_bytes_inside_a_signed_envelope(gw):
    _, client, pool = gw
    device, key = pool.take()
    _expect(client, _signed(key, device, 0, _nested(2000)), 400, "malformed", "body.w")
    _expect(client, _signed(key, device, 1, b"\xdd\xff\xff\xff\xff"), 400, "malformed", "body.w")
    _expect(client, _signed(key, device, 2, window(device, 2) + b"\x01"), 400, "malformed",
            "body.w")
    ext = msgpack.packb({"v": 1, "x": msgpack.ExtType(1, b"a")})
    _expect(client, _signed(key, device, 3, ext), 400, "malformed", "body.w")


def test_schema_violations_in_a_signed_window_are_422(gw):
    _, client, pool = gw
    device, key = pool.take()
    obj = msgpack.unpackb(window(device, 0), raw=False)
    entry = next(e for e in obj["f"] if e[1] == 0)
    idx = obj["f"].index(entry)
    entry[3] += 1                      # n no longer equals the sum of the bins
    err = _expect(client, _signed(key, device, 0, encode_window(obj)), 422, "schema",
                  f"body.w.f[{idx}].bins")
    assert "summing to n" in err["expected"]
    # the window says another device/sequence than the signed envelope
    err = _expect(client, _signed(key, device, 1, window(device, 2)), 422, "schema", "body.w.sq")
    _expect(client, _signed(key, device, 2, window("someone-else", 2)), 422, "schema",
            "body.w.d")


def test_server_still_accepts_after_abuse(gw):
    _, client, pool = gw
    device, key = pool.take()
    assert post(client, envelope(key, device, 0)).status_code == 202
