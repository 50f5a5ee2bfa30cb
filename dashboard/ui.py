"""Shared page pieces: the empty/partial-state guidance, the data-freshness banner, and
:func:`literal` for device-supplied text.

>>> print(next_steps("/srv/ed")[0])  # doctest: +NORMALIZE_WHITESPACE
`edgedrift demo --data-dir /srv/ed` — a simulated fleet end to end, kept apart in
/srv/ed/demo: then `edgedrift dashboard --data-dir /srv/ed/demo`
"""

from __future__ import annotations

import re
import time
from typing import Any

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$&:])")
_AUTOLINK = re.compile(r"(?i)(?<=:)(?=//)|(?<=www)(?=\.)")   # where a URL would be linkified


def literal(value: object) -> str:
    r"""``value`` as text inside Streamlit Markdown (titles, headers, captions, banners).

    Model names and versions, segment values, feature names and hashes come from devices:
    every character Markdown, HTML or LaTeX would act on is escaped, so a version
    ``[Session expired](https://evil.example)`` shows as written, not as a link; a zero-width
    space after ``://`` and ``www`` keeps the renderer from turning a bare URL into one.

    >>> print(literal("[log in](http://x.example/a_b)").replace("\u200b", "<zwsp>"))
    \[log in\]\(http\:<zwsp>//x\.example/a\_b\)
    >>> print(literal("__prediction__"))
    \_\_prediction\_\_
    """
    return _MARKDOWN.sub(r"\\\1", _AUTOLINK.sub("\u200b", str(value)))


def next_steps(data_dir: str) -> list[str]:
    """What to run, in order, on a brand-new data dir."""
    return [
        f"`edgedrift demo --data-dir {data_dir}` — a simulated fleet end to end, kept apart "
        f"in {data_dir}/demo: then `edgedrift dashboard --data-dir {data_dir}/demo`",
        f"`edgedrift keys add DEVICE_ID --data-dir {data_dir}` then "
        f"`edgedrift gateway --data-dir {data_dir}` — receive windows from real devices",
        f"`edgedrift reference --data-dir {data_dir} ...` — build a model's reference profile",
        f"`edgedrift analyze --data-dir {data_dir}` — compute drift verdicts "
        "(add `--every 300` to keep them fresh)",
    ]


def guard(st: Any, ov: Any) -> bool:
    """Explain an empty or partial installation; return True when the page can go on."""
    if ov.empty:
        st.info(f"**No data yet** in `{ov.data_dir}`. Nothing has been received or analysed. "
                "Next steps:\n\n" + "\n".join(f"{i}. {s}" for i, s in
                                            enumerate(next_steps(ov.data_dir), 1)))
        return False
    if not ov.has_results:
        st.warning("**No analysis results yet.** " + (
            "Telemetry has arrived, but " if ov.has_dataset else "") +
            f"no analysis pass has finished: run `edgedrift analyze --data-dir {ov.data_dir}`.")
        return ov.has_dataset
    return True


def freshness_banner(st: Any, ov: Any) -> None:
    """Which results are shown and whether they are stale."""
    snap = ov.snapshot
    run = ov.last_run
    if snap is None:
        return
    age = time.time() - snap.source_mtime
    when = run.get("finished_at")
    text = (f"Results as of the analysis pass finished {when:%Y-%m-%d %H:%M:%S} UTC "
            f"({_ago(age)} ago, {ov.runs} passes)" if when is not None else "Results")
    if run.get("status") not in (None, "ok"):
        st.error(f"The last analysis pass failed: {run.get('error') or run.get('status')}")
    if snap.stale:
        st.warning(f"{text} — showing the previous copy: {snap.error}")
    else:
        st.caption(text)


def _ago(seconds: float) -> str:
    """A short human duration.

    >>> _ago(42), _ago(3 * 3600), _ago(3 * 86400)
    ('42 s', '3.0 h', '3.0 d')
    """
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


ago = _ago
