"""Filters (model, version, segment, time range) shown in the sidebar and kept in the URL.

The URL's query string (``?model=kws&version=1.0&segment=firmware%3Da&range=24h``)
sets the widgets when a link is opened, and every change is written back, so a
link can be shared. A segment is ``tag=value``; the whole fleet is ``fleet``.

>>> parse_segment("firmware=2.1"), parse_segment("fleet"), format_segment(("", ""))
(('firmware', '2.1'), ('', ''), 'fleet')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from .data import RANGES

FLEET = "fleet"
_STATE_KEY = "_edgedrift_context"


@dataclass(frozen=True)
class Filters:
    """The current selection (empty strings: nothing to choose from yet).

    >>> Filters("kws", "1.0", ("", ""), "24h").segment_label
    'fleet'
    """

    model: str = ""
    version: str = ""
    segment: tuple[str, str] = ("", "")
    range_key: str = "7d"

    @property
    def segment_label(self) -> str:
        return format_segment(self.segment)


def parse_segment(text: str) -> tuple[str, str]:
    if not text or text == FLEET or "=" not in text:
        return ("", "")
    tag, _, value = text.partition("=")
    return (tag, value)


def format_segment(segment: tuple[str, str]) -> str:
    return f"{segment[0]}={segment[1]}" if segment[0] else FLEET


def _select(st: Any, label: str, options: list[str], param: str, default: str = "",
            fmt: Any = None) -> str:
    """A sidebar select box whose initial value comes from the URL (then the session)."""
    if not options:
        return ""
    key = f"filter_{param}"
    wanted = st.query_params.get(param)
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
    if key not in st.session_state:
        st.session_state[key] = wanted if wanted in options else (
            default if default in options else options[0])
    value = st.sidebar.selectbox(label, options, key=key, format_func=fmt or str)
    return str(value)


def sidebar(catalog: pd.DataFrame) -> Filters:
    """Draw the filters in the sidebar from the results' catalog; sync them to the URL."""
    import streamlit as st

    st.sidebar.markdown("**Filters**")
    range_key = _select(st, "Time range (up to the newest window)", list(RANGES), "range",
                        default="7d", fmt=lambda k: "everything" if k == "all" else f"last {k}")
    if catalog.empty:
        filters = Filters(range_key=range_key)
    else:
        model = _select(st, "Model", sorted(catalog["model"].unique()), "model")
        versions = catalog[catalog["model"] == model]["version"].unique().tolist()
        version = _select(st, "Version", sorted(versions, key=_version_key, reverse=True),
                          "version")
        segs = catalog[(catalog["model"] == model) & (catalog["version"] == version)]
        labels = sorted({format_segment((t, v)) for t, v in
                         zip(segs["segment_tag"], segs["segment_value"])},
                        key=lambda s: (s != FLEET, s))
        segment = parse_segment(_select(st, "Segment", labels, "segment", default=FLEET))
        filters = Filters(model, version, segment, range_key)
    _to_url(st, filters)
    return filters


def _to_url(st: Any, f: Filters) -> None:
    wanted = {"range": f.range_key}
    if f.model:
        wanted.update(model=f.model, version=f.version, segment=f.segment_label)
    for key, value in wanted.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value


def _version_key(v: str) -> tuple[Any, ...]:
    """Sort versions numerically where possible: 1.10 after 1.9.

    >>> sorted(["1.10", "1.9", "2.0-rc"], key=_version_key)
    ['1.9', '1.10', '2.0-rc']
    """
    parts = []
    for p in str(v).replace("-", ".").split("."):
        parts.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    return tuple(parts)


def remember(config: Any, filters: Filters) -> None:
    """Store the app's config and filters for the page being run."""
    import streamlit as st
    st.session_state[_STATE_KEY] = (config, filters)


def context() -> tuple[Any, Filters]:
    """(DashboardConfig, Filters) of this run; built from the environment if the page runs alone."""
    import streamlit as st
    found = st.session_state.get(_STATE_KEY)
    if found is not None:
        return found
    from . import data
    from .config import from_env
    cfg = from_env()
    filters = sidebar(data.catalog(cfg))
    remember(cfg, filters)
    return cfg, filters
