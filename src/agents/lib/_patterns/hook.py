"""Automatic pattern feedback from verification: :class:`PatternFeedbackHook`, a workflow hook.

At the end of a run, each applied pattern whose code some node carries gets one feedback row (one detection):
``correct`` when every node carrying it was verified and passed, ``incorrect`` when one of them failed
verification; a pattern is skipped when one of its nodes was not verified (``--no-verify``) or produced no
result. The rows are automatic (weight 1, not user-provided): verification says the emitted code works, not
that the PRD wanted it, so users' corrections (weight 2) outweigh it.
"""

from __future__ import annotations

from agents.lib._patterns.plan import PatternPlanner
from agents.lib.codegen.hooks import WorkflowHook, WorkflowResult, WorkflowRun
from agents.lib.pattern_feedback import PatternFeedback, PatternFeedbackCollector
from agents.lib.structured_logger import get_logger

__all__ = ["PatternFeedbackHook"]

_log = get_logger(__name__, component="pattern-feedback")


class PatternFeedbackHook(WorkflowHook):
    """Records one automatic feedback row per applied pattern of a run (see the module docstring)."""

    def __init__(self, collector: PatternFeedbackCollector, planner: PatternPlanner) -> None:
        self.collector = collector
        self.planner = planner
        self.recorded: list[PatternFeedback] = []
        """The feedback recorded so far (for the caller's summary and for tests)."""

    async def workflow_finished(self, run: WorkflowRun, result: WorkflowResult) -> None:
        """Record the verification outcome of every applied pattern of the run."""
        carried = self.planner.realised(result.analysis)
        detections = {d.name: d for d in self.planner.applied(result.analysis)}
        by_type = {r.node_type: r for r in result.results}
        for name, node_types in carried.items():
            detection = detections.get(name)
            results = [by_type.get(t) for t in node_types]
            if detection is None or any(r is None or r.verification is None for r in results):
                continue
            failed = {
                r.node_type: [c.name for c in r.verification.failed_checks]
                for r in results
                if r is not None and r.verification is not None and not (r.success and r.verification.passed)
            }
            feedback = PatternFeedback(
                session_id=result.session_id,
                detected_pattern=name,
                detected_confidence=detection.confidence,
                actual_pattern=None if failed else name,
                feedback_type="incorrect" if failed else "correct",
                capabilities_matched=list(detection.evidence),
            )
            await self.collector.record_feedback(
                feedback,
                context={
                    "source": "verification",
                    "node_types": node_types,
                    "threshold": detection.threshold,
                    "failed_checks": failed,
                },
            )
            self.recorded.append(feedback)
        if self.recorded:
            _log.info(
                "Pattern feedback recorded from verification",
                metadata={"feedback": {f.detected_pattern: f.feedback_type for f in self.recorded}},
            )
