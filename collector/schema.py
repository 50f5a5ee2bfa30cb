"""The Parquet dataset's schema: the one contract between the sink and the analytics.

The sink writes four hive-partitioned tables under the dataset root, each
partitioned by ``model=<model>/date=<YYYY-MM-DD>`` (UTC date of the window
start: record time, never wall clock)::

    <root>/windows/model=kws/date=2026-11-24/<topic>-<partition>-<first>-<last>.parquet
    <root>/features/...     one row per (window, feature) incl. __prediction__, __latency__ ...
    <root>/categories/...   one row per (window, categorical feature, category)
    <root>/labels/...       one row per (window, predicted class, true class)
    <root>/samples/...      opt-in raw-row samples (one row per sampled record)
    <root>/feature_sums/... a batch's feature rows summed per (version, minute, tags, feature,
                            kind, layout): what roll-ups read instead of every window's rows
    <root>/category_sums/.. a batch's category counts summed per (version, minute, tags,
                            feature, category)

Every row carries the window identity (``device_id, model, seq``) and the
``ingest_id`` of the Kafka record (or embedded log position) that delivered
it: a device that retried may deliver the same window twice under two ingest
ids, and readers keep one ingest id per identity (see docs/parquet-schema.md).

Histograms are 64 plain ``int32`` columns ``b00 .. b63`` so DuckDB sums them
column-wise (``SUM(b00), ... SUM(b63)``) with no list unnesting; a layout with
fewer slots leaves the tail columns at 0. The slot sums of wire-v2 entries follow as
``pos0 .. pos7``, ``tail_lo``, ``tail_hi`` and ``sums_n`` (collector/slot_sums.py).

>>> FEATURES.field("b63").type
DataType(int32)
>>> BIN_COLUMNS[:2], len(BIN_COLUMNS)
(['b00', 'b01'], 64)
"""

from __future__ import annotations

import pyarrow as pa

from edge_sdk.layout import MAX_SLOTS, REGIONS
from edge_sdk.wire import PSEUDO_FEATURES

SCHEMA_VERSION = 1
TABLES = ("windows", "features", "categories", "labels", "samples", "feature_sums",
          "category_sums")
SUMS_TABLES = ("feature_sums", "category_sums")   # a batch's sketch sums (sketch_sums.py)
# the sketch sums' time grain: window starts floored to ``[sink] sums_grain_s``, recorded
# per row as ``grain_s``; files from before that column summed per minute
SUMS_LEGACY_GRAIN_S = 60
PARTITION_COLUMNS = ("model", "date")
BIN_COLUMNS = [f"b{i:02d}" for i in range(MAX_SLOTS)]
# per region of inner slots count x mean position, the tail distances, the values covered
SUM_COLUMNS = [f"pos{r}" for r in range(REGIONS)] + ["tail_lo", "tail_hi", "sums_n"]

# Pseudo-feature names for the window-level sketches, stored as feature rows.
# (reserved by the wire format: a window's own features may not use these names)
PREDICTION, LATENCY, ENERGY, LABEL_ERROR = PSEUDO_FEATURES   # LABEL_ERROR: prediction - label

_TS = pa.timestamp("ms", tz="UTC")

# Identity + time columns shared by every table (model and date are the partition keys
# and live in the directory names; readers get them back via hive partitioning).
_IDENTITY = [
    pa.field("device_id", pa.string(), nullable=False),
    pa.field("version", pa.string(), nullable=False),
    pa.field("seq", pa.uint64(), nullable=False),
    pa.field("window_start", _TS, nullable=False),
    pa.field("window_end", _TS, nullable=False),
    pa.field("ingest_id", pa.string(), nullable=False),    # "<topic>/<partition>/<offset>"
    pa.field("tags", pa.map_(pa.string(), pa.string())),  # segments: firmware, region, hw ...
]

WINDOWS = pa.schema(_IDENTITY + [
    pa.field("model_hash", pa.string()),
    pa.field("spec_id", pa.string()),
    pa.field("received_at", _TS, nullable=False),          # gateway clock
    pa.field("sent_at", _TS, nullable=False),              # device clock at signing (envelope t)
    pa.field("n", pa.int64(), nullable=False),             # records (inferences) in the window
    # data quality at record level
    pa.field("unknown_feature", pa.int64()),
    pa.field("untyped", pa.int64()),
    pa.field("bad_record", pa.int64()),
    # labels (null when no label arrived in the window)
    pa.field("label_task", pa.string()),                   # classification | regression
    pa.field("label_n", pa.int64()),
    pa.field("label_correct", pa.int64()),                 # classification: confusion diagonal
    pa.field("label_mismatch", pa.int64()),
    pa.field("label_abs_err", pa.float64()),               # regression sums
    pa.field("label_sq_err", pa.float64()),
    # SDK health (cumulative counters since install, as reported by the device)
    pa.field("sdk_dropped", pa.int64()),
    pa.field("sdk_corrupt", pa.int64()),
    pa.field("sdk_rejected", pa.int64()),
    pa.field("sdk_backlog", pa.int64()),
    pa.field("sdk_internal_errors", pa.int64()),
    pa.field("clock_skew_ms", pa.int64()),                 # SDK's estimate, server - device
    pa.field("sdk", pa.string()),                          # SDK name/version
])

