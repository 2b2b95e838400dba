"""Component health: reporting, the overall status, and the checker against a real database and Kafka broker."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agents.lib.errors import ErrorCode, OnexError
from agents.lib.monitoring import HealthChecker, MonitoringSystem, update_health_status
from agents.lib.persistence import CodegenPersistence, TemplateCacheDelta
from tests.monitoring.conftest import Clock, free_port


async def test_reported_health_and_the_overall_status(clock: Clock) -> None:
    m = MonitoringSystem(clock=clock)
    assert m.get_monitoring_summary()["health"] == {
        "overall_status": "healthy",
        "components": {},
        "healthy_count": 0,
        "unhealthy_count": 0,
    }
    await m.update_health_status("template_cache", True, "healthy", metadata={"cache_size_mb": 25.5})
    await m.update_health_status("kafka", False, "degraded", error_message="broker slow")
    health = m.get_monitoring_summary()["health"]
    assert health["overall_status"] == "degraded"
    assert health["components"]["kafka"] == {
        "component": "kafka",
        "healthy": False,
        "status": "degraded",
        "error": "broker slow",
        "metadata": {},
        "last_check": datetime.fromtimestamp(clock.now, UTC).isoformat(),
        "latency_ms": None,
    }
    assert health["components"]["template_cache"]["metadata"] == {"cache_size_mb": 25.5}
    await m.update_health_status("event_processor", False, "critical", error_message="boom")
    assert m.get_monitoring_summary()["health"]["overall_status"] == "critical"
    # an unhealthy component reported as "healthy" still counts as degraded
    n = MonitoringSystem(clock=clock)
    await n.update_health_status("db", False, "healthy")
    assert n.get_monitoring_summary()["health"]["overall_status"] == "degraded"
    assert m.get_health_status("kafka") is not None and m.get_health_status("nothing") is None
    text = await m.export_prometheus_metrics()
    up = {s.labels["component"]: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert up == {"template_cache": 1.0, "kafka": 0.0, "event_processor": 0.0}


@pytest.mark.parametrize(("component", "status"), [("", "healthy"), ("db", "broken"), ("db", "ok")])
async def test_health_input_is_validated(component: str, status: str) -> None:
    with pytest.raises(OnexError) as info:
        await MonitoringSystem().update_health_status(component, True, status)
    assert info.value.code is ErrorCode.VALIDATION_ERROR


async def test_module_helper_reports_to_the_process_system() -> None:
    entry = await update_health_status("event_processor", False, "critical", "Kafka down")
    assert (entry.healthy, entry.status, entry.error_message) == (False, "critical", "Kafka down")


async def test_checker_with_a_database_and_a_broker(backend_dsn: str, kafka_bootstrap: str) -> None:
    async with CodegenPersistence(backend_dsn) as p:
        await p.record_template_cache_stats(
            [TemplateCacheDelta("t", "EFFECT", "/t.j2", hits=60, misses=40, loads=40)]
        )
        await p.record_event_metric(event_type="node.generated", processing_duration_ms=12.0, success=True)
        m = MonitoringSystem(persistence=p)
        # slow_ms far above any latency here: on a loaded machine a 1 s check would read as "degraded"
        report = await HealthChecker(m, kafka_bootstrap_servers=kafka_bootstrap, slow_ms=600_000).check_all()
    components = report["components"]
    assert list(components) == ["database", "kafka", "template_cache", "generation", "events", "outbox"]
    assert components["database"]["status"] == "healthy"
    assert components["database"]["metadata"]["backend"] == p.backend
    assert components["database"]["latency_ms"] > 0
    assert components["kafka"]["status"] == "healthy"
    assert components["kafka"]["metadata"]["brokers"] == 1
    # hit rate 60%: below the critical threshold (70%)
    assert components["template_cache"]["status"] == "critical"
    assert (
        components["template_cache"]["error"]
        == "Template cache hit rate 60.0% is below the critical threshold 70.0%"
    )
    assert components["events"]["status"] == "healthy"
    assert components["events"]["metadata"] == {"event_latency_ms": 12.0, "event_success_rate": 1.0}
    assert components["generation"]["status"] == "unknown"
    assert components["outbox"]["status"] == "healthy"
    assert report["overall_status"] == "critical"
    assert report["metrics"]["template_cache"]["overall_hit_rate"] == 0.6


async def test_an_unreachable_broker_degrades_and_dead_events_are_reported(tmp_path: Path) -> None:
    async with CodegenPersistence(f"sqlite:///{tmp_path / 'h.db'}") as p:
        event = await p.enqueue_event("agents.events", None, {"n": 1})
        await p.mark_event_failed(event, "broker gone", max_retries=1)
        m = MonitoringSystem(persistence=p)
        checker = HealthChecker(m, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", timeout_s=1.5)
        report = await checker.check_all()
    kafka = report["components"]["kafka"]
    assert (kafka["healthy"], kafka["status"]) == (False, "degraded")
    assert kafka["error"]
    outbox = report["components"]["outbox"]
    assert (outbox["healthy"], outbox["status"]) == (False, "degraded")
    assert outbox["error"] == "1 events gave up after too many retries (dead)"
    assert report["overall_status"] == "degraded"


async def test_kafka_is_checked_only_when_configured(tmp_path: Path) -> None:
    async with CodegenPersistence(f"sqlite:///{tmp_path / 'k.db'}") as p:
        report = await MonitoringSystem(persistence=p).check_health()
    assert "kafka" not in report["components"]
    assert report["overall_status"] == "healthy"


async def test_a_check_slower_than_slow_ms_is_degraded(tmp_path: Path) -> None:
    """A reachable database that answers slower than ``slow_ms`` (here 0 ms: always) is degraded, with the reason."""
    async with CodegenPersistence(f"sqlite:///{tmp_path / 'slow.db'}") as p:
        report = await HealthChecker(MonitoringSystem(persistence=p), slow_ms=0).check_all()
    database = report["components"]["database"]
    assert database["status"] == "degraded"
    assert database["error"].startswith("slow: ")
