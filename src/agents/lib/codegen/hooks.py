"""The observer interface of a code generation run: :class:`WorkflowHook` and what it is told.

Streams that watch a run (events, monitoring, mixin learning, pattern feedback) implement it here, below the
workflow; :class:`WorkflowRun` and :class:`WorkflowResult` are what they receive. docs/codegen.md ("Writing a
workflow hook") shows one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from agents.lib.codegen.job import GenerationJob, GenerationResult
from agents.lib.codegen.report import VerificationReport
from agents.lib.errors import OnexError
from agents.lib.prd_analyzer import PRDAnalysis

__all__ = ["WorkflowHook", "WorkflowResult", "WorkflowRun"]


@dataclass(frozen=True)
class WorkflowRun:
    """The run a hook is told about: its ids, its input and output, and (once analysed) what it generates.

    ``analysis``, ``jobs`` and ``workers`` are set from :meth:`WorkflowHook.workflow_started` on; a run that
    failed before (a PRD that cannot be read, say) reaches :meth:`WorkflowHook.workflow_failed` without them.
    """

    session_id: UUID
    """The run's generation session (``generation_sessions.session_id``, ``session_id`` of its log lines)."""
    correlation_id: UUID
    """The correlation id on every log line of the run."""
    prd_path: str
    output_dir: Path
    """Where the service is written (resolved)."""
    analysis: PRDAnalysis | None = None
    jobs: tuple[GenerationJob, ...] = ()
    """One job per node, its spec built, in the order the nodes were asked for."""
    workers: int = 0

    @property
    def node_types(self) -> tuple[str, ...]:
        """The node types generated, in job order."""
        return tuple(job.node_type for job in self.jobs)

    def job(self, job_id: UUID) -> GenerationJob:
        """Return the job ``job_id`` (a result's ``job_id``); ``KeyError`` if it is not one of this run's."""
        for job in self.jobs:
            if job.job_id == job_id:
                return job
        raise KeyError(job_id)


@dataclass(frozen=True)
class WorkflowResult:
    """What a run did: the analysis, each node's result, timing and speedup.

    ``speedup``, ``cores_used`` and ``concurrency`` are those of the batch
    (:class:`~agents.lib.parallel_generator.BatchStats`): the estimated gain over one worker, the cores kept busy,
    and how many nodes were generated at once on average.
    """

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
    concurrency: float = 0.0
    service_verification: VerificationReport | None = None
    """The verification of the service as a whole (its application package: every node wired together, the
    entry point, the HTTP API), run once every node passed; ``None`` when it did not run."""
    service_ms: float = 0.0
    """How long the service's verification took (wall time; its checks run partly at once)."""

    @property
    def success(self) -> bool:
        """True when every node was generated (and, if verification ran, passed it, the service's too)."""
        service_ok = self.service_verification is None or self.service_verification.passed
        return all(r.success for r in self.results) and service_ok

    @property
    def hooks_left(self) -> int:
        """Methods of the generated nodes left for humans (they raise NOT_IMPLEMENTED)."""
        return sum(len(r.spec.hook_names) for r in self.results if r.spec is not None)

    @property
    def rules_implemented(self) -> int:
        """The PRD's rules the generated nodes implement as code."""
        return sum(r.spec.rules_implemented for r in self.results if r.spec is not None)

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
            "concurrency": round(self.concurrency, 2),
            "verified": self.verified,
            "rules_implemented": self.rules_implemented,
            "hooks_left": self.hooks_left,
            "service_ms": round(self.service_ms, 1),
            "service_verification": None
            if self.service_verification is None
            else {c.name: c.passed for c in self.service_verification.checks},
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
                    "hooks": list(r.spec.hook_names) if r.spec is not None else [],
                    "verification": None
                    if r.verification is None
                    else {c.name: c.passed for c in r.verification.checks},
                }
                for r in self.results
            ],
        }


class WorkflowHook:
    """Observer of a run; subclass it and override what you need (every method does nothing by default).

    Hooks are awaited on the run's event loop, in the order given, inside the run's log context (its log lines
    carry the run's correlation and session ids). An exception in a hook is logged and ignored: a hook never
    breaks a run, and never changes its result.
    """

    async def workflow_started(self, run: WorkflowRun) -> None:
        """Run once the PRD is analysed and every job built, before any node is generated."""

    async def node_finished(self, run: WorkflowRun, result: GenerationResult) -> None:
        """Run as each node finishes, passed or failed (``result.verification`` holds its report when verified)."""

    async def workflow_finished(self, run: WorkflowRun, result: WorkflowResult) -> None:
        """Run at the end of a run that produced results (also when some nodes failed)."""

    async def workflow_failed(self, run: WorkflowRun, error: OnexError) -> None:
        """Run when the run stopped with an error (a bad PRD, existing output, every node failed, ...)."""