FEATURES = pa.schema(_IDENTITY + [
    pa.field("feature", pa.string(), nullable=False),
    pa.field("kind", pa.int8(), nullable=False),            # 0 numeric, 1 categorical
    pa.field("layout", pa.string()),                        # numeric: layout id (u1, lat1, e:...)
    pa.field("n", pa.int64(), nullable=False),              # finite values (numeric), values (cat.)
    pa.field("missing", pa.int64(), nullable=False),
    pa.field("nan", pa.int64()),
    pa.field("inf", pa.int64()),
    pa.field("type_mismatch", pa.int64(), nullable=False),
    pa.field("out_of_range", pa.int64()),
    pa.field("unseen", pa.int64()),                         # categorical: values outside the spec
    pa.field("other", pa.int64()),                          # categorical: untracked categories
    pa.field("min", pa.float64()),
    pa.field("max", pa.float64()),
    pa.field("mean", pa.float64()),
    pa.field("m2", pa.float64()),                           # sum of squared deviations (Chan merge)
] + [pa.field(c, pa.int32(), nullable=False) for c in BIN_COLUMNS]
  # wire-v2 slot sums (collector/slot_sums.py); null in files written before them
  + [pa.field(c, pa.int64()) for c in SUM_COLUMNS[:-3]]
  + [pa.field("tail_lo", pa.float64()), pa.field("tail_hi", pa.float64()),
     pa.field("sums_n", pa.int64())])

CATEGORIES = pa.schema(_IDENTITY + [
    pa.field("feature", pa.string(), nullable=False),       # incl. __prediction__ when categorical
    pa.field("category", pa.string(), nullable=False),
    pa.field("count", pa.int64(), nullable=False),
])

# A batch's sketch sums (collector/sketch_sums.py): its feature and category rows summed
# per (version, window start floored to the grain, tags, feature ...), with the row count
# as ``windows``. Every evaluation window that is a multiple of the grain merges these
# exactly as it merges the rows (analytics/rollups.py); they are written in the batch,
# before its windows.
_SUMS_KEY = [
    pa.field("version", pa.string(), nullable=False),
    pa.field("window_start", _TS, nullable=False),         # floored to the grain
    pa.field("grain_s", pa.int32()),                       # null: SUMS_LEGACY_GRAIN_S
    pa.field("tags", pa.map_(pa.string(), pa.string())),
    pa.field("feature", pa.string(), nullable=False),
]
FEATURE_SUMS = pa.schema(_SUMS_KEY + [
    pa.field("kind", pa.int8(), nullable=False),
    pa.field("layout", pa.string()),
    pa.field("windows", pa.int64(), nullable=False),       # rows summed
] + [f for f in FEATURES if f.name in ("n", "missing", "nan", "inf", "type_mismatch",
                                        "out_of_range", "unseen", "other", "min", "max")]
  + [pa.field("sum_x", pa.float64()),                       # sum of n * mean
     pa.field("sum_x2", pa.float64())]                      # sum of m2 + n * mean^2
  + [pa.field(c, pa.int64(), nullable=False) for c in BIN_COLUMNS]
  + [pa.field(c, pa.int64()) for c in SUM_COLUMNS[:-3]]
  + [pa.field("tail_lo", pa.float64()), pa.field("tail_hi", pa.float64()),
     pa.field("sums_n", pa.int64())])
CATEGORY_SUMS = pa.schema(_SUMS_KEY + [
    pa.field("category", pa.string(), nullable=False),
    pa.field("count", pa.int64(), nullable=False),
])

LABELS = pa.schema(_IDENTITY + [
    pa.field("predicted", pa.string(), nullable=False),
    pa.field("actual", pa.string(), nullable=False),
    pa.field("count", pa.int64(), nullable=False),
])

SAMPLES = pa.schema(_IDENTITY + [
    pa.field("row", pa.int32(), nullable=False),
    # {"feature": value, ..., "__prediction__": p}
    pa.field("values_json", pa.string(), nullable=False),
])

# How readers scan a table (DuckDB ``read_parquet(?, <these>)``): the partition columns
# typed explicitly, so a fleet whose model names all look like numbers or dates still
# reads ``model`` as text (DuckDB would otherwise guess BIGINT or DATE).
READ_OPTIONS = ("hive_partitioning = true, union_by_name = true, "
                "hive_types = {'model': 'VARCHAR', 'date': 'DATE'}")

SCHEMAS: dict[str, pa.Schema] = {
    "windows": WINDOWS, "features": FEATURES, "categories": CATEGORIES,
    "labels": LABELS, "samples": SAMPLES, "feature_sums": FEATURE_SUMS,
    "category_sums": CATEGORY_SUMS,
}
