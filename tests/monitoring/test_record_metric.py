"""record_metric: the four metric types in prometheus_client, histories, validation, and the exposition text."""

from __future__ import annotations

import math

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from agents.lib.errors import ErrorCode, OnexError
from agents.lib.monitoring import (
    MetricType,
    MonitoringSystem,
    get_monitoring_system,
    record_metric,
    reset_monitoring_system,
)
from tests.monitoring.conftest import Clock


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition text, parsed back by prometheus_client's own parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_each_type_reaches_prometheus_with_its_labels(clock: Clock) -> None:
    m = MonitoringSystem(clock=clock)
    await m.record_metric("generation_count", 1, MetricType.COUNTER, {"node_type": "EFFECT"}, "Nodes generated")
    await m.record_metric("generation_count", 2, MetricType.COUNTER, {"node_type": "EFFECT"})
    await m.record_metric("generation_count", 1, MetricType.COUNTER, {"node_type": "COMPUTE"})
    await m.record_metric("cache_hit_rate", 0.85, MetricType.GAUGE, {"cache": "template"})
    await m.record_metric("cache_hit_rate", 0.9, MetricType.GAUGE, {"cache": "template"})
    await m.record_metric("template_load_duration_ms", 45.2, MetricType.HISTOGRAM, {"template_type": "EFFECT"})
    await m.record_metric("template_load_duration_ms", 3.0, MetricType.HISTOGRAM, {"template_type": "EFFECT"})
    await m.record_metric("queue_wait_seconds", 0.25, MetricType.SUMMARY)
    got = samples(await m.export_prometheus_metrics())
    assert got[("generation_count_total", (("node_type", "EFFECT"),))] == 3.0
    assert got[("generation_count_total", (("node_type", "COMPUTE"),))] == 1.0
    assert got[("cache_hit_rate", (("cache", "template"),))] == 0.9
    effect = (("template_type", "EFFECT"),)
    assert got[("template_load_duration_ms_count", effect)] == 2.0
    assert got[("template_load_duration_ms_sum", effect)] == pytest.approx(48.2)
    # millisecond buckets: 3.0 is in le=5, 45.2 only from le=50 on
    assert got[("template_load_duration_ms_bucket", (("le", "2.5"), *effect))] == 0.0
    assert got[("template_load_duration_ms_bucket", (("le", "5.0"), *effect))] == 1.0
    assert got[("template_load_duration_ms_bucket", (("le", "25.0"), *effect))] == 1.0
    assert got[("template_load_duration_ms_bucket", (("le", "50.0"), *effect))] == 2.0
    assert got[("template_load_duration_ms_bucket", (("le", "+Inf"), *effect))] == 2.0
    assert got[("queue_wait_seconds_count", ())] == 1.0
    assert got[("queue_wait_seconds_sum", ())] == 0.25
    text = await m.export_prometheus_metrics()
    assert "# HELP generation_count_total Nodes generated" in text
    assert "# TYPE template_load_duration_ms histogram" in text


async def test_buckets_follow_the_unit_or_the_caller() -> None:
    m = MonitoringSystem()
    await m.record_metric("payload_bytes", 300, MetricType.HISTOGRAM)
    await m.record_metric("step_seconds", 0.3, MetricType.HISTOGRAM)
    await m.record_metric("score", 7, MetricType.HISTOGRAM, buckets=[10, 5, 1])
    got = samples(await m.export_prometheus_metrics())
    assert got[("payload_bytes_bucket", (("le", "256.0"),))] == 0.0
    assert got[("payload_bytes_bucket", (("le", "1024.0"),))] == 1.0
    assert got[("step_seconds_bucket", (("le", "0.25"),))] == 0.0
    assert got[("step_seconds_bucket", (("le", "0.5"),))] == 1.0
    score = sorted(float(dict(labels)["le"]) for name, labels in got if name == "score_bucket")
    assert score == [1.0, 5.0, 10.0, math.inf]
    assert got[("score_bucket", (("le", "5.0"),))] == 0.0
    assert got[("score_bucket", (("le", "10.0"),))] == 1.0


async def test_history_is_bounded_and_timestamped(clock: Clock) -> None:
    m = MonitoringSystem(history_size=3, clock=clock)
    for value in (1.0, 2.0, 3.0, 4.0):
        await m.record_metric("cache_hit_rate", value / 10, MetricType.GAUGE, {"cache": "template"})
        clock.advance(10)
    history = m.get_metric_history("cache_hit_rate", {"cache": "template"})
    assert [(p.timestamp - 1_800_000_000.0, p.value) for p in history] == [(10, 0.2), (20, 0.3), (30, 0.4)]
    for _ in range(3):
        await m.record_metric("runs", 2, MetricType.COUNTER)
    assert [p.value for p in m.get_metric_history("runs")] == [2.0, 4.0, 6.0]
    assert m.get_metric_history("nothing") == []
    assert m.list_series("runs") == [
        {"name": "runs", "type": "counter", "labels": {}, "last": 6.0, "count": 3, "sum": 6.0}
    ]


async def test_label_order_and_value_types_name_the_same_series() -> None:
    m = MonitoringSystem()
    await m.record_metric("batches", 1, MetricType.COUNTER, {"size": 10, "kind": "a"})
    await m.record_metric("batches", 1, MetricType.COUNTER, {"kind": "a", "size": "10"})
    await m.record_metric("batches", 1, MetricType.COUNTER, {"kind": "a", "size": [10]})  # unhashable: str([10])
    got = samples(await m.export_prometheus_metrics())
    assert got[("batches_total", (("kind", "a"), ("size", "10")))] == 2.0
    assert got[("batches_total", (("kind", "a"), ("size", "[10]")))] == 1.0
    assert [p.value for p in m.get_metric_history("batches", {"size": "10", "kind": "a"})] == [1.0, 2.0]


