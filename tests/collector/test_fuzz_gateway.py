"""Hypothesis throws random, structured and mutated bodies at the RUNNING gateway:
it must answer every one with 2xx/4xx JSON (never 5xx) and stay healthy."""

from __future__ import annotations

import gzip
import zlib

import msgpack
import pytest
from gateway_harness import GatewayProcess, KeyPool, envelope, metrics, post
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.kafka

SETTINGS = settings(max_examples=250, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def gw(kafka_bootstrap, tmp_path_factory):
    data = tmp_path_factory.mktemp("gw-fuzz")
    pool = KeyPool(data, count=4)
    with GatewayProcess(data, kafka=kafka_bootstrap) as proc:
        with proc.client() as client:
            device, key = pool.take()
            seeds = [msgpack.packb(envelope(key, device, s, records=50), use_bin_type=True)
                     for s in range(3)]
            seeds.append(msgpack.packb([envelope(key, device, s, records=20)
                                        for s in range(3, 6)], use_bin_type=True))
            yield _Target(proc, client, seeds)
            m = metrics(client)
            assert not any(k.startswith('edgedrift_gateway_requests_total{code="5') for k in m), m
            assert client.get("/healthz").status_code == 200
            assert proc.proc is not None and proc.proc.poll() is None, proc.log_tail()


class _Target(tuple):
    """(process, client, seed bodies) with a short repr for hypothesis' reports."""

    def __new__(cls, *items):
        return super().__new__(cls, items)

    def __repr__(self) -> str:
        return "<running gateway>"


def _check(client, body: bytes, encoding: str | None = None) -> None:
    headers = {"content-encoding": encoding} if encoding else None
    if encoding == "gzip":
        body = gzip.compress(body, 1)
    elif encoding == "deflate":
        body = zlib.compress(body, 1)
    r = post(client, body, headers)
    assert 200 <= r.status_code < 500, (r.status_code, r.text, body[:200])
    payload = r.json()
    assert "server_time_ms" in payload
    if r.status_code >= 400:
        assert payload["error"]["field"]


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
    | st.text(max_size=20) | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=6)
    | st.dictionaries(st.sampled_from(["v", "d", "m", "t", "s", "w", "g", "k", "x"]) | st.text(
        max_size=4), inner, max_size=8),
    max_leaves=30)


@SETTINGS
@given(body=st.binary(max_size=3000),
       encoding=st.sampled_from([None, "identity", "gzip", "deflate"]))
def test_random_bytes(gw, body, encoding):
    _check(gw[1], body, encoding)


@SETTINGS
@given(value=msgpack_values)
def test_random_msgpack_structures(gw, value):
    _check(gw[1], msgpack.packb(value, use_bin_type=True))


@SETTINGS
@given(data=st.data(), encoding=st.sampled_from([None, "gzip"]))
def test_mutated_valid_bodies(gw, data, encoding):
    seeds = gw[2]
    body = bytearray(data.draw(st.sampled_from(seeds)))
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "dup"]))
        pos = data.draw(st.integers(0, max(0, len(body) - 1)))
        if op == "flip" and body:
            body[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set" and body:
            body[pos] = data.draw(st.sampled_from([0x00, 0xc1, 0xc9, 0xd4, 0xdc, 0xdd, 0xdf,
                                                   0xff, 0x7f, 0x91, 0xa0, 0xc4]))
        elif op == "insert":
            body[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and body:
            del body[pos:pos + data.draw(st.integers(1, 16))]
        elif op == "truncate":
            del body[pos:]
        elif op == "dup":
            body += body[pos:pos + 64]
    _check(gw[1], bytes(body), encoding)
