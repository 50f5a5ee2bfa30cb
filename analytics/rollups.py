"""Roll-ups: each closed evaluation window's merged sketches, built once and stored in Parquet.

An analysis pass over raw windows reads every device window in its range, so its cost
grows with the fleet. The sketches merge exactly (sums, minima, maxima), so the merge is
done once per closed evaluation window and stored beside the window rows::

    <root>/rollups/<key>/model=<m>/date=<d>/manifest.json
    <root>/rollups/<key>/model=<m>/date=<d>/<table>-<bucket>-<gen>.parquet

``<key>`` names the cadence and segment tags (a roll-up is valid for one of each);
``<table>`` is ``features``, ``categories`` or ``windows``: exactly the rows
:meth:`analytics.dataset.Dataset.feature_groups`, ``category_groups`` and
``window_groups`` return for that evaluation window (``bucket``). The analysis reads them
through :class:`analytics.rollup_reader.RollupReader` and costs models x segments x
features x windows, not devices. The build merges the sink's sketch sums of each batch
(analytics/rollup_sums.py) where they cover the evaluation window exactly, else the rows.

**Exactly once.** A roll-up's generation ``<gen>`` is a hash of the raw ``windows`` files
(name and size) whose window starts fall in its evaluation window: the same inputs always
give the same file names, so a rebuild after a crash overwrites, never adds. The manifest,
written last and atomically, names the one generation per evaluation window that readers
use; older generations are then deleted. Every delivery of one window has the same
``window_start``, so all of them fall in one roll-up, whose build deduplicates them with
the same SQL as the raw path: a window is never counted twice. A late window lands in a
new file, which changes that evaluation window's generation: the roll-up is rebuilt (and
the analysis sees a changed window count and recomputes it). Compaction rewrites files,
which also only rebuilds the evaluation windows it touched.

**Incremental.** :func:`refresh` lists the ``windows`` partitions in its range (file
names and sizes: no rows), reads the window-start statistics from the footers of files it
has not seen, and rebuilds only the closed evaluation windows whose inputs changed.

Roll-ups need a fixed cadence that divides a day (``15m``, ``1h``, ``1d`` in UTC ...):
then each evaluation window lies in one ``date=`` partition. Other cadences (calendar
weeks, months, days in a local time zone) keep reading the raw windows.

>>> from analytics.windows import Cadence
>>> supported(Cadence.parse("1h")), supported(Cadence.parse("1w"))
(True, False)
>>> rollup_key(Cadence.parse("1h"), ("firmware",))[:3]
'1h-'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from collector.parquet_files import compacted_lists, decode_batch_list
from collector.schema import SUMS_TABLES

from .dataset import Dataset
from .health_rollup import HealthState, bucket_summaries
from .rollup_files import atomic_parquet, atomic_write, delete_quietly
from .rollup_sums import (
    batches_in,
    category_sum_groups,
    exact_buckets,
    feature_sum_groups,
    misfit_grains,
    usable,
)
from .windows import Cadence

log = logging.getLogger(__name__)

TABLES = ("features", "categories", "windows")
MANIFEST = "manifest.json"
FORMAT = 1          # bump when the rows a roll-up holds change: old roll-ups are then unused
_DAY_MS = 86_400_000


def supported(cadence: Cadence) -> bool:
    """Whether roll-ups can serve this cadence (fixed length dividing a UTC day)."""
    fixed = cadence.fixed_ms
    return fixed is not None and fixed <= _DAY_MS and _DAY_MS % fixed == 0


def rollup_key(cadence: Cadence, segment_tags: tuple[str, ...]) -> str:
    """The directory name of the roll-ups for one cadence and one set of segment tags."""
    text = json.dumps([FORMAT, cadence.count, cadence.unit, cadence.timezone, list(segment_tags)])
    digest = hashlib.blake2b(text.encode(), digest_size=6).hexdigest()
    return f"{cadence.count}{cadence.unit}-{digest}"


def filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    """``(filesystem, path)`` of a dataset root given as a local path or a URI."""
    if "://" in root:
        return pafs.FileSystem.from_uri(root)
    import os
    return pafs.LocalFileSystem(), os.path.abspath(root)


@dataclass
class RefreshStats:
    """What :func:`refresh` did: evaluation windows rebuilt, dropped, files footers read."""

    built: int = 0
    from_sums: int = 0      # of those built, from the sink's sketch sums (the rest: rows)
    dropped: int = 0
    footers_read: int = 0
    partitions: int = 0
    seconds: float = 0.0
    built_keys: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class _Partition:
    """One (model, date) partition's manifest: the files seen and the roll-ups built."""

    files: dict[str, list[int]]            # name -> [size, first bucket, last bucket]
    buckets: dict[str, dict[str, Any]]     # str(bucket) -> {"gen", "windows": {version: n},
    #                                                         "tables": [written tables]}

    @classmethod
    def load(cls, fs: pafs.FileSystem, path: str) -> _Partition:
        try:
            with fs.open_input_stream(path) as fh:
                data = json.loads(fh.read())
        except (FileNotFoundError, OSError):
            return cls({}, {})
        return cls(data.get("files", {}), data.get("buckets", {}))

    def save(self, fs: pafs.FileSystem, path: str) -> None:
        body = json.dumps({"format": FORMAT, "files": self.files, "buckets": self.buckets},
                          sort_keys=True).encode()
        atomic_write(fs, path, body)


