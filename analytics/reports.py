"""Evidently drill-down: a data-drift report (HTML + JSON) comparing raw-row samples.

Reference rows come from the reference build (``samples.parquet``); current rows
from the SDK's opt-in raw-row samples (the dataset's ``samples`` table). The
``evidently`` import (~6 s) happens inside :func:`write_drift_report` only.

>>> report_name("kws", "1.0", "firmware", "2.1", 1_764_000_000_000)
'kws_1.0_firmware-2.1_20251124T160000Z'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)


def report_name(model: str, version: str, segment_tag: str, segment_value: str,
                window_start_ms: int) -> str:
    """File stem of a report: model, version, segment and window start (UTC).

    Characters outside ``[A-Za-z0-9._+-]`` become ``_``; when that changed the text, or
    the stem would pass 150 characters (file names stop at 255 bytes), a short hash of
    the exact values keeps names apart (versions ``1/0`` and ``1_0`` get two reports).

    >>> report_name("kws", "1/0", "", "", 0)
    'kws_1_0_fleet_19700101T000000Z_bc5a7421'
    >>> len(report_name("m", "v" * 128, "t", "x" * 64, 0)) <= 160
    True
    """
    when = dt.datetime.fromtimestamp(window_start_ms / 1000, dt.UTC)
    seg = f"{segment_tag}-{segment_value}" if segment_tag else "fleet"
    stem = f"{model}_{version}_{seg}_{when:%Y%m%dT%H%M%SZ}"
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", stem)
    if safe == stem and len(stem) <= 150:
        return stem
    digest = hashlib.sha256(stem.encode()).hexdigest()[:8]
    return f"{safe[:120]}_{when:%Y%m%dT%H%M%SZ}_{digest}" if len(safe) > 150 else \
        f"{safe}_{digest}"


def samples_frame(values_json: list[str]) -> pd.DataFrame:
    """Raw-row samples (``values_json`` strings) as a DataFrame.

    >>> samples_frame(['{"a": 1, "b": "x"}', '{"a": 2}']).shape
    (2, 2)
    """
    return pd.DataFrame([json.loads(v) for v in values_json])


def write_drift_report(reference: pd.DataFrame, current: pd.DataFrame, directory: str | Path,
                       stem: str, max_rows: int = 5000) -> tuple[Path, Path] | None:
    """Run Evidently's DataDriftPreset on the shared columns; write ``stem``.html/.json.

    Returns the two paths, or None when there is nothing to compare.
    """
    cols = [c for c in reference.columns if c in current.columns]
    if not cols or reference.empty or current.empty:
        log.info("no report %s: reference rows %d, current rows %d, shared columns %d",
                 stem, len(reference), len(current), len(cols))
        return None
    ref = reference[cols].head(max_rows)
    cur = current[cols].head(max_rows)
    for c in cols:   # the same dtype on both sides (numbers stay numbers)
        if pd.api.types.is_numeric_dtype(ref[c]) != pd.api.types.is_numeric_dtype(cur[c]):
            ref[c], cur[c] = ref[c].astype(str), cur[c].astype(str)
    from evidently import Report  # lazy: ~6 s import
    from evidently.presets import DataDriftPreset
    snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    html, js = directory / f"{stem}.html", directory / f"{stem}.json"
    snapshot.save_html(str(html))
    snapshot.save_json(str(js))
    return html, js
