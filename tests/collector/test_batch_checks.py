"""The gateway helper's batch check answers exactly what the per-window check answers.

``collector.batch_checks.check_windows`` lets the sink's column proofs (and the C
accelerator, when built) accept the ordinary windows of a batch; these tests hold its
answers equal to :func:`collector.validation.check_window`'s on mutated batches, with and
without the accelerator, and show the fast path is really taken.
"""

from __future__ import annotations

import copy
from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector import columns
from collector.batch_checks import check_windows, proven_valid
from collector.errors import PayloadError
from collector.fake_windows import make_window_body
from collector.validation import check_window
from edge_sdk.wire import WireLimits

_LIMITS = WireLimits()
_WINDOWS = [msgpack.unpackb(make_window_body(f"dev-{i}", 10 + i, records=30 + 40 * i, seed=i))
            for i in range(3)]
_WRONG = [None, True, -1, 0, 1, 2**40, 2**63, 1.5, float("nan"), "", "x", "kws", "dev-1",
          "__latency__", b"\x01", [], {}, [0], {"a": 1}, 253_402_300_800_000]
_TOP_KEYS = ["v", "d", "m", "mv", "sq", "ws", "we", "n", "tg", "lt", "pr", "en", "lb", "hl",
             "sm", "zz"]


def _exact(job: tuple) -> Any:
    d, m, s, w, path = job
    try:
        check_window({"d": d, "m": m, "s": s, "w": w}, _LIMITS, path)
    except PayloadError as exc:
        return (exc.field, exc.expected, exc.got, exc.status, exc.reason)
    return None


def _job(i: int, w: dict, envelope: tuple[str, str, int] | None = None) -> tuple:
    d, m, s = envelope or (w.get("d"), w.get("m"), w.get("sq"))
    return (d if type(d) is str else "dev-0", m if type(m) is str else "kws",
            s if type(s) is int and s >= 0 else 0, msgpack.packb(w, use_bin_type=True),
            f"body[{i}]")


@st.composite
def mutated_batches(draw: st.DrawFn) -> list[tuple]:
    """2..8 windows; each maybe with a feature entry item, a window field or the envelope
    changed to a wrong value."""
    jobs = []
    for i in range(draw(st.integers(2, 8))):
        w = copy.deepcopy(draw(st.sampled_from(_WINDOWS)))
        envelope = None
        for _ in range(draw(st.integers(0, 2))):
            where = draw(st.sampled_from(["entry", "field", "envelope"]))
            wrong = copy.deepcopy(draw(st.sampled_from(_WRONG)))
            if where == "entry":
                entry = w["f"][draw(st.integers(0, len(w["f"]) - 1))]
                entry[draw(st.integers(0, len(entry) - 1))] = wrong
            elif where == "field":
                w[draw(st.sampled_from(_TOP_KEYS))] = wrong
            else:
                envelope = (w["d"], w["m"], draw(st.integers(0, 20)))
        try:
            jobs.append(_job(i, w, envelope))
        except OverflowError:           # 2**63 and up: no msgpack encoding of this window
            continue
    return jobs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_batches())
def test_the_batch_check_answers_what_the_window_check_answers(jobs) -> None:
    assert check_windows(jobs, _LIMITS) == [_exact(job) for job in jobs]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_batches())
def test_the_same_answers_without_the_accelerator(jobs) -> None:
    with columns.use(columns.PYTHON):
        assert check_windows(jobs, _LIMITS) == [_exact(job) for job in jobs]


def test_ordinary_windows_are_proven_by_the_sink_checker_not_checked_one_by_one() -> None:
    jobs = [_job(i, w) for i, w in enumerate(_WINDOWS * 3)]
    assert proven_valid(jobs, _LIMITS) == set(range(len(jobs)))
    assert check_windows(jobs, _LIMITS) == [None] * len(jobs)


def test_a_window_the_sink_accepts_is_not_proven_when_its_envelope_differs() -> None:
    jobs = [_job(i, w) for i, w in enumerate(_WINDOWS)]
    d, m, s, w, path = jobs[1]
    jobs[1] = (d, m, s + 1, w, path)              # a valid window, signed as another seq
    assert proven_valid(jobs, _LIMITS) == {0, 2}
    assert check_windows(jobs, _LIMITS)[1] == ("body[1].w.sq", f"the envelope's s ({s + 1})",
                                               str(s), 422, "schema")


def test_an_invalid_window_gets_the_exact_error_and_the_others_stay_proven() -> None:
    bad = copy.deepcopy(_WINDOWS[0])
    bad["f"][0][3] += 1                           # n no longer the bin total
    jobs = [_job(0, _WINDOWS[1]), _job(1, bad), _job(2, _WINDOWS[2])]
    assert proven_valid(jobs, _LIMITS) == {0, 2}
    results = check_windows(jobs, _LIMITS)
    assert results[1] == _exact(jobs[1]) and results[1][0] == "body[1].w.f[0].bins"
    assert results[0] is None and results[2] is None


def test_other_limits_or_a_shallow_max_depth_take_the_exact_path() -> None:
    jobs = [_job(i, w) for i, w in enumerate(_WINDOWS)]
    assert proven_valid(jobs, WireLimits(max_depth=4)) == set()
    assert proven_valid(jobs, WireLimits(max_features=10)) == set()
    shallow = WireLimits(max_depth=2)
    assert proven_valid(jobs, shallow) == set()
    assert check_windows(jobs, shallow)[0][:2] == ("body[0].w", "nesting at most 2 levels deep")


def test_without_pyarrow_every_window_takes_the_exact_check(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "collector.row_builder", None)   # import fails
    bad = copy.deepcopy(_WINDOWS[0])
    bad["f"][0][3] += 1
    jobs = [_job(0, _WINDOWS[1]), _job(1, bad), _job(2, _WINDOWS[2])]
    assert proven_valid(jobs, _LIMITS) == set()
    assert check_windows(jobs, _LIMITS) == [_exact(job) for job in jobs]
