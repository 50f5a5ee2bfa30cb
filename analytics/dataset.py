"""The one module that reads the Parquet dataset (collector/schema.py): all SQL, ``?`` parameters.

Every query reads the table's live files (:func:`collector.live_files.live_files`: a
compacted file replaces the batch files it holds, so no row is read twice and no lock is
taken while compaction runs; a file deleted under a query makes it list again and retry),
and deduplicates windows by identity ``(device_id, model, seq)``: when a device retried,
the same window sits under two ``ingest_id`` values and the smallest one is kept (the same
choice in every table). On object storage (``s3://``; DuckDB's httpfs is not needed) the
files are scanned through pyarrow datasets handed to DuckDB. Sketch merging is SQL:
``SUM(b00) .. SUM(b63)`` grouped by model, version, feature, layout,
evaluation window and segment (``GROUPING SETS``: the whole fleet plus one set
per segment tag), never a Python loop over rows.

>>> ds = Dataset("/nonexistent/telemetry")
>>> ds.has_table("features")
False
>>> ds.feature_groups(0, 1, 3_600_000).num_rows
0
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from collector.live_files import arrow_dataset, has_files, is_vanished_file
from collector.schema import BIN_COLUMNS, READ_OPTIONS, SCHEMAS, SUM_COLUMNS
from collector.storage import open_storage
from edge_sdk.layout import BUILTIN_LAYOUTS

from .dataset_files import Scope, _relisting, _Vanished, scoped_files
from .errors import DatasetError
from .windows import Cadence

_DAY_MS = 86_400_000
BAD_SLOTS = "!slots"   # suffix of a built-in layout id whose rows have counts past its slots
# Label statistics per task: a bucket may hold windows of both tasks (a stray regression
# window in a classification model, a spec change ...); summing them together, or picking
# the task with ``any_value``, would let one window hide or corrupt the other task's metric.
_LABEL_AGGREGATES = """
    SUM(label_n) FILTER (WHERE label_task <> 'regression')::BIGINT AS label_n_cls,
    SUM(label_correct) FILTER (WHERE label_task <> 'regression')::BIGINT AS label_correct,
    SUM(label_mismatch) FILTER (WHERE label_task <> 'regression')::BIGINT AS label_mismatch,
    SUM(label_n) FILTER (WHERE label_task = 'regression')::BIGINT AS label_n_reg,
    SUM(label_abs_err) FILTER (WHERE label_task = 'regression') AS label_abs_err,
    SUM(label_sq_err) FILTER (WHERE label_task = 'regression') AS label_sq_err"""
# The bucket's dominant task (more labels wins, ties go to classification): only a hint
# for consumers without a reference task; the per-task columns above stay separate.
_MAJORITY_TASK = """CASE WHEN coalesce(label_n_reg, 0) > coalesce(label_n_cls, 0)
    THEN 'regression' WHEN coalesce(label_n_cls, 0) > 0 THEN 'classification' END"""
# one delivery per window identity: the smallest ingest id (every table keeps the same one)
_ONE_DELIVERY = ("QUALIFY row_number() OVER (PARTITION BY device_id, model, seq "
                 "ORDER BY ingest_id) = 1")
@dataclass
class Dataset:
    """Read-only queries over the hive-partitioned dataset at ``root``.

    ``segment_tags``: tag names that define segments (``firmware``, ``region`` ...).
    """

    root: str | os.PathLike[str]
    segment_tags: tuple[str, ...] = ()
    threads: int = 0

    def __post_init__(self) -> None:
        self.root = str(self.root).rstrip("/")
        self.storage = open_storage(self.root)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._sums_seen = False
        self._scope: Scope | None = None

    # -- plumbing -------------------------------------------------------------------
    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = duckdb.connect(":memory:")
            if self.threads:
                self._con.execute(f"SET threads = {int(self.threads)}")
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def is_remote(self) -> bool:
        return self.storage.remote

    def files(self, table: str) -> list[str]:
        """The live files of ``table`` (inside :meth:`scoped`: only those of its scope)."""
        return scoped_files(self.storage, table, self._scope)

    @contextlib.contextmanager
    def scoped(self, dates: tuple[str, str], models: tuple[str, ...],
               batches: Iterable[str]) -> Iterator[None]:
        """Queries inside read only the files of :class:`Scope` ``(dates, models,
        batches)``. The caller's queries must filter to rows those batches hold."""
        old, self._scope = self._scope, Scope(dates, models, frozenset(batches))
        try:
            yield
        finally:
            self._scope = old

    def has_table(self, table: str) -> bool:
        if self._scope is not None:
            return bool(self.files(table))
        return has_files(self.storage, table)

    def _src(self, table: str) -> list[Any]:
        """The parameters of :meth:`_scan` (a fresh listing): the file list for DuckDB's
        ``read_parquet``; under object storage nothing (the scan is a registered view)."""
        files = self.files(table)
        if not files:                 # listed a moment ago (has_table): deleted meanwhile
            raise _Vanished() from FileNotFoundError(f"{self.root}/{table}: no files")
        if not self.is_remote():
            return [files]
        self.con.register(f"_edgedrift_{table}", arrow_dataset(self.storage, table, files))
        return []

    def _sums_sql(self, alias: str) -> str:
        """The merged slot sums (collector/slot_sums.py) of a features query: summed when the
        dataset's files have them, else typed NULLs and ``sums_n`` 0 (files written before
        wire v2: the bounds then fall back to the histograms alone)."""
        a = f"{alias}." if alias else ""
        if self._has_sums():
            pos = [f"SUM({a}{c})::BIGINT AS {c}" for c in SUM_COLUMNS[:-3]]
            return ", ".join([*pos, f"SUM({a}tail_lo) AS tail_lo", f"SUM({a}tail_hi) AS tail_hi",
                              f"SUM(coalesce({a}sums_n, 0))::BIGINT AS sums_n"])
        pos = [f"NULL::BIGINT AS {c}" for c in SUM_COLUMNS[:-3]]
        return ", ".join([*pos, "NULL::DOUBLE AS tail_lo", "NULL::DOUBLE AS tail_hi",
                          "0::BIGINT AS sums_n"])

    def _has_sums(self) -> bool:
        if self._sums_seen:
            return True
        try:
            cols = {r[0] for r in self.con.sql(
                f"DESCRIBE SELECT * FROM {self._scan('features')}",
                params=self._src("features")).fetchall()}
        except duckdb.Error:
            return False
        self._sums_seen = "sums_n" in cols     # (once seen, later files keep them)
        return self._sums_seen

    def _scan(self, table: str) -> str:
        # the file list is a parameter (:meth:`_src`); hive partitioning gives model and date
        if self.is_remote():
            return f"_edgedrift_{table}"
        return f"read_parquet(?, {READ_OPTIONS})"

    def _query(self, sql: str, params: list[Any]) -> pa.Table:
        try:
            return self.con.sql(sql, params=params).to_arrow_table()
        except (duckdb.Error, OSError, pa.ArrowException) as exc:
            if is_vanished_file(exc):
                raise _Vanished() from exc
            raise DatasetError("dataset", self.root, f"Parquet per collector/schema.py ({exc})") \
                from None

    def _time_filter(self, alias: str = "") -> str:
        a = f"{alias}." if alias else ""
        return (f"{a}date >= ?::DATE AND {a}date <= ?::DATE "
                f"AND {a}window_start >= to_timestamp(? / 1000.0) "
                f"AND {a}window_start < to_timestamp(? / 1000.0)")

    @staticmethod
    def _time_params(since_ms: int, until_ms: int) -> list[Any]:
        return [_date(since_ms), _date(until_ms), since_ms, until_ms]

    def _dedup_cte(self, since_ms: int, until_ms: int,
                   models: tuple[str, ...]) -> tuple[str, list[Any]]:
        """CTE ``dropped``: (device_id, model, seq, ingest_id) of the duplicate deliveries."""
        sql = f"""dropped AS (
            SELECT device_id, model, seq, ingest_id FROM (
                SELECT device_id, model, seq, ingest_id,
                       min(ingest_id) OVER (PARTITION BY device_id, model, seq) AS keep
                FROM {self._scan('windows')}
                WHERE {self._time_filter()} {_models_filter(models)}
                  AND (device_id, model, seq) IN (
                      SELECT (device_id, model, seq) FROM {self._scan('windows')}
                      WHERE {self._time_filter()} {_models_filter(models)}
                      GROUP BY device_id, model, seq HAVING count(*) > 1))
            WHERE ingest_id <> keep)"""
        p = [*self._src("windows"), *self._time_params(since_ms, until_ms), *models]
        return sql, p + p

    def _segments(self) -> tuple[str, str, list[Any]]:
        """(select list of segment columns, GROUPING SETS clause maker, params)."""
        cols = ", ".join(f"coalesce(tags[?], '(none)') AS seg{i}"
                         for i in range(len(self.segment_tags)))
        return (", " + cols if cols else ""), "", list(self.segment_tags)

    def _grouping(self, keys: str) -> tuple[str, str]:
        n = len(self.segment_tags)
        sets = [f"({keys})"] + [f"({keys}, seg{i})" for i in range(n)]
        seg_cols = ", ".join(f"seg{i}" for i in range(n))
        select = (f", GROUPING({seg_cols}) AS grp, " + seg_cols) if n else ", 0 AS grp"
        return f"GROUP BY GROUPING SETS ({', '.join(sets)})", select

    # -- analysis queries -----------------------------------------------------------
    @_relisting
    def feature_groups(self, since_ms: int, until_ms: int, window: Cadence | int,
                       models: tuple[str, ...] = ()) -> pa.Table:
        """Merged numeric/categorical feature sketches per (model, version, feature, layout,
        evaluation window ``bucket`` (ms), segment). ``grp`` is the GROUPING bitmask."""
        if not self.has_table("features") or not self.has_table("windows"):
            return pa.table({})
        dedup, dp = self._dedup_cte(since_ms, until_ms, models)
        seg_sel, _, sp = self._segments()
        group_by, grp_sel = self._grouping("model, version, feature, kind, layout, bucket")
        bins = ", ".join(f"SUM({c})::BIGINT AS {c}" for c in BIN_COLUMNS)
        sums = self._sums_sql("")
        sums_cols = ", ".join(f"f.{c}" for c in SUM_COLUMNS) if self._has_sums() \
            else "NULL AS no_sums"
        layout_sql, lp = _checked_layout("f")
        bucket_sql, bp = as_cadence(window).sql("f.window_start")
        sql = f"""WITH {dedup},
        rows AS (
            SELECT f.model, f.version, f.feature, f.kind, {layout_sql} AS layout,
                   {bucket_sql} AS bucket,
                   f.n, f.missing, f.nan, f.inf, f.type_mismatch, f.out_of_range, f.unseen,
                   f.other, f.min, f.max, f.mean, f.m2, {', '.join('f.' + c for c in BIN_COLUMNS)},
                   {sums_cols}
                   {seg_sel.replace('tags[', 'f.tags[')}
            FROM {self._scan('features')} f
            ANTI JOIN dropped d ON f.device_id = d.device_id AND f.model = d.model
                 AND f.seq = d.seq AND f.ingest_id = d.ingest_id
            WHERE {self._time_filter('f')} {_models_filter(models, 'f')})
        SELECT model, version, feature, kind, layout, bucket {grp_sel},
               count(*) AS windows, SUM(n)::BIGINT AS n, SUM(missing)::BIGINT AS missing,
               SUM(nan)::BIGINT AS nan, SUM(inf)::BIGINT AS inf,
               SUM(type_mismatch)::BIGINT AS type_mismatch,
               SUM(out_of_range)::BIGINT AS out_of_range, SUM(unseen)::BIGINT AS unseen,
               SUM(other)::BIGINT AS other, MIN(min) AS min, MAX(max) AS max,
               SUM(n * mean) AS sum_x, SUM(m2 + n * mean * mean) AS sum_x2, {bins}, {sums}
        FROM rows {group_by}"""
        params = [*dp, *lp, *bp, *sp, *self._src("features"),
                  *self._time_params(since_ms, until_ms), *models]
        return self._query(sql, params)

    @_relisting
    def category_groups(self, since_ms: int, until_ms: int, window: Cadence | int,
                        models: tuple[str, ...] = ()) -> pa.Table:
        """Summed category counts per (model, version, feature, bucket, segment, category)."""
        if not self.has_table("categories") or not self.has_table("windows"):
            return pa.table({})
        dedup, dp = self._dedup_cte(since_ms, until_ms, models)
        seg_sel, _, sp = self._segments()
        group_by, grp_sel = self._grouping("model, version, feature, bucket, category")
        bucket_sql, bp = as_cadence(window).sql("c.window_start")
        sql = f"""WITH {dedup},
        rows AS (
            SELECT c.model, c.version, c.feature, c.category, c.count,
                   {bucket_sql} AS bucket
                   {seg_sel.replace('tags[', 'c.tags[')}
            FROM {self._scan('categories')} c
            ANTI JOIN dropped d ON c.device_id = d.device_id AND c.model = d.model
                 AND c.seq = d.seq AND c.ingest_id = d.ingest_id
            WHERE {self._time_filter('c')} {_models_filter(models, 'c')})
        SELECT model, version, feature, bucket, category {grp_sel}, SUM(count)::BIGINT AS count
        FROM rows {group_by}"""
        params = [*dp, *bp, *sp, *self._src("categories"),
                  *self._time_params(since_ms, until_ms), *models]
        return self._query(sql, params)

    @_relisting
    def window_groups(self, since_ms: int, until_ms: int, window: Cadence | int,
                      models: tuple[str, ...] = (), dedup: bool = True) -> pa.Table:
        """Per (model, version, bucket, segment): records, windows, devices, labels, quality.

        ``dedup=False`` skips keeping one delivery per window (~3x cheaper): only for a
        caller that knows no window in the range was delivered twice."""
        if not self.has_table("windows"):
            return pa.table({})
        seg_sel, _, sp = self._segments()
        group_by, grp_sel = self._grouping("model, version, bucket")
        bucket_sql, bp = as_cadence(window).sql("window_start")
        sql = f"""WITH rows AS (
            SELECT *, {bucket_sql} AS bucket {seg_sel}
            FROM {self._scan('windows')}
            WHERE {self._time_filter()} {_models_filter(models)}
            {_ONE_DELIVERY if dedup else ""})
        SELECT model, version, bucket {grp_sel},
               count(*) AS windows, count(DISTINCT device_id) AS devices,
               SUM(n)::BIGINT AS records, SUM(unknown_feature)::BIGINT AS unknown_feature,
               SUM(untyped)::BIGINT AS untyped, SUM(bad_record)::BIGINT AS bad_record,
               SUM(label_n)::BIGINT AS label_n, {_LABEL_AGGREGATES},
               MIN(window_start) AS first_start, MAX(least(window_end, received_at)) AS last_end
        FROM rows {group_by}"""
        sql = f"""SELECT *, {_MAJORITY_TASK} AS label_task FROM ({sql})"""
        params = [*bp, *sp, *self._src("windows"),
                  *self._time_params(since_ms, until_ms), *models]
        return self._query(sql, params)

    @_relisting
    def inventory(self, since_ms: int, until_ms: int, window: Cadence | int,
                  models: tuple[str, ...] = ()) -> pa.Table:
        """Distinct windows per (model, version, bucket): decides which buckets are new."""
        if not self.has_table("windows"):
            return pa.table({})
        bucket_sql, bp = as_cadence(window).sql("window_start")
        sql = f"""SELECT model, version, {bucket_sql} AS bucket,
                         count(DISTINCT (device_id, seq)) AS windows
                  FROM {self._scan('windows')}
                  WHERE {self._time_filter()} {_models_filter(models)}
                  GROUP BY ALL ORDER BY model, version, bucket"""
        params = [*bp, *self._src("windows"),
                  *self._time_params(since_ms, until_ms), *models]
        return self._query(sql, params)

    @_relisting
    def span(self, models: tuple[str, ...] = ()) -> tuple[int, int] | None:
        """(first window start, last window end) in ms over the whole dataset, or None."""
        if not self.has_table("windows"):
            return None
        models_sql = f"WHERE TRUE {_models_filter(models)}" if models else ""
        row = self._query(f"""SELECT min(epoch_ms(window_start)) AS lo,
                                     max(epoch_ms(window_end)) AS hi
                              FROM {self._scan('windows')} {models_sql}""",
                          [*self._src("windows"), *models]).to_pylist()[0]
        return None if row["lo"] is None else (int(row["lo"]), int(row["hi"]))

    @_relisting
    def fleet_health(self) -> pa.Table:
        """Per device and model: last seen, versions, model hashes, SDK counters, clock skew."""
        if not self.has_table("windows"):
            return pa.table({})
        # last seen = gateway receive time; the device-clock window end is clamped to it (a
        # device may send a window end far in the future and would look fresh forever).
        # "Latest" values break receive-time ties (a batch lands in one millisecond) by window
        # and seq: the answer must not depend on the order of rows in files (compaction)
        sql = f"""SELECT device_id, model, max(received_at) AS last_seen,
                         max(least(window_end, received_at)) AS last_window_end,
                         count(DISTINCT (seq)) AS windows,
                         count(*) - count(DISTINCT seq) AS duplicates,
                         string_agg(DISTINCT version, ',' ORDER BY version) AS versions,
                         string_agg(DISTINCT model_hash, ',' ORDER BY model_hash) AS model_hashes,
                         arg_max(sdk, (received_at, window_start, seq)) AS sdk,
                         arg_max(sdk_dropped, (received_at, window_start, seq)) AS sdk_dropped,
                         arg_max(sdk_corrupt, (received_at, window_start, seq)) AS sdk_corrupt,
                         arg_max(sdk_rejected, (received_at, window_start, seq)) AS sdk_rejected,
                         arg_max(sdk_backlog, (received_at, window_start, seq)) AS sdk_backlog,
                         arg_max(sdk_internal_errors, (received_at, window_start, seq))
                             AS sdk_internal_errors,
                         arg_max(clock_skew_ms, (received_at, window_start, seq)) AS clock_skew_ms,
                         arg_max(epoch_ms(received_at) - epoch_ms(sent_at),
                                 (received_at, window_start, seq)) AS delivery_lag_ms
                  FROM {self._scan('windows')} GROUP BY device_id, model"""
        return self._query(sql, [*self._src("windows")])

    # -- reference from telemetry and samples -------------------------------------------
    @_relisting
    def telemetry_features(self, model: str, version: str, since_ms: int,
                           until_ms: int) -> pa.Table:
        """Merged feature sketches of one model version over a time range (no buckets).
        Layout ids are checked like :meth:`feature_groups` does (``<layout>!slots`` for rows
        with counts past a built-in layout's slots), so such rows are never merged into the
        well-formed rows of that layout."""
        if not self.has_table("features"):
            return pa.table({})
        dedup, dp = self._dedup_cte(since_ms, until_ms, (model,))
        bins = ", ".join(f"SUM(f.{c})::BIGINT AS {c}" for c in BIN_COLUMNS)
        layout_sql, lp = _checked_layout("f")
        sql = f"""WITH {dedup}
        SELECT f.feature, f.kind, {layout_sql} AS layout, count(*) AS windows,
               SUM(f.n)::BIGINT AS n, SUM(f.missing)::BIGINT AS missing,
               SUM(f.nan)::BIGINT AS nan, SUM(f.inf)::BIGINT AS inf,
               SUM(f.type_mismatch)::BIGINT AS type_mismatch,
               SUM(f.out_of_range)::BIGINT AS out_of_range, SUM(f.unseen)::BIGINT AS unseen,
               MIN(f.min) AS min, MAX(f.max) AS max, SUM(f.n * f.mean) AS sum_x,
               SUM(f.m2 + f.n * f.mean * f.mean) AS sum_x2, {bins}, {self._sums_sql("f")}
        FROM {self._scan('features')} f
        ANTI JOIN dropped d ON f.device_id = d.device_id AND f.model = d.model
             AND f.seq = d.seq AND f.ingest_id = d.ingest_id
        WHERE {self._time_filter('f')} AND f.model = ? AND f.version = ?
        GROUP BY ALL ORDER BY f.feature, layout"""
        params = [*dp, *lp, *self._src("features"), *self._time_params(since_ms, until_ms),
                  model, version]
        return self._query(sql, params)

    @_relisting
    def telemetry_categories(self, model: str, version: str, since_ms: int,
                             until_ms: int) -> pa.Table:
        if not self.has_table("categories"):
            return pa.table({})
        dedup, dp = self._dedup_cte(since_ms, until_ms, (model,))
        sql = f"""WITH {dedup}
        SELECT c.feature, c.category, SUM(c.count)::BIGINT AS count
        FROM {self._scan('categories')} c
        ANTI JOIN dropped d ON c.device_id = d.device_id AND c.model = d.model
             AND c.seq = d.seq AND c.ingest_id = d.ingest_id
        WHERE {self._time_filter('c')} AND c.model = ? AND c.version = ?
        GROUP BY ALL ORDER BY c.feature, count DESC"""
        params = [*dp, *self._src("categories"), *self._time_params(since_ms, until_ms),
                  model, version]
        return self._query(sql, params)

    @_relisting
    def telemetry_labels(self, model: str, version: str, since_ms: int,
                         until_ms: int) -> tuple[int, int, float, int, str | None]:
        """(records, label_n, correct-or-abs-err, windows, label task) over a time range."""
        if not self.has_table("windows"):
            return (0, 0, 0.0, 0, None)
        sql = f"""WITH rows AS (SELECT * FROM {self._scan('windows')}
                  WHERE {self._time_filter()} AND model = ? AND version = ?
                  QUALIFY row_number() OVER (PARTITION BY device_id, model, seq
                                             ORDER BY ingest_id) = 1)
                  SELECT coalesce(SUM(n), 0)::BIGINT AS records, count(*) AS windows,
                         {_LABEL_AGGREGATES} FROM rows"""
        sql = f"""SELECT *, {_MAJORITY_TASK} AS label_task FROM ({sql})"""
        params = [*self._src("windows"), *self._time_params(since_ms, until_ms), model, version]
        row = self._query(sql, params).to_pylist()[0]
        task = row["label_task"]
        if task == "regression":
            label_n, value = row["label_n_reg"] or 0, row["label_abs_err"] or 0.0
        else:
            label_n, value = row["label_n_cls"] or 0, float(row["label_correct"] or 0)
        return (row["records"], int(label_n), value, row["windows"], task)

    @_relisting
    def samples(self, model: str, version: str, since_ms: int, until_ms: int,
                limit: int, segment: tuple[str, str] = ("", "")) -> list[str]:
        """Up to ``limit`` raw-row samples (``values_json``) of a model version and time range."""
        if not self.has_table("samples"):
            return []
        tag, value = segment
        seg = "AND coalesce(tags[?], '(none)') = ?" if tag else ""
        sql = f"""SELECT values_json FROM {self._scan('samples')}
                  WHERE {self._time_filter()} AND model = ? AND version = ? {seg}
                  QUALIFY row_number() OVER (PARTITION BY device_id, model, seq, row
                                             ORDER BY ingest_id) = 1
                  ORDER BY hash(device_id, seq, row) LIMIT ?"""
        params = [*self._src("samples"), *self._time_params(since_ms, until_ms), model, version,
                  *([tag, value] if tag else []), int(limit)]
        return [r["values_json"] for r in self._query(sql, params).to_pylist()]


