"""collect_all_metrics on SQLite and PostgreSQL: the guide's structure, real values, the window, zeros on an empty
database, errors when the database is unreachable, gauges and database alerts, and pluggable sections."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from agents.lib._monitoring.sections import (
    EVENTS_EMPTY,
    MIXIN_EMPTY,
    PARALLEL_EMPTY,
    PATTERN_EMPTY,
    TEMPLATE_CACHE_EMPTY,
)
from agents.lib.config import reset_settings
from agents.lib.db.schema import mixin_compatibility_matrix, utcnow
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.monitoring import (
    AlertSeverity,
    MonitoringSystem,
    metrics_sections,
    register_metrics_section,
    unregister_metrics_section,
)
from agents.lib.persistence import CodegenPersistence, TemplateCacheDelta
from tests.monitoring.conftest import free_port

SECTIONS = ["template_cache", "parallel_generation", "event_processing", "mixin_learning", "pattern_matching"]


async def seed(p: CodegenPersistence) -> None:
    """Known rows: inside the last hour, and older ones (two hours ago) that a 60-minute window leaves out."""
    now = utcnow()
    old = now - timedelta(hours=2)
    await p.record_template_cache_stats(
        [
            TemplateCacheDelta("effect", "EFFECT", "/t/effect.j2", hits=85, misses=15, loads=15, load_time_ms=150.0),
            TemplateCacheDelta("old", "COMPUTE", "/t/old.j2", hits=1000, loads=1, load_time_ms=900.0,
                               last_accessed_at=old),
        ]
    )  # fmt: skip
    for node, ms, ok in (("EFFECT", 2000.0, True), ("COMPUTE", 4000.0, True), ("REDUCER", 3000.0, False)):
        await p.record_generation_metric(node_type=node, phase="job", duration_ms=ms, parallel=True, success=ok)
    batches = ((True, 2, 1.7, 3.8), (True, 2, 1.9, 3.9), (False, 1, 0.95, 1.0))
    for parallel, workers, cores, busy_over_wall in batches:
        await p.record_generation_metric(
            node_type="BATCH", phase="batch", duration_ms=5000.0, parallel=parallel, worker_count=workers,
            speedup=busy_over_wall, success=parallel, context={"jobs": 3, "cores_used": cores},
        )  # fmt: skip
    await p.record_generation_metric(node_type="EFFECT", phase="job", duration_ms=99_999.0, created_at=old)
    await p.record_generation_metric(
        node_type="BATCH", phase="batch", duration_ms=1.0, parallel=True, worker_count=4, speedup=4.0,
        context={"cores_used": 0.2}, created_at=old,
    )  # fmt: skip
    for i in range(1, 21):
        await p.record_event_metric(
            event_type="node.generated",
            processing_duration_ms=float(i),
            success=i != 7,
            batch_size=2,
            retry_count=1,
        )
    await p.record_event_metric(
        event_type="old.event", processing_duration_ms=5000.0, success=False, created_at=old
    )
    sent = await p.enqueue_event("agents.events", "k", {"n": 1})
    await p.enqueue_event("agents.events", "k", {"n": 2})
    await p.mark_events_sent([sent])
    for success in (True, True, True, False):
        await p.record_mixin_compatibility("MixinCaching", "MixinLogging", "EFFECT", success)
    for _ in range(2):
        await p.record_mixin_compatibility("MixinRetry", "MixinTimeout", "COMPUTE", False, "deadline")
    feedback: list[dict[str, Any]] = [
        {"feedback_type": "correct", "user_provided": True, "detected_confidence": 0.9},  # w=2: tp 2
        {"feedback_type": "incorrect", "detected_confidence": 0.5},  # w=1: fp 1
        {"feedback_type": "partial", "detected_confidence": 0.7},  # tp .5, fp .5
        {"feedback_type": "adjusted", "user_provided": True},  # w=2: tp 1, fp 1
        {"feedback_type": "unrated"},  # not scored
        {"feedback_type": "correct", "created_at": old},  # outside the window
    ]
    for i, f in enumerate(feedback):
        await p.record_pattern_feedback(detected_pattern=f"pattern_{i % 2}", **f)
    await p.flush()


async def test_empty_database_gives_well_formed_zeros(backend_dsn: str) -> None:
    async with CodegenPersistence(backend_dsn) as p:
        m = MonitoringSystem(persistence=p)
        metrics = await m.collect_all_metrics(60)
    assert metrics["template_cache"] == TEMPLATE_CACHE_EMPTY
    assert metrics["parallel_generation"] == PARALLEL_EMPTY
    assert metrics["event_processing"] == EVENTS_EMPTY
    assert metrics["mixin_learning"] == MIXIN_EMPTY
    assert metrics["pattern_matching"] == PATTERN_EMPTY
    assert list(metrics["parallel_generation"]) == list(PARALLEL_EMPTY)
    assert metrics["errors"] == {}
    assert metrics["time_window_minutes"] == 60
    assert set(metrics["section_times_ms"]) == set(SECTIONS)
    assert metrics["collection_time_ms"] > 0
    assert m.get_active_alerts() == []  # nothing behind the zeros: no alert


async def test_figures_of_the_window(backend_dsn: str) -> None:
    async with CodegenPersistence(backend_dsn) as p:
        await seed(p)
        m = MonitoringSystem(persistence=p)
        metrics = await m.collect_all_metrics(time_window_minutes=60)
        wide = await m.collect_all_metrics(time_window_minutes=180)
    cache = metrics["template_cache"]
    assert (cache["overall_hit_rate"], cache["avg_load_time_ms"], cache["total_templates"]) == (0.85, 10.0, 1)
    assert (cache["total_requests"], cache["total_loads"]) == (100, 15)
    parallel = metrics["parallel_generation"]
    assert parallel["parallel_usage_rate"] == pytest.approx(2 / 3)
    assert parallel["avg_speedup"] == pytest.approx(1.8)  # mean cores_used, not busy/wall (3.85)
    assert parallel["serial_cores_used"] == pytest.approx(0.95)
    assert (parallel["total_batches"], parallel["parallel_batches"], parallel["failed_batches"]) == (3, 2, 1)
    assert parallel["avg_parallel_workers"] == 2.0
    assert (parallel["total_nodes"], parallel["avg_node_duration_ms"]) == (3, 3000.0)
    assert parallel["node_success_rate"] == pytest.approx(2 / 3)
    assert [g["node_type"] for g in parallel["by_node_type"]] == ["COMPUTE", "EFFECT", "REDUCER"]
    events = metrics["event_processing"]
    assert (events["total_events"], events["overall_success_rate"]) == (20, 0.95)
    assert (events["p95_latency_ms"], events["avg_latency_ms"]) == (19.0, 10.5)
    assert (events["total_retries"], events["avg_batch_size"]) == (20, 2.0)
    assert (events["outbox_pending"], events["outbox_sent"], events["outbox_dead"]) == (1, 1, 0)
    assert metrics["mixin_learning"] == {
        "total_pairs": 2,
        "total_observations": 6,
        "success_rate": 0.5,
        "conflict_pairs": 1,
        "node_types": 2,
    }
    patterns = metrics["pattern_matching"]
    assert patterns["overall_precision"] == pytest.approx(3.5 / 6)  # weighted: sum(w*tp)/sum(w*(tp+fp))
    assert {k: v for k, v in patterns.items() if k != "overall_precision"} == {
        "total_feedback": 5,
        "scored_feedback": 4,
        "patterns_analyzed": 2,
        "correct": 1,
        "incorrect": 1,
        "partial": 1,
        "adjusted": 1,
        "user_provided": 2,
        "avg_confidence": pytest.approx(0.7),
    }
    # the wider window takes the older rows in
    assert wide["template_cache"]["total_templates"] == 2
    assert wide["parallel_generation"]["avg_speedup"] == pytest.approx((1.7 + 1.9 + 0.2) / 3)
    assert wide["parallel_generation"]["total_nodes"] == 4
    assert wide["event_processing"]["total_events"] == 21
    assert wide["pattern_matching"]["overall_precision"] == pytest.approx(4.5 / 7)


async def test_mixin_pairs_outside_the_window_are_left_out(backend_dsn: str) -> None:
    async with CodegenPersistence(backend_dsn) as p:
        await p.record_mixin_compatibility("MixinA", "MixinB", "EFFECT", True)
        await p.record_mixin_compatibility("MixinC", "MixinD", "EFFECT", False)
        t = mixin_compatibility_matrix
        async with p._db.begin("age a pair") as conn:
            await conn.execute(
                sa.update(t).where(t.c.mixin_a == "MixinC").values(updated_at=utcnow() - timedelta(days=2))
            )
        m = MonitoringSystem(persistence=p)
        day = (await m.collect_all_metrics(24 * 60))["mixin_learning"]
        week = (await m.collect_all_metrics(7 * 24 * 60))["mixin_learning"]
    assert (day["total_pairs"], day["success_rate"], day["conflict_pairs"]) == (1, 1.0, 0)
    assert (week["total_pairs"], week["success_rate"], week["conflict_pairs"]) == (2, 0.5, 1)


async def test_figures_become_gauges_and_database_alerts(backend_dsn: str) -> None:
    async with CodegenPersistence(backend_dsn) as p:
        await seed(p)
        m = MonitoringSystem(persistence=p)
        await m.collect_all_metrics(60)
        alerts = {a.metric_name: a for a in m.get_active_alerts()}
        text = await m.export_prometheus_metrics()
        gauges = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
        assert gauges["agents_parallel_generation_avg_speedup"] == pytest.approx(1.8)
        assert gauges["agents_template_cache_overall_hit_rate"] == 0.85
        assert gauges["agents_event_processing_p95_latency_ms"] == 19.0
        assert gauges["agents_pattern_matching_scored_feedback"] == 4.0
        assert sorted(alerts) == [
            "agents_event_processing_overall_success_rate",
            "agents_parallel_generation_node_success_rate",
            "agents_pattern_matching_overall_precision",
        ]
        events = alerts["agents_event_processing_overall_success_rate"]
        assert (events.severity, events.threshold, events.source) == (AlertSeverity.WARNING, 0.99, "database")
        assert events.message == (
            "Event success rate 95.0% is below the warning threshold 99.0% (database, last 60 min)"
        )
        assert alerts["agents_parallel_generation_node_success_rate"].severity is AlertSeverity.CRITICAL
        assert alerts["agents_pattern_matching_overall_precision"].component == "pattern_matching"
        # a window with no rows behind the figures resolves their alerts
        await asyncio.sleep(0.05)
        await m.collect_all_metrics(0.0005)
        assert m.get_active_alerts() == []
        assert len(m.get_resolved_alerts()) == 3
        assert m.get_metric_history("agents_parallel_generation_avg_speedup")[0].value == pytest.approx(1.8)


async def test_an_unreachable_database_gives_zeros_and_errors() -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    async with CodegenPersistence(dsn) as p:
        m = MonitoringSystem(persistence=p)
        metrics = await m.collect_all_metrics(60)
        health = await m.check_health()
    assert sorted(metrics["errors"]) == sorted(SECTIONS)
    assert all("127.0.0.1" in e for e in metrics["errors"].values())
    assert metrics["template_cache"] == TEMPLATE_CACHE_EMPTY
    assert metrics["parallel_generation"]["avg_speedup"] == 0.0
    assert health["overall_status"] == "critical"
    assert health["components"]["database"]["status"] == "critical"
    assert health["components"]["template_cache"]["status"] == "unknown"


async def test_a_bad_configuration_gives_zeros_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_HOST", "db")
    monkeypatch.setenv("POSTGRES_PORT", "not-a-port")
    reset_settings()
    m = MonitoringSystem(enabled=True)
    metrics = await m.collect_all_metrics()
    assert set(metrics["errors"]) == set(SECTIONS)
    assert "POSTGRES_PORT" in metrics["errors"]["template_cache"]
    assert metrics["event_processing"] == EVENTS_EMPTY


@pytest.mark.parametrize("window", [0, -5, float("nan"), True, "60"])
async def test_the_window_must_be_a_positive_number(window: object) -> None:
    with pytest.raises(OnexError) as info:
        await MonitoringSystem().collect_all_metrics(window)  # type: ignore[arg-type]
    assert info.value.code is ErrorCode.VALIDATION_ERROR


# -- pluggable sections --


async def learning_section(persistence: CodegenPersistence, window_minutes: float) -> Mapping[str, Any]:
    """A stand-in for the mixin stream's own section (reads the table through the persistence)."""
    pairs = await persistence.list_mixin_compatibility()
    return {"model_accuracy": 0.8, "model_samples": len(pairs), "window": window_minutes}


