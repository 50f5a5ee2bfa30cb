"""Draw a chart of :mod:`dashboard.charts` from a Vega-Lite spec cached under a key.

Building an Altair chart and turning it into Vega-Lite costs a script run tens of
milliseconds per chart (schema objects, validation), and the frames behind it more
(queries, reshaping); the same inputs give the same spec. So a chart is built once per
``key`` and reused by every rerun, reload and visit of the page. The key names the inputs:
the results copy's version (:func:`dashboard.data.data_version`: new results, new key)
and the selection; anything else the chart shows (e.g. alert markers) must be in it too.
Streamlit still ships the frames as Arrow, as ``st.altair_chart`` does.

>>> callable(chart)
True
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

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
