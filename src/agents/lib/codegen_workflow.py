"""The main job, end to end: PRD -> analysis -> node specs -> parallel generation and verification -> metrics.

``generate_microservice(prd_path, output_dir)`` is the guide's "Pattern 1: End-to-End Code Generation" as one
library call. It analyses the PRD, builds one validated spec per node type, generates and verifies the nodes on
a :class:`~agents.lib.parallel_generator.ParallelGenerator`, records the run (a generation session, per-node
and per-batch metrics, template cache counters) through
:class:`~agents.lib.persistence.CodegenPersistence`, logs every step under one correlation id, and returns a
:class:`WorkflowResult` with the per-node results and the measured speedup.

Later streams plug in through :class:`WorkflowHook` (event publishing, monitoring): a hook sees the start of a
run, each finished node and the end of the run; a failing hook is logged and never breaks the run. Recording
metrics never breaks it either: with the database unreachable the run still produces its service.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from agents.lib.codegen.builder import MixinRecommender, SpecPlanner, build_node_specs
from agents.lib.codegen.generator import CodeGenerator
from agents.lib.codegen.render import TemplateEngine
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.log_context import async_log_context
from agents.lib.parallel_generator import GenerationJob, GenerationResult, ParallelGenerator, ProgressCallback
from agents.lib.persistence import CodegenPersistence
from agents.lib.prd_analyzer import PRDAnalysis, analyze_prd_async
from agents.lib.structured_logger import get_logger
from agents.lib.template_cache import TemplateCache

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


@dataclass(frozen=True)
class WorkflowResult:
    """What :func:`generate_microservice` did: the analysis, each node's result, timing and speedup."""

    correlation_id: UUID
    session_id: UUID
    prd_path: str | None
    service_name: str
    output_dir: Path
    analysis: PRDAnalysis
    results: tuple[GenerationResult, ...]
    workers: int
    wall_ms: float
    speedup: float
    verified: bool
    template_cache: dict[str, Any] = field(default_factory=dict)
    cores_used: float = 0.0

    @property
    def success(self) -> bool:
        """True when every node was generated (and, if verification ran, passed it)."""
        return all(r.success for r in self.results)

    @property
    def failed(self) -> list[GenerationResult]:
        """The results of the nodes that failed."""
        return [r for r in self.results if not r.success]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary (what ``agents generate --json`` prints)."""
        return {
            "success": self.success,
            "correlation_id": str(self.correlation_id),
            "session_id": str(self.session_id),
            "prd_path": self.prd_path,
            "service_name": self.service_name,
            "output_dir": str(self.output_dir),
            "workers": self.workers,
            "wall_ms": round(self.wall_ms, 1),
            "speedup": round(self.speedup, 2),
            "cores_used": round(self.cores_used, 2),
            "verified": self.verified,
            "template_cache": {
                k: self.template_cache[k] for k in ("hits", "misses", "hit_rate") if k in self.template_cache
            },
            "nodes": [
                {
                    "node_type": r.node_type,
                    "success": r.success,
                    "duration_ms": round(r.duration_ms, 1),
                    "output_path": r.output_path,
                    "files": len(r.generated_files),
                    "error": r.error,
                    "error_code": r.error_code,
                    "verification": None
                    if r.verification is None
                    else {c.name: c.passed for c in r.verification.checks},
                }
                for r in self.results
            ],
        }


class WorkflowHook:
    """Observer of a run; subclass and override what you need (all methods do nothing by default).

    Hooks are awaited on the event loop in the order given; an exception in a hook is logged and ignored.
    """

    async def workflow_started(
        self, session_id: UUID, analysis: PRDAnalysis, jobs: Sequence[GenerationJob]
    ) -> None:
        """Run once the PRD is analysed and the jobs are built, before generation starts."""

    async def node_finished(self, session_id: UUID, result: GenerationResult) -> None:
        """Run when a node's generation (and verification) finished, successfully or not."""

    async def workflow_finished(self, result: WorkflowResult) -> None:
        """Run at the end of a run that produced results (also when some nodes failed)."""

    async def workflow_failed(self, session_id: UUID, error: OnexError) -> None:
        """Run when the run stopped with an error (bad PRD, every node failed, ...)."""


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
    ``OnexError``) before anything is written. ``spec_planner`` (pattern detection) may add node types and
    refine the specs (:func:`~agents.lib.codegen.builder.build_node_specs`).
    """
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
    enable_metrics: bool = True,
    persistence: CodegenPersistence | None = None,
    hooks: Sequence[WorkflowHook] = (),
    progress_callback: ProgressCallback | None = None,
    mixin_recommender: MixinRecommender | None = None,
    correlation_id: UUID | None = None,
    spec_planner: SpecPlanner | None = None,
) -> WorkflowResult:
    """Generate the microservice ``prd_path`` describes into ``output_dir``; see the module docstring.

    ``node_types`` overrides the analysis's recommendation, ``name`` the service name. ``workers`` defaults to
    :func:`default_workers`. ``verify=False`` skips verification (faster, nothing checked). ``force``
    replaces node packages that already exist (otherwise that is a CONFLICT). With ``enable_metrics`` the run
    is recorded through ``persistence`` (default: a :class:`CodegenPersistence` on the configured database,
    the embedded SQLite file unless configured). ``spec_planner`` (pattern detection) shapes the specs.
    Raises ``OnexError`` for a PRD that cannot be read or names nothing to build, for an unknown node type, and
    when every node failed; otherwise returns the result, whose ``success`` says whether every node passed.
    """
    correlation_id = correlation_id or uuid4()
    session_id = uuid4()
    hooks = list(hooks)
    async with async_log_context(correlation_id=correlation_id, session_id=session_id):
        owned_persistence: CodegenPersistence | None = None
        if enable_metrics and persistence is None:
            owned_persistence = persistence = CodegenPersistence()
        cache = TemplateCache(
            enable_persistence=persistence is not None,
            metrics_sink=persistence.template_cache_sink() if persistence is not None else None,
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
            await _call_hooks(hooks, "workflow_started", session_id, analysis, jobs)

            async def on_progress(result: GenerationResult, progress: dict[str, Any]) -> None:
                # Called as each node finishes, so observers (and the CLI's progress bars) see it at once.
                await _call_hooks(hooks, "node_finished", session_id, result)
                if progress_callback is not None:
                    outcome = progress_callback(result, progress)
                    if inspect.isawaitable(outcome):
                        await outcome

            generator = ParallelGenerator(
                max_workers=worker_count,
                timeout_seconds=timeout_seconds,
                enable_metrics=persistence is not None,
                generator=code_generator,
                persistence=persistence,
                progress_callback=on_progress,
                mixin_recommender=mixin_recommender,
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
            result = WorkflowResult(
                correlation_id=correlation_id,
                session_id=session_id,
                prd_path=str(prd_path),
                service_name=analysis.service_name,
                output_dir=Path(output_dir).resolve(),
                analysis=analysis,
                results=tuple(results),
                workers=worker_count,
                wall_ms=batch.wall_ms if batch is not None else (time.perf_counter() - started) * 1000,
                speedup=batch.speedup if batch is not None else 1.0,
                cores_used=batch.cores_used if batch is not None else 0.0,
                verified=verify,
                template_cache=dict(cache.get_stats()),
            )
            status = "succeeded" if result.success else "failed"
            error = None if result.success else "; ".join(f"{r.node_type}: {r.error}" for r in result.failed)
            await _record_session_end(persistence, session_id, status, started, error, len(results))
            _log.info(
                "Generation complete",
                metadata={
                    "total": len(results),
                    "successful": len(results) - len(result.failed),
                    "failed": len(result.failed),
                    "speedup": round(result.speedup, 2),
                    "template_cache_hit_rate": round(result.template_cache.get("hit_rate", 0.0), 3),
                },
            )
            await _call_hooks(hooks, "workflow_finished", result)
            return result
        except OnexError as exc:
            _log.error("Generation failed", metadata={"error": exc.message, "code": exc.code.value})
            await _call_hooks(hooks, "workflow_failed", session_id, exc)
            raise
        finally:
            code_generator.close()
            engine.close()
            cache.close()
            if persistence is not None:
                await _flush(persistence)
            if owned_persistence is not None:
                await owned_persistence.close()


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
