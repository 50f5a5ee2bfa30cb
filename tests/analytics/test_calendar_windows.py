"""Calendar evaluation windows (days, weeks, months in a time zone) and a pass that says why
it computed nothing."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from analytics_fleet import fleet, write
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.config import AnalyticsConfig
from analytics.job import run_analysis
from analytics.reference import ReferenceStore
from analytics.windows import Cadence
from edgedrift.paths import DataPaths

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]


@settings(max_examples=150, deadline=None)
@given(ms=st.integers(946_684_800_000, 4_102_444_800_000),
       unit=st.sampled_from(["1d", "1w", "1mo"]), tz=st.sampled_from(ZONES))
def test_python_and_duckdb_cut_the_same_windows(ms, unit, tz):
    c = Cadence.parse(unit, tz)
    sql, params = c.sql("ts")
    con = duckdb.connect()
    got = con.execute(f"SELECT {sql} FROM (SELECT to_timestamp(? / 1000.0) AS ts)",
                      [*params, ms]).fetchone()[0]
    start = c.floor(ms)
    assert got == start <= ms < c.end(start)
    assert c.index(c.end(start)) == c.index(start) + 1 == c.index(c.shift(start, 1))
    local = dt.datetime.fromtimestamp(start / 1000, dt.UTC).astimezone(
        __import__("zoneinfo").ZoneInfo(tz))
    assert (local.hour, local.minute) == (0, 0)
    if unit == "1mo":
        assert local.day == 1
    if unit == "1w":
        assert local.weekday() == 0


def test_bad_windows_are_refused_with_the_field():
    for bad, field in (("2mo", "analytics.window"), ("fortnight", "analytics.window"),
                       ("0h", "analytics.window")):
        with pytest.raises(Exception, match=field):
            AnalyticsConfig(window=bad)
    with pytest.raises(Exception, match="analytics.timezone"):
        AnalyticsConfig(window="1d", timezone="Moon/Tranquility")


def month_ms(year: int, month: int, day: int = 1) -> int:
    return int(dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp() * 1000)


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
def test_monthly_windows_start_on_the_first(tmp_path, built, tz):  # noqa: F811
    """Daily device windows over three months, evaluated per calendar month."""
    paths = DataPaths(tmp_path)
    built.save(ReferenceStore(paths.references))
    start = month_ms(2025, 1, 1) - 86_400_000           # Dec 31st: belongs to December
    write(paths.dataset, fleet(built.spec, windows=91, devices=1, records=30,
                               window_ms=86_400_000, start_ms=start))
    config = AnalyticsConfig(window="1mo", timezone=tz, reports=False, segment_tags=())
    summary = run_analysis(config, paths, since_ms=start - 40 * 86_400_000,
                           now_ms=month_ms(2025, 6, 1))
    zone = __import__("zoneinfo").ZoneInfo(tz)
    starts = sorted({v["window_start_ms"] for v in summary.verdicts})
    local = [dt.datetime.fromtimestamp(s / 1000, zone) for s in starts]
    assert [(t.year, t.month, t.day, t.hour) for t in local] == [
        (2024, 12, 1, 0), (2025, 1, 1, 0), (2025, 2, 1, 0), (2025, 3, 1, 0)]
    ends = {v["window_start_ms"]: v["window_end_ms"] for v in summary.verdicts}
    assert all(ends[a] == b for a, b in zip(starts, starts[1:], strict=False))
    january = [v for v in summary.verdicts if v["window_start_ms"] == starts[1]
               and v["kind"] == "drift"][0]
    assert january["features_evaluated"] == 4          # 31 days x 30 records: enough values


def test_a_pass_that_computes_nothing_says_why(tmp_path, built):  # noqa: F811
    paths = DataPaths(tmp_path)
    built.save(ReferenceStore(paths.references))
    config = AnalyticsConfig(window_s=3600, reports=False)
    assert "no windows yet" in run_analysis(config, paths).notes[0]
    hour = 3_600_000
    t0 = month_ms(2025, 1, 1)
    write(paths.dataset, fleet(built.spec, windows=3, devices=1, records=300, window_ms=hour,
                               start_ms=t0))
    first = run_analysis(config, paths, now_ms=t0 + hour + 60_000)
    assert first.windows_computed == 0 and "still open" in first.notes[0]
    assert "2025-01-01T01:05Z" in first.notes[0]          # end + grace of the first window
    done = run_analysis(config, paths, now_ms=t0 + 5 * hour)
    assert done.windows_computed == 3
    again = run_analysis(config, paths, now_ms=t0 + 5 * hour)
    assert "nothing new" in again.notes[0]
    note = run_analysis(config, paths, now_ms=t0 + 30 * 86_400_000).notes[0]   # 7-day lookback
    assert "no data between" in note and "--since 2025-01-01" in note
    thin = run_analysis(AnalyticsConfig(window_s=3600, reports=False, min_samples=1000), paths,
                        since_ms=t0, now_ms=t0 + 5 * hour)
    assert any("fewer than min_samples=1000" in n for n in thin.notes)
