"""Read the roll-ups (analytics/rollups.py) with the same queries a :class:`Dataset` answers.

:class:`RollupReader` has the four methods an analysis pass calls on the raw dataset
(``inventory``, ``feature_groups``, ``category_groups``, ``window_groups``) with the same
arguments and the same columns, read from the roll-up files the manifests name: a pass
reads models x segments x features rows per evaluation window, however many devices sent.
Only closed evaluation windows have roll-ups (a pass computes only those, unless
``include_open_windows``, which then reads the raw windows).

>>> from analytics.windows import Cadence
>>> r = RollupReader("/nonexistent/telemetry", Cadence.parse("1h"), ("firmware",))
>>> r.inventory(0, 3_600_000, r.cadence).num_rows, r.feature_groups(0, 1, r.cadence).num_rows
(0, 0)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .config import AnalyticsConfig
from .dataset import Dataset
from .errors import DatasetError
from .health_rollup import HealthState
from .rollups import MANIFEST, _date, filesystem, refresh, rollup_key, supported
from .windows import Cadence


@dataclass
class RollupReader:
    """The roll-ups of one cadence and set of segment tags under dataset ``root``."""

    root: str
    cadence: Cadence
    segment_tags: tuple[str, ...] = ()
    raw: Dataset | None = None       # the raw windows, for per-device health
    open_from: int = 0               # the first evaluation window not rolled up (ms)

    def __post_init__(self) -> None:
        self._fs, base = filesystem(str(self.root))
        self._base = f"{base}/rollups/{rollup_key(self.cadence, self.segment_tags)}"

    # -- the Dataset methods a pass calls ------------------------------------------------
    def inventory(self, since_ms: int, until_ms: int, window: Any = None,
                  models: tuple[str, ...] = ()) -> pa.Table:
        """Windows per (model, version, bucket) of the rolled-up evaluation windows."""
        rows = [{"model": m, "version": v, "bucket": b, "windows": n}
                for m, b, _, entry in self._entries(since_ms, until_ms, models)
                for v, n in sorted(entry["windows"].items())]
        schema = pa.schema([("model", pa.string()), ("version", pa.string()),
                            ("bucket", pa.int64()), ("windows", pa.int64())])
        rows.sort(key=lambda r: (r["model"], r["version"], r["bucket"]))
        return pa.Table.from_pylist(rows, schema=schema)

    def feature_groups(self, since_ms: int, until_ms: int, window: Any = None,
                       models: tuple[str, ...] = ()) -> pa.Table:
        return self._read("features", since_ms, until_ms, models)

    def category_groups(self, since_ms: int, until_ms: int, window: Any = None,
                        models: tuple[str, ...] = ()) -> pa.Table:
        return self._read("categories", since_ms, until_ms, models)

    def window_groups(self, since_ms: int, until_ms: int, window: Any = None,
                      models: tuple[str, ...] = ()) -> pa.Table:
        return self._read("windows", since_ms, until_ms, models)

    def fleet_health(self) -> pa.Table:
        """``Dataset.fleet_health``'s rows from the incremental health state
        (analytics/health_rollup.py) and the raw windows not rolled up yet."""
        if self.raw is None or not self.raw.has_table("windows"):
            return pa.table({})
        return HealthState(self._fs, self._base).fleet_health(self.raw, self.open_from)

    # -- plumbing -----------------------------------------------------------------------
    def _entries(self, since_ms: int, until_ms: int,
                 models: tuple[str, ...]) -> list[tuple[str, int, str, dict[str, Any]]]:
        """``(model, bucket, partition dir, manifest entry)`` of each rolled-up evaluation
        window starting in ``[since_ms, until_ms)``."""
        first, last = _date(since_ms), _date(until_ms)
        out = []
        for mdir in self._list(self._base, "model="):
            model = mdir.base_name[len("model="):]
            if models and model not in models:
                continue
            for ddir in self._list(mdir.path, "date="):
                if not first <= ddir.base_name[len("date="):] <= last:
                    continue
                for key, entry in self._manifest(ddir.path).items():
                    b = int(key)
                    if since_ms <= b < until_ms:
                        out.append((model, b, ddir.path, entry))
        return out

    def _read(self, table: str, since_ms: int, until_ms: int,
              models: tuple[str, ...]) -> pa.Table:
        parts = []
        for _, b, pdir, entry in self._entries(since_ms, until_ms, models):
            if table not in entry.get("tables", ()):
                continue
            path = f"{pdir}/{table}-{b}-{entry['gen']}.parquet"
            try:
                parts.append(pq.read_table(path, filesystem=self._fs))
            except (FileNotFoundError, OSError) as exc:
                raise DatasetError("rollups", path, f"the roll-up its manifest names ({exc})") \
                    from None
        if not parts:
            return pa.table({})
        return pa.concat_tables(parts, promote_options="permissive")

    def _list(self, path: str, prefix: str) -> list[pafs.FileInfo]:
        try:
            infos = self._fs.get_file_info(pafs.FileSelector(path))
        except FileNotFoundError:
            return []
        return sorted((i for i in infos if i.type == pafs.FileType.Directory
                       and i.base_name.startswith(prefix)), key=lambda i: i.base_name)

    def _manifest(self, pdir: str) -> dict[str, dict[str, Any]]:
        try:
            with self._fs.open_input_stream(f"{pdir}/{MANIFEST}") as fh:
                return dict(json.loads(fh.read()).get("buckets", {}))
        except FileNotFoundError:
            return {}




def analysis_source(ds: Dataset, config: AnalyticsConfig, now_ms: int, since_ms: int,
                    models: tuple[str, ...] = ()) -> tuple[Dataset | RollupReader, dict[str, Any]]:
    """What a pass reads its merged sketches from, and what preparing it did: the roll-ups,
    brought up to date first (:func:`analytics.rollups.refresh`), when ``analytics.rollups``
    is on and the cadence allows them; else the raw windows (``ds``)."""
    w = config.cadence
    if not config.rollups or config.include_open_windows or not supported(w):
        return ds, {"rollups": False}
    stats = refresh(ds, w, now_ms, config.grace_s * 1000, since_ms, models)
    reader = RollupReader(str(ds.root), w, ds.segment_tags, ds,
                          w.floor(now_ms - config.grace_s * 1000))
    return reader, {
        "rollups": True, "built": stats.built, "from_sums": stats.from_sums,
        "footers_read": stats.footers_read,
        "seconds": stats.seconds}


__all__ = ["RollupReader", "analysis_source"]
