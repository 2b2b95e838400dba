"""The small vocabularies of monitoring: metric types, alert severities, health states."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["HEALTH_LEVELS", "AlertSeverity", "HealthState", "MetricType", "worst_health"]


class MetricType(StrEnum):
    """The four Prometheus metric types :meth:`MonitoringSystem.record_metric` accepts."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    SUMMARY = "summary"


class AlertSeverity(StrEnum):
    """How bad an alert is: a ``warning`` threshold or a ``critical`` one was crossed."""

    WARNING = "warning"
    CRITICAL = "critical"


class HealthState(StrEnum):
    """The status of a component or of the whole system, best first (``unknown``: no data to judge)."""

    HEALTHY = "healthy"
    UNKNOWN = "unknown"
    DEGRADED = "degraded"
    CRITICAL = "critical"


HEALTH_LEVELS: dict[str, int] = {"healthy": 0, "unknown": 0, "degraded": 1, "critical": 2}
"""Order of the health states for "the worst one wins" (``unknown`` does not make a system unhealthy)."""


def worst_health(states: list[str]) -> str:
    """Return the worst of ``states`` (``healthy`` for none; ``unknown`` never beats ``healthy``)."""
    worst = "healthy"
    for state in states:
        if HEALTH_LEVELS.get(state, 1) > HEALTH_LEVELS[worst]:
            worst = state if state in HEALTH_LEVELS else "degraded"
    return worst