def refresh(ds: Dataset, cadence: Cadence, now_ms: int, grace_ms: int, since_ms: int,
            models: tuple[str, ...] = ()) -> RefreshStats:
    """Bring the roll-ups of every closed evaluation window from ``since_ms`` up to date.

    Closed: its end plus ``grace_ms`` is at or before ``now_ms``. Returns what it did.
    """
    if not supported(cadence):
        raise ValueError(f"cadence {cadence.label}: roll-ups need a fixed length dividing a day")
    started = time.perf_counter()
    stats = RefreshStats()
    fs, base = filesystem(str(ds.root))
    out_base = f"{base}/rollups/{rollup_key(cadence, ds.segment_tags)}"
    first_date, last_date = _date(since_ms), _date(now_ms)
    current: dict[str, str] = {}
    scope: set[str] = set()
    for model, date, ddir in _partitions(fs, f"{base}/windows", models, first_date, last_date):
        stats.partitions += 1
        pdir = f"{out_base}/model={model}/date={date}"
        part = _refresh_partition(ds, fs, cadence, model, date, ddir, pdir,
                                  now_ms, grace_ms, since_ms, stats)
        scope.add(f"{model}/{date}")
        current.update({f"{model}/{date}/{b}": e["gen"] for b, e in part.buckets.items()
                        if "health" in e.get("tables", ())})
    first = {m.split("/", 1)[0]: cadence.floor(since_ms) for m in scope}
    HealthState(fs, out_base).fold(ds, current, scope, first)
    stats.seconds = time.perf_counter() - started
    return stats


