"""Authenticate before decoding: a request carrying the SDK's ``X-Edgedrift-*`` signature
is checked over its raw (compressed) bytes before anything is inflated or decoded; a
request without it (an older SDK) is still accepted, through a bounded path (object
count, worker thread). Real gateway process, real sockets.
"""

from __future__ import annotations

import time
import zlib

import msgpack
from gateway_harness import (
    GatewayProcess,
    KeyPool,
    envelope,
    metrics,
    post,
    rejected,
    signed_post,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.msgpack_bounds import count_objects
from edge_sdk.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from edge_sdk.wire import encode_request


def bomb(containers: int = 4000 * 1024) -> bytes:
    """~4 MiB of msgpack holding ~4 million empty arrays, deflated to ~9 KB."""
    per = 1024
    return zlib.compress(b"\xdc" + (containers // per).to_bytes(2, "big")
                         + (b"\xdc\x04\x00" + b"\x90" * per) * (containers // per), 9)


def _signed(gw: GatewayProcess, mode: str) -> float:
    with gw.client() as c:
        return metrics(c).get(f'edgedrift_gateway_requests_signed_total{{mode="{mode}"}}', 0.0)


def test_a_signed_request_is_accepted_and_counted_as_request_signed(tmp_path):
    pool = KeyPool(tmp_path, count=1)
    device, key = pool.take()
    with GatewayProcess(tmp_path) as gw, gw.client() as c:
        r = signed_post(c, key, device, envelope(key, device, 0))
        assert r.status_code == 202, r.text
        batch = [envelope(key, device, s) for s in range(1, 21)]   # the helper-process path
        r = signed_post(c, key, device, batch)
        assert [x["code"] for x in r.json()["results"]] == [202] * 20
        assert _signed(gw, "request") == 2 and _signed(gw, "envelope") == 0


def test_a_bad_request_signature_is_refused_before_the_body_is_inflated(tmp_path):
    """The body is not even deflate data: a gateway that inflated or decoded first
    would answer 400 about the body; the signature check answers 401 first."""
    pool = KeyPool(tmp_path, count=2)
    device, key = pool.take()
    other, other_key = pool.take()
    with GatewayProcess(tmp_path) as gw, gw.client() as c:
        junk = b"\x00not deflate, not msgpack" * 10
        for body in (junk, bomb()):
            r = c.post("/v1/telemetry", content=body, headers={
                    "content-type": "application/msgpack", "content-encoding": "deflate",
                    "x-edgedrift-device": device, "x-edgedrift-timestamp": str(int(time.time())),
                    SIGNATURE_HEADER: "ab" * 32})
            assert r.status_code == 401, r.text
            assert r.json()["error"] == {"field": "x-edgedrift-signature",
                                         "reason": "bad_signature",
                                         "expected": "an HMAC-SHA256 signature made with the "
                                                     "device's key"}
        # another device's key cannot sign for this device
        r = signed_post(c, other_key, device, envelope(key, device, 0))
        assert (r.status_code, r.json()["error"]["reason"]) == (401, "key_device_mismatch")
        assert r.json()["error"]["field"] == "x-edgedrift-key-id"
        # a request signed by a device may only carry that device's envelopes
        r = signed_post(c, other_key, other, envelope(key, device, 0))
        assert (r.status_code, r.json()["error"]["field"]) == (401, "body.d")
        # a stale request time is refused on the header
        r = signed_post(c, key, device, envelope(key, device, 1), ts=int(time.time()) - 3600)
        assert (r.status_code, r.json()["error"]["field"]) == (401, "x-edgedrift-timestamp")
        assert rejected(c, "bad_signature") == 2


def test_incomplete_signature_headers_are_refused_naming_the_header(tmp_path):
    pool = KeyPool(tmp_path, count=1)
    device, key = pool.take()
    with GatewayProcess(tmp_path) as gw, gw.client() as c:
        body = encode_request([envelope(key, device, 0)])
        r = post(c, body, headers={"x-edgedrift-device": device})
        assert r.status_code == 400
        assert r.json()["error"]["field"] == TIMESTAMP_HEADER.lower()
        r = post(c, body, headers={"x-edgedrift-device": device,
                                   "x-edgedrift-timestamp": str(int(time.time())),
                                   "x-edgedrift-signature": "xyz"})
        assert (r.status_code, r.json()["error"]["field"]) == (400, "x-edgedrift-signature")


def test_an_older_sdk_without_request_signatures_is_still_accepted(tmp_path):
    pool = KeyPool(tmp_path, count=1)
    device, key = pool.take()
    with GatewayProcess(tmp_path) as gw, gw.client() as c:
        assert post(c, envelope(key, device, 0)).status_code == 202
        batch = [envelope(key, device, s) for s in range(1, 21)]
        assert [x["code"] for x in post(c, batch).json()["results"]] == [202] * 20
        assert _signed(gw, "envelope") == 2


def test_an_unsigned_amplification_body_is_refused_by_its_object_count(tmp_path):
    """~4 million empty containers in 9 KB: refused after counting a bounded number of
    objects (413 naming the bound), never decoded; the gateway keeps serving."""
    pool = KeyPool(tmp_path, count=1)
    device, key = pool.take()
    with GatewayProcess(tmp_path) as gw, gw.client() as c:
        for _ in range(3):
            r = c.post("/v1/telemetry", content=bomb(), headers={
                "content-type": "application/msgpack", "content-encoding": "deflate"})
            assert r.status_code == 413, r.text
            err = r.json()["error"]
            assert err["field"] == "body" and "msgpack objects" in err["expected"]
        assert signed_post(c, key, device, envelope(key, device, 0)).status_code == 202
        assert rejected(c, "too_large") == 3


def test_a_legitimate_batch_at_the_batch_limit_fits_the_object_bound(tmp_path):
    """The default object bound (20 per envelope) never refuses a full valid batch."""
    pool = KeyPool(tmp_path, count=1)
    device, key = pool.take()
    with GatewayProcess(tmp_path, env={"EDGEDRIFT_GATEWAY_MAX_BATCH": "60",
                                       "EDGEDRIFT_GATEWAY_RATE_BURST": "100"}) as gw, \
            gw.client() as c:
        batch = [envelope(key, device, s, records=5) for s in range(60)]
        assert [x["code"] for x in post(c, batch).json()["results"]] == [202] * 60


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats()
    | st.text(max_size=40) | st.binary(max_size=300),
    lambda inner: st.lists(inner, max_size=20) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=20),
    max_leaves=200)


def _count(obj: object) -> int:
    if isinstance(obj, dict):
        return 1 + sum(_count(k) + _count(v) for k, v in obj.items())
    if isinstance(obj, list):
        return 1 + sum(_count(v) for v in obj)
    return 1


@settings(max_examples=300, deadline=None)
@given(_values, st.integers(1, 400))
def test_the_object_count_matches_the_decoder_and_stops_at_the_limit(value, limit):
    data = msgpack.packb(value, use_bin_type=True)
    n = _count(msgpack.unpackb(data, raw=False, strict_map_key=False))
    assert count_objects(data, 10**9) == n
    assert count_objects(data, limit) == min(n, limit + 1)


def test_the_sdk_sender_signs_its_requests(tmp_path):
    """The SDK's own sender (spool -> POST) sends request-signed bodies the gateway takes."""
    from gateway_harness import window

    from edge_sdk.sender import Endpoint, Sender
    from edge_sdk.spool import Spool

    pool = KeyPool(tmp_path / "data", count=1)
    device, key = pool.take()
    spool = Spool(tmp_path / "spool")
    for seq in range(5):
        spool.append(seq, window(device, seq))
    with GatewayProcess(tmp_path / "data") as gw:
        sender = Sender(spool, Endpoint.parse(gw.url + "/v1/telemetry"), key, device, "kws")
        assert sender.send_once()
        assert spool.backlog()[0] == 0
        assert sender.last_status == 200
        assert _signed(gw, "request") == 1 and _signed(gw, "envelope") == 0
