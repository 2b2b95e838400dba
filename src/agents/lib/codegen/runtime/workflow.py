"""Running an ORCHESTRATOR's steps safely: per-step timeouts and retries, and runs that resume.

:class:`Workflow` runs a :class:`~.dag.StepGraph` in dependency order. Each step has a :class:`StepPolicy`: a
step that fails as unavailable or timed out is tried again after a backoff, up to its attempts; any other
failure, or the last attempt's, stops the run with STEP_FAILED. Every completed step is written to a
:class:`~.ports.RunJournalPort` with its result, so running the same run id again skips what was done and
resumes after the last completed step: a finished step (a bank transfer) never runs twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .dag import RunReport, StepGraph
from .errors import ErrorCode, OnexError
from .mixins import is_transient
from .ports import RunJournalPort

__all__ = ["StepContext", "StepExecutor", "StepPolicy", "Workflow"]


@dataclass(frozen=True)
class StepPolicy:
    """How one step is run: ``attempts`` in all (the first try included), each within ``timeout_seconds``.

    Between attempts the run waits ``backoff_seconds``, doubled after each attempt, at most
    ``max_backoff_seconds``.
    """

    attempts: int = 1
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    timeout_seconds: float | None = 30.0

    def delay(self, attempt: int) -> float:
        """Return the wait after the failed attempt number ``attempt`` (1 for the first)."""
        return float(min(self.backoff_seconds * 2 ** (attempt - 1), self.max_backoff_seconds))


@dataclass(frozen=True)
class StepContext:
    """What a step gets: the run's input, the results of the steps before it, and an idempotency key.

    ``idempotency_key`` is the same for every attempt of the step in this run (also after a resume): pass it to
    EFFECT operations that create or move something, so a retried step does not do it twice.
    """

    run_id: str
    step: str
    attempt: int
    payload: Mapping[str, Any]
    results: Mapping[str, Any]

    @property
    def idempotency_key(self) -> str:
        """``<run id>:<step>``."""
        return f"{self.run_id}:{self.step}"


StepExecutor = Callable[[str, StepContext], Awaitable[Any]]
"""Runs one step (its name and context) and returns its JSON-compatible result."""
Sleep = Callable[[float], Awaitable[None]]


class Workflow:
    """A step graph, the policy of each step, and the journal that remembers each run."""

    def __init__(
        self,
        graph: StepGraph,
        policies: Mapping[str, StepPolicy],
        journal: RunJournalPort,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        unknown = sorted(set(policies) - set(graph.order))
        if unknown:
            raise OnexError(f"policies for unknown steps {unknown}", ErrorCode.VALIDATION_ERROR)
        self.graph = graph
        self.policies = dict(policies)
        self.journal = journal
        self.sleep = sleep

    def policy(self, step: str) -> StepPolicy:
        """Return the policy of ``step`` (one attempt within 30 s when none was given)."""
        return self.policies.get(step, StepPolicy())

    async def run(self, run_id: str, payload: Mapping[str, Any], execute: StepExecutor) -> RunReport:
        """Run (or resume) the run ``run_id``; STEP_FAILED names the failed step and what completed before it."""
        record = await self.journal.load(run_id)
        done: dict[str, Any] = dict(record.completed) if record is not None else {}
        report = RunReport(total_steps=len(self.graph.order))
        for step in self.graph.order:
            if step in done:
                report.results[step] = done[step]
                report.completed.append(step)
                report.resumed.append(step)
                continue
            result = await self._run_step(run_id, step, payload, report, execute)
            await self.journal.step_completed(run_id, step, result)
            report.results[step] = result
            report.completed.append(step)
            report.ran.append(step)
        await self.journal.finish(run_id, "completed")
        return report

    async def _run_step(
        self, run_id: str, step: str, payload: Mapping[str, Any], report: RunReport, execute: StepExecutor
    ) -> Any:
        policy = self.policy(step)
        attempt = 1
        while True:
            context = StepContext(run_id, step, attempt, payload, dict(report.results))
            report.attempts[step] = attempt
            try:
                return await self._attempt(step, context, policy, execute)
            except Exception as exc:
                if attempt < policy.attempts and is_transient(exc):
                    await self.sleep(policy.delay(attempt))
                    attempt += 1
                    continue
                await self.journal.finish(run_id, "failed", step, str(exc))
                code = exc.code.value if isinstance(exc, OnexError) else None
                raise OnexError(
                    f"step {step!r} failed after {attempt} attempt(s): {exc}",
                    ErrorCode.STEP_FAILED,
                    {
                        "failed_step": step,
                        "completed_steps": list(report.completed),
                        "progress_percent": report.progress_percent,
                        "attempts": attempt,
                        "cause": type(exc).__name__,
                        "code": code,
                        "run_id": run_id,
                    },
                ) from exc

    @staticmethod
    async def _attempt(step: str, context: StepContext, policy: StepPolicy, execute: StepExecutor) -> Any:
        if policy.timeout_seconds is None:
            return await execute(step, context)
        try:
            return await asyncio.wait_for(execute(step, context), timeout=policy.timeout_seconds)
        except TimeoutError:
            raise OnexError(
                f"step {step!r} timed out after {policy.timeout_seconds} s",
                ErrorCode.TIMEOUT,
                {"step": step, "seconds": policy.timeout_seconds},
            ) from None
