"""Parallel generation of nodes (guide: Stream 3): jobs run on a pool of threads, each bounded by a timeout.

``ParallelGenerator`` is about concurrency; the job it runs for each node (build the spec, generate, verify) is
a :data:`~agents.lib.codegen.job.JobRunner`, by default :class:`~agents.lib.codegen.job.NodeJob`. Behaviour,
progress, metrics and cleanup are described in docs/codegen.md ("Parallel generation").
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from uuid import UUID

from agents.lib._threads import run_on_own_thread
from agents.lib.codegen.builder import MixinRecommender
from agents.lib.codegen.generator import CodeGenerator
from agents.lib.codegen.job import GenerationJob, GenerationResult, JobControl, JobRunner, NodeJob
from agents.lib.db.sink import GENERATION_METRICS
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import get_logger

# GenerationJob and GenerationResult live with the job (agents.lib.codegen.job); the guide imports them here.
__all__ = ["BatchStats", "GenerationJob", "GenerationResult", "ParallelGenerator", "ProgressCallback"]

_log = get_logger(__name__, component="parallel_generator")

_KILL_GRACE_S = 10.0
"""How long a timed-out job's worker is given to kill its subprocesses before the job is reported anyway."""
_CLEANED_UP = "cancelled: the generator was cleaned up"
"""The error of a job that ``cleanup()`` stopped (code CANCELLED), followed by where it stopped."""
_SETTLE_S = 1.0
"""How long cleanup waits for the threads of a closed database driver (aiosqlite's end just after close)."""


@dataclass(frozen=True)
class BatchStats:
    """One batch: how many jobs and failures, the pool size, where the time went, and what parallelism gained.

    ``wall_ms`` is the batch's elapsed time and ``busy_ms`` the sum of its jobs' durations. ``cores_used`` is the
    CPU time of this process and of the subprocesses it waited for during the batch, divided by ``wall_ms``.
    ``speedup`` estimates the throughput gain over one worker (1.0 when at most one job ran at a time); it never
    exceeds ``cores_used`` nor :attr:`concurrency`. docs/codegen.md ("Parallel generation") says why.
    """

    jobs: int
    failed: int
    workers: int
    wall_ms: float
    busy_ms: float
    speedup: float
    cores_used: float = 0.0

    @property
    def concurrency(self) -> float:
        """``busy_ms / wall_ms``: how many jobs ran at once on average (not a speedup: see the class)."""
        return self.busy_ms / self.wall_ms if self.wall_ms > 0 else 0.0

    @classmethod
    def measure(
        cls, *, jobs: int, failed: int, workers: int, wall_ms: float, busy_ms: float, cpu_ms: float
    ) -> BatchStats:
        """Return the stats of a batch that took ``wall_ms`` and ``cpu_ms`` of CPU time (process and children).

        One worker would need at least the batch's CPU time (a generation job keeps about one core busy) and at
        most the sum of the jobs' durations, so the gain is estimated as the lower of ``cpu_ms / wall_ms`` and
        ``busy_ms / wall_ms``.
        """
        cores_used = cpu_ms / wall_ms if wall_ms > 0 else 0.0
        concurrency = busy_ms / wall_ms if wall_ms > 0 else 0.0
        parallel = min(workers, jobs) > 1 and wall_ms > 0
        speedup = min(concurrency, cores_used) if parallel else 1.0
        return cls(jobs, failed, workers, wall_ms, busy_ms, speedup, cores_used)


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that were waited for (user + system), in seconds."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


ProgressCallback = Callable[[GenerationResult, dict[str, Any]], Any]
"""Called on the event loop after each job, with its result and :meth:`ParallelGenerator.get_progress`.

It may be a coroutine function; its coroutine is awaited before the batch goes on.
"""


