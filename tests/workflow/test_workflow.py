"""generate_microservice: the main job as a library call, on real files and real databases."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

import orjson
import pytest

from agents.lib.codegen.hooks import WorkflowRun
from agents.lib.codegen_workflow import WorkflowHook, WorkflowResult, create_jobs, generate_microservice
from agents.lib.config import reset_settings
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.parallel_generator import GenerationJob, GenerationResult
from agents.lib.persistence import CodegenPersistence
from agents.lib.prd_analyzer import analyze_prd
from tests.workflow.conftest import EXAMPLES, LogCapture

LOANS = EXAMPLES / "library_loans.md"  # EFFECT + COMPUTE
PAYOUTS = EXAMPLES / "marketplace_payouts.md"  # all four node types


class RecordingHook(WorkflowHook):
    """Remembers what the workflow told it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.runs: list[WorkflowRun] = []

    async def workflow_started(self, run: WorkflowRun) -> None:
        self.runs.append(run)
        self.calls.append(("started", list(run.node_types)))

    async def node_finished(self, run: WorkflowRun, result: GenerationResult) -> None:
        self.runs.append(run)
        self.calls.append(("node", result.node_type))

    async def workflow_finished(self, run: WorkflowRun, result: WorkflowResult) -> None:
        self.runs.append(run)
        self.calls.append(("finished", result.success))

    async def workflow_failed(self, run: WorkflowRun, error: OnexError) -> None:
        self.runs.append(run)
        self.calls.append(("failed", error.code))


class BrokenHook(WorkflowHook):
    """Raises from every method."""

    async def workflow_started(self, run: WorkflowRun) -> None:
        raise RuntimeError("hook broke")

    async def workflow_finished(self, run: WorkflowRun, result: WorkflowResult) -> None:
        raise RuntimeError("hook broke again")


async def _rows(persistence: CodegenPersistence, query: str, *args: Any) -> list[dict[str, Any]]:
    pool = await persistence._ensure_pool()
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(query, *args)]


async def test_verified_run_records_session_metrics_cache_counters_and_one_correlation_id(
    tmp_path: Path, log_capture: LogCapture
) -> None:
    hook = RecordingHook()
    progress: list[tuple[str, int, int]] = []
    async with CodegenPersistence(f"sqlite:///{tmp_path / 'metrics.db'}") as persistence:
        result = await generate_microservice(
            LOANS,
            tmp_path / "svc",
            workers=2,
            persistence=persistence,
            hooks=[hook],
            progress_callback=lambda r, p: progress.append((r.node_type, p["completed_jobs"], p["total_jobs"])),
        )
        assert result.success, [r.error for r in result.results]
        assert result.verified
        assert result.workers == 2
        assert [r.node_type for r in result.results] == ["EFFECT", "COMPUTE"]
        assert result.output_dir == (tmp_path / "svc").resolve()
        for node in result.results:
            assert node.verification is not None
            assert node.verification.passed, node.verification.summary()
            assert node.verification.tests_passed > 0
            package = Path(node.output_path or "")
            assert package.parent == result.output_dir
            assert (package / "node.py").is_file()
            assert str(package / "contract.yaml") in node.generated_files
            assert package.name in (result.output_dir / "README.md").read_text(encoding="utf-8")
        assert sorted(c for _, c, _ in progress) == [1, 2]
        assert {t for _, _, t in progress} == {2}
        assert hook.calls[0] == ("started", ["EFFECT", "COMPUTE"])
        assert sorted(hook.calls[1:3]) == [("node", "COMPUTE"), ("node", "EFFECT")]
        assert hook.calls[3:] == [("finished", True)]
        # Every call is told about the same run: its ids, its input and output, its analysis and jobs.
        run = hook.runs[0]
        assert all(r is run for r in hook.runs)
        assert (run.session_id, run.correlation_id) == (result.session_id, result.correlation_id)
        assert (run.prd_path, run.output_dir, run.workers) == (str(LOANS), result.output_dir, 2)
        assert run.analysis is result.analysis
        assert run.node_types == ("EFFECT", "COMPUTE")
        for node in result.results:
            job = run.job(node.job_id)
            assert job.spec is not None and node.spec == job.spec
            assert job.spec.package_name == Path(node.output_path or "").name

        session = await persistence.get_generation_session(result.session_id)
        assert session is not None
        assert session.status == "succeeded"
        assert session.node_count == 2
        assert session.service_name == result.service_name == "LibraryLoans"
        assert session.prd_path == str(LOANS)

        rows = await _rows(
            persistence,
            "SELECT node_type, phase, worker_count, speedup, success, duration_ms, context "
            "FROM generation_performance_metrics WHERE session_id = $1",
            str(result.session_id),
        )
        jobs = sorted((r["node_type"], r["phase"]) for r in rows if r["phase"] == "job")
        assert jobs == [("COMPUTE", "job"), ("EFFECT", "job")]
        batch = [r for r in rows if r["phase"] == "batch"]
        assert len(batch) == 1
        assert batch[0]["worker_count"] == 2
        assert batch[0]["speedup"] == pytest.approx(result.speedup, rel=1e-6)
        assert batch[0]["duration_ms"] == pytest.approx(result.wall_ms, rel=1e-6)
        context = batch[0]["context"]
        context = orjson.loads(context) if isinstance(context, str) else context
        assert (context["jobs"], context["failed"]) == (2, 0)
        assert context["cores_used"] == round(result.cores_used, 3)
        assert result.to_dict()["cores_used"] == round(result.cores_used, 2)
        assert 0.0 < result.cores_used <= (os.cpu_count() or 1) * 1.05
        # speedup: the estimated gain over one worker, never above the cores used; concurrency: busy / wall
        assert result.speedup == pytest.approx(min(result.concurrency, result.cores_used))
        assert result.concurrency == pytest.approx(context["busy_ms"] / batch[0]["duration_ms"], rel=1e-3)
        assert result.to_dict()["concurrency"] == round(result.concurrency, 2)

        cached = await _rows(persistence, "SELECT hit_count, miss_count FROM template_cache_metadata")
        stats = result.template_cache
        assert stats["hits"] + stats["misses"] > 0
        assert sum(r["hit_count"] for r in cached) == stats["hits"]
        assert sum(r["miss_count"] for r in cached) == stats["misses"]

    ours = [r for r in log_capture.records() if r["logger_name"].startswith("agents")]
    assert {r["message"] for r in ours} >= {"Analyzing PRD", "Starting parallel generation", "Generation complete"}
    assert {r["correlation_id"] for r in ours} == {str(result.correlation_id)}
    assert {r["session_id"] for r in ours} == {str(result.session_id)}


