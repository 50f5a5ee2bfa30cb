"""The gateway's column-wise proof of a window's feature entries
(:func:`collector.window_proof.features_ok`) never accepts what the named checks of
:func:`edge_sdk.wire.validate_window` (the rules of record) refuse, accepts ordinary
windows of both wire versions (so the fast path is taken), and leaves the entries as
they were."""

from __future__ import annotations

import copy
from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.columns_py import bin_sums
from collector.fake_windows import make_window_body
from collector.window_proof import features_ok
from edge_sdk.errors import WireError
from edge_sdk.numeric import pack_counts
from edge_sdk.wire import DEFAULT_LIMITS, validate_window

_BASES = [msgpack.unpackb(make_window_body(f"dev-{i}", i, records=30 + 40 * i, seed=i,
                                           window_index=0, version=v))
          for v, i in ((2, 0), (2, 1), (1, 2), (1, 3))]
_WRONG: list[Any] = [None, True, -1, 0, 1, 2**31, 2**40, 2**64, 1.5, -0.0, float("nan"),
          float("inf"), "", "x", "y" * 200, b"", b"\x01", b"\x04\xff\xff\xff\xff", b"\x02\x01",
          pack_counts([1, 2, 3]), bytes(8) + b"\x00\x00\x80\xbf\x00\x00\x00\x00", [], {},
          {"a": 1}, {"k": -5}, "__latency__", "lat1", "p1"]


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A base window with one to three of its feature entries' items changed."""
    w = copy.deepcopy(draw(st.sampled_from(_BASES)))
    feats = w["f"]
    for _ in range(draw(st.integers(1, 3))):
        entry = feats[draw(st.integers(0, len(feats) - 1))]
        j = draw(st.integers(0, len(entry) - 1))
        how = draw(st.sampled_from(["wrong", "wrong", "plus", "minus", "over", "dup", "drop"]))
        if how == "wrong":
            entry[j] = copy.deepcopy(draw(st.sampled_from(_WRONG)))
        elif how in ("plus", "minus") and type(entry[j]) in (int, float):
            entry[j] += 1 if how == "plus" else -1
        elif how == "over":                   # a count beyond the window's records (and n)
            counts = [k for k, v in enumerate(entry) if type(v) is int and k > 1]
            entry[draw(st.sampled_from(counts))] = w["n"] + 1
        elif how == "dup":
            feats.append(copy.deepcopy(entry))
        elif how == "drop":
            del entry[j]
    return w


def _proof(w: dict[str, Any], sums: Any = None) -> bool:
    return features_ok(w["f"], DEFAULT_LIMITS.max_name_len, w["n"], w["v"], sums)


def _named_checks_accept(w: dict[str, Any]) -> bool:
    try:
        validate_window(w)
    except WireError:
        return False
    return True


def test_ordinary_windows_of_both_versions_are_proven() -> None:
    for w in _BASES:
        before = copy.deepcopy(w)
        assert _proof(w) and _proof(w, bin_sums)
        assert w == before                        # no entry changed (v2's sums included)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.booleans())
def test_the_proof_never_accepts_what_the_named_checks_refuse(w, vectorised) -> None:
    before = copy.deepcopy(w)
    proven = _proof(w, bin_sums if vectorised else None)
    assert w == before
    if proven:
        assert _named_checks_accept(w)
