"""Retraining alerts: policies, a persisted outbox and signed (Standard Webhooks) delivery.

The analytics hand ``Condition`` verdicts to an ``AlertEngine``, which stores
``drift.detected`` / ``drift.resolved`` (and other) alerts in the outbox; a
``Deliverer`` sends them to every subscribed endpoint with retries.

>>> import tempfile, os
>>> from datetime import datetime, timezone
>>> path = os.path.join(tempfile.mkdtemp(), "alerts.sqlite")
>>> t = datetime(2025, 1, 1, tzinfo=timezone.utc)
>>> engine = AlertEngine(AlertsConfig(), path)
>>> [a.event_type for a in engine.observe([Condition("drift", "kws", "1", "", t, t, True)])]
['drift.detected']
"""

from .config import AlertsConfig, alerts_config_from_toml
from .delivery import Deliverer
from .events import Alert, Condition, FeatureScore
from .policy import AlertEngine

__all__ = ["Alert", "AlertEngine", "AlertsConfig", "Condition", "Deliverer", "FeatureScore",
           "alerts_config_from_toml"]