async def test_four_node_types_on_postgres_record_the_run(tmp_path: Path, postgres_db_dsn: str) -> None:
    async with CodegenPersistence(postgres_db_dsn) as persistence:
        result = await generate_microservice(
            PAYOUTS, tmp_path / "payouts", workers=2, verify=False, persistence=persistence
        )
        assert result.success
        assert not result.verified
        assert [r.node_type for r in result.results] == list(result.analysis.recommended_node_types)
        assert {r.node_type for r in result.results} == {"EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"}
        assert all(r.verification is None for r in result.results)
        session = await persistence.get_generation_session(result.session_id)
        assert session is not None
        assert (session.status, session.node_count) == ("succeeded", 4)
        rows = await _rows(
            persistence,
            "SELECT phase, count(*) AS n FROM generation_performance_metrics WHERE session_id = $1 GROUP BY phase",
            str(result.session_id),
        )
        assert {r["phase"]: r["n"] for r in rows} == {"job": 4, "batch": 1}
    packages = sorted(p.name for p in (tmp_path / "payouts").glob("node_*"))
    assert len(packages) == 4
    assert all(p.endswith(("_effect", "_compute", "_reducer", "_orchestrator")) for p in packages)


async def test_embedded_default_database_is_used_without_configuration(tmp_path: Path, data_dir: Path) -> None:
    result = await generate_microservice(LOANS, tmp_path / "svc", verify=False)
    assert result.success
    assert (data_dir / "agents.db").is_file()
    async with CodegenPersistence() as persistence:
        session = await persistence.get_generation_session(result.session_id)
    assert session is not None
    assert session.status == "succeeded"


