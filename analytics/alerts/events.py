"""What the analytics hand in (``Condition``) and what goes out (``Alert`` and its JSON payload).

Event types are ``<kind>.<opened>`` / ``<kind>.<closed>``::

    drift.detected / drift.resolved          quality.breached / quality.resolved
    drift.updated                            quality.updated
    latency.breached / latency.resolved      accuracy.breached / accuracy.resolved
    fleet.silent / fleet.recovered           model_hash.unexpected / model_hash.resolved

Suggested action (:func:`suggested_action`, unless the policy sets ``action``):
``rollback`` for ``model_hash.unexpected`` and for any breach whose condition
says the version was just deployed (``detail["recent_deploy"]`` true: the new
version is the likely cause); otherwise ``retrain`` for drift and accuracy
(the data moved away from what the model learned) and ``investigate`` for
quality, latency and silence (a pipeline, device or runtime problem that
retraining would not fix). Resolve events carry ``none``.

>>> from datetime import UTC, datetime
>>> t0 = datetime(2025, 1, 1, tzinfo=UTC)
>>> c = Condition("drift", "kws", "1.2", "", t0, t0, True,
...               features=(FeatureScore("rms", "psi", 0.31, 0.2),))
>>> event_type("drift", opened=True), suggested_action(c)
('drift.detected', 'retrain')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

EVENT_NAMES = {
    "drift": ("drift.detected", "drift.resolved"),
    "quality": ("quality.breached", "quality.resolved"),
    "latency": ("latency.breached", "latency.resolved"),
    "accuracy": ("accuracy.breached", "accuracy.resolved"),
    "silence": ("fleet.silent", "fleet.recovered"),
    "model_hash": ("model_hash.unexpected", "model_hash.resolved"),
}
# sent while an incident is open when the set of features it lists changes
UPDATE_NAMES = {"drift": "drift.updated", "quality": "quality.updated"}
EVENT_TYPES = (tuple(name for pair in EVENT_NAMES.values() for name in pair)
               + tuple(UPDATE_NAMES.values()) + ("alert.test",))
_DEFAULT_ACTION = {"drift": "retrain", "accuracy": "retrain", "quality": "investigate",
                   "latency": "investigate", "silence": "investigate",
                   "model_hash": "rollback"}


@dataclass(frozen=True)
class FeatureScore:
    """One feature's drift score and threshold; ``lower``/``upper``: the score's error bounds.

    >>> FeatureScore("rms", "psi", 0.31, 0.2, lower=0.28, upper=0.34).to_json()["upper"]
    0.34
    """

    name: str
    method: str
    score: float
    threshold: float
    lower: float | None = None
    upper: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "method": self.method, "score": _num(self.score),
                "threshold": _num(self.threshold), "lower": _num(self.lower),
                "upper": _num(self.upper)}


@dataclass(frozen=True)
class Condition:
    """A verdict for one model/version/segment and evaluation window.

    ``active`` says whether the condition holds in this window. ``features``
    lists the features the verdict flagged (for drift), ``detail`` carries
    JSON-able figures the policies may judge: ``p95_ms`` (latency),
    ``accuracy``, ``silent_s`` and ``silent_devices`` (silence),
    ``unexpected_hashes`` (model_hash), ``recent_deploy`` (bool).
    ``segment`` is ``''`` for the whole fleet, else e.g. ``'firmware=2.1'``.

    >>> t = datetime(2025, 1, 1, tzinfo=UTC)
    >>> Condition("latency", "kws", "1.2", "", t, t, True, detail={"p95_ms": 300}).key
    'latency|kws|1.2|'
    """

    kind: str
    model: str
    version: str
    segment: str
    window_start: datetime
    window_end: datetime
    active: bool
    features: tuple[FeatureScore, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)
    report_url: str = ""
    dashboard_url: str = ""

    def __post_init__(self) -> None:
        if self.kind not in EVENT_NAMES:
            raise ValueError(f"Condition.kind: got {self.kind!r}, expected one of "
                             + ", ".join(EVENT_NAMES))
        for name in ("window_start", "window_end"):
            value = getattr(self, name)
            if not isinstance(value, datetime):
                raise ValueError(f"Condition.{name}: got {value!r}, expected a datetime")
            if value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))
        object.__setattr__(self, "features", tuple(self.features))

    @property
    def key(self) -> str:
        """The incident key: one open incident at most per key."""
        return "|".join((self.kind, self.model, self.version, self.segment))


@dataclass(frozen=True)
class Alert:
    """An alert event stored in the outbox (``id`` is the outbox row id).

    >>> Alert(1, "drift.detected", "kws", "1.2", "", {"type": "drift.detected"}).event_type
    'drift.detected'
    """

    id: int
    event_type: str
    model: str
    version: str
    segment: str
    payload: dict[str, Any]


def event_type(kind: str, opened: bool) -> str:
    """The event type for a condition kind opening or closing."""
    return EVENT_NAMES[kind][0 if opened else 1]


def feature_names(condition: Condition) -> list[str]:
    """The sorted names of the features a condition lists (what an update compares)."""
    return sorted({f.name for f in condition.features})


def suggested_action(condition: Condition, override: str = "") -> str:
    """retrain / rollback / investigate for an opening condition (see module docstring)."""
    if override:
        return override
    if condition.kind != "silence" and condition.detail.get("recent_deploy") is True:
        return "rollback"
    return _DEFAULT_ACTION[condition.kind]


def iso(t: datetime) -> str:
    """RFC 3339 UTC with a ``Z``.

    >>> iso(datetime(2025, 1, 1, 12, tzinfo=UTC))
    '2025-01-01T12:00:00Z'
    """
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_payload(etype: str, condition: Condition, *, alert_id: int, incident_id: str,
                  incident_start: datetime, action: str, created: datetime,
                  dashboard_base: str = "") -> dict[str, Any]:
    """The webhook JSON body ``{"type", "timestamp", "data"}``.

    Described by ``docs/webhook-payload.schema.json``.
    """
    dashboard = condition.dashboard_url or (
        f"{dashboard_base.rstrip('/')}/?model={condition.model}&version={condition.version}"
        if dashboard_base else "")
    return {
        "type": etype,
        "timestamp": iso(created),
        "data": {
            "alert_id": alert_id,
            "incident_id": incident_id,
            "model": condition.model,
            "version": condition.version,
            "segment": condition.segment,
            "window": {"start": iso(condition.window_start), "end": iso(condition.window_end)},
            "incident_started": iso(incident_start),
            "features": [f.to_json() for f in condition.features],
            "detail": condition.detail,
            "suggested_action": action,
            "links": {"dashboard": dashboard or None, "report": condition.report_url or None},
        },
    }


def _num(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
