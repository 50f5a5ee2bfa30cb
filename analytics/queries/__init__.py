"""The read-only query layer: everything the dashboard shows, read from the stores analytics
owns or reads, never written.

One module per store, each a set of plain functions that take the store's path first and
return a pandas frame (no caching here; the dashboard caches):

* :mod:`analytics.queries.results` -- the results database (verdicts, feature metrics,
  data quality, model metrics, fleet health, runs), opened ``read_only`` on the file given
  (the dashboard passes its private copy); :func:`~analytics.queries.results.effect_heatmap`
  aggregates long ranges to a bounded number of cells in DuckDB.
* :mod:`analytics.queries.telemetry` -- the Parquet dataset (ingest rate, freshness, device
  windows, model-hash census, one window's merged histogram). Every dataset read goes
  through its one function ``read_dataset``.
* :mod:`analytics.queries.outbox` -- the alert outbox (alerts, deliveries, attempts, the
  webhook body as sent), SQLite opened ``mode=ro``.
* :mod:`analytics.queries.artifacts` -- reference profiles and Evidently report files.

Every value is a ``?`` parameter; no value is ever formatted into SQL.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> results.verdicts(d / "missing.duckdb", None, None).empty
True
>>> outbox.alerts(d / "outbox.sqlite").empty, telemetry.freshness(d / "telemetry").empty
(True, True)
"""

from __future__ import annotations

from . import artifacts, outbox, results, telemetry
from .results import ResultsUnreadable

__all__ = ["ResultsUnreadable", "artifacts", "outbox", "results", "telemetry"]
