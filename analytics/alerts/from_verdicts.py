"""Alerts from analysis verdicts: the bridge from a pass's verdict rows to the alert engine.

:func:`conditions_from_verdicts` turns the verdict rows of an analysis pass
(:class:`analytics.job.AnalysisSummary.verdicts`) into alert
:class:`~analytics.alerts.Condition` objects; :func:`raise_alerts` feeds them
to the :class:`~analytics.alerts.AlertEngine`, which applies the policies,
cooldown and resolve rules and stores alerts in the outbox for delivery.

>>> rows = [{"model": "kws", "version": "1.3.0", "segment_tag": "firmware",
...          "segment_value": "2.1", "kind": "drift", "state": "drift",
...          "window_start_ms": 0, "window_end_ms": 3_600_000, "share_drifted": 0.2,
...          "features_evaluated": 5, "critical_hit": "[]", "report_path": "",
...          "drifted_features": '[{"feature": "rms", "method": "wasserstein", '
...                              '"score": 0.3, "lower": 0.25, "upper": 0.31, "threshold": 0.1}]'}]
>>> [c] = conditions_from_verdicts(rows)
>>> c.segment, c.active, c.features[0].name, c.features[0].lower
('firmware=2.1', True, 'rms', 0.25)
>>> rows[0]["report_path"] = "/data/reports/kws-1.3.0-x.html"
>>> [c] = conditions_from_verdicts(rows, "https://dash.example/")
>>> c.dashboard_url
'https://dash.example/models?model=kws&version=1.3.0&segment=firmware%3D2.1'
>>> c.report_url
'https://dash.example/report?file=kws-1.3.0-x.html'
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from .config import AlertsConfig
from .events import Alert, Condition, FeatureScore
from .policy import AlertEngine


def conditions_from_verdicts(verdicts: Iterable[dict[str, Any]],
                             dashboard_url: str = "") -> list[Condition]:
    """One :class:`Condition` per verdict row (kind, model, version, segment, window)."""
    out = []
    for v in verdicts:
        tag, value = v.get("segment_tag") or "", v.get("segment_value") or ""
        segment = f"{tag}={value}" if tag else ""
        features = tuple(
            FeatureScore(name=str(f.get("feature")), method=str(f.get("method") or ""),
                         score=_num(f.get("score")), threshold=_num(f.get("threshold")),
                         lower=f.get("lower"), upper=f.get("upper"))
            for f in _json_list(v.get("drifted_features")))
        detail = {"share_drifted": v.get("share_drifted"),
                  "features_evaluated": v.get("features_evaluated"),
                  "critical_features": _json_list(v.get("critical_hit")),
                  "note": v.get("note") or ""}
        report = v.get("report_path") or ""
        link = report_url = ""
        if dashboard_url:      # the dashboard's own deep links (dashboard/filters.py)
            base = dashboard_url.rstrip("/")
            query = {"model": v["model"], "version": v["version"]}
            if segment:
                query["segment"] = segment
            link = f"{base}/models?{urlencode(query)}"
            if report:
                report_url = f"{base}/report?{urlencode({'file': Path(report).name})}"
        elif report:
            report_url = Path(report).resolve().as_uri()
        out.append(Condition(
            kind=str(v["kind"]), model=str(v["model"]), version=str(v["version"]),
            segment=segment, window_start=_ts(v["window_start_ms"]),
            window_end=_ts(v["window_end_ms"]), active=v.get("state") == "drift",
            features=features, detail=detail,
            report_url=report_url, dashboard_url=link))
    return out


def raise_alerts(verdicts: Iterable[dict[str, Any]], config: AlertsConfig,
                 outbox_path: str | Path) -> list[Alert]:
    """Store the alerts these verdicts call for (policies, cooldown, resolve) in the outbox."""
    conditions = conditions_from_verdicts(verdicts, config.dashboard_url)
    if not conditions:
        return []
    return AlertEngine(config, outbox_path).observe(conditions)


def _ts(ms: Any) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _json_list(text: Any) -> list:
    if isinstance(text, list):
        return text
    if not text:
        return []
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return []
    return value if isinstance(value, list) else []
