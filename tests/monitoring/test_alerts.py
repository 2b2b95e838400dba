"""Thresholds and alerts: one alert per series, escalation in place, resolution, hysteresis, dedup window,
acknowledgement, suppression, and notifications to the log and to a real webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents.lib.errors import ErrorCode, OnexError
from agents.lib.monitoring import (
    AlertSeverity,
    MetricThreshold,
    MetricType,
    MonitoringSystem,
    MonitoringThresholds,
)
from agents.lib.structured_logger import MemorySink
from tests.monitoring.conftest import Clock, WebhookReceiver

HIT = {"cache": "template"}


def alert_lines(sink: MemorySink) -> list[tuple[str, str, str]]:
    return [
        (r["level"], r["metadata"]["event"], r["metadata"]["severity"])
        for r in sink.records
        if r["message"].startswith("alert ")
    ]


async def test_warning_escalates_in_place_then_downgrades_and_resolves(clock: Clock, log_sink: MemorySink) -> None:
    m = MonitoringSystem(clock=clock)
    await m.record_metric("cache_hit_rate", 0.85, MetricType.GAUGE, HIT)
    assert m.get_active_alerts() == []
    clock.advance(1)
    await m.record_metric("cache_hit_rate", 0.75, MetricType.GAUGE, HIT)
    [warning] = m.get_active_alerts()
    assert (warning.severity, warning.threshold, warning.actual_value) == (AlertSeverity.WARNING, 0.8, 0.75)
    assert (warning.component, warning.metric_name, dict(warning.labels)) == (
        "template_cache",
        "cache_hit_rate",
        HIT,
    )
    assert warning.message == "Template cache hit rate 75.0% is below the warning threshold 80.0%"
    clock.advance(1)
    await m.record_metric("cache_hit_rate", 0.65, MetricType.GAUGE, HIT)
    [critical] = m.get_active_alerts()  # never both active
    assert critical.alert_id == warning.alert_id
    assert (critical.severity, critical.threshold, critical.occurrences) == (AlertSeverity.CRITICAL, 0.7, 2)
    assert critical.created_at == warning.created_at
    assert critical.escalated_at == datetime.fromtimestamp(clock.now, UTC)
    clock.advance(1)
    await m.record_metric("cache_hit_rate", 0.78, MetricType.GAUGE, HIT)
    [down] = m.get_active_alerts()
    assert (down.alert_id, down.severity, down.threshold) == (warning.alert_id, AlertSeverity.WARNING, 0.8)
    clock.advance(1)
    await m.record_metric("cache_hit_rate", 0.9, MetricType.GAUGE, HIT)
    assert m.get_active_alerts() == []
    [resolved] = m.get_resolved_alerts(hours=24)
    assert resolved.alert_id == warning.alert_id
    assert resolved.resolved_at == datetime.fromtimestamp(clock.now, UTC)
    assert resolved.actual_value == 0.9
    assert alert_lines(log_sink) == [
        ("WARNING", "firing", "warning"),
        ("ERROR", "escalated", "critical"),
        ("WARNING", "downgraded", "warning"),
        ("INFO", "resolved", "warning"),
    ]


async def test_one_alert_per_metric_and_label_set(clock: Clock) -> None:
    m = MonitoringSystem(clock=clock)
    for _ in range(3):
        await m.record_metric("cache_hit_rate", 0.75, MetricType.GAUGE, {"cache": "a"})
    await m.record_metric("cache_hit_rate", 0.5, MetricType.GAUGE, {"cache": "b"})
    alerts = m.get_active_alerts()
    assert [(dict(a.labels), a.severity, a.occurrences) for a in alerts] == [
        ({"cache": "a"}, AlertSeverity.WARNING, 3),
        ({"cache": "b"}, AlertSeverity.CRITICAL, 1),
    ]
    assert [a.labels["cache"] for a in m.get_active_alerts(severity=AlertSeverity.CRITICAL)] == ["b"]
    assert [a.labels["cache"] for a in m.get_active_alerts(severity="warning")] == ["a"]
    assert m.get_active_alerts(component="template_cache") == alerts
    assert m.get_active_alerts(component="events") == []


async def test_hysteresis_keeps_a_level_until_the_value_is_clearly_back(clock: Clock) -> None:
    thresholds = MonitoringThresholds(custom={"queue_depth": MetricThreshold(100, 200)}, hysteresis=0.1)
    m = MonitoringSystem(thresholds, clock=clock)

    async def level(value: float) -> str | None:
        await m.record_metric("queue_depth", value, MetricType.GAUGE)
        active = m.get_active_alerts()
        return active[0].severity.value if active else None

    assert [await level(v) for v in (150, 95, 89, 101, 210, 185, 179, 150)] == [
        "warning",  # 150 > 100
        "warning",  # 95 > 100 - 10
        None,  # 89 is back
        "warning",
        "critical",  # 210 > 200
        "critical",  # 185 > 200 - 20
        "warning",  # 179: critical clears, still over warning
        "warning",
    ]
    [alert] = m.get_active_alerts()
    assert alert.component == "custom"
    assert len(m.get_resolved_alerts()) == 1


async def test_dedup_window_keeps_a_flapping_series_as_one_alert(clock: Clock, log_sink: MemorySink) -> None:
    m = MonitoringSystem(MonitoringThresholds(dedup_window_seconds=60), clock=clock)
    await m.record_metric("verification_pass_rate", 0.9, MetricType.GAUGE)
    [first] = m.get_active_alerts()
    for _ in range(3):  # flapping: normal, breach, normal...
        clock.advance(10)
        await m.record_metric("verification_pass_rate", 1.0, MetricType.GAUGE)
        clock.advance(10)
        await m.record_metric("verification_pass_rate", 0.9, MetricType.GAUGE)
    assert [a.alert_id for a in m.get_active_alerts()] == [first.alert_id]
    clock.advance(10)
    await m.record_metric("verification_pass_rate", 1.0, MetricType.GAUGE)
    clock.advance(59)
    assert len(m.get_active_alerts()) == 1  # normal for 59 s only
    clock.advance(1)
    assert m.get_active_alerts() == []  # swept: normal for the whole window
    assert [a.alert_id for a in m.get_resolved_alerts()] == [first.alert_id]
    assert [event for _, event, _ in alert_lines(log_sink)] == ["firing", "resolved"]


async def test_histograms_are_judged_by_their_mean_over_the_window(clock: Clock) -> None:
    m = MonitoringSystem(MonitoringThresholds(evaluation_window_seconds=60), clock=clock)
    labels = {"template_type": "EFFECT"}
    await m.record_metric("template_load_duration_ms", 30, MetricType.HISTOGRAM, labels)
    assert m.get_active_alerts() == []
    await m.record_metric("template_load_duration_ms", 80, MetricType.HISTOGRAM, labels)  # mean 55 > 50
    [alert] = m.get_active_alerts()
    assert (alert.severity, alert.actual_value) == (AlertSeverity.WARNING, 55.0)
    clock.advance(61)
    await m.record_metric("template_load_duration_ms", 20, MetricType.HISTOGRAM, labels)  # the others left
    assert m.get_active_alerts() == []
    await m.record_metric("template_load_duration_ms", 400, MetricType.HISTOGRAM, labels)  # mean 210 > 100
    [again] = m.get_active_alerts()
    assert (again.severity, again.actual_value) == (AlertSeverity.CRITICAL, 210.0)


async def test_custom_threshold_on_a_counter_watches_its_total(clock: Clock) -> None:
    thresholds = MonitoringThresholds(custom={"errors": MetricThreshold(5, 10, component="api")})
    m = MonitoringSystem(thresholds, clock=clock)
    for _ in range(5):
        await m.record_metric("errors", 1, MetricType.COUNTER)
    assert m.get_active_alerts() == []
    await m.record_metric("errors", 1, MetricType.COUNTER)
    assert [(a.severity, a.actual_value, a.component) for a in m.get_active_alerts()] == [
        (AlertSeverity.WARNING, 6.0, "api")
    ]
    await m.record_metric("errors", 5, MetricType.COUNTER)
    assert m.get_active_alerts()[0].severity is AlertSeverity.CRITICAL


async def test_resolved_alerts_by_age(clock: Clock) -> None:
    m = MonitoringSystem(clock=clock)
    await m.record_metric("event_success_rate", 0.5, MetricType.GAUGE)
    await m.record_metric("event_success_rate", 1.0, MetricType.GAUGE)
    clock.advance(25 * 3600)
    assert m.get_resolved_alerts(hours=24) == []
    assert [a.metric_name for a in m.get_resolved_alerts(hours=26)] == ["event_success_rate"]


async def test_acknowledge_and_a_new_escalation_needs_a_new_one(clock: Clock) -> None:
    m = MonitoringSystem(clock=clock)
    await m.record_metric("pattern_precision", 0.85, MetricType.GAUGE)
    [alert] = m.get_active_alerts()
    acked = m.acknowledge_alert(alert.alert_id, by="oncall")
    assert (acked.acknowledged, acked.acknowledged_by) == (True, "oncall")
    assert m.get_active_alerts()[0].acknowledged
    await m.record_metric("pattern_precision", 0.86, MetricType.GAUGE)
    assert m.get_active_alerts()[0].acknowledged  # same severity: still acknowledged
    await m.record_metric("pattern_precision", 0.5, MetricType.GAUGE)
    [escalated] = m.get_active_alerts()
    assert (escalated.severity, escalated.acknowledged) == (AlertSeverity.CRITICAL, False)
    with pytest.raises(OnexError) as info:
        m.acknowledge_alert("nope")
    assert info.value.code is ErrorCode.NOT_FOUND


async def test_suppressed_alerts_are_hidden_and_not_notified_until_the_time(
    clock: Clock, log_sink: MemorySink
) -> None:
    m = MonitoringSystem(clock=clock)
    await m.record_metric("cache_hit_rate", 0.75, MetricType.GAUGE, HIT)
    until = datetime.fromtimestamp(clock.now, UTC) + timedelta(minutes=10)
    assert m.suppress_alerts(until, metric_name="cache_hit_rate") == 1
    assert m.suppress_alerts(until, component="nothing-here") == 0
    assert m.get_active_alerts() == []
    [hidden] = m.get_active_alerts(include_suppressed=True)
    assert hidden.suppressed_until == until
    await m.record_metric("cache_hit_rate", 0.5, MetricType.GAUGE, HIT)  # escalation: not notified
    await m.record_metric("cache_hit_rate", 0.6, MetricType.GAUGE, {"cache": "other"})  # new, matching
    assert len(m.get_active_alerts(include_suppressed=True)) == 2
    await m.record_metric("event_success_rate", 0.5, MetricType.GAUGE)  # not matching: notified
    assert [a.metric_name for a in m.get_active_alerts()] == ["event_success_rate"]
    summary = m.get_monitoring_summary()["alerts"]
    assert (summary["active"], summary["suppressed"]) == (1, 2)
    assert [(e, s) for _, e, s in alert_lines(log_sink)] == [("firing", "warning"), ("firing", "critical")]
    clock.advance(601)
    assert len(m.get_active_alerts()) == 3
    with pytest.raises(OnexError, match="datetime"):
        m.suppress_alerts(600)  # type: ignore[arg-type]


async def test_notifications_reach_the_webhook(
    clock: Clock, webhook: WebhookReceiver, log_sink: MemorySink
) -> None:
    m = MonitoringSystem(clock=clock, webhook_url=webhook.url)
    await m.record_metric("cache_hit_rate", 0.75, MetricType.GAUGE, HIT)
    await m.record_metric("cache_hit_rate", 0.6, MetricType.GAUGE, HIT)
    await m.record_metric("cache_hit_rate", 0.95, MetricType.GAUGE, HIT)
    await m.drain_notifications()
    await webhook.wait_for(3)
    events = sorted((b["event"], b["alert"]["severity"]) for b in webhook.bodies)
    assert events == [("escalated", "critical"), ("firing", "warning"), ("resolved", "critical")]
    assert {b["alert"]["metric_name"] for b in webhook.bodies} == {"cache_hit_rate"}
    assert {b["source"] for b in webhook.bodies} == {"agents"}
    assert m.get_monitoring_summary()["notifications"] == {"webhook": True, "sent": 3, "failed": 0}

    webhook.status = 500
    await m.record_metric("cache_hit_rate", 0.1, MetricType.GAUGE, HIT)
    await m.drain_notifications()
    assert m.get_monitoring_summary()["notifications"]["failed"] == 1
    [failure] = [r for r in log_sink.records if r["message"] == "alert webhook failed"]
    assert failure["metadata"]["error"] == "HTTP 500"
    assert (
        failure["metadata"]["webhook"]
        == webhook.url.split("@")[0].split("//")[0]
        + "//127.0.0.1:"
        + (webhook.url.rsplit(":", 1)[1].split("/")[0])
    )
    text = str(log_sink.records)
    assert "hook-secret" not in text and "T0K3N-secret-path" not in text


async def test_webhook_url_must_be_http() -> None:
    with pytest.raises(OnexError, match="webhook_url"):
        MonitoringSystem(webhook_url="file:///etc/passwd")


async def test_summary_combines_health_and_alerts(clock: Clock) -> None:
    m = MonitoringSystem(clock=clock)
    await m.update_health_status("template_cache", healthy=True, status="healthy")
    assert m.get_monitoring_summary()["overall_status"] == "healthy"
    await m.record_metric("cache_hit_rate", 0.75, MetricType.GAUGE, HIT)
    summary = m.get_monitoring_summary()
    assert (summary["overall_status"], summary["health"]["overall_status"]) == ("degraded", "healthy")
    await m.record_metric("cache_hit_rate", 0.5, MetricType.GAUGE, HIT)
    summary = m.get_monitoring_summary()
    assert summary["overall_status"] == "critical"
    assert summary["alerts"] == {
        "active": 1,
        "critical": 1,
        "warning": 0,
        "acknowledged": 0,
        "suppressed": 0,
        "resolved_last_24h": 0,
    }
    assert summary["metrics"]["series"] == 2  # the gauge and the component's health gauge


def test_the_guide_thresholds_and_validation() -> None:
    t = MonitoringThresholds(
        template_load_ms_warning=40.0,
        template_load_ms_critical=80.0,
        cache_hit_rate_warning=0.75,
        cache_hit_rate_critical=0.65,
        pattern_precision_warning=0.88,
        pattern_precision_critical=0.82,
    )
    rules = {r.name: r for r in t.builtin_rules()}
    assert (rules["template_load_ms"].warning, rules["template_load_ms"].direction) == (40.0, "above")
    assert (rules["cache_hit_rate"].critical, rules["cache_hit_rate"].direction) == (0.65, "below")
    assert rules["pattern_precision"].metric == "pattern_precision"
    with pytest.raises(OnexError, match="lower is worse"):
        MonitoringThresholds(cache_hit_rate_warning=0.7, cache_hit_rate_critical=0.8)
    with pytest.raises(OnexError, match="higher is worse"):
        MonitoringThresholds(template_load_ms_warning=150.0)
    with pytest.raises(OnexError, match="equal"):
        MetricThreshold(5, 5)
    assert MetricThreshold(5, 5, direction="below").direction == "below"
    assert MetricThreshold(0.9, 0.5).direction == "below"
    with pytest.raises(OnexError, match="hysteresis"):
        MonitoringThresholds(hysteresis=1.5)
    with pytest.raises(OnexError, match="finite"):
        MonitoringThresholds(event_latency_ms_warning=float("nan"))
    with pytest.raises(OnexError, match="custom"):
        MonitoringThresholds(custom={"x": (1, 2)})  # type: ignore[dict-item]