def _checked_layout(alias: str) -> tuple[str, list[Any]]:
    """SQL for a feature row's layout id, checked against the built-in layouts' slot counts:
    a row that claims a built-in layout but has counts past its last slot gets the id
    ``<layout>!slots`` (:data:`BAD_SLOTS`), so it is never merged with the well-formed rows
    of that layout and no reference histogram matches it (the analysis reports it as not
    scored). Layouts with all 64 slots, and spec layouts, cannot be checked here.

    >>> sql, params = _checked_layout("f")
    >>> params[:2], sql.count("<> 0") > 0
    (['lat1', 'lat1!slots'], True)
    """
    whens, params = [], []
    for lid, lay in BUILTIN_LAYOUTS.items():
        if lay.slots >= len(BIN_COLUMNS):
            continue
        tail = " OR ".join(f"{alias}.{c} <> 0" for c in BIN_COLUMNS[lay.slots:])
        whens.append(f"WHEN {alias}.layout = ? AND ({tail}) THEN ?")
        params += [lid, lid + BAD_SLOTS]
    if not whens:
        return f"coalesce({alias}.layout, '')", []
    return f"CASE {' '.join(whens)} ELSE coalesce({alias}.layout, '') END", params


def as_cadence(window: Cadence | int) -> Cadence:
    """A :class:`Cadence`, from an evaluation window given as one or as milliseconds."""
    return window if isinstance(window, Cadence) else Cadence.parse(int(window) // 1000)


def _models_filter(models: tuple[str, ...], alias: str = "") -> str:
    if not models:
        return ""
    a = f"{alias}." if alias else ""
    return f"AND {a}model IN ({', '.join('?' for _ in models)})"


def _date(ms: int) -> str:
    import datetime as dt
    day = max(int(ms), 0) // _DAY_MS
    return (dt.date(1970, 1, 1) + dt.timedelta(days=min(day, 2_900_000))).isoformat()


__all__ = ["BAD_SLOTS", "Dataset", "SCHEMAS"]
