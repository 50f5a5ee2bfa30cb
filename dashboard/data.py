"""The dashboard's data access: :mod:`analytics.queries` (the read-only query layer), cached.

* Results: read from a private copy of the results file (:mod:`dashboard.snapshot`)
  with :mod:`analytics.queries.results`; the live file is never opened, so
  ``edgedrift analyze`` is never blocked. Results are cached with ``st.cache_data``
  keyed by the copy's version (new data = new key).
* Parquet: :mod:`dashboard.dataset` (:mod:`analytics.queries.telemetry`, cached with a TTL).
* Alert outbox: :mod:`dashboard.outbox` (:mod:`analytics.queries.outbox`).
* References and reports: :mod:`analytics.queries.artifacts`.

Nothing here opens a store itself.

>>> import tempfile
>>> from dashboard.config import DashboardConfig
>>> cfg = DashboardConfig(data_dir=tempfile.mkdtemp())
>>> overview(cfg).empty
True
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from analytics.queries import ResultsUnreadable, artifacts
from analytics.queries import results as rq

from .config import DashboardConfig
from .dataset import has_table
from .snapshot import ResultsSnapshot, SnapshotInfo

log = logging.getLogger(__name__)
_NO_RESULTS = Path("/nonexistent/edgedrift-no-results.duckdb")   # every query: empty
RANGES = {"6h": 6, "24h": 24, "7d": 24 * 7, "30d": 24 * 30, "all": None}


# -- results database -------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _snapshot(live: str, published: str, cache_dir: str) -> ResultsSnapshot:
    return ResultsSnapshot(Path(live), Path(published), Path(cache_dir) if cache_dir else None,
                           validate=rq.check)


def snapshot(cfg: DashboardConfig) -> SnapshotInfo | None:
    """The current read copy of the results (None before the first analysis)."""
    return _snapshot(str(cfg.paths.analytics_db), str(cfg.snapshot_path),
                     cfg.cache_dir).current()


def data_version(cfg: DashboardConfig) -> str:
    """The results copy's version: the same until new results arrive (a cache key). It is
    the copy's full path, unique in the process: the copies' file names are numbered per
    data dir, so two data dirs served by one process (tests) would share a name.

    >>> import tempfile
    >>> from dashboard.config import DashboardConfig
    >>> data_version(DashboardConfig(data_dir=tempfile.mkdtemp()))
    ''
    """
    info = snapshot(cfg)
    return "" if info is None else str(info.path)


@st.cache_data(ttl=3600, max_entries=256, show_spinner=False)
def _results_query(copy: str, name: str, args: tuple[Any, ...]) -> Any:
    return getattr(rq, name)(copy, *args)


def _results(cfg: DashboardConfig, name: str, *args: Any) -> Any:
    """``analytics.queries.results.<name>(copy, *args)`` on the current read copy, cached
    per copy; ``empty`` (an empty frame unless given) before the first analysis."""
    info = snapshot(cfg)
    if info is None or not info.path.exists():   # nothing to read: the query's empty answer
        return getattr(rq, name)(_NO_RESULTS, *args)
    try:
        return _results_query(str(info.path), name, tuple(args))
    except ResultsUnreadable as exc:   # an unreadable copy: copy again next time
        log.warning("results query failed: %s", exc)
        _snapshot(str(cfg.paths.analytics_db), str(cfg.snapshot_path),
                  cfg.cache_dir).invalidate()
        return getattr(rq, name)(_NO_RESULTS, *args)


@dataclass(frozen=True)
class Overview:
    """What exists under the data dir, and the state of the last analysis pass."""

    data_dir: str
    has_results: bool
    has_dataset: bool
    has_outbox: bool
    references: tuple[tuple[str, str], ...]
    snapshot: SnapshotInfo | None = None
    last_run: dict[str, Any] = field(default_factory=dict)
    runs: int = 0

    @property
    def empty(self) -> bool:
        return not (self.has_results or self.has_dataset or self.has_outbox)


def overview(cfg: DashboardConfig) -> Overview:
    """Which pieces of an installation exist (drives the empty and partial states)."""
    paths = cfg.paths
    info = snapshot(cfg)
    count = int(_results(cfg, "run_count"))
    refs = tuple(artifacts.references(paths.references))
    return Overview(str(paths.base), info is not None and count > 0, has_table(cfg, "windows"),
                    paths.outbox.exists(), refs, info, _results(cfg, "last_run"), count)


def catalog(cfg: DashboardConfig) -> pd.DataFrame:
    """Model, version, segment tag/value with their first and last evaluated windows."""
    return _results(cfg, "catalog")


def time_range(cfg: DashboardConfig, key: str) -> tuple[dt.datetime, dt.datetime]:
    """(since, until) of a range key (``6h`` ... ``all``), anchored at the newest window."""
    lo, hi = _results(cfg, "time_bounds")
    if hi is None or lo is None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return now - dt.timedelta(days=7), now
    until = hi + dt.timedelta(hours=1)
    hours = RANGES.get(key)
    if hours is None:
        return lo, until
    return until - dt.timedelta(hours=hours + 1), until


def verdicts(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime,
             model: str | None = None, version: str | None = None,
             segment: tuple[str, str] | None = None, kind: str | None = None) -> pd.DataFrame:
    """Verdict rows in a time range (every kind unless ``kind``)."""
    return _results(cfg, "verdicts", since, until, model, version,
                    segment, kind)


def current_states(cfg: DashboardConfig, model: str | None = None) -> pd.DataFrame:
    """Per (model, version, segment, kind): the newest verdict and its true onset
    (:func:`analytics.queries.results.current_states`)."""
    return _results(cfg, "current_states", model)


def feature_metrics(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime, model: str,
                    version: str | None = None, segment: tuple[str, str] | None = None,
                    feature: str | None = None, role: str | None = None) -> pd.DataFrame:
    """Per-feature metric rows (score with sketch interval, threshold, drifted)."""
    return _results(cfg, "feature_metrics", since, until,
                    model, version, segment, feature, role)


def effect_heatmap(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime, model: str,
                   version: str | None = None,
                   segment: tuple[str, str] | None = None) -> pd.DataFrame:
    """The drift heatmap's cells, at most ``HEATMAP_COLUMNS`` per feature
    (:func:`analytics.queries.results.effect_heatmap`)."""
    return _results(cfg, "effect_heatmap", since, until,
                    model, version, segment)


def data_quality(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime, model: str,
                 version: str | None = None, segment: tuple[str, str] | None = None,
                 feature: str | None = None) -> pd.DataFrame:
    """Data-quality rates per window (and the reference's rates)."""
    return _results(cfg, "data_quality", since, until,
                    model, version, segment, feature)


def model_metrics(cfg: DashboardConfig, since: dt.datetime, until: dt.datetime,
                  model: str | None = None, version: str | None = None,
                  segment: tuple[str, str] | None = None) -> pd.DataFrame:
    """Throughput, latency quantiles and accuracy per window."""
    return _results(cfg, "model_metrics", since, until,
                    model, version, segment)


def fleet_health(cfg: DashboardConfig, model: str | None = None) -> pd.DataFrame:
    """One row per (device, model): last seen, versions, hashes, SDK counters, clock skew."""
    return _results(cfg, "fleet_health", model)


def runs(cfg: DashboardConfig, limit: int = 20) -> pd.DataFrame:
    """The newest analysis passes."""
    return _results(cfg, "runs", int(limit))


# -- references and reports ----------------------------------------------------------------------
@st.cache_data(ttl=60, show_spinner=False)
def _load_reference(path: str, mtime: float) -> Any:
    return artifacts.load_reference(Path(path))


def reference(cfg: DashboardConfig, model: str, version: str) -> Any:
    """The reference profile the analytics use for (model, version), or None."""
    path = artifacts.reference_path(cfg.paths.references, model, version)
    return None if path is None else _load_reference(str(path), path.stat().st_mtime)


def report_files(cfg: DashboardConfig) -> list[Path]:
    """Every Evidently HTML report in the data dir's ``reports/`` folder, newest first."""
    return artifacts.report_files(cfg.paths.reports)


def report_file(cfg: DashboardConfig, name: str) -> Path | None:
    """The report called ``name`` directly inside ``reports/`` (no other path), or None.

    >>> import tempfile
    >>> from dashboard.config import DashboardConfig
    >>> report_file(DashboardConfig(data_dir=tempfile.mkdtemp()), "../keys.json") is None
    True
    """
    return artifacts.report_file(cfg.paths.reports, name)


def reports(cfg: DashboardConfig, frame: pd.DataFrame, model: str, version: str) -> list[Path]:
    """Evidently HTML reports of a model version: from the verdicts, else from the folder."""
    paths = frame["report_path"] if not frame.empty and "report_path" in frame else []
    return artifacts.model_reports(cfg.paths.reports, paths, model, version)


def report_sidecar(path: Path) -> dict[str, Any]:
    """The JSON sidecar Evidently wrote beside a report (empty if none or unreadable)."""
    return artifacts.report_sidecar(path)


def report_html(path: Path) -> str:
    """The HTML of an Evidently report file."""
    return artifacts.report_html(path)
