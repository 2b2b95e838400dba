"""Detected patterns change what is generated: :class:`PatternPlanner`, the builder's ``SpecPlanner``.

The planner detects the patterns of an analysis once (holding each to its threshold: the one feedback gives,
see :meth:`PatternPlanner.from_feedback`, else the default), adds the node types of the applied patterns, and
adds their mixins and hooks to the specs they apply to (``caching`` -> ``MixinCaching`` on the EFFECT,
``authentication`` -> an ``authorize_request`` hook on the COMPUTE, ``aggregation`` -> a REDUCER node...).
It remembers which node realised which pattern, for the feedback hook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agents.lib._patterns.advice import ThresholdDecision
from agents.lib._patterns.detect import DetectedPattern, detect_patterns
from agents.lib._patterns.library import PATTERNS, Pattern
from agents.lib.codegen.runtime.mixins import MIXIN_CATALOGUE
from agents.lib.codegen.spec import HookSpec, NodeSpec
from agents.lib.persistence import CodegenPersistence
from agents.lib.prd_analyzer import PRDAnalysis
from agents.lib.structured_logger import get_logger

__all__ = ["PatternPlanner"]

_log = get_logger(__name__, component="pattern-planner")


class PatternPlanner:
    """Applies detected patterns to the specs of a run (a ``SpecPlanner``; see the module docstring).

    ``thresholds`` maps pattern names to thresholds (missing: the pattern's default); ``decisions`` are the
    :class:`ThresholdDecision` behind them, when they came from feedback.
    """

    def __init__(
        self,
        thresholds: Mapping[str, float] | None = None,
        *,
        decisions: Mapping[str, ThresholdDecision] | None = None,
        patterns: Sequence[Pattern] = PATTERNS,
    ) -> None:
        self.patterns = tuple(patterns)
        self.decisions = dict(decisions or {})
        self.thresholds = {p.name: p.default_threshold for p in self.patterns}
        self.thresholds.update({name: d.effective for name, d in self.decisions.items()})
        self.thresholds.update(thresholds or {})
        self._by_name = {p.name: p for p in self.patterns}
        self._runs: dict[int, tuple[PRDAnalysis, list[DetectedPattern], dict[str, list[str]]]] = {}

    @classmethod
    async def from_feedback(
        cls,
        persistence: CodegenPersistence,
        *,
        target_precision: float | None = None,
        min_samples: int | None = None,
    ) -> PatternPlanner:
        """Return a planner holding each pattern to the threshold its recorded feedback gives."""
        from agents.lib.pattern_feedback import DEFAULT_MIN_SAMPLES, PatternFeedbackCollector

        collector = PatternFeedbackCollector(persistence)
        decisions = await collector.generation_thresholds(
            target_precision=target_precision, min_samples=min_samples or DEFAULT_MIN_SAMPLES
        )
        return cls(decisions=decisions)

    def _run(self, analysis: PRDAnalysis) -> tuple[PRDAnalysis, list[DetectedPattern], dict[str, list[str]]]:
        run = self._runs.get(id(analysis))
        if run is None or run[0] is not analysis:
            found = detect_patterns(analysis, self.thresholds, patterns=self.patterns)
            run = (analysis, found, {})
            self._runs[id(analysis)] = run
            _log.info(
                "Patterns detected",
                metadata={
                    "service": analysis.service_name,
                    "patterns": [
                        {
                            k: v
                            for k, v in d.to_dict().items()
                            if k in ("pattern", "confidence", "threshold", "applied")
                        }
                        for d in found
                    ],
                },
            )
        return run

    def detect(self, analysis: PRDAnalysis) -> list[DetectedPattern]:
        """Return the patterns detected in ``analysis`` (computed once per analysis), most confident first."""
        return list(self._run(analysis)[1])

    def applied(self, analysis: PRDAnalysis) -> list[DetectedPattern]:
        """Return the detections whose confidence reaches their threshold."""
        return [d for d in self.detect(analysis) if d.applied]

    def withheld_mixins(self, analysis: PRDAnalysis, node_type: str) -> dict[str, DetectedPattern]:
        """Return the mixins feedback holds back from ``node_type``: those of patterns below a tuned threshold.

        Recorded feedback said such a detection is wrong too often at its confidence, so the mixin it would add
        should not come back by another route (the mixin learner's recommendation for the same PRD words).
        """
        out: dict[str, DetectedPattern] = {}
        for detection in self.detect(analysis):
            decision = self.decisions.get(detection.name)
            if detection.applied or decision is None or not decision.from_feedback:
                continue
            for mixin in self._by_name[detection.name].code.mixins.get(node_type, ()):
                out.setdefault(mixin, detection)
        return out

    def realised(self, analysis: PRDAnalysis) -> dict[str, list[str]]:
        """Return, per pattern applied so far, the node types whose specs carry its code."""
        by_pattern: dict[str, list[str]] = {}
        for node_type, names in self._run(analysis)[2].items():
            for name in names:
                by_pattern.setdefault(name, []).append(node_type)
        return by_pattern

    def node_types(self, analysis: PRDAnalysis, wanted: Sequence[str]) -> list[str]:
        """Return ``wanted`` followed by the node types applied patterns need that it lacks."""
        out = [str(t) for t in wanted]
        for detection in self.applied(analysis):
            for node_type in self._by_name[detection.name].code.node_types:
                if node_type not in out:
                    out.append(node_type)
        return out

    def refine(self, analysis: PRDAnalysis, spec: NodeSpec) -> NodeSpec:
        """Return ``spec`` with the mixins and hooks of the applied patterns that map to its node type."""
        node_type = spec.node_type
        mixins = list(spec.mixins)
        hooks = list(spec.hooks)
        taken = {o.name for o in spec.operations} | {h.name for h in hooks}
        carried: list[str] = []
        for detection in self.applied(analysis):
            code = self._by_name[detection.name].code
            carries = node_type in code.node_types
            for mixin in code.mixins.get(node_type, ()):
                if node_type in MIXIN_CATALOGUE[mixin].INFO.node_types:
                    carries = True
                    if mixin not in mixins:
                        mixins.append(mixin)
            for name, description in code.hooks.get(node_type, ()):
                carries = True
                if name not in taken:
                    taken.add(name)
                    hooks.append(HookSpec(name=name, description=description))
            if carries:
                carried.append(detection.name)
        self._run(analysis)[2][node_type] = carried
        if mixins == list(spec.mixins) and hooks == list(spec.hooks):
            return spec
        data: dict[str, Any] = spec.model_dump()
        data["mixins"] = mixins
        data["hooks"] = [h.model_dump() for h in hooks]
        return NodeSpec.model_validate(data)
