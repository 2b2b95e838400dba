"""EventPublishingHook: a generation run's lifecycle events reach Kafka, or the outbox when Kafka is absent or down."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from agents.lib._events.workflow import EventPublishingHook
from agents.lib.codegen.hooks import WorkflowRun
from agents.lib.codegen_events import parse_event
from agents.lib.codegen_workflow import create_jobs, generate_microservice
from agents.lib.config import reset_settings
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.log_context import async_log_context
from agents.lib.parallel_generator import GenerationResult
from agents.lib.persistence import CodegenPersistence
from agents.lib.prd_analyzer import analyze_prd
from tests.events._support import aconsume

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prd"
LOANS = EXAMPLES / "library_loans.md"


@pytest.fixture
def refusing_port() -> str:
    """host:port where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


def results(jobs: list, ok: bool = True) -> list[GenerationResult]:  # type: ignore[type-arg]
    return [
        GenerationResult(
            job_id=job.job_id,
            success=ok or index == 0,
            node_type=job.node_type,
            microservice_name=job.microservice_name,
            duration_ms=12.5 + index,
            output_path=f"/out/{job.node_type.lower()}",
            generated_files=["a.py", "b.py"],
            error=None if ok or index == 0 else "verification failed",
            error_code=None if ok or index == 0 else "STEP_FAILED",
        )
        for index, job in enumerate(jobs)
    ]


async def test_the_hook_publishes_the_lifecycle_to_kafka(
    kafka_bootstrap: str, service: str, persistence: CodegenPersistence, tmp_path: Path
) -> None:
    """Called as the workflow calls it: started, one event per node (generated or failed), failed; ids and payloads."""
    analysis = analyze_prd(LOANS)
    jobs = create_jobs(analysis, tmp_path)
    session = uuid4()
    correlation = uuid4()
    hook = EventPublishingHook(bootstrap_servers=kafka_bootstrap, persistence=persistence, service=service)
    run = WorkflowRun(session, correlation, str(LOANS), tmp_path, analysis, tuple(jobs), 2)
    async with async_log_context(correlation_id=uuid4()):  # the run's id wins over the context's
        await hook.workflow_started(run)
        for result in results(jobs, ok=False):
            await hook.node_finished(run, result)
        await hook.workflow_failed(run, OnexError("every node failed", ErrorCode.OPERATION_FAILED))
    assert [o.status for o in hook.outcomes] == ["delivered"] * 4
    assert hook.errors == []
    got = {}
    for event_type in ("generation.started", "node.generated", "node.failed", "generation.failed"):
        [record] = await aconsume(kafka_bootstrap, f"{service}.{event_type}.v1", 1)
        got[event_type] = parse_event(record.value)
        assert record.key == str(correlation).encode()
    assert all(e.correlation_id == correlation for e in got.values())
    assert got["generation.started"].payload == {
        "session_id": str(session),
        "service_name": analysis.service_name,
        "domain": analysis.domain,
        "prd_path": analysis.source_path,
        "node_types": ["EFFECT", "COMPUTE"],
    }
    node = got["node.generated"].payload
    assert (node["node_type"], node["status"], node["files"], node["duration_ms"]) == (
        "EFFECT",
        "generated",
        2,
        12.5,
    )
    failed = got["node.failed"].payload
    assert (failed["node_type"], failed["error"], failed["error_code"]) == (
        "COMPUTE",
        "verification failed",
        "STEP_FAILED",
    )
    assert got["generation.failed"].payload == {
        "session_id": str(session),
        "error": "every node failed",
        "error_code": "OPERATION_FAILED",
    }
    assert [o.event_id for o in hook.outcomes] == [
        got[t].id for t in ("generation.started", "node.generated", "node.failed", "generation.failed")
    ]


