"""The job run for each node: what it is, what it gives, and how it runs.

:class:`GenerationJob` and :class:`GenerationResult` are the job and its outcome; a :data:`JobRunner` runs one
(:class:`NodeJob`, the default, builds the spec, writes the node and verifies it).
:class:`~agents.lib.parallel_generator.ParallelGenerator` runs jobs concurrently with any ``JobRunner``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from agents.lib.codegen.builder import MixinRecommender, build_node_spec
from agents.lib.codegen.generator import CodeGenerator
from agents.lib.codegen.report import VerificationReport
from agents.lib.codegen.spec import NodeSpec
from agents.lib.codegen.verify import verify_generated
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.prd_analyzer import PRDAnalysis

__all__ = ["VERIFY_MARGIN_S", "GenerationJob", "GenerationResult", "JobControl", "JobRunner", "NodeJob"]

VERIFY_MARGIN_S = 5.0
"""Verification's own per-subprocess limit is the job's plus this, so the job's limit always fires first."""


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
    """What one job produced; ``spec`` is the node's spec when one was built (absent when building it failed)."""

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
    spec: NodeSpec | None = None


@dataclass(frozen=True)
class JobControl:
    """What a running job gets besides its :class:`GenerationJob`: when to stop, and its time limit."""

    cancel: threading.Event
    """Set when the job must stop (its time is up, the batch was cancelled, or the generator cleaned up)."""
    timeout_seconds: float
    """The job's time limit; the generator enforces it, a runner may use it to bound its own subprocesses."""

    def check(self, before: str) -> None:
        """Raise ``OnexError(CANCELLED)`` if the job was told to stop; ``before`` names the step about to start."""
        if self.cancel.is_set():
            raise OnexError(f"cancelled before {before}", ErrorCode.CANCELLED, {"step": before})


JobRunner = Callable[[GenerationJob, JobControl], GenerationResult]
"""Runs one job on a worker thread and returns its result (an ``OnexError`` it raises becomes a failed result).

It must return soon after ``control.cancel`` is set, having stopped whatever it started.
"""


class NodeJob:
    """The default :data:`JobRunner`: build the spec (unless the job has one), generate the node, verify it.

    Thread-safe: one instance serves every worker. Without ``generator`` it creates a :class:`CodeGenerator` at
    the first job and closes it in :meth:`close`; a given one is the caller's to close.
    """

    def __init__(
        self, generator: CodeGenerator | None = None, *, mixin_recommender: MixinRecommender | None = None
    ) -> None:
        self.mixin_recommender = mixin_recommender
        self._generator = generator
        self._owns_generator = generator is None
        self._lock = threading.Lock()

    @property
    def generator(self) -> CodeGenerator | None:
        """The code generator in use (``None`` before the first job when this job creates its own)."""
        return self._generator

    def _code_generator(self) -> CodeGenerator:
        with self._lock:
            if self._generator is None:
                self._generator = CodeGenerator()
            return self._generator

    def __call__(self, job: GenerationJob, control: JobControl) -> GenerationResult:
        """Generate and verify the node of ``job``."""
        started = time.perf_counter()
        control.check("starting")
        spec = job.spec or build_node_spec(
            job.analysis_result,
            job.node_type,
            domain=job.domain,
            service_name=job.microservice_name,
            mixin_recommender=self.mixin_recommender,
        )
        generator = self._code_generator()
        control.check("writing")
        generated = generator.generate_node(spec, job.output_directory, force=job.force)
        report: VerificationReport | None = None
        if job.verify:
            control.check("verifying")
            report = verify_generated(
                generated.output_dir,
                packages=[spec.package_name],
                timeout_seconds=control.timeout_seconds + VERIFY_MARGIN_S,
                cancel=control.cancel,
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
            spec=spec,
        )

    def close(self) -> None:
        """Close the code generator if this job created it."""
        with self._lock:
            generator, self._generator = self._generator, None if self._owns_generator else self._generator
        if generator is not None and self._owns_generator:
            generator.close()