async def test_enable_metrics_false_in_the_settings_writes_nothing_to_the_database(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENABLE_METRICS=false: no session row, no generation metrics, no cache counters; not even a database file."""
    monkeypatch.setenv("ENABLE_METRICS", "false")
    reset_settings()
    result = await generate_microservice(LOANS, tmp_path / "svc", verify=False)
    assert result.success
    assert not (data_dir / "agents.db").exists()
    monkeypatch.setenv("ENABLE_METRICS", "true")
    reset_settings()
    async with CodegenPersistence() as persistence:
        assert await persistence.get_generation_session(result.session_id) is None
        assert (await persistence.generation_summary(60))["total"] == 0


async def test_a_prd_that_cannot_be_used_is_a_validation_error_and_writes_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("   \n", encoding="utf-8")
    hook = RecordingHook()
    with pytest.raises(OnexError) as caught:
        await generate_microservice(empty, tmp_path / "out", hooks=[hook], enable_metrics=False)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert "empty" in caught.value.message
    assert hook.calls == [("failed", ErrorCode.VALIDATION_ERROR)]
    (run,) = hook.runs  # failed before the analysis: the run's ids and paths, nothing else yet
    assert (run.prd_path, run.output_dir) == (str(empty), (tmp_path / "out").resolve())
    assert (run.analysis, run.jobs, run.node_types, run.workers) == (None, (), (), 0)
    assert not (tmp_path / "out").exists()


async def test_an_unexpected_error_reaches_the_hooks_as_internal_error_and_the_caller_as_raised(
    tmp_path: Path,
) -> None:
    def broken_recommender(node_type: str, capabilities: Any) -> list[str]:
        raise RuntimeError("recommender broke")

    hook = RecordingHook()
    with pytest.raises(RuntimeError, match="recommender broke"):
        await generate_microservice(
            LOANS, tmp_path / "out", hooks=[hook], enable_metrics=False, mixin_recommender=broken_recommender
        )
    assert hook.calls == [("failed", ErrorCode.INTERNAL_ERROR)]


async def test_missing_prd_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(OnexError) as caught:
        await generate_microservice(tmp_path / "nope.md", tmp_path / "out", enable_metrics=False)
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert "nope.md" in caught.value.message


async def test_unknown_node_type_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(OnexError) as caught:
        await generate_microservice(LOANS, tmp_path / "out", node_types=["GATEWAY"], enable_metrics=False)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert "GATEWAY" in caught.value.message
    assert not (tmp_path / "out").exists()


async def test_an_empty_list_of_node_types_is_a_validation_error(tmp_path: Path) -> None:
    """None means the analysis's node types; an empty list means none, which is bad input (issue 14)."""
    for call in (
        lambda: generate_microservice(LOANS, tmp_path / "out", node_types=[], enable_metrics=False),
        lambda: generate_microservice(LOANS, tmp_path / "out", node_types=(), enable_metrics=False),
    ):
        with pytest.raises(OnexError) as caught:
            await call()
        assert caught.value.code is ErrorCode.VALIDATION_ERROR
        assert caught.value.message == "no node types to generate"
    with pytest.raises(OnexError) as direct:
        create_jobs(analyze_prd(LOANS), tmp_path / "out", [])
    assert direct.value.code is ErrorCode.VALIDATION_ERROR
    assert not (tmp_path / "out").exists()


async def test_existing_nodes_are_a_conflict_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "svc"
    first = await generate_microservice(LOANS, out, verify=False, enable_metrics=False)
    node_py = Path(first.results[0].output_path or "") / "node.py"
    node_py.write_text("# edited by a human\n", encoding="utf-8")
    with pytest.raises(OnexError) as caught:
        await generate_microservice(LOANS, out, verify=False, enable_metrics=False)
    assert caught.value.code is ErrorCode.CONFLICT
    assert caught.value.details["existing"] == [Path(r.output_path or "").name for r in first.results]
    assert node_py.read_text(encoding="utf-8") == "# edited by a human\n"
    again = await generate_microservice(LOANS, out, verify=False, enable_metrics=False, force=True)
    assert again.success
    assert node_py.read_text(encoding="utf-8").startswith('"""')


async def test_node_types_and_name_override_the_analysis(tmp_path: Path) -> None:
    result = await generate_microservice(
        LOANS, tmp_path / "svc", node_types=["reducer"], name="lending ledger", verify=False, enable_metrics=False
    )
    assert [r.node_type for r in result.results] == ["REDUCER"]
    assert result.service_name == "LendingLedger"
    assert Path(result.results[0].output_path or "").name.endswith("_lending_ledger_reducer")


async def test_unreachable_database_never_breaks_the_run_and_hides_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_capture: LogCapture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DATABASE_URL", f"postgresql://agents:s3cret-pw@127.0.0.1:{port}/agents")
    reset_settings()
    result = await generate_microservice(LOANS, tmp_path / "svc", verify=False)
    assert result.success
    assert len(result.results) == 2
    text = log_capture.stream.getvalue()
    assert "s3cret-pw" not in text
    warnings = [r for r in log_capture.records() if r["level"] == "WARNING"]
    assert any("generation session" in r["message"] for r in warnings)


async def test_a_failing_hook_is_logged_and_ignored(tmp_path: Path, log_capture: LogCapture) -> None:
    hook = RecordingHook()
    result = await generate_microservice(
        LOANS, tmp_path / "svc", verify=False, enable_metrics=False, hooks=[BrokenHook(), hook]
    )
    assert result.success
    assert hook.calls[-1] == ("finished", True)
    failures = [r for r in log_capture.records() if r["message"] == "Workflow hook failed"]
    assert [r["metadata"]["error"] for r in failures] == [
        "RuntimeError('hook broke')",
        "RuntimeError('hook broke again')",
    ]


async def test_every_node_timing_out_raises_with_each_nodes_error(tmp_path: Path) -> None:
    hook = RecordingHook()
    async with CodegenPersistence(f"sqlite:///{tmp_path / 'metrics.db'}") as persistence:
        with pytest.raises(OnexError) as caught:
            await generate_microservice(
                LOANS, tmp_path / "svc", timeout_seconds=0.2, persistence=persistence, hooks=[hook]
            )
        error = caught.value
        assert error.code is ErrorCode.OPERATION_FAILED
        assert sorted(error.details["node_types"]) == ["COMPUTE", "EFFECT"]
        assert all("timed out after 0.2 s" in message for message in error.details["errors"].values())
        assert hook.calls[-1] == ("failed", ErrorCode.OPERATION_FAILED)
        assert hook.runs[-1].node_types == ("EFFECT", "COMPUTE")  # it failed after the analysis: all is there
        assert [c for c, _ in hook.calls] == ["started", "node", "node", "failed"]
        sessions = await _rows(persistence, "SELECT status, error FROM generation_sessions")
        assert [s["status"] for s in sessions] == ["failed"]
        assert "all 2 generation jobs failed" in sessions[0]["error"]


def test_create_jobs_builds_one_validated_job_per_node_type(tmp_path: Path) -> None:
    analysis = analyze_prd(PAYOUTS)
    jobs = create_jobs(analysis, tmp_path, ["compute", "EFFECT", "COMPUTE"], force=True, verify=False)
    assert [j.node_type for j in jobs] == ["COMPUTE", "EFFECT"]
    assert all(isinstance(j, GenerationJob) for j in jobs)
    assert len({j.job_id for j in jobs}) == 2
    assert all(j.spec is not None and j.spec.node_type == j.node_type for j in jobs)
    assert all(j.force and not j.verify and j.output_directory == tmp_path for j in jobs)
    assert {j.microservice_name for j in jobs} == {"MarketplaceSellerPayouts"}


def test_result_to_dict_is_the_json_summary(tmp_path: Path) -> None:
    import asyncio

    result = asyncio.run(generate_microservice(LOANS, tmp_path / "svc", verify=False, enable_metrics=False))
    data = result.to_dict()
    assert data["success"] is True
    assert data["service_name"] == "LibraryLoans"
    assert data["correlation_id"] == str(result.correlation_id)
    assert [n["node_type"] for n in data["nodes"]] == ["EFFECT", "COMPUTE"]
    assert [n["files"] for n in data["nodes"]] == [len(r.generated_files) for r in result.results]
    assert all(n["verification"] is None and n["error"] is None for n in data["nodes"])


async def test_node_hooks_and_async_progress_callbacks_run_as_each_node_finishes(tmp_path: Path) -> None:
    """Each node's hook and progress callback run before the next node is reported, not after the batch."""
    events: list[tuple[str, str, int]] = []

    class OrderHook(WorkflowHook):
        async def node_finished(self, run: WorkflowRun, result: GenerationResult) -> None:
            events.append(("hook", result.node_type, len(events)))

    async def progress(result: GenerationResult, state: dict[str, Any]) -> None:
        await asyncio.sleep(0)  # an async callback is awaited, not dropped
        events.append(("progress", result.node_type, state["completed_jobs"]))

    result = await generate_microservice(
        PAYOUTS,
        tmp_path / "svc",
        workers=1,
        verify=False,
        enable_metrics=False,
        hooks=[OrderHook()],
        progress_callback=progress,
    )
    assert result.success
    order = [r.node_type for r in result.results]
    expected: list[tuple[str, str, int]] = []
    for done, node_type in enumerate(order, start=1):
        expected += [("hook", node_type, len(expected)), ("progress", node_type, done)]
    assert events == expected


async def test_a_cancelled_run_reaches_the_hooks_as_cancelled(tmp_path: Path) -> None:
    tasks: list[asyncio.Task[WorkflowResult]] = []

    class CancellingHook(RecordingHook):
        async def node_finished(self, run: WorkflowRun, result: GenerationResult) -> None:
            await super().node_finished(run, result)
            tasks[0].cancel()  # the caller cancels the run after its first node

    hook = CancellingHook()
    tasks.append(
        asyncio.create_task(
            generate_microservice(
                PAYOUTS, tmp_path / "svc", workers=1, verify=False, enable_metrics=False, hooks=[hook]
            )
        )
    )
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    assert hook.calls == [
        ("started", ["EFFECT", "ORCHESTRATOR", "REDUCER", "COMPUTE"]),
        ("node", "EFFECT"),
        ("failed", ErrorCode.CANCELLED),
    ]