def _refresh_partition(ds: Dataset, fs: pafs.FileSystem, cadence: Cadence, model: str,
                       date: str, ddir: str, pdir: str, now_ms: int, grace_ms: int,
                       since_ms: int, stats: RefreshStats) -> _Partition:
    width = int(cadence.fixed_ms or 0)
    part = _Partition.load(fs, f"{pdir}/{MANIFEST}")
    files: dict[str, list[int]] = {}
    for info in fs.get_file_info(pafs.FileSelector(ddir)):
        name = info.base_name
        if info.type != pafs.FileType.File or name.startswith(".") \
                or not name.endswith(".parquet"):
            continue
        known = part.files.get(name)
        if known is not None and known[0] == info.size:
            files[name] = known
            continue
        lo, hi = _start_range(fs, info.path)
        stats.footers_read += 1
        files[name] = [int(info.size or 0), lo // width * width, hi // width * width]
    inputs: dict[int, list[str]] = {}
    for name, (size, lo, hi) in files.items():
        for b in range(lo, hi + width, width):
            inputs.setdefault(b, []).append(f"{name}:{size}")
    todo: dict[int, str] = {}
    for b, names in inputs.items():
        if b < cadence.floor(since_ms) or b + width + grace_ms > now_ms:
            continue
        gen = hashlib.blake2b("\n".join(sorted(names)).encode(), digest_size=8).hexdigest()
        if part.buckets.get(str(b), {}).get("gen") != gen:
            todo[b] = gen
    gone = [k for k in part.buckets if int(k) not in inputs]
    if not todo and not gone and files == part.files:
        return part
    old = {k: v["gen"] for k, v in part.buckets.items()}
    if todo:
        covered = _covered(ds, cadence, model, date, files, inputs, todo)
        batches = {e.rsplit(":", 1)[0] for b in todo for e in inputs[b]}
        with ds.scoped((date, date), (model,), batches):     # the files holding them only
            stats.from_sums += _build(ds, fs, cadence, model, pdir, todo, part, covered)
        stats.built += len(todo)
        stats.built_keys += [(model, b) for b in sorted(todo)]
    for k in gone:
        del part.buckets[k]
    stats.dropped += len(gone)
    part.files = files
    part.save(fs, f"{pdir}/{MANIFEST}")              # the switch to the new generations
    for k, gen in old.items():                       # then the old generations go
        if part.buckets.get(k, {}).get("gen") != gen:
            for table in TABLES:      # (health summaries: once the state no longer needs them)
                delete_quietly(fs, f"{pdir}/{table}-{k}-{gen}.parquet")
    return part


def _covered(ds: Dataset, cadence: Cadence, model: str, date: str,
             files: dict[str, list[int]], inputs: dict[int, list[str]],
             todo: dict[int, str]) -> set[int]:
    """The evaluation windows of ``todo`` whose every input batch has both sketch sums
    files (analytics/rollup_sums.py)."""
    if not usable(cadence):
        return set()
    st, part = ds.storage, f"model={model}/date={date}"
    have = batches_in(st, f"{SUMS_TABLES[0]}/{part}") & batches_in(st, f"{SUMS_TABLES[1]}/{part}")
    if not have:
        return set()
    wdir = f"windows/{part}"
    lists = compacted_lists(st, wdir)
    held = {name: decode_batch_list(lists[name]) if name in lists else {name} for name in files}
    return {b for b in todo
            if all(held[entry.rsplit(":", 1)[0]] <= have for entry in inputs[b])}


def _build(ds: Dataset, fs: pafs.FileSystem, cadence: Cadence, model: str, pdir: str,
           todo: dict[int, str], part: _Partition, covered: set[int]) -> int:
    """Merge the windows of the evaluation windows ``todo`` (bucket -> generation): from
    the sketch sums where ``covered`` and exact (analytics/rollup_sums.py), else with the
    raw path's own SQL; write one file per (table, bucket). Returns how many came from
    the sums."""
    lo, hi = min(todo), cadence.end(max(todo))
    full = (1 << len(ds.segment_tags)) - 1
    health = bucket_summaries(ds, cadence, lo, hi, model)
    twice = pc.sum(pc.subtract(health["rows"], health["windows"])).as_py() \
        if health.num_rows else 0             # deliveries beyond the first, per device
    windows = ds.window_groups(lo, hi, cadence, (model,), dedup=bool(twice))
    features: list[pa.Table] = []
    categories: list[pa.Table] = []
    summed: set[int] = set()
    if covered:
        slo, shi = min(covered), cadence.end(max(covered))
        sums = feature_sum_groups(ds, slo, shi, cadence, (model,))
        misfit = misfit_grains(sums)
        if misfit:
            log.warning("roll-ups of %s: the sink's sketch sums are per %d s, and the "
                        "evaluation window (%s) is not a multiple of that: roll-ups read the "
                        "rows instead (slower); set [sink] sums_grain_s to a divisor of "
                        "[analytics] window_s", model, next(iter(misfit.values())),
                        cadence.label)
        if "misfit_grain_s" in sums.column_names:
            sums = sums.drop_columns(["misfit_grain_s"])
        summed = exact_buckets(sums, windows, full) & covered - set(misfit)
        if summed:
            features.append(_only(sums, summed))
            categories.append(_only(category_sum_groups(ds, slo, shi, cadence, (model,)),
                                    summed))
    rest = set(todo) - summed
    if rest:
        rlo, rhi = min(rest), cadence.end(max(rest))
        features.append(_only(ds.feature_groups(rlo, rhi, cadence, (model,)), rest))
        categories.append(_only(ds.category_groups(rlo, rhi, cadence, (model,)), rest))
    tables = {"features": _concat(features), "categories": _concat(categories),
              "windows": windows, "health": health}
    fs.create_dir(pdir, recursive=True)
    for b, gen in sorted(todo.items()):
        written = []
        for table, rows in tables.items():
            mine = rows.filter(pc.equal(rows["bucket"], b)) if rows.num_rows else rows
            if not mine.num_rows:
                continue
            atomic_parquet(fs, f"{pdir}/{table}-{b}-{gen}.parquet", mine)
            written.append(table)
        wins = tables["windows"]
        counts: dict[str, int] = {}
        if wins.num_rows:
            fleet = wins.filter(pc.and_(pc.equal(wins["bucket"], b),
                                        pc.equal(wins["grp"], full)))
            for r in fleet.select(["version", "windows"]).to_pylist():
                counts[r["version"]] = int(r["windows"])
        part.buckets[str(b)] = {"gen": gen, "windows": counts, "tables": written}
    return len(summed)


def _only(rows: pa.Table, buckets: set[int]) -> pa.Table:
    """The rows of the evaluation windows ``buckets``."""
    if not rows.num_rows:
        return rows
    return rows.filter(pc.is_in(rows["bucket"], pa.array(sorted(buckets), pa.int64())))


def _concat(parts: list[pa.Table]) -> pa.Table:
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return pa.table({})
    return parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="permissive")


