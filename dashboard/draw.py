"""Draw a chart of :mod:`dashboard.charts` from a Vega-Lite spec cached under a key, and keep
the frames a page derives from cached query results under a key too.

Building an Altair chart and turning it into Vega-Lite costs a script run tens of
milliseconds per chart (schema objects, validation), and the frames behind it more
(queries, reshaping); the same inputs give the same spec. So a chart is built once per
``key`` and reused by every rerun, reload and visit of the page. The key names the inputs:
the results copy's version (:func:`dashboard.data.data_version`: new results, new key)
and the selection; anything else the chart shows (e.g. alert markers) must be in it too.
Where the inputs are a small frame already at hand, :func:`digest` of it is the key.
Streamlit still ships the frames as Arrow, as ``st.altair_chart`` does.

>>> callable(chart), digest(__import__("pandas").DataFrame({"a": [1]})) != ""
(True, True)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts


@st.cache_data(max_entries=128, show_spinner=False)
def spec(key: Hashable, _build: Callable[[], Any]) -> dict[str, Any]:
    """The spec (:func:`dashboard.charts.vega_spec`) of the chart ``_build()`` returns,
    built on the first call with ``key`` (``_build`` is not part of the key)."""
    return charts.vega_spec(_build())


def chart(box: Any, key: Hashable, build: Callable[[], Any]) -> None:
    """Draw the chart ``build()`` returns (cached under ``key``: see the module) in ``box``
    (``st`` or a container), at the container's width."""
    box.vega_lite_chart(spec=spec(key, build), width="stretch")


@st.cache_data(max_entries=64, show_spinner=False)
def frame(key: Hashable, _build: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """The frame ``_build()`` returns, built on the first call with ``key`` (name the
    results copy's version in it, as for :func:`spec`), a copy for every caller."""
    return _build()


def digest(*frames: pd.DataFrame) -> str:
    """A key naming the content of ``frames`` (values, index, column names and types).

    >>> a = pd.DataFrame({"x": [1.0, 2.0]})
    >>> digest(a) == digest(a.copy()), digest(a) == digest(a.assign(x=[1.0, 2.5]))
    (True, False)
    >>> digest(a) == digest(a.rename(columns={"x": "y"}))
    False
    """
    h = hashlib.blake2b(digest_size=16)
    for f in frames:
        h.update(repr((list(f.columns), [str(t) for t in f.dtypes], len(f))).encode())
        h.update(pd.util.hash_pandas_object(f, index=True).to_numpy().tobytes())
    return h.hexdigest()
