"""Parallel generation of nodes (guide: Stream 3), where the time really goes: verification.

``ParallelGenerator.generate_nodes_parallel(jobs, session_id)`` generates and verifies each job's node on a pool
of ``max_workers`` threads; verification runs pytest, mypy and ruff in subprocesses, so the work spreads over
the machine's cores. The event loop is never blocked. Each job is bounded by ``timeout_seconds``: a job that
exceeds it fails with a TIMEOUT error and its subprocesses are killed. Results come back in job order; partial
failures are results; if every job fails, :class:`~agents.lib.errors.OnexError` is raised with each job's error
in ``details``.

Progress can be polled while a batch runs (``get_progress()``, or the attributes ``_completed_jobs`` and
``_total_jobs`` the guide's loop reads) or followed with a ``progress_callback``. With ``enable_metrics``, per
job and per batch durations, the worker count and the measured speedup are written to
``generation_performance_metrics`` through :class:`~agents.lib.persistence.CodegenPersistence`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from uuid import UUID

from agents.lib.codegen.builder import MixinRecommender, build_node_spec
from agents.lib.codegen.generator import CodeGenerator
from agents.lib.codegen.spec import NodeSpec
from agents.lib.codegen.verify import VerificationReport, verify_generated
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.persistence import CodegenPersistence
from agents.lib.prd_analyzer import PRDAnalysis
from agents.lib.structured_logger import get_logger

__all__ = ["GenerationJob", "GenerationResult", "ParallelGenerator", "ProgressCallback"]

_log = get_logger(__name__, component="parallel_generator")


@dataclass
class GenerationJob:
    """One node to generate: its type, service and domain, the PRD analysis, and where to write it.

    ``spec`` may be given to skip building it from the analysis; ``force`` overwrites an existing node;
    ``verify`` (default True) runs :func:`~agents.lib.codegen.verify.verify_generated` on the node.
    """

    job_id: UUID
    node_type: str
    microservice_name: str
    domain: str
    analysis_result: PRDAnalysis
    output_directory: str | Path
    spec: NodeSpec | None = None
    force: bool = False
    verify: bool = True


@dataclass
class GenerationResult:
    """What one job produced."""

    job_id: UUID
    success: bool
    node_type: str
    microservice_name: str
    duration_ms: float
    error: str | None = None
    output_path: str | None = None
    generated_files: list[str] = field(default_factory=list)
    verification: VerificationReport | None = None
    error_code: str | None = None


ProgressCallback = Callable[[GenerationResult, dict[str, Any]], None]
"""Called on the event loop after each job, with its result and :meth:`ParallelGenerator.get_progress`."""


class ParallelGenerator:
    """Generates and verifies nodes concurrently; see the module docstring."""

    def __init__(
        self,
        max_workers: int = 3,
        timeout_seconds: float = 120,
        enable_metrics: bool = True,
        *,
        generator: CodeGenerator | None = None,
        persistence: CodegenPersistence | None = None,
        progress_callback: ProgressCallback | None = None,
        mixin_recommender: MixinRecommender | None = None,
    ) -> None:
        if max_workers < 1:
            raise OnexError(
                "max_workers must be at least 1", ErrorCode.VALIDATION_ERROR, {"max_workers": max_workers}
            )
        if timeout_seconds <= 0:
            raise OnexError("timeout_seconds must be positive", ErrorCode.VALIDATION_ERROR)
        self.max_workers = max_workers
        self.timeout_seconds = float(timeout_seconds)
        self.enable_metrics = enable_metrics
        self.progress_callback = progress_callback
        self.mixin_recommender = mixin_recommender
        self._generator = generator
        self._owns_generator = generator is None
        self._persistence = persistence
        self._owns_persistence = persistence is None
        self._executor: ThreadPoolExecutor | None = None
        self._cancels: set[threading.Event] = set()
        self._lock = threading.Lock()
        self._completed_jobs = 0
        self._total_jobs = 0
        self._failed_jobs = 0
        self._closed = False

    def __repr__(self) -> str:
        """Show the settings and progress."""
        return (
            f"ParallelGenerator(max_workers={self.max_workers}, timeout_seconds={self.timeout_seconds}, "
            f"completed={self._completed_jobs}/{self._total_jobs})"
        )

    # -- progress --
    def get_progress(self) -> dict[str, Any]:
        """Return completed_jobs, total_jobs, failed_jobs, remaining_jobs and progress_percent of the batch."""
        with self._lock:
            done, total, failed = self._completed_jobs, self._total_jobs, self._failed_jobs
        return {
            "completed_jobs": done,
            "total_jobs": total,
            "failed_jobs": failed,
            "remaining_jobs": total - done,
            "progress_percent": 100.0 * done / total if total else 0.0,
        }

    # -- the batch --
    async def generate_nodes_parallel(
        self, jobs: Sequence[GenerationJob], session_id: UUID | str | None = None
    ) -> list[GenerationResult]:
        """Run ``jobs`` on the pool; return their results in job order (see the module docstring)."""
        if self._closed:
            raise OnexError("this ParallelGenerator has been cleaned up", ErrorCode.OPERATION_FAILED)
        jobs = list(jobs)
        if not jobs:
            raise OnexError("no jobs to run", ErrorCode.VALIDATION_ERROR)
        with self._lock:
            self._completed_jobs, self._total_jobs, self._failed_jobs = 0, len(jobs), 0
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="agents-generate")
        if self._generator is None:
            self._generator = CodeGenerator()
        started = time.perf_counter()
        _log.info(
            "Parallel generation started",
            metadata={"jobs": len(jobs), "workers": self.max_workers, "session_id": str(session_id)},
        )
        results = await asyncio.gather(*(self._run_job(job) for job in jobs))
        wall_ms = (time.perf_counter() - started) * 1000
        busy_ms = sum(r.duration_ms for r in results)
        speedup = busy_ms / wall_ms if wall_ms > 0 else 1.0
        await self._record_metrics(results, session_id, wall_ms, speedup)
        failed = [r for r in results if not r.success]
        _log.info(
            "Parallel generation finished",
            metadata={
                "jobs": len(jobs),
                "failed": len(failed),
                "wall_ms": round(wall_ms, 1),
                "speedup": round(speedup, 2),
            },
        )
        if failed and len(failed) == len(results):
            raise OnexError(
                f"all {len(results)} generation jobs failed",
                ErrorCode.OPERATION_FAILED,
                {
                    "errors": {str(r.job_id): r.error for r in results},
                    "node_types": [r.node_type for r in results],
                },
            )
        return list(results)

    async def _run_job(self, job: GenerationJob) -> GenerationResult:
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        self._cancels.add(cancel)
        started = time.perf_counter()
        assert self._executor is not None
        future = loop.run_in_executor(self._executor, self._work, job, cancel)
        # After a timeout the worker finishes on its own; collect its outcome so it is never "unretrieved".
        future.add_done_callback(lambda f: None if f.cancelled() else f.exception())
        try:
            result = await asyncio.wait_for(asyncio.shield(future), timeout=self.timeout_seconds)
        except TimeoutError:
            cancel.set()
            result = self._failure(
                job,
                started,
                f"timed out after {self.timeout_seconds:g} s",
                ErrorCode.TIMEOUT,
            )
        except OnexError as exc:
            result = self._failure(job, started, exc.message, exc.code)
        except Exception as exc:
            result = self._failure(job, started, f"{type(exc).__name__}: {exc}", ErrorCode.INTERNAL_ERROR)
        finally:
            self._cancels.discard(cancel)
        with self._lock:
            self._completed_jobs += 1
            self._failed_jobs += 0 if result.success else 1
        if self.progress_callback is not None:
            try:
                self.progress_callback(result, self.get_progress())
            except Exception as exc:  # a broken callback must not break the batch
                _log.warning("Progress callback failed", metadata={"error": repr(exc)})
        return result

    def _failure(self, job: GenerationJob, started: float, message: str, code: ErrorCode) -> GenerationResult:
        _log.error(
            "Generation job failed",
            metadata={"job_id": str(job.job_id), "node_type": job.node_type, "error": message, "code": code.value},
        )
        return GenerationResult(
            job_id=job.job_id,
            success=False,
            node_type=job.node_type,
            microservice_name=job.microservice_name,
            duration_ms=(time.perf_counter() - started) * 1000,
            error=message,
            error_code=code.value,
        )

    def _work(self, job: GenerationJob, cancel: threading.Event) -> GenerationResult:
        """Generate and verify one node (on a worker thread)."""
        started = time.perf_counter()
        assert self._generator is not None
        spec = job.spec or build_node_spec(
            job.analysis_result,
            job.node_type,
            domain=job.domain,
            service_name=job.microservice_name,
            mixin_recommender=self.mixin_recommender,
        )
        if cancel.is_set():
            raise OnexError("cancelled before writing", ErrorCode.TIMEOUT)
        generated = self._generator.generate_node(spec, job.output_directory, force=job.force)
        report: VerificationReport | None = None
        if job.verify:
            report = verify_generated(
                generated.output_dir,
                packages=[spec.package_name],
                timeout_seconds=self.timeout_seconds,
                cancel=cancel,
            )
        success = report is None or report.passed
        return GenerationResult(
            job_id=job.job_id,
            success=success,
            node_type=spec.node_type,
            microservice_name=job.microservice_name,
            duration_ms=(time.perf_counter() - started) * 1000,
            error=None if success or report is None else f"verification failed: {report.summary()}",
            output_path=str(generated.package_dir),
            generated_files=[str(p) for p in generated.files],
            verification=report,
            error_code=None if success else ErrorCode.OPERATION_FAILED.value,
        )

    async def _record_metrics(
        self, results: Sequence[GenerationResult], session_id: UUID | str | None, wall_ms: float, speedup: float
    ) -> None:
        if not self.enable_metrics:
            return
        try:
            if self._persistence is None:
                self._persistence = CodegenPersistence()
            persistence = self._persistence
            parallel = self.max_workers > 1 and len(results) > 1
            for result in results:
                await persistence.record_generation_metric(
                    node_type=result.node_type,
                    phase="job",
                    duration_ms=result.duration_ms,
                    session_id=session_id,
                    parallel=parallel,
                    worker_count=self.max_workers,
                    success=result.success,
                    context={"job_id": str(result.job_id), "error_code": result.error_code},
                )
            await persistence.record_generation_metric(
                node_type="BATCH",
                phase="batch",
                duration_ms=wall_ms,
                session_id=session_id,
                parallel=parallel,
                worker_count=self.max_workers,
                speedup=speedup,
                success=all(r.success for r in results),
                context={"jobs": len(results)},
            )
            await persistence.flush()
        except Exception as exc:  # metrics must never break generation
            _log.warning("Recording generation metrics failed", metadata={"error": str(exc)})

    # -- lifecycle --
    async def cleanup(self) -> None:
        """Cancel running jobs, stop the worker threads, flush metrics and close what this generator opened."""
        self._closed = True
        for cancel in list(self._cancels):
            cancel.set()
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, lambda: executor.shutdown(wait=True))
        if self._generator is not None and self._owns_generator:
            self._generator.close()
            self._generator = None
        if self._persistence is not None and self._owns_persistence:
            await self._persistence.close()
            self._persistence = None

    async def __aenter__(self) -> ParallelGenerator:
        """Return this generator."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Clean up."""
        await self.cleanup()