class ParallelGenerator:
    """Runs generation jobs concurrently on ``max_workers`` threads, each bounded by ``timeout_seconds``.

    ``job_runner`` runs one job (default: a :class:`~agents.lib.codegen.job.NodeJob` on ``generator`` with
    ``mixin_recommender``); docs/codegen.md ("Parallel generation") describes the rest.
    """

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
        job_runner: JobRunner | None = None,
    ) -> None:
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise OnexError(
                "max_workers must be an integer of at least 1",
                ErrorCode.VALIDATION_ERROR,
                {"max_workers": max_workers},
            )
        if not timeout_seconds > 0:
            raise OnexError(
                "timeout_seconds must be positive",
                ErrorCode.VALIDATION_ERROR,
                {"timeout_seconds": timeout_seconds},
            )
        if job_runner is not None and (generator is not None or mixin_recommender is not None):
            raise OnexError(
                "give generator= and mixin_recommender= to the job runner, not to ParallelGenerator with it",
                ErrorCode.VALIDATION_ERROR,
            )
        self.max_workers = max_workers
        self.timeout_seconds = float(timeout_seconds)
        self.enable_metrics = enable_metrics
        self.progress_callback = progress_callback
        self.mixin_recommender = mixin_recommender
        self.last_batch: BatchStats | None = None
        self._job: JobRunner = (
            job_runner if job_runner is not None else NodeJob(generator, mixin_recommender=mixin_recommender)
        )
        self._owns_job = job_runner is None
        self._persistence = persistence
        self._owns_persistence = persistence is None
        self._threads_before_persistence: set[threading.Thread] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._cancels: set[threading.Event] = set()
        self._workers: set[asyncio.Future[GenerationResult]] = set()
        self._idle: asyncio.Event | None = None
        self._lock = threading.Lock()
        self._completed_jobs = 0
        self._total_jobs = 0
        self._failed_jobs = 0
        self._closed = False

    def __repr__(self) -> str:
        """Show the settings and progress."""
        return (
            f"ParallelGenerator(max_workers={self.max_workers}, timeout_seconds={self.timeout_seconds:g}, "
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
        if not jobs:  # as asyncio.gather() and Executor.map: nothing to run, nothing recorded
            return []
        if self._running():
            raise OnexError(
                "a batch is already running on this ParallelGenerator; await it first",
                ErrorCode.OPERATION_FAILED,
            )
        with self._lock:
            self._completed_jobs, self._total_jobs, self._failed_jobs = 0, len(jobs), 0
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="agents-generate")
        idle = self._idle = asyncio.Event()
        try:
            return await self._run_batch(jobs, session_id)
        finally:
            idle.set()

    def _running(self) -> bool:
        """Whether a batch is running (its ``_idle`` event is not set yet)."""
        return self._idle is not None and not self._idle.is_set()

    async def _run_batch(self, jobs: list[GenerationJob], session_id: UUID | str | None) -> list[GenerationResult]:
        started = time.perf_counter()
        cpu_started = _cpu_seconds()
        _log.info(
            "Parallel generation started",
            metadata={"jobs": len(jobs), "workers": self.max_workers, "session_id": str(session_id)},
        )
        # Jobs are handed to the pool only when a worker is free, so each job's timeout counts its own run.
        slots = asyncio.Semaphore(self.max_workers)
        results = list(await asyncio.gather(*(self._run_job(job, slots) for job in jobs)))
        wall_ms = (time.perf_counter() - started) * 1000
        cpu_ms = (_cpu_seconds() - cpu_started) * 1000
        busy_ms = sum(r.duration_ms for r in results)
        failed = [r for r in results if not r.success]
        stats = BatchStats.measure(
            jobs=len(results),
            failed=len(failed),
            workers=self.max_workers,
            wall_ms=wall_ms,
            busy_ms=busy_ms,
            cpu_ms=cpu_ms,
        )
        self.last_batch = stats
        await self._record_metrics(results, session_id, stats)
        _log.info(
            "Parallel generation finished",
            metadata={
                "jobs": stats.jobs,
                "failed": stats.failed,
                "wall_ms": round(stats.wall_ms, 1),
                "speedup": round(stats.speedup, 2),
                "cores_used": round(stats.cores_used, 2),
                "concurrency": round(stats.concurrency, 2),
            },
        )
        if failed and len(failed) == len(results):
            raise OnexError(
                f"all {len(results)} generation jobs failed",
                ErrorCode.OPERATION_FAILED,
                {
                    "errors": {str(r.job_id): r.error for r in results},
                    "error_codes": {str(r.job_id): r.error_code for r in results},
                    "node_types": [r.node_type for r in results],
                },
            )
        return results

    async def _run_job(self, job: GenerationJob, slots: asyncio.Semaphore) -> GenerationResult:
        async with slots:
            started = time.perf_counter()
            if self._closed:
                result = self._failure(job, started, _CLEANED_UP, ErrorCode.CANCELLED)
            else:
                result = await self._execute(job, started)
        with self._lock:
            self._completed_jobs += 1
            self._failed_jobs += 0 if result.success else 1
        if self.progress_callback is not None:
            try:
                outcome = self.progress_callback(result, self.get_progress())
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:  # a broken callback must not break the batch
                _log.warning("Progress callback failed", metadata={"error": repr(exc)})
        return result

    async def _execute(self, job: GenerationJob, started: float) -> GenerationResult:
        """Run one job on a worker, bounded by the timeout; on timeout, cancel it and wait for the kill."""
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        assert self._executor is not None
        # The worker runs in a copy of this task's context, so its log lines carry the caller's correlation and
        # session ids (run_in_executor alone does not carry contextvars over to the thread).
        context = contextvars.copy_context()
        control = JobControl(cancel, self.timeout_seconds)
        future = loop.run_in_executor(self._executor, context.run, self._job, job, control)
        self._cancels.add(cancel)
        self._workers.add(future)
        try:
            done, _ = await asyncio.wait({future}, timeout=self.timeout_seconds)
            if not done:
                cancel.set()
                # The worker notices within a few ms and kills its subprocess group; the job's result must not
                # come back while they still run.
                await asyncio.wait({future}, timeout=_KILL_GRACE_S)
                if not future.done():
                    _log.warning(
                        "Timed-out job still running after cancellation",
                        metadata={"job_id": str(job.job_id), "node_type": job.node_type},
                    )
                return self._failure(
                    job, started, f"timed out after {self.timeout_seconds:g} s", ErrorCode.TIMEOUT
                )
            return future.result()
        except asyncio.CancelledError:
            cancel.set()  # the batch itself was cancelled: stop the worker too
            raise
        except OnexError as exc:
            if exc.code is ErrorCode.CANCELLED and self._closed:  # cleanup() stopped it
                return self._failure(job, started, f"{_CLEANED_UP} ({exc.message})", exc.code)
            return self._failure(job, started, exc.message, exc.code)
        except Exception as exc:
            return self._failure(job, started, f"{type(exc).__name__}: {exc}", ErrorCode.INTERNAL_ERROR)
        finally:
            # A worker still running (timed out, or the batch cancelled) stays known until it ends, so cleanup
            # can cancel it and wait for it; its outcome is collected then, so it is never "unretrieved".
            future.add_done_callback(lambda done: self._forget(done, cancel))

    def _forget(self, future: asyncio.Future[GenerationResult], cancel: threading.Event) -> None:
        self._workers.discard(future)
        self._cancels.discard(cancel)
        if not future.cancelled():
            future.exception()

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

    async def _record_metrics(
        self, results: Sequence[GenerationResult], session_id: UUID | str | None, stats: BatchStats
    ) -> None:
        """Write one ``"generation"`` row per job and one per batch through the persistence's metrics sink."""
        if not self.enable_metrics or (self._closed and self._persistence is None):
            return
        try:
            if self._persistence is None:
                self._threads_before_persistence = set(threading.enumerate())
                self._persistence = CodegenPersistence()
            persistence = self._persistence
            parallel = self.max_workers > 1 and len(results) > 1
            common = {"session_id": session_id, "parallel": parallel, "worker_count": self.max_workers}
            rows: list[dict[str, Any]] = [
                {
                    **common,
                    "node_type": result.node_type,
                    "phase": "job",
                    "duration_ms": result.duration_ms,
                    "success": result.success,
                    "context": {"job_id": str(result.job_id), "error_code": result.error_code},
                }
                for result in results
            ]
            rows.append(
                {
                    **common,
                    "node_type": "BATCH",
                    "phase": "batch",
                    "duration_ms": stats.wall_ms,
                    "speedup": stats.speedup,
                    "success": stats.failed == 0,
                    "context": {
                        "jobs": stats.jobs,
                        "failed": stats.failed,
                        "busy_ms": round(stats.busy_ms, 3),
                        "cores_used": round(stats.cores_used, 3),
                    },
                }
            )
            persistence.metrics_sink().write(GENERATION_METRICS, rows)  # nothing is kept if ENABLE_METRICS=false
            await persistence.flush()
        except Exception as exc:  # metrics must never break generation
            _log.warning("Recording generation metrics failed", metadata={"error": str(exc)})

    # -- lifecycle --
    async def cleanup(self) -> None:
        """Cancel running jobs, stop the worker threads, flush metrics and close what this generator opened.

        A batch still running is cancelled (its subprocesses killed) and allowed to finish first. Safe to call
        more than once.
        """
        self._closed = True
        for cancel in list(self._cancels):
            cancel.set()
        if self._idle is not None and self._running():
            await self._idle.wait()
        if self._workers:
            await asyncio.wait(set(self._workers))
        executor, self._executor = self._executor, None
        if executor is not None:
            # shutdown(wait=True) on a thread that ends with it: the loop's default executor would stay behind.
            await run_on_own_thread(
                lambda: executor.shutdown(wait=True, cancel_futures=True), "agents-generate-shutdown"
            )
        if self._owns_job and isinstance(self._job, NodeJob):
            self._job.close()
        if self._persistence is not None and self._owns_persistence:
            await self._persistence.close()
            self._persistence = None
            # aiosqlite's connection threads end just after close() returns; see them end.
            await _settle(self._threads_before_persistence)

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


async def _settle(existing: set[threading.Thread]) -> None:
    """Wait (at most ``_SETTLE_S``) for the threads started since ``existing`` was taken to end."""
    deadline = time.monotonic() + _SETTLE_S
    while time.monotonic() < deadline:
        newer = [t for t in threading.enumerate() if t not in existing and t is not threading.current_thread()]
        if not newer:
            return
        await asyncio.sleep(0.001)