async def test_a_generation_run_with_kafka_configured_puts_its_events_on_the_topics(
    kafka_bootstrap: str, service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """generate_microservice(..., hooks=[hook]) with KAFKA_BOOTSTRAP_SERVERS set: every event is on Kafka."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    reset_settings()
    async with CodegenPersistence() as store:
        hook = EventPublishingHook(persistence=store, service=service)
        result = await generate_microservice(
            LOANS, tmp_path / "svc", verify=False, persistence=store, hooks=[hook]
        )
        assert result.success
        assert [o.status for o in hook.outcomes] == ["delivered"] * 4
        started = await aconsume(kafka_bootstrap, f"{service}.generation.started.v1", 1)
        nodes = await aconsume(kafka_bootstrap, f"{service}.node.generated.v1", 2)
        completed = await aconsume(kafka_bootstrap, f"{service}.generation.completed.v1", 1)
        events = [parse_event(r.value) for r in (*started, *nodes, *completed)]
        assert {e.correlation_id for e in events} == {result.correlation_id}
        assert {e.payload["session_id"] for e in events} == {str(result.session_id)}
        assert sorted(e.payload["node_type"] for e in events[1:3]) == ["COMPUTE", "EFFECT"]
        done = events[-1].payload
        assert (done["success"], done["total"], done["succeeded"], done["failed"]) == (True, 2, 2, 0)
        assert done["output_dir"] == str(result.output_dir)
        assert await store.outbox_counts() == {"pending": 0, "sent": 0, "dead": 0}
        summary = await store.event_processing_summary(60)
        assert {g["event_type"]: g["count"] for g in summary["by_event_type"]} == {
            "generation.completed": 1,
            "generation.started": 1,
            "node.generated": 2,
        }


async def test_without_kafka_a_run_keeps_its_events_in_the_outbox_and_connects_nowhere(
    service: str, tmp_path: Path
) -> None:
    """The embedded defaults: no Kafka settings, the default SQLite database holds every event of the run."""
    hook = EventPublishingHook(service=service)
    result = await generate_microservice(LOANS, tmp_path / "svc", verify=False, hooks=[hook])
    assert [o.status for o in hook.outcomes] == ["outboxed"] * 4
    assert {o.error for o in hook.outcomes} == {"Kafka is not configured"}
    assert [t.name for t in threading.enumerate() if t.name.startswith("agents-events")] == []
    async with CodegenPersistence() as store:
        claimed = await store.claim_events(limit=10)
    assert [e.topic for e in claimed] == [
        f"{service}.generation.started.v1",
        f"{service}.node.generated.v1",
        f"{service}.node.generated.v1",
        f"{service}.generation.completed.v1",
    ]
    assert {parse_event(e.payload).correlation_id for e in claimed} == {result.correlation_id}


async def test_with_kafka_down_a_run_keeps_its_events_in_the_outbox(
    refusing_port: str, service: str, persistence: CodegenPersistence, tmp_path: Path
) -> None:
    """Kafka configured but refusing: the first delivery fails, the circuit opens, every event is stored."""
    analysis = analyze_prd(LOANS)
    jobs = create_jobs(analysis, tmp_path)
    session = uuid4()
    hook = EventPublishingHook(
        bootstrap_servers=refusing_port, persistence=persistence, service=service, enable_metrics=False
    )
    run = WorkflowRun(session, uuid4(), str(LOANS), tmp_path, analysis, tuple(jobs), 2)
    await hook.workflow_started(run)
    for result in results(jobs):
        await hook.node_finished(run, result)
    await asyncio.wait_for(hook.workflow_failed(run, OnexError("stopped")), timeout=60)
    assert [o.status for o in hook.outcomes] == ["outboxed"] * 4
    assert hook.outcomes[0].error is not None and hook.outcomes[0].error.split(":")[0] in {
        "_PURGE_QUEUE",
        "_MSG_TIMED_OUT",
        "_TRANSPORT",
    }
    assert {o.error for o in hook.outcomes[1:]} <= {
        "the circuit breaker is open",
        "earlier events wait in the outbox",
    }
    assert (await persistence.outbox_counts())["pending"] == 4
    claimed = await persistence.claim_events(limit=10)
    assert [UUID(dict(e.headers)["event_id"].decode()) for e in claimed] == [o.event_id for o in hook.outcomes]
    assert (await persistence.event_processing_summary(60))["total_events"] == 0  # enable_metrics=False