def _partitions(fs: pafs.FileSystem, table_dir: str, models: tuple[str, ...],
                first_date: str, last_date: str) -> list[tuple[str, str, str]]:
    """``(model, date, directory)`` of the ``windows`` partitions between two dates."""
    out: list[tuple[str, str, str]] = []
    try:
        mdirs = fs.get_file_info(pafs.FileSelector(table_dir))
    except FileNotFoundError:
        return out
    for m in sorted(mdirs, key=lambda i: i.base_name):
        if m.type != pafs.FileType.Directory or not m.base_name.startswith("model="):
            continue
        model = m.base_name[len("model="):]
        if models and model not in models:
            continue
        for d in sorted(fs.get_file_info(pafs.FileSelector(m.path)), key=lambda i: i.base_name):
            date = d.base_name[len("date="):]
            if d.type == pafs.FileType.Directory and d.base_name.startswith("date=") \
                    and first_date <= date <= last_date:
                out.append((model, date, d.path))
    return out


def _start_range(fs: pafs.FileSystem, path: str) -> tuple[int, int]:
    """(min, max) ``window_start`` in ms of one windows file, from its footer statistics
    (or, for a file without them, from the column)."""
    with fs.open_input_file(path) as fh:
        pf = pq.ParquetFile(fh)
        meta = pf.metadata
        idx = pf.schema_arrow.get_field_index("window_start")
        lo = hi = None
        for rg in range(meta.num_row_groups):
            st = meta.row_group(rg).column(idx).statistics
            if st is None or not st.has_min_max:
                lo = None
                break
            a, b = _ms(st.min), _ms(st.max)
            lo, hi = (a, b) if lo is None else (min(lo, a), max(hi, b))  # type: ignore[type-var]
        if lo is None or hi is None:
            col = pf.read(columns=["window_start"])["window_start"].cast(pa.int64())
            if not len(col):
                return 0, -1
            lo, hi = pc.min(col).as_py(), pc.max(col).as_py()
        return int(lo), int(hi)


def _ms(value: Any) -> int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(round(value.timestamp() * 1000))
    return int(value)


def _date(ms: int) -> str:
    day = max(int(ms), 0) // _DAY_MS
    return (dt.date(1970, 1, 1) + dt.timedelta(days=min(day, 2_900_000))).isoformat()


__all__ = ["RefreshStats", "refresh", "rollup_key", "supported"]
