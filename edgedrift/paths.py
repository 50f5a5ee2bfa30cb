"""Where each component stores its state under ``--data-dir``.

>>> p = DataPaths("/srv/edgedrift")
>>> str(p.keys), str(p.dataset)
('/srv/edgedrift/keys.json', '/srv/edgedrift/telemetry')
>>> str(p.analytics_db), str(p.outbox)
('/srv/edgedrift/analytics.duckdb', '/srv/edgedrift/alerts.sqlite')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = "./edgedrift-data"


@dataclass(frozen=True)
class DataPaths:
    """The standard layout of a data directory (each path may be overridden in config)."""

    root: str | os.PathLike[str] = DEFAULT_DATA_DIR

    @property
    def base(self) -> Path:
        return Path(self.root)

    @property
    def keys(self) -> Path:
        """Device key registry (JSON, mode 0600)."""
        return self.base / "keys.json"

    @property
    def dataset(self) -> Path:
        """Hive-partitioned Parquet dataset of window sketches."""
        return self.base / "telemetry"

    @property
    def analytics_db(self) -> Path:
        """DuckDB file with metrics, verdicts and fleet health."""
        return self.base / "analytics.duckdb"

    @property
    def outbox(self) -> Path:
        """Alert outbox and delivery log (SQLite, WAL)."""
        return self.base / "alerts.sqlite"

    @property
    def references(self) -> Path:
        """Reference profiles and spec files."""
        return self.base / "references"

    @property
    def reports(self) -> Path:
        """Evidently drill-down reports (HTML and JSON)."""
        return self.base / "reports"
