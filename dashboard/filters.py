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
    notes: tuple[str, ...] = ()    # deep-link values that do not exist (shown as warnings)

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


def synced_select(st: Any, box: Any, label: str, options: list[Any], param: str, key: str,
                  default: Any = None, fmt: Any = None,
                  notes: list[str] | None = None, show: Any = None) -> Any:
    """A select box (in ``box``) kept in step with the URL parameter ``param``.

    The URL wins when it changed since this session last saw it (a link was followed, Back
    was pressed, a deep link was opened); otherwise the widget keeps the user's choice,
    which is then written to the URL (one history entry per page: see
    ``dashboard.app.HISTORY_SCRIPT``). A URL value that is not among the options is named
    in ``notes`` with what is shown instead (a link is never replaced silently).
    ``fmt`` turns an option into its URL value, ``show`` into its label (default ``fmt``).
    """
    if not options:
        return None
    fmt = fmt or str
    labels = [fmt(o) for o in options]
    seen_key = f"_url_seen_{param}"
    wanted = st.query_params.get(param)
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
    url_changed = wanted is not None and wanted != st.session_state.get(seen_key)
    if url_changed and wanted in labels:
        st.session_state[key] = options[labels.index(wanted)]
    elif key not in st.session_state or url_changed:
        st.session_state[key] = default if default in options else options[0]
        if wanted and notes is not None:
            notes.append(unknown_note(param, wanted, fmt(st.session_state[key])))
    value = box.selectbox(label, options, key=key, format_func=show or fmt)
    st.session_state[seen_key] = fmt(value)
    if st.query_params.get(param) != fmt(value):
        st.query_params[param] = fmt(value)
    return value


def _select(st: Any, label: str, options: list[str], param: str, default: str = "",
            fmt: Any = None, notes: list[str] | None = None) -> str:
    """A sidebar filter kept in step with the URL (see :func:`synced_select`)."""
    value = synced_select(st, st.sidebar, label, options, param, f"filter_{param}",
                          default, notes=notes, show=fmt)
    return "" if value is None else str(value)


def unknown_note(param: str, wanted: str, shown: str) -> str:
    """The warning for a link value that does not exist (device text escaped).

    >>> unknown_note("model", "nope", "kws")
    'The link asks for model `nope`, which has no results: showing `kws` instead.'
    """
    return (f"The link asks for {param} `{_code(wanted)}`, which has no results: "
            f"showing `{_code(shown)}` instead.")


def _code(text: str) -> str:
    """Text safe inside a Markdown code span (no backticks, bounded length)."""
    text = str(text).replace("`", "'")
    return text if len(text) <= 80 else text[:77] + "..."


def sidebar(catalog: pd.DataFrame, preferred: tuple[str, str, str] = ("", "", "")) -> Filters:
    """Draw the filters in the sidebar from the results' catalog; sync them to the URL.

    ``preferred`` (model, version, segment label): the selection when the URL names none,
    e.g. the oldest open incident, so the pages open on what is drifting.
    """
    import streamlit as st

    st.sidebar.markdown("**Filters**")
    notes: list[str] = []
    range_key = _select(st, "Time range (up to the newest window)", list(RANGES), "range",
                        default="7d", fmt=lambda k: "everything" if k == "all" else f"last {k}",
                        notes=notes)
    if catalog.empty:
        return Filters(range_key=range_key, notes=tuple(notes))
    else:
        model = _select(st, "Model", sorted(catalog["model"].unique()), "model",
                        default=preferred[0], notes=notes)
        versions = catalog[catalog["model"] == model]["version"].unique().tolist()
        version = _select(st, "Version", sorted(versions, key=_version_key, reverse=True),
                          "version", default=preferred[1] if model == preferred[0] else "",
                          notes=notes)
        segs = catalog[(catalog["model"] == model) & (catalog["version"] == version)]
        labels = sorted({format_segment((t, v)) for t, v in
                         zip(segs["segment_tag"], segs["segment_value"], strict=True)},
                        key=lambda s: (s != FLEET, s))
        seg_default = preferred[2] if (model, version) == preferred[:2] else FLEET
        segment = parse_segment(_select(st, "Segment", labels, "segment",
                                        default=seg_default or FLEET, notes=notes))
        filters = Filters(model, version, segment, range_key, tuple(notes))
    return filters


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
