"""The analysis and the dashboard read the same numbers from a bucket as from a local
directory: the same windows written by the embedded sink to both, every query of
analytics.dataset and of analytics.queries.telemetry compared."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sink_support import bodies

from analytics.dataset import Dataset
from analytics.queries import telemetry
from collector.compaction import CompactionConfig, compact
from collector.embedded import EmbeddedSink
from collector.sink_config import SinkConfig

HOUR = 3_600_000


def _write(location: str) -> None:
    sink = EmbeddedSink(SinkConfig(dataset=location, group_commit_ms=0))
    try:
        records = bodies(60, devices=6, light=True)
        for i in range(0, len(records), 7):
            sink.write(records[i:i + 7])
    finally:
        sink.close()


def _answers(location: str) -> dict[str, list[str]]:
    ds = Dataset(location, segment_tags=("firmware",))
    span = ds.span()
    assert span is not None
    lo, hi = span[0] - HOUR, span[1] + HOUR
    model = ds.inventory(lo, hi, HOUR).to_pylist()[0]
    tables = {
        "features": ds.feature_groups(lo, hi, HOUR), "categories": ds.category_groups(lo, hi, HOUR),
        "windows": ds.window_groups(lo, hi, HOUR), "inventory": ds.inventory(lo, hi, HOUR),
        "health": ds.fleet_health(),
        "telemetry": ds.telemetry_features(model["model"], model["version"], lo, hi)}
    out = {k: sorted(repr(_rounded(r)) for r in t.to_pylist()) for k, t in tables.items()}
    out["span"] = [repr(span)]
    out["labels"] = [repr(ds.telemetry_labels(model["model"], model["version"], lo, hi))]
    # the dashboard's read-only queries (analytics.queries.telemetry) over the same files
    since, until = (dt.datetime.fromtimestamp(t / 1000, dt.UTC).replace(tzinfo=None)
                    for t in (lo, hi))
    shown = {"ingest": telemetry.ingest(location, since, until),
             "freshness": telemetry.freshness(location),
             "device_windows": telemetry.device_windows(location, since, until, "firmware"),
             "hash_timeline": telemetry.hash_timeline(location, since, until)}
    for name, frame in shown.items():
        out[f"dashboard {name}"] = sorted(repr(_rounded(r)) for r in frame.to_dict("records"))
    return out


def _rounded(row: dict) -> dict:
    """Floating-point sums to 12 significant digits (their order of addition differs)."""
    return {k: float(f"{v:.12g}") if isinstance(v, float) else v for k, v in row.items()}


@pytest.mark.s3
@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_a_bucket_and_a_directory_give_the_same_answers(backend: str, tmp_path: Path) -> None:
    local = str(tmp_path / "local")
    _write(local)
    _write(backend)
    expected = _answers(local)
    assert len(expected["inventory"]) >= 1 and len(expected["features"]) > 10
    assert len(expected["dashboard device_windows"]) == 6 and expected["dashboard ingest"]
    assert _answers(backend) == expected
    for where in (local, backend):          # compacted: still the same answers
        report = compact(CompactionConfig(dataset=where, min_age_s=0, before="9999-01-01"))
        assert report.compacted_files >= 3
    assert _answers(backend) == expected == _answers(local)
