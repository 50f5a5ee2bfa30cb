"""dashboard — the Streamlit app over the analytics results and the Parquet dataset.

Owns: pages, charts, and :mod:`dashboard.data`, the only module that queries
DuckDB (read-only connections, parameterised SQL).

May import: ``analytics`` read-only query helpers, streamlit, altair, pandas.
Must not write to the analytics database or import the collector.
"""
