"""MonitoringHook: what a generate_microservice run records, by calling the hook and through a real run."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from agents.lib.codegen.hooks import WorkflowRun
from agents.lib.codegen.verify import CheckResult, VerificationReport
from agents.lib.codegen_workflow import WorkflowResult, generate_microservice
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.monitoring import AlertSeverity, MonitoringHook, MonitoringSystem, get_monitoring_system
from agents.lib.parallel_generator import GenerationResult
from agents.lib.persistence import CodegenPersistence
from agents.lib.prd_analyzer import analyze_prd
from tests.monitoring.conftest import Clock
from tests.workflow.conftest import EXAMPLES


def node(node_type: str, ms: float, passed: bool) -> GenerationResult:
    report = VerificationReport(
        Path("."), ("pkg",), (CheckResult("tests", passed, "ok" if passed else "1 failed"),)
    )
    return GenerationResult(
        job_id=uuid4(),
        success=passed,
        node_type=node_type,
        microservice_name="loans",
        duration_ms=ms,
        error=None if passed else "verification failed: tests",
        verification=report,
    )


def last(m: MonitoringSystem, name: str, labels: dict[str, str] | None = None) -> float:
    return m.get_metric_history(name, labels)[-1].value


async def test_the_hook_records_what_the_thresholds_watch(tmp_path: Path, clock: Clock) -> None:
    async with CodegenPersistence(f"sqlite:///{tmp_path / 'hook.db'}") as p:
        for ms in (10.0, 30.0):
            await p.record_event_metric(event_type="node.generated", processing_duration_ms=ms, success=True)
        m = MonitoringSystem(clock=clock)
        hook = MonitoringHook(m, persistence=p)
        session = uuid4()
        analysis = analyze_prd(EXAMPLES / "library_loans.md")
        run = WorkflowRun(session, uuid4(), "loans.md", tmp_path, analysis, (), 2)
        await hook.workflow_started(run)
        results = [node("EFFECT", 9000.0, True), node("COMPUTE", 7000.0, True), node("REDUCER", 8000.0, False)]
        for r in results:
            await hook.node_finished(run, r)
        result = WorkflowResult(
            correlation_id=uuid4(),
            session_id=session,
            prd_path="loans.md",
            service_name="loans",
            output_dir=tmp_path,
            analysis=analysis,
            results=tuple(results),
            workers=2,
            wall_ms=15000.0,
            speedup=1.6,
            verified=True,
            template_cache={"hits": 18, "misses": 2, "hit_rate": 0.9, "avg_uncached_load_ms": 12.5},
            cores_used=1.7,
        )
        await hook.workflow_finished(run, result)
    assert [(s["labels"]["node_type"], s["sum"]) for s in m.list_series("generation_duration_ms")] == [
        ("COMPUTE", 7000.0),
        ("EFFECT", 9000.0),
        ("REDUCER", 8000.0),
    ]
    assert last(m, "generated_nodes", {"node_type": "REDUCER", "outcome": "failed"}) == 1.0
    assert last(m, "verification_pass_rate") == pytest.approx(2 / 3)
    assert last(m, "parallel_speedup") == 1.6  # the estimated gain over one worker, not cores_used
    assert last(m, "cache_hit_rate", {"cache": "template"}) == 0.9
    assert last(m, "template_load_duration_ms", {"template_type": "all"}) == 12.5
    assert last(m, "event_latency_ms", {"event_type": "node.generated"}) == 20.0
    assert last(m, "generation_runs", {"outcome": "failed"}) == 1.0
    assert last(m, "generation_run_duration_ms") == 15000.0
    [alert] = m.get_active_alerts()
    assert (alert.metric_name, alert.severity) == ("verification_pass_rate", AlertSeverity.CRITICAL)
    health = m.get_health_status("generation")
    assert health is not None
    assert (health.healthy, health.status) == (False, "degraded")
    assert health.error_message == "REDUCER: verification failed: tests"


async def test_a_failed_run_counts_and_only_system_errors_degrade(clock: Clock) -> None:
    m = MonitoringSystem(clock=clock)
    hook = MonitoringHook(m)
    run = WorkflowRun(uuid4(), uuid4(), "bad.md", Path("out"))
    await hook.workflow_failed(run, OnexError("bad PRD", ErrorCode.VALIDATION_ERROR))
    assert m.get_health_status("generation") is None
    await hook.workflow_failed(run, OnexError("all 2 generation jobs failed", ErrorCode.OPERATION_FAILED))
    assert last(m, "generation_runs", {"outcome": "error"}) == 2.0
    health = m.get_health_status("generation")
    assert health is not None and (health.status, health.error_message) == (
        "degraded",
        "all 2 generation jobs failed",
    )
    assert MonitoringHook().monitoring is get_monitoring_system()


async def test_a_real_run_through_generate_microservice(tmp_path: Path) -> None:
    m = MonitoringSystem()
    async with CodegenPersistence(f"sqlite:///{tmp_path / 'run.db'}") as p:
        result = await generate_microservice(
            EXAMPLES / "library_loans.md",
            tmp_path / "loans",
            workers=2,
            persistence=p,
            hooks=[MonitoringHook(m, persistence=p)],
        )
        figures = (await MonitoringSystem(persistence=p).collect_all_metrics(60))["parallel_generation"]
    assert result.success, [r.error for r in result.failed]
    durations = {s["labels"]["node_type"]: s["sum"] for s in m.list_series("generation_duration_ms")}
    assert durations == {r.node_type: r.duration_ms for r in result.results}
    assert last(m, "verification_pass_rate") == 1.0
    assert last(m, "parallel_speedup") == result.speedup
    assert last(m, "cache_hit_rate", {"cache": "template"}) == result.template_cache["hit_rate"]
    assert last(m, "generation_runs", {"outcome": "succeeded"}) == 1.0
    health = m.get_health_status("generation")
    assert health is not None and health.status == "healthy"
    # the database holds the same run: the speedup is the batch's cores_used, not busy/wall
    assert (figures["total_nodes"], figures["parallel_batches"], figures["node_success_rate"]) == (2, 1, 1.0)
    assert figures["avg_speedup"] == pytest.approx(result.cores_used, abs=1e-3)
    assert figures["avg_speedup"] != pytest.approx(result.concurrency, abs=1e-3)