@pytest.mark.parametrize(
    ("name", "value", "metric_type", "labels", "message"),
    [
        ("bad name", 1, MetricType.GAUGE, None, "invalid metric name"),
        ("ok", 1, MetricType.GAUGE, {"bad-label": "x"}, "invalid label name"),
        ("ok", 1, MetricType.HISTOGRAM, {"le": "x"}, "invalid label name"),
        ("ok", 1, MetricType.GAUGE, {"__reserved": "x"}, "invalid label name"),
        ("ok", -1, MetricType.COUNTER, None, "cannot decrease"),
        ("ok", math.nan, MetricType.GAUGE, None, "finite number"),
        ("ok", math.inf, MetricType.HISTOGRAM, None, "finite number"),
        ("ok", "12", MetricType.GAUGE, None, "finite number"),
        ("ok", True, MetricType.GAUGE, None, "finite number"),
        ("ok", 1, "timer", None, "unknown metric type"),
    ],
)
async def test_invalid_input_is_a_validation_error(
    name: str, value: object, metric_type: MetricType | str, labels: dict[str, str] | None, message: str
) -> None:
    m = MonitoringSystem()
    with pytest.raises(OnexError, match=message) as info:
        await m.record_metric(name, value, metric_type, labels)  # type: ignore[arg-type]
    assert info.value.code is ErrorCode.VALIDATION_ERROR


async def test_a_metric_keeps_its_type_and_label_names() -> None:
    m = MonitoringSystem()
    await m.record_metric("depth", 1, MetricType.GAUGE, {"queue": "a"})
    with pytest.raises(OnexError, match="is a gauge, not a counter"):
        await m.record_metric("depth", 1, MetricType.COUNTER, {"queue": "a"})
    with pytest.raises(OnexError, match="is a gauge, not a counter"):
        await m.record_metric("depth", 1, MetricType.COUNTER, {"queue": "b"})
    with pytest.raises(OnexError, match=r"has labels \['queue'\], not \['topic'\]"):
        await m.record_metric("depth", 1, MetricType.GAUGE, {"topic": "a"})
    await m.record_metric("depth", 5, "gauge", {"queue": "a"})  # the type's name works too
    assert samples(await m.export_prometheus_metrics())[("depth", (("queue", "a"),))] == 5.0


async def test_series_are_bounded() -> None:
    m = MonitoringSystem(max_series=2)
    await m.record_metric("hits", 1, MetricType.COUNTER, {"user": "1"})
    await m.record_metric("hits", 1, MetricType.COUNTER, {"user": "2"})
    with pytest.raises(OnexError, match="too many metric series"):
        await m.record_metric("hits", 1, MetricType.COUNTER, {"user": "3"})
    await m.record_metric("hits", 1, MetricType.COUNTER, {"user": "1"})  # existing series still work
    assert [s["sum"] for s in m.list_series("hits")] == [2.0, 1.0]


async def test_each_system_has_its_own_registry_unless_given_one() -> None:
    before = {name for name in REGISTRY._names_to_collectors}
    a, b = MonitoringSystem(), MonitoringSystem()
    await a.record_metric("only_in_a", 1, MetricType.GAUGE)
    assert "only_in_a" in await a.export_prometheus_metrics()
    assert "only_in_a" not in await b.export_prometheus_metrics()
    assert {name for name in REGISTRY._names_to_collectors} == before
    shared = CollectorRegistry()
    Counter("app_requests", "requests of the application", registry=shared).inc()
    c = MonitoringSystem(registry=shared)
    await c.record_metric("from_monitoring", 2, MetricType.GAUGE)
    got = samples(await c.export_prometheus_metrics())
    assert got[("app_requests_total", ())] == 1.0
    assert got[("from_monitoring", ())] == 2.0
    with pytest.raises(OnexError, match="cannot register metric app_requests"):
        await c.record_metric("app_requests", 1, MetricType.COUNTER)


async def test_export_has_every_label_set_of_every_metric() -> None:
    m = MonitoringSystem()
    for i in range(40):
        await m.record_metric("requests", 1, MetricType.COUNTER, {"route": f"/r{i}", "code": str(200 + i % 3)})
        await m.record_metric("latency_ms", i, MetricType.HISTOGRAM, {"route": f"/r{i}"})
        await m.record_metric("inflight", i, MetricType.GAUGE, {"route": f"/r{i}"})
        await m.record_metric("wait_ms", i, MetricType.SUMMARY, {"route": f"/r{i}"})
    got = samples(await m.export_prometheus_metrics())
    for i in range(40):
        route = ("route", f"/r{i}")
        assert got[("requests_total", (("code", str(200 + i % 3)), route))] == 1.0
        assert got[("latency_ms_count", (route,))] == 1.0
        assert got[("latency_ms_sum", (route,))] == float(i)
        assert got[("inflight", (route,))] == float(i)
        assert got[("wait_ms_sum", (route,))] == float(i)


async def test_a_disabled_system_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.lib.config import reset_settings

    monkeypatch.setenv("ENABLE_METRICS", "false")
    reset_settings()
    m = MonitoringSystem()
    await m.record_metric("ignored", 1, MetricType.COUNTER)
    assert m.list_series() == []
    assert "ignored" not in await m.export_prometheus_metrics()
    assert MonitoringSystem(enabled=True).enabled is True


async def test_the_process_system_and_the_module_helpers() -> None:
    system = get_monitoring_system()
    assert get_monitoring_system() is system
    await record_metric("helper_metric", 3, MetricType.GAUGE)
    assert system.get_metric_history("helper_metric")[0].value == 3.0
    assert reset_monitoring_system() is system
    assert get_monitoring_system() is not system
