"""``DashboardConfig``: the ``[dashboard]`` section of the one TOML config, frozen.

``edgedrift dashboard`` builds it from ``--config``/``--data-dir``/``--host``/``--port``
and hands the data dir and config file to the Streamlit process through the
environment (``EDGEDRIFT_DATA_DIR``, ``EDGEDRIFT_CONFIG``); the app rebuilds the same
object with :func:`from_env`.

>>> cfg = DashboardConfig(data_dir="/srv/ed")
>>> str(cfg.paths.analytics_db), cfg.refresh_s, cfg.port
('/srv/ed/analytics.duckdb', 30.0, 8501)
>>> DashboardConfig(port=0)
Traceback (most recent call last):
...
dashboard.errors.DashboardError: dashboard.port: got 0, expected a TCP port between 1 and 65535
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edgedrift.config import build_config, load_toml, section
from edgedrift.paths import DEFAULT_DATA_DIR, DataPaths

from .errors import DashboardError

ENV_DATA_DIR = "EDGEDRIFT_DATA_DIR"
ENV_CONFIG = "EDGEDRIFT_CONFIG"


@dataclass(frozen=True)
class DashboardConfig:
    """Where the data lives and how the app serves and refreshes.

    ``snapshot`` (default ``<data-dir>/analytics.snapshot.duckdb``) is a read copy
    of the results database the analytics writer may publish after each pass; the
    dashboard prefers it when it is at least as new as the live file.
    ``silent_after_s``: a device that has not been heard from this long is silent.
    ``cache_dir``: where the dashboard keeps its private copy of the results file
    (default: a temporary directory).

    >>> DashboardConfig(refresh_s=5).refresh_s
    5.0
    """

    data_dir: str = DEFAULT_DATA_DIR
    config_file: str = ""
    host: str = "127.0.0.1"
    port: int = 8501
    refresh_s: float = 30.0
    cache_ttl_s: float = 20.0
    silent_after_s: float = 900.0
    snapshot: str = ""
    cache_dir: str = ""
    max_rows: int = 200_000
    dataset: str = ""               # where the Parquet dataset is: "" = DATA_DIR/telemetry

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", str(self.data_dir))
        object.__setattr__(self, "refresh_s", float(self.refresh_s))
        if isinstance(self.port, bool) or not isinstance(self.port, int) \
                or not 1 <= self.port <= 65535:
            raise DashboardError("dashboard.port", self.port, "a TCP port between 1 and 65535")
        if not self.host:
            raise DashboardError("dashboard.host", self.host, "an address to listen on")
        for name in ("refresh_s", "cache_ttl_s", "silent_after_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise DashboardError(f"dashboard.{name}", value, "a positive number of seconds")
        if self.max_rows < 1:
            raise DashboardError("dashboard.max_rows", self.max_rows, "a positive row count")

    @property
    def paths(self) -> DataPaths:
        return DataPaths(self.data_dir)

    @property
    def dataset_root(self) -> str:
        """The Parquet dataset: ``dataset`` (a directory or ``s3://bucket/prefix``) when
        set, else the data dir's ``telemetry``."""
        return self.dataset or str(self.paths.dataset)

    @property
    def snapshot_path(self) -> Path:
        return Path(self.snapshot) if self.snapshot else \
            self.paths.base / "analytics.snapshot.duckdb"


def load(data_dir: str | None = None, config_file: str | None = None,
         overrides: Mapping[str, object] | None = None) -> DashboardConfig:
    """Build the config from the TOML file's ``[dashboard]`` section and overrides."""
    from analytics.queries.telemetry import dataset_root

    toml = load_toml(config_file or None)
    values = dict(section(toml, "dashboard"))
    extra = {"data_dir": data_dir, "config_file": config_file or None, **(overrides or {})}
    cfg = build_config(DashboardConfig, values, extra, section="dashboard")
    if cfg.dataset:
        return cfg
    # [storage] uri (object storage) when the config has one, else DATA_DIR/telemetry
    return dataclasses.replace(cfg, dataset=dataset_root(cfg.paths.dataset, toml))


def from_env(environ: Mapping[str, str] | None = None) -> DashboardConfig:
    """The config of the running app, from ``EDGEDRIFT_DATA_DIR`` / ``EDGEDRIFT_CONFIG``.

    >>> from_env({"EDGEDRIFT_DATA_DIR": "/srv/ed"}).data_dir
    '/srv/ed'
    """
    env = os.environ if environ is None else environ
    return load(env.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR, env.get(ENV_CONFIG) or None)
