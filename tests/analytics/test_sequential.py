"""The CUSUM of analytics.sequential: the vectorised pass equals the per-stream object, its
run length on evidence-free input is unbounded, and detection delay follows the effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.sequential import Cusum, run_streams


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 12), st.floats(0.0, 3.0)),
                min_size=1, max_size=40, unique_by=lambda t: (t[0], t[1])),
       st.integers(0, 6))
def test_run_streams_equals_one_cusum_per_stream(rows, split):
    """History rows (computed earlier) and current rows give the same statistics as one
    Cusum per stream fed every window in order, an empty window counting as evidence 0."""
    frame = pd.DataFrame(rows, columns=["f", "w", "evidence"]).sort_values(["f", "w"])
    frame["bucket"] = frame["w"] * 10
    expected = {}
    for f, group in frame.groupby("f"):
        c, stats, by_w = Cusum(), {}, dict(zip(group["w"], group["evidence"], strict=False))
        for w in range(group["w"].min(), group["w"].max() + 1):
            c.update(by_w.get(w, 0.0))
            if w in by_w:
                stats[w] = c.statistic
        expected.update({(f, w): s for w, s in stats.items()})
    old, new = frame[frame["w"] < split], frame[frame["w"] >= split]
    history = old.assign(statistic=[expected[(f, w)]
                                    for f, w in zip(old["f"], old["w"], strict=True)])
    got = run_streams(new, history, ["f"], 10, 0.5, 0.75)
    assert np.allclose(got, [expected[(f, w)] for f, w in zip(new["f"], new["w"], strict=True)])


def test_no_alarm_in_a_million_windows_of_evidence_below_k():
    """On a stationary stream a window's evidence is 0 unless its test reaches
    evidence_alpha; even noise up to k (half the threshold) never accumulates."""
    rng = np.random.default_rng(0)
    c = Cusum()
    assert not any(c.update(e) for e in rng.uniform(0.0, 0.5, 1_000_000).tolist())


def test_average_run_length_under_rare_false_evidence():
    """False evidence with probability 1e-3 per window (100x evidence_alpha), of any size up
    to 2x the threshold: alarms come about once per 1/(1e-3 * P(e >= k+h-cap...)) windows --
    measured here, not assumed: the average run length stays above 1,000 windows."""
    rng = np.random.default_rng(1)
    windows, alarms = 500_000, 0
    c = Cusum()
    hits = rng.random(windows) < 1e-3
    sizes = rng.uniform(0.0, 2.0, windows)
    for e in np.where(hits, sizes, 0.0).tolist():
        before = c.drift_detected
        if c.update(e) and not before:
            alarms += 1
    assert alarms > 0
    assert windows / alarms >= 1_000


def test_detection_delay_grows_as_the_effect_shrinks():
    delays = []
    for effect in (3.0, 1.0, 0.75, 0.625, 0.5625):
        c, w = Cusum(), 0
        while not c.update(effect):
            w += 1
        delays.append(w + 1)
    assert delays == [1, 1, 2, 4, 8]
    c = Cusum()
    assert not any(c.update(0.5) for _ in range(10_000))    # at k: never
