"""Step graphs run in dependency order through an injected step runner."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any, Protocol

from .errors import ErrorCode, OnexError

__all__ = ["RunReport", "StepGraph", "StepRunner"]


class StepRunner(Protocol):
    """Runs one step with the results of the steps before it; returns the step's result."""

    async def run_step(self, step: str, context: Mapping[str, Any]) -> Any:
        """Run ``step``; ``context`` maps completed steps to their results."""
        ...


@dataclass
class RunReport:
    """What a run did: the steps completed in order and their results.

    For a run of a :class:`~.workflow.Workflow`, ``ran`` are the steps this call ran, ``resumed`` those an
    earlier call of the same run had completed (not run again), ``attempts`` the attempts each step took.
    """

    completed: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    total_steps: int = 0
    ran: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)

    @property
    def progress_percent(self) -> float:
        """Completed steps as a percentage of all steps."""
        return 100.0 * len(self.completed) / self.total_steps if self.total_steps else 100.0


class StepGraph:
    """A directed acyclic graph of named steps; a cycle or an unknown dependency is refused when built."""

    def __init__(self, dependencies: Mapping[str, Sequence[str]]) -> None:
        self.dependencies = {step: tuple(deps) for step, deps in dependencies.items()}
        unknown = sorted({d for deps in self.dependencies.values() for d in deps} - set(self.dependencies))
        if unknown:
            raise OnexError(f"steps depend on unknown steps {unknown}", ErrorCode.VALIDATION_ERROR)
        try:
            self.order = tuple(TopologicalSorter(self.dependencies).static_order())
        except CycleError as exc:
            raise OnexError(
                "the steps form a cycle", ErrorCode.VALIDATION_ERROR, {"cycle": list(exc.args[1])}
            ) from None

    async def run(self, runner: StepRunner) -> RunReport:
        """Run every step in dependency order; the first failure stops the run with STEP_FAILED."""
        report = RunReport(total_steps=len(self.order))
        for step in self.order:
            try:
                report.results[step] = await runner.run_step(step, dict(report.results))
            except Exception as exc:
                raise OnexError(
                    f"step {step!r} failed: {exc}",
                    ErrorCode.STEP_FAILED,
                    {
                        "failed_step": step,
                        "completed_steps": list(report.completed),
                        "progress_percent": report.progress_percent,
                        "cause": type(exc).__name__,
                    },
                ) from exc
            report.completed.append(step)
        return report
