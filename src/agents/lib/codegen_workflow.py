"""The main job, end to end (the guide's Pattern 1): ``generate_microservice(prd_path, output_dir)``.

It analyses the PRD, builds every spec, generates and verifies the nodes on a ParallelGenerator, records the run
and logs it under one correlation id; observers plug in through :class:`~agents.lib.codegen.hooks.WorkflowHook`.
docs/codegen.md ("The workflow") describes options, records and errors.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from agents.lib.codegen.builder import MixinRecommender, SpecPlanner, build_node_specs
from agents.lib.codegen.engine import TemplateEngine
from agents.lib.codegen.generator import CodeGenerator
from agents.lib.codegen.hooks import WorkflowHook, WorkflowResult, WorkflowRun
from agents.lib.codegen.job import VERIFY_MARGIN_S, GenerationJob, GenerationResult, NodeJob
from agents.lib.codegen.report import VerificationReport
from agents.lib.codegen.verify import verify_generated
from agents.lib.config import get_settings
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.log_context import async_log_context
from agents.lib.parallel_generator import ParallelGenerator, ProgressCallback
from agents.lib.persistence import CodegenPersistence
from agents.lib.prd_analyzer import PRDAnalysis, analyze_prd_async
from agents.lib.structured_logger import get_logger
from agents.lib.template_cache import TemplateCache

# WorkflowHook and WorkflowResult live with the streams that use them (agents.lib.codegen.hooks).
__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "WorkflowHook",
    "WorkflowResult",
    "create_jobs",
    "default_workers",
    "generate_microservice",
]

DEFAULT_TIMEOUT_SECONDS = 300.0
"""Per-node bound on generation plus verification (mypy on a cold cache is the slow part)."""

_log = get_logger(__name__, component="codegen-e2e")


def default_workers(jobs: int) -> int:
    """Workers for ``jobs`` nodes: one per core, at most one per job, at most 4, at least 1."""
    return max(1, min(jobs, os.cpu_count() or 1, 4))


def create_jobs(
    analysis: PRDAnalysis,
    output_dir: str | os.PathLike[str],
    node_types: Sequence[str] | None = None,
    *,
    service_name: str | None = None,
    domain: str | None = None,
    verify: bool = True,
    force: bool = False,
    mixin_recommender: MixinRecommender | None = None,
    spec_planner: SpecPlanner | None = None,
) -> list[GenerationJob]:
    """One :class:`GenerationJob` per node type (default: the analysis's recommended types), specs built now.

    Building the specs before any job runs means a spec that cannot be built fails the call (with an
    ``OnexError``) before anything is written. An empty ``node_types`` (as opposed to ``None``) is a
    VALIDATION_ERROR: there is nothing to generate. ``spec_planner`` (pattern detection) may add node types
    and refine the specs (:func:`~agents.lib.codegen.builder.build_node_specs`).
    """
    if node_types is not None and not list(node_types):
        raise OnexError("no node types to generate", ErrorCode.VALIDATION_ERROR, {"node_types": []})
    specs = build_node_specs(
        analysis,
        node_types,
        domain=domain,
        service_name=service_name,
        mixin_recommender=mixin_recommender,
        spec_planner=spec_planner,
    )
    return [
        GenerationJob(
            job_id=uuid4(),
            node_type=spec.node_type,
            microservice_name=spec.service_name,
            domain=spec.domain,
            analysis_result=analysis,
            output_directory=Path(output_dir),
            spec=spec,
            force=force,
            verify=verify,
        )
        for spec in specs
    ]


async def _call_hooks(hooks: Sequence[WorkflowHook], method: str, *args: Any) -> None:
    for hook in hooks:
        try:
            await getattr(hook, method)(*args)
        except Exception as exc:  # a hook must never break the run
            _log.warning("Workflow hook failed", metadata={"hook": type(hook).__name__, "error": repr(exc)})


async def generate_microservice(
    prd_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    node_types: Sequence[str] | None = None,
    name: str | None = None,
    workers: int | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    verify: bool = True,
    force: bool = False,
    enable_metrics: bool | None = None,
    persistence: CodegenPersistence | None = None,
    hooks: Sequence[WorkflowHook] = (),
    progress_callback: ProgressCallback | None = None,
    mixin_recommender: MixinRecommender | None = None,
    correlation_id: UUID | None = None,
    spec_planner: SpecPlanner | None = None,
) -> WorkflowResult:
    """Generate the microservice ``prd_path`` describes into ``output_dir``; return what was done.

    ``node_types`` overrides the analysis's recommendation, ``name`` the service name. ``workers`` defaults to
    :func:`default_workers`. ``verify=False`` skips verification (faster, nothing checked). ``force``
    replaces node packages that already exist (otherwise that is a CONFLICT). With ``enable_metrics`` (default:
    the ``ENABLE_METRICS`` setting) the run is recorded through ``persistence`` (default: a
    :class:`CodegenPersistence` on the configured database, the embedded SQLite file unless configured);
    without it nothing is written to the database. ``hooks`` observe it; ``spec_planner`` (pattern detection)
    shapes the specs. Raises ``OnexError`` for a PRD that
    cannot be read or names nothing to build, for unknown or no node types, for existing nodes without
    ``force``, and when every node failed; otherwise returns the result, whose ``success`` says whether every
    node passed.
    """
    correlation_id = correlation_id or uuid4()
    session_id = uuid4()
    hooks = list(hooks)
    run = WorkflowRun(session_id, correlation_id, str(prd_path), Path(output_dir).resolve())
    async with async_log_context(correlation_id=correlation_id, session_id=session_id):
        owned_persistence: CodegenPersistence | None = None
        if enable_metrics is None:
            enable_metrics = get_settings().enable_metrics
        if not enable_metrics:
            persistence = None
        elif persistence is None:
            owned_persistence = persistence = CodegenPersistence()
        cache = TemplateCache(
            enable_persistence=persistence is not None,
            metrics_sink=persistence.metrics_sink() if persistence is not None else None,
            metrics_flush_interval_seconds=None,
        )
        engine = TemplateEngine(cache)
        code_generator = CodeGenerator(engine)
        started = time.perf_counter()
        try:
            _log.info("Analyzing PRD", metadata={"prd": str(prd_path)})
            analysis = await analyze_prd_async(prd_path, name=name)
            jobs = create_jobs(
                analysis,
                output_dir,
                node_types,
                verify=verify,
                force=force,
                mixin_recommender=mixin_recommender,
                spec_planner=spec_planner,
            )
            if not force:
                _refuse_existing(Path(output_dir), jobs)
            worker_count = workers if workers is not None else default_workers(len(jobs))
            engine.warmup()  # the workers' renders then hit the cache instead of racing to load the templates
            await _record_session_start(persistence, session_id, prd_path, analysis, len(jobs))
            run = replace(run, analysis=analysis, jobs=tuple(jobs), workers=worker_count)
            started_run = run
            await _call_hooks(hooks, "workflow_started", started_run)

            async def on_progress(result: GenerationResult, progress: dict[str, Any]) -> None:
                # Called as each node finishes, so observers (and the CLI's progress bars) see it at once.
                await _call_hooks(hooks, "node_finished", started_run, result)
                if progress_callback is not None:
                    outcome = progress_callback(result, progress)
                    if inspect.isawaitable(outcome):
                        await outcome

            generator = ParallelGenerator(
                max_workers=worker_count,
                timeout_seconds=timeout_seconds,
                enable_metrics=persistence is not None,
                persistence=persistence,
                progress_callback=on_progress,
                job_runner=NodeJob(code_generator, mixin_recommender=mixin_recommender),
            )
            _log.info(
                "Starting parallel generation",
                metadata={
                    "service": analysis.service_name,
                    "node_types": [j.node_type for j in jobs],
                    "workers": worker_count,
                    "output_dir": str(output_dir),
                },
            )
            try:
                async with generator:
                    results = await generator.generate_nodes_parallel(jobs, session_id)
                    batch = generator.last_batch
            except OnexError as exc:
                await _record_session_end(persistence, session_id, "failed", started, exc.message)
                raise
            cache.flush_metrics()
            service_report = None
            service_started = time.perf_counter()
            if verify and results and all(r.success for r in results):
                service_report = await _verify_service(jobs, timeout_seconds)
            service_ms = (time.perf_counter() - service_started) * 1000 if service_report is not None else 0.0
            result = WorkflowResult(
                correlation_id=correlation_id,
                session_id=session_id,
                prd_path=str(prd_path),
                service_name=analysis.service_name,
                output_dir=run.output_dir,
                analysis=analysis,
                results=tuple(results),
                workers=worker_count,
                wall_ms=batch.wall_ms if batch is not None else (time.perf_counter() - started) * 1000,
                speedup=batch.speedup if batch is not None else 1.0,
                cores_used=batch.cores_used if batch is not None else 0.0,
                concurrency=batch.concurrency if batch is not None else 0.0,
                verified=verify,
                template_cache=dict(cache.get_stats()),
                service_verification=service_report,
                service_ms=service_ms,
            )
            status = "succeeded" if result.success else "failed"
            failures = [f"{r.node_type}: {r.error}" for r in result.failed]
            if service_report is not None and not service_report.passed:
                failures.append(f"service: verification failed: {service_report.summary()}")
            error = "; ".join(failures) or None
            await _record_session_end(persistence, session_id, status, started, error, len(results))
            _log.info(
                "Generation complete",
                metadata={
                    "total": len(results),
                    "successful": len(results) - len(result.failed),
                    "failed": len(result.failed),
                    "speedup": round(result.speedup, 2),
                    "cores_used": round(result.cores_used, 2),
                    "concurrency": round(result.concurrency, 2),
                    "template_cache_hit_rate": round(result.template_cache.get("hit_rate", 0.0), 3),
                },
            )
            await _call_hooks(hooks, "workflow_finished", run, result)
            return result
        except OnexError as exc:
            _log.error("Generation failed", metadata={"error": exc.message, "code": exc.code.value})
            await _call_hooks(hooks, "workflow_failed", run, exc)
            raise
        except Exception as exc:  # a bug of ours: the hooks hear of it as an INTERNAL_ERROR, the caller as raised
            _log.error("Generation failed", metadata={"error": _describe(exc), "code": "INTERNAL_ERROR"})
            await _call_hooks(hooks, "workflow_failed", run, OnexError(_describe(exc), ErrorCode.INTERNAL_ERROR))
            raise
        except asyncio.CancelledError:  # the caller cancelled the run: the hooks hear of it, then it propagates
            _log.warning("Generation cancelled", metadata={"code": "CANCELLED"})
            cancelled = OnexError("the run was cancelled", ErrorCode.CANCELLED)
            await _call_hooks(hooks, "workflow_failed", run, cancelled)
            raise
        finally:
            code_generator.close()
            engine.close()
            cache.close()
            if persistence is not None:
                await _flush(persistence)
            if owned_persistence is not None:
                await owned_persistence.close()


async def _verify_service(jobs: Sequence[GenerationJob], timeout_seconds: float) -> VerificationReport | None:
    """Verify the service's application package (every node wired together) once every node passed.

    Runs on a thread of its own; cancelling the run stops it (its subprocess is killed).
    """
    spec = next((j.spec for j in jobs if j.spec is not None), None)
    if spec is None:
        return None
    root = Path(jobs[0].output_directory).resolve()
    if not (root / spec.app_package / "__main__.py").is_file():
        return None
    cancel = threading.Event()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agents-verify-service")
    loop = asyncio.get_running_loop()
    try:
        _log.info("Verifying the service", metadata={"package": spec.app_package})
        return await loop.run_in_executor(
            executor,
            lambda: verify_generated(
                root,
                packages=[spec.app_package],
                timeout_seconds=timeout_seconds + VERIFY_MARGIN_S,
                cancel=cancel,
                concurrent=True,  # it runs alone, once every node is done: the cores are free
            ),
        )
    finally:
        cancel.set()
        executor.shutdown(wait=True)


def _refuse_existing(output_dir: Path, jobs: Sequence[GenerationJob]) -> None:
    """Raise CONFLICT, before anything is written, if a node package of ``jobs`` is already there."""
    existing = [
        j.spec.package_name for j in jobs if j.spec is not None and (output_dir / j.spec.package_name).exists()
    ]
    if existing:
        raise OnexError(
            f"{output_dir} already holds {', '.join(existing)}; pass force=True (--force) to replace",
            ErrorCode.CONFLICT,
            {"output_dir": str(output_dir), "existing": existing},
        )


async def _record_session_start(
    persistence: CodegenPersistence | None,
    session_id: UUID,
    prd_path: str | os.PathLike[str],
    analysis: PRDAnalysis,
    node_count: int,
) -> None:
    if persistence is None:
        return
    try:
        await persistence.start_generation_session(
            session_id,
            prd_path=str(prd_path),
            service_name=analysis.service_name,
            node_count=node_count,
            context={"node_types": list(analysis.recommended_node_types)},
        )
    except Exception as exc:  # recording must never break the run
        _log.warning("Could not record the generation session", metadata={"error": _describe(exc)})


async def _record_session_end(
    persistence: CodegenPersistence | None,
    session_id: UUID,
    status: str,
    started: float,
    error: str | None,
    node_count: int | None = None,
) -> None:
    if persistence is None:
        return
    try:
        await persistence.finish_generation_session(
            session_id,
            status=status,
            node_count=node_count,
            duration_ms=(time.perf_counter() - started) * 1000,
            error=error[:2000] if error else None,
        )
    except Exception as exc:
        _log.warning("Could not record the end of the generation session", metadata={"error": _describe(exc)})


async def _flush(persistence: CodegenPersistence) -> None:
    try:
        await persistence.flush()
    except Exception as exc:
        _log.warning("Could not flush metrics", metadata={"error": _describe(exc)})


def _describe(exc: BaseException) -> str:
    return exc.message if isinstance(exc, OnexError) else f"{type(exc).__name__}: {exc}"