async def broken_section(persistence: CodegenPersistence, window_minutes: float) -> Mapping[str, Any]:
    raise RuntimeError("model file unreadable")


@pytest.fixture
def restore_sections() -> Iterator[None]:
    before = metrics_sections()
    yield
    for name in set(metrics_sections()) - set(before):
        unregister_metrics_section(name)
    for name in before:
        unregister_metrics_section(name)


@pytest.mark.usefixtures("restore_sections")
async def test_a_stream_plugs_its_section_in(tmp_path: Any) -> None:
    async with CodegenPersistence(f"sqlite:///{tmp_path / 'a.db'}") as p:
        await p.record_mixin_compatibility("MixinA", "MixinB", "EFFECT", True)
        register_metrics_section("mixin_learning", learning_section)
        register_metrics_section("quality", "tests.monitoring.test_collect:learning_section", empty={"x": 0})
        m = MonitoringSystem(persistence=p)
        metrics = await m.collect_all_metrics(30)
        assert metrics["mixin_learning"] == {"model_accuracy": 0.8, "model_samples": 1, "window": 30.0}
        assert metrics["quality"]["model_samples"] == 1
        # the plugged section feeds the mixin accuracy threshold (warning 0.95, critical 0.90)
        [alert] = m.get_active_alerts()
        assert (alert.metric_name, alert.severity) == (
            "agents_mixin_learning_model_accuracy",
            AlertSeverity.CRITICAL,
        )

        register_metrics_section("mixin_learning", broken_section)
        register_metrics_section("missing", "tests.monitoring.no_such_module:section", empty={"n": 0})
        metrics = await m.collect_all_metrics(30)
        assert metrics["mixin_learning"] == MIXIN_EMPTY  # the replaced section's zeros
        assert metrics["errors"]["mixin_learning"] == "RuntimeError: model file unreadable"
        assert metrics["missing"] == {"n": 0}
        assert "cannot be imported" in metrics["errors"]["missing"]
        assert m.get_active_alerts()[0].metric_name == "agents_mixin_learning_model_accuracy"  # kept: no reading

        unregister_metrics_section("mixin_learning")
        unregister_metrics_section("missing")
        unregister_metrics_section("quality")
        metrics = await m.collect_all_metrics(30)
        assert metrics["mixin_learning"]["total_pairs"] == 1
        assert "missing" not in metrics and "quality" not in metrics

        other = MonitoringSystem(persistence=p)
        other.register_section("pattern_matching", learning_section)
        assert (await other.collect_all_metrics(30))["pattern_matching"]["model_samples"] == 1
        assert (await m.collect_all_metrics(30))["pattern_matching"]["total_feedback"] == 0


@pytest.mark.parametrize(("name", "provider"), [("bad name", learning_section), ("ok", "no-colon"), ("ok", 42)])
def test_section_registration_is_validated(name: str, provider: Any) -> None:
    with pytest.raises(OnexError) as info:
        register_metrics_section(name, provider)
    assert info.value.code is ErrorCode.VALIDATION_ERROR


async def test_close_closes_only_the_database_connection_it_opened(tmp_path: Any) -> None:
    given = CodegenPersistence(f"sqlite:///{tmp_path / 'given.db'}")
    m = MonitoringSystem(persistence=given)
    await m.collect_all_metrics()
    await m.close()
    assert await given.outbox_counts() == {"pending": 0, "sent": 0, "dead": 0}  # still open
    await given.close()
    owned = MonitoringSystem()  # the configured database
    await owned.collect_all_metrics()
    first = owned.persistence
    await owned.close()
    with pytest.raises(OnexError, match="closed"):
        await first.outbox_counts()
    assert owned.persistence is not first  # opened again on next use
    await owned.close()
