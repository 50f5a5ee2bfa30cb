"""Roll-ups from the sink's sketch sums (collector/sketch_sums.py) instead of the rows.

Each batch the sink writes carries its feature and category rows summed per (version,
start, tags, feature ...), the start floored to the sink's grain (``grain_s``, an hour by
default; files from before that column: a minute). An evaluation window that is a
multiple of the grain is a union of those groups, so :func:`feature_sum_groups` and
:func:`category_sum_groups` return exactly the rows :meth:`Dataset.feature_groups` and
:meth:`Dataset.category_groups` return (up to floating-point rounding in ``sum_x`` and
``sum_x2``), reading a few rows per grain and segment instead of one per window and
feature: a roll-up's build then costs what the sink already spent.

Three conditions, checked per evaluation window by :func:`usable` and the caller
(analytics/rollups.py), else the roll-up reads the rows as before:

* **the grain fits**: the evaluation window is a multiple of every sums row's grain
  (``misfit_grain_s`` names one that is not: a sink set to a coarser grain than the
  analysis window);
* **covered**: every batch holding windows of the evaluation window also has both sums
  files (batches written before the sums, or by other writers, have none; compacted
  files count by the batches they hold);
* **no duplicate deliveries**: the sums hold every delivery the sink wrote, the raw path
  keeps one per window. The windows each version's ``__latency__`` sums count (every
  window has a latency sketch) equal the distinct windows of
  :meth:`Dataset.window_groups` exactly when no window was written twice.

>>> usable("1h"), usable("90s"), usable("1w")
(True, False, False)
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from collector.parquet_files import COMPACTED_PREFIX, compacted_lists, decode_batch_list
from collector.schema import BIN_COLUMNS, LATENCY, SUM_COLUMNS, SUMS_LEGACY_GRAIN_S
from collector.storage import Storage

from .dataset import Dataset, _checked_layout, _models_filter, _relisting
from .windows import Cadence

_INT_COLUMNS = ("n", "missing", "nan", "inf", "type_mismatch", "out_of_range", "unseen",
                "other")
# the scanned sums with a ``grain_s`` column even when none of the files has one (all from
# the release before it: union_by_name only adds a column some file has)
_WITH_GRAIN = ("SELECT * FROM {scan} UNION ALL BY NAME "
               "SELECT NULL::INTEGER AS grain_s WHERE false")


def usable(cadence: Cadence | str) -> bool:
    """Whether evaluation windows of ``cadence`` can be unions of sums (whole minutes
    dividing a day: every grain the sink takes is such); which grains fit is per row."""
    c = Cadence.parse(cadence) if isinstance(cadence, str) else cadence
    fixed = c.fixed_ms
    return fixed is not None and fixed % 60_000 == 0 and 86_400_000 % fixed == 0


@_relisting
def feature_sum_groups(ds: Dataset, since_ms: int, until_ms: int, window: Cadence,
                       models: tuple[str, ...] = ()) -> pa.Table:
    """:meth:`Dataset.feature_groups`'s rows, from the ``feature_sums`` table, and
    ``misfit_grain_s``: null, or a grain of the group's sums that ``window`` is not a
    multiple of (then the group is not the rows' sum)."""
    if not ds.has_table("feature_sums"):
        return pa.table({})
    seg_sel, _, sp = ds._segments()
    group_by, grp_sel = ds._grouping("model, version, feature, kind, layout, bucket")
    layout_sql, lp = _checked_layout("s")
    bucket_sql, bp = window.sql("s.window_start")
    ints = ", ".join(f"SUM({c})::BIGINT AS {c}" for c in _INT_COLUMNS)
    bins = ", ".join(f"SUM({c})::BIGINT AS {c}" for c in BIN_COLUMNS)
    pos = ", ".join(f"SUM({c})::BIGINT AS {c}" for c in SUM_COLUMNS[:-3])
    cols = ", ".join(f"s.{c}" for c in ("model", "version", "feature", "kind", "windows",
                                        *_INT_COLUMNS, "min", "max", "sum_x", "sum_x2",
                                        *BIN_COLUMNS, *SUM_COLUMNS))
    sql = f"""WITH rows AS (
        SELECT {cols}, {layout_sql} AS layout, {bucket_sql} AS bucket,
               coalesce(s.grain_s, {SUMS_LEGACY_GRAIN_S}) AS grain_s
               {seg_sel.replace('tags[', 's.tags[')}
        FROM ({_WITH_GRAIN.format(scan=ds._scan('feature_sums'))}) s
        WHERE {ds._time_filter('s')} {_models_filter(models, 's')})
    SELECT model, version, feature, kind, layout, bucket {grp_sel},
           SUM(windows)::BIGINT AS windows, {ints}, MIN(min) AS min, MAX(max) AS max,
           SUM(sum_x) AS sum_x, SUM(sum_x2) AS sum_x2, {bins}, {pos},
           SUM(tail_lo) AS tail_lo, SUM(tail_hi) AS tail_hi,
           SUM(coalesce(sums_n, 0))::BIGINT AS sums_n,
           MAX(CASE WHEN ? % (grain_s * 1000) <> 0 THEN grain_s END) AS misfit_grain_s
    FROM rows {group_by}"""
    params = [*lp, *bp, *sp, *ds._src("feature_sums"),
              *ds._time_params(since_ms, until_ms), *models, window.fixed_ms]
    return ds._query(sql, params)


@_relisting
def category_sum_groups(ds: Dataset, since_ms: int, until_ms: int, window: Cadence,
                        models: tuple[str, ...] = ()) -> pa.Table:
    """:meth:`Dataset.category_groups`'s rows, from the ``category_sums`` table."""
    if not ds.has_table("category_sums"):
        return pa.table({})
    seg_sel, _, sp = ds._segments()
    group_by, grp_sel = ds._grouping("model, version, feature, bucket, category")
    bucket_sql, bp = window.sql("s.window_start")
    sql = f"""WITH rows AS (
        SELECT s.model, s.version, s.feature, s.category, s.count, {bucket_sql} AS bucket
               {seg_sel.replace('tags[', 's.tags[')}
        FROM {ds._scan('category_sums')} s
        WHERE {ds._time_filter('s')} {_models_filter(models, 's')})
    SELECT model, version, feature, bucket, category {grp_sel}, SUM(count)::BIGINT AS count
    FROM rows {group_by}"""
    params = [*bp, *sp, *ds._src("category_sums"), *ds._time_params(since_ms, until_ms),
              *models]
    return ds._query(sql, params)


def batches_in(st: Storage, ddir: str) -> set[str]:
    """The batch file names directory ``ddir`` holds: its batch files and the batches its
    compacted files hold."""
    try:
        listing = st.list_dir(ddir)
    except FileNotFoundError:
        return set()
    names = {e.name for e in listing if e.name.endswith(".parquet")
             and not e.name.startswith((".", COMPACTED_PREFIX))}
    for data in compacted_lists(st, ddir, listing).values():
        names.update(decode_batch_list(data))
    return names


def misfit_grains(sums: pa.Table) -> dict[int, int]:
    """Evaluation window -> a grain of its sums that the window is not a multiple of."""
    if not sums.num_rows:
        return {}
    bad = sums.filter(pc.is_valid(sums["misfit_grain_s"]))
    return dict(zip(bad["bucket"].to_pylist(), bad["misfit_grain_s"].to_pylist(), strict=True))


def exact_buckets(sums: pa.Table, windows: pa.Table, full_grp: int) -> set[int]:
    """The evaluation windows whose sums saw each window once: per version, the windows
    of the ``__latency__`` sums equal :meth:`Dataset.window_groups`'s distinct windows."""
    if not windows.num_rows:
        return set()
    fleet = windows.filter(pc.equal(windows["grp"], full_grp))
    want: dict[tuple[int, str], int] = {
        (r["bucket"], r["version"]): r["windows"]
        for r in fleet.select(["bucket", "version", "windows"]).to_pylist()}
    got: dict[tuple[int, str], Any] = {}
    if sums.num_rows:
        lat = sums.filter(pc.and_(pc.equal(sums["grp"], full_grp),
                                  pc.equal(sums["feature"], LATENCY)))
        for r in lat.select(["bucket", "version", "windows"]).to_pylist():
            key = (r["bucket"], r["version"])
            got[key] = got.get(key, 0) + r["windows"]
    buckets = {b for b, _ in want}
    return {b for b in buckets
            if all(got.get(k) == n for k, n in want.items() if k[0] == b)
            and all(want.get(k) == n for k, n in got.items() if k[0] == b)}


__all__ = ["batches_in", "category_sum_groups", "exact_buckets", "feature_sum_groups",
           "misfit_grains", "usable"]
