"""analytics — reference profiles, DuckDB drift jobs, verdicts, Evidently reports,
and retraining alerts (outbox + signed webhook delivery).

Owns: the reference builder and spec emission, the SQL over the Parquet
dataset, the statistical methods registry, the verdict policy, the results
database, Evidently drill-down reports, the alert outbox and webhook delivery.

May import: ``edge_sdk`` (layouts, spec), ``collector.schema`` (column names
only), duckdb, pyarrow, numpy, scipy, evidently (lazily, only where a report
is made). Must not import ``dashboard`` or the gateway.
"""
