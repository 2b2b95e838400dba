"""Alert thresholds: the built-in ones (one warning/critical pair per watched metric) and custom ones.

Each built-in threshold watches a metric that code records (``template_load_duration_ms``, ``cache_hit_rate``...)
and, where the database holds the same figure, a value of :meth:`MonitoringSystem.collect_all_metrics` (a
section key, exported as the gauge ``agents_<section>_<key>``). A threshold has a direction: ``above`` (a
latency: higher is worse) or ``below`` (a rate: lower is worse); a value equal to a threshold does not cross it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

from agents.lib._monitoring.kinds import AlertSeverity
from agents.lib.errors import ErrorCode, OnexError

__all__ = [
    "BUILTIN_SPECS",
    "Direction",
    "MetricThreshold",
    "MonitoringThresholds",
    "ThresholdRule",
    "ThresholdSpec",
    "collected_gauge_name",
    "thresholds_from_mapping",
]

Direction = Literal["above", "below"]


def collected_gauge_name(section: str, key: str) -> str:
    """Return the gauge a value of ``collect_all_metrics`` is exported as: ``agents_<section>_<key>``."""
    return f"agents_{section}_{key}"


@dataclass(frozen=True)
class ThresholdSpec:
    """What a built-in threshold watches (its values live in :class:`MonitoringThresholds`)."""

    name: str
    metric: str
    metric_type: str
    direction: Direction
    component: str
    title: str
    unit: str
    section: str | None = None
    key: str | None = None
    samples_key: str | None = None

    @property
    def collected_metric(self) -> str | None:
        """Gauge of the database figure this threshold also watches, if any."""
        if self.section is None or self.key is None:
            return None
        return collected_gauge_name(self.section, self.key)


BUILTIN_SPECS: tuple[ThresholdSpec, ...] = (
    ThresholdSpec(
        "template_load_ms", "template_load_duration_ms", "histogram", "above", "template_cache",
        "Template load time", "ms", "template_cache", "avg_load_time_ms", "total_loads",
    ),
    ThresholdSpec(
        "cache_hit_rate", "cache_hit_rate", "gauge", "below", "template_cache",
        "Template cache hit rate", "ratio", "template_cache", "overall_hit_rate", "total_requests",
    ),
    ThresholdSpec(
        "generation_duration_ms", "generation_duration_ms", "histogram", "above", "generation",
        "Node generation time", "ms", "parallel_generation", "avg_node_duration_ms", "total_nodes",
    ),
    ThresholdSpec(
        "parallel_speedup", "parallel_speedup", "gauge", "below", "parallel_generation",
        "Parallel speedup", "x", "parallel_generation", "avg_speedup", "parallel_batches",
    ),
    ThresholdSpec(
        "verification_pass_rate", "verification_pass_rate", "gauge", "below", "generation",
        "Verification pass rate", "ratio", "parallel_generation", "node_success_rate", "total_nodes",
    ),
    ThresholdSpec(
        "event_latency_ms", "event_latency_ms", "histogram", "above", "event_processing",
        "Event latency (p95)", "ms", "event_processing", "p95_latency_ms", "total_events",
    ),
    ThresholdSpec(
        "event_success_rate", "event_success_rate", "gauge", "below", "event_processing",
        "Event success rate", "ratio", "event_processing", "overall_success_rate", "total_events",
    ),
    ThresholdSpec(
        "outbox_pending", "outbox_pending_events", "gauge", "above", "outbox",
        "Events waiting in the outbox", "count", "event_processing", "outbox_pending", None,
    ),
    ThresholdSpec(
        "pattern_precision", "pattern_precision", "gauge", "below", "pattern_matching",
        "Pattern precision", "ratio", "pattern_matching", "overall_precision", "scored_feedback",
    ),
    ThresholdSpec(
        "mixin_accuracy", "mixin_model_accuracy", "gauge", "below", "mixin_learning",
        "Mixin model accuracy", "ratio", "mixin_learning", "model_accuracy", "model_samples",
    ),
)  # fmt: skip
"""The built-in thresholds, in the order dashboards show them."""


def _finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OnexError(f"{name} must be a finite number", ErrorCode.VALIDATION_ERROR, {"value": repr(value)})
    return float(value)


def _direction(warning: float, critical: float, direction: str | None, name: str) -> Direction:
    if direction is None:
        if critical == warning:
            raise OnexError(
                f"{name}: warning and critical are equal; say direction='above' or 'below'",
                ErrorCode.VALIDATION_ERROR,
            )
        return "above" if critical > warning else "below"
    if direction == "above":
        if critical < warning:
            raise OnexError(
                f"{name}: higher is worse, so critical ({critical:g}) must not be below warning ({warning:g})",
                ErrorCode.VALIDATION_ERROR,
            )
        return "above"
    if direction == "below":
        if critical > warning:
            raise OnexError(
                f"{name}: lower is worse, so critical ({critical:g}) must not be above warning ({warning:g})",
                ErrorCode.VALIDATION_ERROR,
            )
        return "below"
    raise OnexError(f"{name}: direction must be 'above' or 'below'", ErrorCode.VALIDATION_ERROR)


@dataclass(frozen=True)
class MetricThreshold:
    """A warning/critical pair for one metric name (``MonitoringThresholds(custom={name: ...})``).

    ``direction`` is inferred when omitted: critical above warning means higher is worse. ``metric_type``
    only matters for the Prometheus rule generated from it (a histogram or summary is judged by its mean).
    """

    warning: float
    critical: float
    direction: Direction | None = None
    component: str = "custom"
    title: str = ""
    metric_type: str = "gauge"

    def __post_init__(self) -> None:
        """Validate the numbers and settle the direction."""
        warning = _finite(self.warning, "warning")
        critical = _finite(self.critical, "critical")
        object.__setattr__(self, "direction", _direction(warning, critical, self.direction, "threshold"))
        if self.metric_type not in {"counter", "gauge", "histogram", "summary"}:
            raise OnexError("metric_type must be counter, gauge, histogram or summary", ErrorCode.VALIDATION_ERROR)


@dataclass(frozen=True)
class ThresholdRule:
    """A threshold with its values, ready to judge a value (built-in or custom)."""

    name: str
    metric: str
    warning: float
    critical: float
    direction: Direction
    component: str
    title: str
    unit: str = ""
    metric_type: str = "gauge"
    spec: ThresholdSpec | None = None

    def threshold_of(self, severity: AlertSeverity) -> float:
        """Return the threshold of ``severity``."""
        return self.critical if severity is AlertSeverity.CRITICAL else self.warning

    def level(self, value: float, current: AlertSeverity | None, hysteresis: float) -> AlertSeverity | None:
        """Return the severity ``value`` deserves, given the severity already active for the series.

        With ``hysteresis`` h, a level already reached is kept until the value is back past its threshold by
        h times the threshold's magnitude (so a value hovering at a threshold is one alert, not many).
        """
        warning, critical = self.warning, self.critical
        if self.direction == "above":
            keep_c = hysteresis * abs(critical) if current is AlertSeverity.CRITICAL else 0.0
            if value > critical - keep_c:
                return AlertSeverity.CRITICAL
            keep_w = hysteresis * abs(warning) if current is not None else 0.0
            return AlertSeverity.WARNING if value > warning - keep_w else None
        keep_c = hysteresis * abs(critical) if current is AlertSeverity.CRITICAL else 0.0
        if value < critical + keep_c:
            return AlertSeverity.CRITICAL
        keep_w = hysteresis * abs(warning) if current is not None else 0.0
        return AlertSeverity.WARNING if value < warning + keep_w else None

    def describe(self, value: float, severity: AlertSeverity, where: str = "") -> str:
        """Return a one-line alert message."""
        side = "above" if self.direction == "above" else "below"
        return (
            f"{self.title or self.metric} {_show(value, self.unit)} is {side} the {severity.value} threshold "
            f"{_show(self.threshold_of(severity), self.unit)}{where}"
        )


def _show(value: float, unit: str) -> str:
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:g}"


@dataclass(frozen=True)
class MonitoringThresholds:
    """Warning and critical thresholds of the watched metrics, custom ones, and how alerts behave.

    ``hysteresis`` (a fraction, default 0): an active alert stays until the value is that far back past its
    threshold. ``evaluation_window_seconds``: a histogram or summary is judged by the mean of its observations
    in this window. ``dedup_window_seconds`` (default 0: resolve at once): an alert resolves only after its value
    has been normal this long, so a flapping metric stays one alert.
    """

    template_load_ms_warning: float = 50.0
    template_load_ms_critical: float = 100.0
    cache_hit_rate_warning: float = 0.80
    cache_hit_rate_critical: float = 0.70
    generation_duration_ms_warning: float = 60_000.0
    generation_duration_ms_critical: float = 120_000.0
    parallel_speedup_warning: float = 1.3
    parallel_speedup_critical: float = 1.0
    verification_pass_rate_warning: float = 0.95
    verification_pass_rate_critical: float = 0.80
    event_latency_ms_warning: float = 200.0
    event_latency_ms_critical: float = 500.0
    event_success_rate_warning: float = 0.99
    event_success_rate_critical: float = 0.95
    outbox_pending_warning: float = 1_000.0
    outbox_pending_critical: float = 10_000.0
    pattern_precision_warning: float = 0.90
    pattern_precision_critical: float = 0.80
    mixin_accuracy_warning: float = 0.95
    mixin_accuracy_critical: float = 0.90
    custom: Mapping[str, MetricThreshold] = field(default_factory=dict)
    hysteresis: float = 0.0
    evaluation_window_seconds: float = 300.0
    dedup_window_seconds: float = 0.0

    def __post_init__(self) -> None:
        """Validate every pair (direction included) and the alert settings."""
        for spec in BUILTIN_SPECS:
            warning = _finite(getattr(self, f"{spec.name}_warning"), f"{spec.name}_warning")
            critical = _finite(getattr(self, f"{spec.name}_critical"), f"{spec.name}_critical")
            _direction(warning, critical, spec.direction, spec.name)
        if not isinstance(self.custom, Mapping) or not all(
            isinstance(k, str) and isinstance(v, MetricThreshold) for k, v in self.custom.items()
        ):
            raise OnexError("custom must map metric names to MetricThreshold", ErrorCode.VALIDATION_ERROR)
        object.__setattr__(self, "custom", dict(self.custom))
        hysteresis = _finite(self.hysteresis, "hysteresis")
        if not 0.0 <= hysteresis < 1.0:
            raise OnexError("hysteresis must be in [0, 1)", ErrorCode.VALIDATION_ERROR)
        if not _finite(self.evaluation_window_seconds, "evaluation_window_seconds") > 0:
            raise OnexError("evaluation_window_seconds must be positive", ErrorCode.VALIDATION_ERROR)
        if not _finite(self.dedup_window_seconds, "dedup_window_seconds") >= 0:
            raise OnexError("dedup_window_seconds must not be negative", ErrorCode.VALIDATION_ERROR)

    def builtin_rules(self) -> list[ThresholdRule]:
        """Return one rule per built-in threshold, with this object's values."""
        return [
            ThresholdRule(
                name=spec.name,
                metric=spec.metric,
                warning=float(getattr(self, f"{spec.name}_warning")),
                critical=float(getattr(self, f"{spec.name}_critical")),
                direction=spec.direction,
                component=spec.component,
                title=spec.title,
                unit=spec.unit,
                metric_type=spec.metric_type,
                spec=spec,
            )
            for spec in BUILTIN_SPECS
        ]

    def custom_rules(self) -> list[ThresholdRule]:
        """Return one rule per custom threshold."""
        rules = []
        for metric, t in sorted(self.custom.items()):
            assert t.direction is not None  # settled in MetricThreshold.__post_init__
            rules.append(
                ThresholdRule(
                    name=metric,
                    metric=metric,
                    warning=float(t.warning),
                    critical=float(t.critical),
                    direction=t.direction,
                    component=t.component,
                    title=t.title or metric,
                    metric_type=t.metric_type,
                )
            )
        return rules

    def rules_by_metric(self) -> dict[str, ThresholdRule]:
        """Return the rule of each recorded metric name (a custom threshold wins over a built-in one)."""
        rules = {rule.metric: rule for rule in self.builtin_rules()}
        rules.update({rule.metric: rule for rule in self.custom_rules()})
        return rules

    def as_dict(self) -> dict[str, object]:
        """Return every setting as plain values (custom thresholds as dicts)."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "custom":
                value = {
                    name: {"warning": t.warning, "critical": t.critical, "direction": t.direction}
                    for name, t in sorted(value.items())
                }
            out[f.name] = value
        return out


def thresholds_from_mapping(data: Mapping[str, object]) -> MonitoringThresholds:
    """Build thresholds from plain data (a JSON file's content): field names, and ``custom`` as name -> dict.

    Unknown keys raise ``VALIDATION_ERROR`` (a typo must not silently keep a default).
    """
    if not isinstance(data, Mapping):
        raise OnexError("thresholds must be a JSON object", ErrorCode.VALIDATION_ERROR)
    known = {f.name for f in fields(MonitoringThresholds)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise OnexError(f"unknown threshold settings: {', '.join(unknown)}", ErrorCode.VALIDATION_ERROR)
    values: dict[str, object] = {k: v for k, v in data.items() if k != "custom"}
    custom = data.get("custom", {})
    if not isinstance(custom, Mapping):
        raise OnexError("custom must map metric names to objects", ErrorCode.VALIDATION_ERROR)
    try:
        values["custom"] = {str(name): MetricThreshold(**dict(spec)) for name, spec in custom.items()}
    except TypeError as exc:
        raise OnexError(f"invalid custom threshold: {exc}", ErrorCode.VALIDATION_ERROR) from None
    return MonitoringThresholds(**values)  # type: ignore[arg-type]
