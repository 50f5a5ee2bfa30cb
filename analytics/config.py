"""Analytics settings: the ``[analytics]`` section of the one TOML config.

Every threshold of the verdict policy lives here (docs/analytics.md gives the
reason for each default). Built once in ``main()`` with
:func:`edgedrift.config.build_config` and passed down.

>>> from edgedrift.config import build_config
>>> cfg = build_config(AnalyticsConfig, {"window_s": 600, "persistence_k": 1}, section="analytics")
>>> cfg.window_s, cfg.persistence_k, cfg.persistence_m
(600, 1, 3)
>>> build_config(AnalyticsConfig, {"persistence_k": 5}, section="analytics")
Traceback (most recent call last):
...
edgedrift.config.ConfigFileError: analytics: analytics.persistence_k: got 5,
    expected an integer between 1 and persistence_m (3)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from .errors import AnalyticsError
from .windows import Cadence


@dataclass(frozen=True)
class AnalyticsConfig:
    """Frozen settings of the analytics job (evaluation window, thresholds, schedule).

    >>> AnalyticsConfig().threshold("wasserstein")
    0.1
    >>> AnalyticsConfig(thresholds={"psi": 0.25}).threshold("psi")
    0.25
    """

    # evaluation window and scheduling
    window_s: int = 3600                    # evaluation window in seconds (when window is "")
    window: str = ""                        # or calendar-aware: 15m, 1h, 1d, 1w, 1mo (windows.py)
    timezone: str = "UTC"                   # where days, weeks and months begin
    grace_s: int = 300                      # a window is closed this long after its end
    include_open_windows: bool = False      # also compute the still-open current window
    schedule_s: int = 300                   # `analyze --every` default interval
    lookback_s: int = 7 * 86400             # scheduled runs look this far back for new windows
    dataset: str = ""                       # Parquet root (local path or s3://...);
                                            # default: the data dir's
    rollups: bool = True                    # read merged roll-ups (analytics/rollups.py), not raw
    # statistical methods
    numeric_methods: tuple[str, ...] = ("psi", "jensen_shannon", "wasserstein", "ks")
    categorical_methods: tuple[str, ...] = ("psi", "jensen_shannon", "chi_square")
    numeric_effect: tuple[str, ...] = ("wasserstein",)       # effect size that decides
    categorical_effect: tuple[str, ...] = ("jensen_shannon",)
    # significance tests (p-values) of a feature: Bonferroni minimum over the listed tests
    numeric_test: str | tuple[str, ...] = ("ks", "welch")
    categorical_test: str | tuple[str, ...] = ("chi_square",)
    thresholds: dict[str, float] = field(default_factory=dict)  # per-method overrides
    # verdict policy
    fdr_alpha: float = 0.01                 # Benjamini-Hochberg level across features
    # sequential evidence (analytics/sequential.py), in units of each method's threshold
    evidence_alpha: float = 1e-5            # a window adds evidence only if its test's BH p <= this
    cusum_k: float = 0.5                    # Page's reference value: smaller effects never add up
    cusum_h: float = 0.5                    # decision interval: drifted while the CUSUM >= h
    cusum_max: float = 0.75                 # cap: a window without evidence resolves
    persistence_k: int = 2                  # latency/accuracy: breached in k ...
    persistence_m: int = 3                  # ... of the last m windows
    min_samples: int = 200                  # values needed in a window before a verdict
    min_drifted_features: int = 1           # model drifts when this many features drift ...
    drift_share: float = 0.0                # ... and they are at least this share of features
    critical_features: tuple[str, ...] = ("__prediction__",)
    segment_tags: tuple[str, ...] = ("firmware",)
    # data quality: a rate above reference rate + tolerance is a quality problem
    quality_tolerance: float = 0.05
    # latency and accuracy verdicts (0 disables)
    latency_p95_max_ms: float = 0.0
    latency_ratio_max: float = 2.0          # p95 vs the reference profile's p95 (if it has one)
    accuracy_drop_max: float = 0.05         # vs the reference's accuracy (if it has one)
    accuracy_min: float = 0.0
    mae_ratio_max: float = 1.5              # regression: MAE vs the reference's MAE
    min_labels: int = 100                   # labels needed before an accuracy verdict
    # reports
    reports: bool = True                    # Evidently report when a verdict turns to drift
    report_max_rows: int = 5000

    def __post_init__(self) -> None:
        _positive("analytics.window_s", self.window_s)
        self.cadence  # noqa: B018 -- parse now: a bad window or time zone fails at start-up
        _positive("analytics.schedule_s", self.schedule_s)
        if self.grace_s < 0:
            raise AnalyticsError("analytics.grace_s", self.grace_s, "0 or more seconds")
        if not 1 <= self.persistence_m <= 50:
            raise AnalyticsError("analytics.persistence_m", self.persistence_m,
                                 "an integer between 1 and 50")
        if not 1 <= self.persistence_k <= self.persistence_m:
            raise AnalyticsError("analytics.persistence_k", self.persistence_k,
                                 f"an integer between 1 and persistence_m ({self.persistence_m})")
        if not 0.0 < self.fdr_alpha < 1.0:
            raise AnalyticsError("analytics.fdr_alpha", self.fdr_alpha, "a level in (0, 1)")
        if not 0.0 <= self.drift_share <= 1.0:
            raise AnalyticsError("analytics.drift_share", self.drift_share, "a share in [0, 1]")
        if self.min_drifted_features < 1:
            raise AnalyticsError("analytics.min_drifted_features", self.min_drifted_features,
                                 "an integer >= 1")
        if not 0.0 < self.evidence_alpha < 1.0:
            raise AnalyticsError("analytics.evidence_alpha", self.evidence_alpha,
                                 "a level in (0, 1)")
        if not 0.0 < self.cusum_k:
            raise AnalyticsError("analytics.cusum_k", self.cusum_k, "a number > 0")
        if not 0.0 < self.cusum_h <= self.cusum_max:
            raise AnalyticsError("analytics.cusum_h", self.cusum_h,
                                 f"a number in (0, cusum_max ({self.cusum_max})]")
        if self.min_samples < 1:
            raise AnalyticsError("analytics.min_samples", self.min_samples, "at least 1")
        if not 0.0 <= self.quality_tolerance <= 1.0:
            raise AnalyticsError("analytics.quality_tolerance", self.quality_tolerance,
                                 "a rate in [0, 1]")
        from .methods.registry import get_method  # validates names; lists valid ones
        for name in ("numeric_test", "categorical_test"):   # a single name or a list
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        for name in (*self.numeric_methods, *self.numeric_effect, *self.numeric_test):
            get_method(name, "numeric", field="analytics.numeric_methods")
        for name in (*self.categorical_methods, *self.categorical_effect,
                     *self.categorical_test):
            get_method(name, "categorical", field="analytics.categorical_methods")
        for name, value in self.thresholds.items():
            get_method(name, None, field="analytics.thresholds")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise AnalyticsError(f"analytics.thresholds.{name}", value, "a number >= 0")
        for tag in self.segment_tags:
            if not isinstance(tag, str) or not tag:
                raise AnalyticsError("analytics.segment_tags", tag, "non-empty tag names")

    @cached_property
    def cadence(self) -> Cadence:
        """How evaluation windows are cut (``window`` if set, else ``window_s`` seconds)."""
        return Cadence.parse(self.window or self.window_s, self.timezone,
                             "analytics.window" if self.window else "analytics.window_s")

    def threshold(self, method: str) -> float:
        """Threshold of ``method``: the override from ``thresholds`` or the method's default."""
        if method in self.thresholds:
            return float(self.thresholds[method])
        from .methods.registry import get_method
        return get_method(method).default_threshold


def _positive(name: str, value: int) -> None:
    if value <= 0:
        raise AnalyticsError(name, value, "a positive number of seconds")
