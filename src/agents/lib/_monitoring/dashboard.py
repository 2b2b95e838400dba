"""The data behind the dashboard page: health, alerts, key figures and charts of the watched metrics.

Charts are series histories: each recorded series a threshold watches (one chart per label set), each database
figure a threshold watches (its points from the collections that had data behind them), and the generation time
of the last nodes the database holds. Points are ``[epoch milliseconds, value]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agents.lib._monitoring.thresholds import ThresholdRule, collected_gauge_name

if TYPE_CHECKING:
    from agents.lib.monitoring import MonitoringSystem

__all__ = ["KEY_FIGURES", "build_dashboard", "charts"]

KEY_FIGURES: tuple[tuple[str, str, str, str], ...] = (
    ("template_cache", "overall_hit_rate", "Cache hit rate", "ratio"),
    ("template_cache", "avg_load_time_ms", "Avg template load", "ms"),
    ("parallel_generation", "avg_speedup", "Avg speedup", "x"),
    ("parallel_generation", "parallel_usage_rate", "Parallel usage", "ratio"),
    ("parallel_generation", "node_success_rate", "Nodes passed", "ratio"),
    ("parallel_generation", "total_nodes", "Nodes generated", "count"),
    ("event_processing", "overall_success_rate", "Event success", "ratio"),
    ("event_processing", "p95_latency_ms", "Event p95 latency", "ms"),
    ("event_processing", "outbox_pending", "Outbox pending", "count"),
    ("pattern_matching", "overall_precision", "Pattern precision", "ratio"),
)
"""The figures of ``collect_all_metrics`` shown as cards: (section, key, title, unit)."""


def _points(history: Sequence[tuple[float, float]]) -> list[list[float]]:
    return [[round(t * 1000), v] for t, v in history]


def _label_text(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


def charts(
    monitoring: MonitoringSystem, recent_nodes: Sequence[tuple[datetime, str, float, bool]] = ()
) -> list[dict[str, Any]]:
    """Return the charts of the watched metrics that have points, in threshold order."""
    out: list[dict[str, Any]] = []
    rules: list[ThresholdRule] = [*monitoring.thresholds.builtin_rules(), *monitoring.thresholds.custom_rules()]
    for rule in rules:
        for snap in monitoring.list_series(rule.metric):
            history = monitoring.get_metric_history(rule.metric, snap["labels"])
            if not history:
                continue
            labels = _label_text(snap["labels"])
            out.append(
                _chart(rule, f"{rule.metric}{{{labels}}}", f"{rule.title}" + (f" ({labels})" if labels else ""),
                       "recorded", _points(history))
            )  # fmt: skip
        spec = rule.spec
        if spec is None or spec.section is None or spec.key is None:
            continue
        name = collected_gauge_name(spec.section, spec.key)
        history = monitoring.get_metric_history(name)
        if spec.samples_key is not None:
            samples = {
                t: v
                for t, v in monitoring.get_metric_history(collected_gauge_name(spec.section, spec.samples_key))
            }
            history = [p for p in history if samples.get(p.timestamp, 0) > 0]
        if history:
            out.append(_chart(rule, name, f"{rule.title} (database)", "database", _points(history)))
    if recent_nodes:
        generation = next((r for r in rules if r.name == "generation_duration_ms"), None)
        points = [[round(when.timestamp() * 1000), ms] for when, _, ms, _ in recent_nodes]
        out.append(
            {
                "id": "recent_nodes",
                "title": "Last generated nodes (database)",
                "unit": "ms",
                "source": "database",
                "points": points,
                "labels": [node for _, node, _, _ in recent_nodes],
                "warning": None if generation is None else generation.warning,
                "critical": None if generation is None else generation.critical,
            }
        )
    return out


def _chart(
    rule: ThresholdRule, chart_id: str, title: str, source: str, points: list[list[float]]
) -> dict[str, Any]:
    return {
        "id": chart_id,
        "title": title,
        "unit": rule.unit,
        "source": source,
        "points": points,
        "warning": rule.warning,
        "critical": rule.critical,
    }


def build_dashboard(
    monitoring: MonitoringSystem,
    health: Mapping[str, Any] | None,
    recent_nodes: Sequence[tuple[datetime, str, float, bool]] = (),
    window_minutes: float = 60.0,
) -> dict[str, Any]:
    """Return everything the page shows, JSON-ready."""
    metrics = monitoring.last_metrics or {}
    figures = []
    for section, key, title, unit in KEY_FIGURES:
        data = metrics.get(section)
        if isinstance(data, Mapping) and key in data:
            figures.append({"section": section, "key": key, "title": title, "unit": unit, "value": data[key]})
    summary = monitoring.get_monitoring_summary()
    components = summary["health"]["components"]
    if health is not None:
        components = {**components, **health.get("components", {})}
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "window_minutes": window_minutes,
        "overall_status": summary["overall_status"],
        "summary": summary,
        "components": components,
        "alerts": [a.to_dict() for a in monitoring.get_active_alerts(include_suppressed=True)],
        "resolved_alerts": [a.to_dict() for a in monitoring.get_resolved_alerts(24)[:20]],
        "figures": figures,
        "collection_errors": metrics.get("errors", {}),
        "charts": charts(monitoring, recent_nodes),
    }
