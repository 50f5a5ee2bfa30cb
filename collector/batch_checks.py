"""The windows of a large batch checked at once (the gateway's helper process).

:func:`check_windows` answers exactly what :func:`collector.validation.check_window`
answers for each window, faster: the windows are first added to a
:class:`~collector.row_builder.RowBuilder`, the sink's own checker, whose column-wise
proofs (and C accelerator, when built) check a whole batch at ~30 us per window where
``validate_window`` takes ~60 us. A window it accepts, and whose envelope names the same
device, model and sequence, is valid; every other window takes the exact per-window
check, which decides and names the error. So the fast path only skips work: it never
decides an error, and what it accepts the sink accepts too. Without pyarrow (a gateway
installed for Kafka only) every window takes the exact check.

>>> from collector.fake_windows import make_window_body
>>> from edge_sdk.wire import WireLimits
>>> good = make_window_body("dev-1", 7, records=20)
>>> check_windows([("dev-1", "kws", 7, good, "body[0]"), ("dev-2", "kws", 7, good, "body[1]")],
...               WireLimits())
[None, ('body[1].w.d', "the envelope's d ('dev-2')", "'dev-1'", 422, 'schema')]
"""

from __future__ import annotations

import logging

from edge_sdk.wire import DEFAULT_LIMITS, WireLimits, check_window_matches

from .errors import PayloadError
from .validation import _VALID_WINDOW_DEPTH, check_window

log = logging.getLogger(__name__)

Job = tuple[str, str, int, bytes, str]            # envelope d, m, s, window bytes, path
Result = tuple[str, str, str | None, int, str] | None   # None: valid; else the PayloadError


def check_windows(jobs: list[Job], limits: WireLimits) -> list[Result]:
    """:func:`~collector.validation.check_window` for many ``(d, m, s, w, path)``, as
    picklable results: ``None`` (valid) or ``(field, expected, got, status, reason)``."""
    proven = proven_valid(jobs, limits)
    out: list[Result] = []
    for i, (d, m, s, w, path) in enumerate(jobs):
        if i in proven:
            out.append(None)
            continue
        try:
            check_window({"d": d, "m": m, "s": s, "w": w}, limits, path)
            out.append(None)
        except PayloadError as exc:
            out.append((exc.field, exc.expected, exc.got, exc.status, exc.reason))
    return out


def proven_valid(jobs: list[Job], limits: WireLimits) -> set[int]:
    """Indices of the jobs whose windows the sink's checker accepts and whose envelopes
    match them: windows :func:`~collector.validation.check_window` accepts. Any other
    window (or any surprise here) is simply not in the set."""
    try:    # (imported even for no jobs: the gateway warms its helpers up with none)
        from .columns import unpack_split
        from .row_builder import RowBuilder
    except ImportError:         # a gateway installed without pyarrow: window by window
        return set()
    if len(jobs) < 2 or limits.max_depth < _VALID_WINDOW_DEPTH \
            or not (limits is DEFAULT_LIMITS or limits == DEFAULT_LIMITS):
        return set()    # (with a shallower max_depth the depth walk decides first)
    rejected: set[int] = set()
    candidates: set[int] = set()
    builder = RowBuilder(chunk_windows=len(jobs) + 1,
                         on_invalid=lambda token, reason: rejected.add(token), limits=limits)
    try:
        for i, (d, m, s, w, _) in enumerate(jobs):
            try:
                rest, split = unpack_split(w, limits)
                check_window_matches({"d": d, "m": m, "s": s}, rest)
            except Exception:   # noqa: BLE001 - the exact check names it
                continue
            builder.add("", rest, 0, 0, token=i, split=split)
            candidates.add(i)
        builder.tables()        # proves the chunk (or checks its windows one by one)
    except Exception as exc:    # noqa: BLE001 - a fast path only: check every window exactly
        log.debug("batch proof failed (%s): checking window by window", exc)
        return set()
    return candidates - rejected
