"""dashboard — the Streamlit app over the analytics results and the Parquet dataset.

Owns: pages, charts, and the cached data access over analytics' read-only query layer
(:mod:`analytics.queries`): :mod:`dashboard.data` (results, references, reports),
:mod:`dashboard.dataset` (the Parquet dataset) and :mod:`dashboard.outbox` (the alert
outbox). It opens no store itself and holds no SQL.

May import: :mod:`analytics.queries` (and the alerts package's ``Outbox.redeliver`` and
config for the one write action), streamlit, altair, pandas.
"""
