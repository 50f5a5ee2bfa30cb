"""dashboard — the Streamlit app over the analytics results and the Parquet dataset.

Owns: pages, charts, and the three read-only data modules: :mod:`dashboard.data`
(results DuckDB, references, reports), :mod:`dashboard.dataset` (the Parquet dataset)
and :mod:`dashboard.outbox` (the alert outbox); read-only connections, parameterised SQL.

May import: ``analytics`` read-only query helpers, the collector's Parquet schema and
readers' lock, streamlit, altair, pandas. Must not write to the analytics database.
"""
