"""``AlertsConfig``: policies, endpoints, cooldown and retry schedule, from ``[alerts]``.

The TOML shape (every key optional except each endpoint's ``name``, ``url``
and ``secrets``)::

    [alerts]
    cooldown_s = 900                 # a condition must stay clear this long to resolve
    retry_schedule_s = [5, 300, 1800, 7200, 18000, 36000, 36000]   # ~27 h
    timeout_s = 15
    allow_loopback = false
    allow_private_networks = false

    [[alerts.policies]]              # none given: every kind alerts with defaults
    kind = "drift"
    models = ["kws"]                 # [] = every model
    critical_features = ["rms"]      # [] = any drifted feature

    [[alerts.policies]]
    kind = "latency"
    max_p95_ms = 250

    [[alerts.endpoints]]
    name = "retrain-ci"
    url = "https://ci.example.com/hooks/edgedrift"
    models = ["kws"]
    secrets = ["env:RETRAIN_CI_WHSEC"]   # or "whsec_..."; several during rotation

>>> cfg = alerts_config_from_toml({
...     "allow_loopback": True, "retry_schedule_s": [1, 2],
...     "endpoints": [{"name": "ci", "url": "http://127.0.0.1:9/h", "secrets": ["whsec_AAEC"]}]})
>>> cfg.timeout_s, cfg.retry_schedule_s, [e.name for e in cfg.endpoints_for("kws")]
(15.0, (1.0, 2.0), ['ci'])
>>> [p.kind for p in cfg.policies]
['drift', 'quality', 'latency', 'accuracy', 'silence', 'model_hash']
>>> alerts_config_from_toml({"timeout_s": 0})
Traceback (most recent call last):
...
edgedrift.config.ConfigFileError: alerts: timeout_s: got 0.0, expected a positive number of seconds
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from edgedrift.config import ConfigFileError, build_config

from .errors import AlertsConfigError, UnsafeURLError
from .signing import secret_key
from .urls import check_syntax, classify

KINDS = ("drift", "quality", "latency", "accuracy", "silence", "model_hash")
ACTIONS = ("retrain", "rollback", "investigate")
DEFAULT_RETRY_SCHEDULE_S = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


@dataclass(frozen=True)
class PolicyConfig:
    """Which conditions of one kind raise alerts, and the bounds they are judged by.

    A condition fires when it is ``active`` (the analytics' verdict), except
    that a bound set here decides instead when the condition's ``detail``
    carries the value: ``max_p95_ms`` (latency, ``detail["p95_ms"]``),
    ``min_accuracy`` (accuracy, ``detail["accuracy"]``), ``max_silence_s``
    (silence, ``detail["silent_s"]``). For drift, ``critical_features``
    limits alerts to conditions where one of those features drifted.

    >>> PolicyConfig("latency", max_p95_ms=250).max_p95_ms
    250.0
    >>> PolicyConfig("latenzy")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    analytics.alerts.errors.AlertsConfigError: kind: got 'latenzy', expected one of drift, ...
    """

    kind: str
    models: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    critical_features: tuple[str, ...] = ()
    max_p95_ms: float | None = None
    min_accuracy: float | None = None
    max_silence_s: float | None = None
    open_after_windows: int = 1
    cooldown_s: float | None = None
    action: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise AlertsConfigError("kind", self.kind, "one of " + ", ".join(KINDS))
        for name in ("models", "segments", "critical_features"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name, kind in (("max_p95_ms", "latency"), ("min_accuracy", "accuracy"),
                           ("max_silence_s", "silence")):
            value = getattr(self, name)
            if value is None:
                continue
            if self.kind != kind:
                raise AlertsConfigError(name, value, f"only on a policy of kind {kind!r}")
            object.__setattr__(self, name, float(value))
            if value < 0:
                raise AlertsConfigError(name, value, "a non-negative number")
        if self.critical_features and self.kind != "drift":
            raise AlertsConfigError("critical_features", self.critical_features,
                                    "only on a policy of kind 'drift'")
        if self.open_after_windows < 1:
            raise AlertsConfigError("open_after_windows", self.open_after_windows,
                                    "an integer >= 1")
        if self.cooldown_s is not None and self.cooldown_s < 0:
            raise AlertsConfigError("cooldown_s", self.cooldown_s, "a non-negative number")
        if self.action and self.action not in ACTIONS:
            raise AlertsConfigError("action", self.action, "one of " + ", ".join(ACTIONS))

    def matches(self, model: str, segment: str) -> bool:
        """Does this policy cover ``model`` / ``segment`` (empty lists cover all)?

        >>> p = PolicyConfig("drift", models=("kws",))
        >>> p.matches("kws", ""), p.matches("asr", "")
        (True, False)
        """
        return ((not self.models or model in self.models)
                and (not self.segments or segment in self.segments))


@dataclass(frozen=True)
class EndpointConfig:
    """One webhook endpoint: where, for which models and events, signed with which secrets.

    ``secrets`` are ``whsec_...`` strings; all of them sign each request
    (rotation: add the new secret, let the receiver switch, drop the old).

    >>> ep = EndpointConfig("ci", "https://ci.example.com/h", ("whsec_AAEC",), models=("kws",))
    >>> ep.wants("kws", "drift.detected"), ep.wants("asr", "drift.detected")
    (True, False)
    >>> "whsec" in repr(ep)  # secrets never reach logs
    False
    """

    name: str
    url: str
    secrets: tuple[str, ...] = field(repr=False, default=())
    models: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    timeout_s: float | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise AlertsConfigError("name", self.name, "letters, digits, '-', '_' or '.'")
        try:
            check_syntax(self.url)
        except UnsafeURLError as exc:
            raise AlertsConfigError("url", self.url, f"an http(s) URL ({exc.reason})") from None
        object.__setattr__(self, "secrets", tuple(self.secrets))
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "events", tuple(self.events))
        if not self.secrets:
            raise AlertsConfigError("secrets", [], "at least one whsec_ secret")
        for i, secret in enumerate(self.secrets):
            try:
                secret_key(secret)
            except ValueError:
                raise AlertsConfigError(f"secrets[{i}]", "whsec_***" if secret.startswith(
                    "whsec_") else "<hidden>", "whsec_ followed by base64") from None
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise AlertsConfigError("timeout_s", self.timeout_s, "a positive number of seconds")

    def wants(self, model: str, event_type: str) -> bool:
        """Does this endpoint subscribe to ``event_type`` for ``model``?"""
        return ((not self.models or model in self.models or "*" in self.models)
                and (not self.events or event_type in self.events))


@dataclass(frozen=True)
class AlertsConfig:
    """Settings of the alert engine and the webhook deliverer.

    >>> AlertsConfig().retry_schedule_s[-1], AlertsConfig().timeout_s
    (36000.0, 15.0)
    """

    policies: tuple[PolicyConfig, ...] = ()
    endpoints: tuple[EndpointConfig, ...] = ()
    cooldown_s: float = 900.0
    retry_schedule_s: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE_S
    jitter: float = 0.2
    timeout_s: float = 15.0
    max_retry_after_s: float = 86400.0
    concurrency_per_endpoint: int = 4
    poll_interval_s: float = 1.0
    allow_loopback: bool = False
    allow_private_networks: bool = False
    dashboard_url: str = ""

    def __post_init__(self) -> None:
        if not self.policies:
            object.__setattr__(self, "policies", tuple(PolicyConfig(k) for k in KINDS))
        object.__setattr__(self, "policies", tuple(self.policies))
        object.__setattr__(self, "endpoints", tuple(self.endpoints))
        object.__setattr__(self, "retry_schedule_s",
                           tuple(float(x) for x in self.retry_schedule_s))
        if self.timeout_s <= 0:
            raise AlertsConfigError("timeout_s", self.timeout_s, "a positive number of seconds")
        if self.cooldown_s < 0:
            raise AlertsConfigError("cooldown_s", self.cooldown_s, "a non-negative number")
        if any(x < 0 for x in self.retry_schedule_s):
            raise AlertsConfigError("retry_schedule_s", self.retry_schedule_s,
                                    "non-negative delays in seconds")
        if not 0 <= self.jitter < 1:
            raise AlertsConfigError("jitter", self.jitter, "a fraction in [0, 1)")
        if self.concurrency_per_endpoint < 1:
            raise AlertsConfigError("concurrency_per_endpoint", self.concurrency_per_endpoint,
                                    "an integer >= 1")
        if self.poll_interval_s <= 0:
            raise AlertsConfigError("poll_interval_s", self.poll_interval_s,
                                    "a positive number of seconds")
        names = [e.name for e in self.endpoints]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise AlertsConfigError("endpoints", dupes, "unique endpoint names")
        for ep in self.endpoints:
            host, _ = check_syntax(ep.url)
            try:
                kind = classify(host.strip("[]"))
            except ValueError:
                continue  # a host name: checked when resolved, before each attempt
            if (kind == "loopback" and not self.allow_loopback) or (
                    kind not in ("public", "loopback") and not self.allow_private_networks):
                raise AlertsConfigError(f"endpoints.{ep.name}.url", ep.url,
                                        f"a public address ({kind} addresses need "
                                        "allow_loopback / allow_private_networks)")

    def endpoint(self, name: str) -> EndpointConfig | None:
        """The endpoint called ``name`` (or None)."""
        return next((e for e in self.endpoints if e.name == name), None)

    def endpoints_for(self, model: str, event_type: str = "") -> list[EndpointConfig]:
        """Enabled endpoints that receive ``event_type`` alerts for ``model``."""
        return [e for e in self.endpoints if e.enabled
                and (e.wants(model, event_type) if event_type else
                     (not e.models or model in e.models or "*" in e.models))]

    def policies_for(self, kind: str, model: str, segment: str) -> list[PolicyConfig]:
        """Policies of ``kind`` covering ``model`` and ``segment``."""
        return [p for p in self.policies if p.kind == kind and p.matches(model, segment)]


def _secret_value(value: Any, name: str) -> Any:
    if isinstance(value, str) and value.startswith("env:"):
        var = value[4:]
        if var not in os.environ:
            raise ConfigFileError(f"{name}: environment variable {var} is not set")
        return os.environ[var]
    return value


def alerts_config_from_toml(values: dict[str, Any] | None,
                            overrides: dict[str, Any] | None = None) -> AlertsConfig:
    """Build ``AlertsConfig`` from the ``[alerts]`` table (nested tables included)."""
    values = dict(values or {})
    tables: dict[str, tuple[Any, ...]] = {}
    for key, cls in (("policies", PolicyConfig), ("endpoints", EndpointConfig)):
        raw = values.pop(key, [])
        if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
            raise ConfigFileError(f"alerts.{key}: expected an array of tables "
                                  f"([[alerts.{key}]]), got {raw!r}")
        built = []
        for i, table in enumerate(raw):
            table = dict(table)
            if "secrets" in table and isinstance(table["secrets"], list):
                table["secrets"] = [_secret_value(s, f"alerts.{key}[{i}].secrets[{j}]")
                                    for j, s in enumerate(table["secrets"])]
            built.append(build_config(cls, table, section=f"alerts.{key}[{i}]"))
        tables[key] = tuple(built)
    flat: Any = build_config(_FlatAlerts, values, overrides, section="alerts")
    settings: dict[str, Any] = {**dataclasses.asdict(flat), **tables}
    try:
        return AlertsConfig(**settings)
    except (TypeError, ValueError) as exc:
        raise ConfigFileError(f"alerts: {exc}") from None


# The scalar settings of AlertsConfig (everything but the nested tables), derived so the
# two can never disagree; build_config coerces and names them like any other section.
_FlatAlerts = dataclasses.make_dataclass(
    "_FlatAlerts",
    [(f.name, f.type, dataclasses.field(default=f.default))
     for f in dataclasses.fields(AlertsConfig) if f.name not in ("policies", "endpoints")],
    frozen=True, namespace={"__module__": __name__})
