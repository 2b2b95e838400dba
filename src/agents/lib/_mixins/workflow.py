"""The mixin learner in a code generation run: what ``agents generate`` applies, refuses and learns from.

- :class:`LearnedMixinRecommender` is the builder's ``MixinRecommender``: for each node it asks the learner
  for the mixins that cover the capabilities the PRD asks (:mod:`agents.lib.codegen.capabilities`), after the
  mixins the user asked for (``--mixin``).
- :class:`MixinGuard` is a ``SpecPlanner`` around another (pattern detection, which may add mixins): once a
  spec is final it checks every pair of its mixins; a recommended mixin gives way to one asked for, and a set
  asked for that the learner predicts incompatible is refused (VALIDATION_ERROR naming the pairs and why), or
  with ``force`` kept with a warning.
- :class:`MixinFeedbackHook` feeds each verified node's outcome to
  :meth:`~agents.lib.mixin_learner.MixinLearner.update_from_feedback` for every pair of mixins the node used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

from agents.lib.codegen.builder import SpecPlanner
from agents.lib.codegen.hooks import WorkflowHook, WorkflowRun
from agents.lib.codegen.job import GenerationResult
from agents.lib.codegen.spec import NodeSpec
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.mixin_learner import MixinLearner, MixinPrediction
from agents.lib.prd_analyzer import PRDAnalysis

__all__ = ["LearnedMixinRecommender", "MixinFeedbackHook", "MixinGuard", "describe_conflict"]


class LearnedMixinRecommender:
    """A ``MixinRecommender`` backed by a :class:`MixinLearner`; remembers what it recommended per node type.

    ``requested`` maps a node type to mixins the user asked for: they are applied first and the learner's
    recommendations must be compatible with them.
    """

    def __init__(self, learner: MixinLearner, requested: Mapping[str, Sequence[str]] | None = None) -> None:
        self.learner = learner
        self.requested = {k.upper(): list(v) for k, v in (requested or {}).items()}
        self.recommended: dict[str, list[tuple[str, float, str]]] = {}

    def __call__(self, node_type: str, capabilities: Sequence[str]) -> list[str]:
        """Return the mixins for a ``node_type`` node that asks ``capabilities``: requested, then recommended."""
        requested = self.requested.get(node_type, [])
        found = self.learner.recommend_mixins(
            node_type=node_type,
            required_capabilities=list(capabilities),
            existing_mixins=requested,
            max_recommendations=max(len(capabilities), 1),
        )
        self.recommended[node_type] = list(found)
        return [*requested, *(name for name, _, _ in found)]


def describe_conflict(prediction: MixinPrediction) -> str:
    """Return one line on an incompatible pair (names in code-point order): who, where, how sure, and why."""
    first, second = sorted((prediction.mixin_a, prediction.mixin_b))
    return (
        f"{first} + {second} on {prediction.node_type} "
        f"(incompatible, confidence {prediction.confidence:.0%}): {prediction.explanation}"
    )


class MixinGuard:
    """A ``SpecPlanner``: ``inner``'s plan, then every final spec's mixins checked pair by pair.

    A recommendation gives way to pattern feedback: a recommended mixin that a pattern found below the threshold
    its recorded feedback set would add is dropped (``inner.withheld_mixins``, see :class:`PatternPlanner`).
    It also gives way to a conflict: when a mixin the learner recommended (see ``recommender``) is predicted
    incompatible with one asked for (by the user or by a detected pattern), the recommended one is dropped and
    the reason kept in :attr:`notes`. A pair of mixins both asked for raises VALIDATION_ERROR, unless ``force``:
    then the spec is kept and the conflict is added to :attr:`warnings`.
    """

    def __init__(
        self,
        learner: MixinLearner,
        inner: SpecPlanner | None = None,
        *,
        recommender: LearnedMixinRecommender | None = None,
        force: bool = False,
    ) -> None:
        self.learner = learner
        self.inner = inner
        self.recommender = recommender
        self.force = force
        self.notes: list[str] = []
        self.warnings: list[str] = []

    def node_types(self, analysis: PRDAnalysis, wanted: Sequence[str]) -> Sequence[str]:
        """Return ``inner``'s node types (``wanted`` without one)."""
        return wanted if self.inner is None else self.inner.node_types(analysis, wanted)

    def _recommended(self, node_type: str) -> dict[str, float]:
        if self.recommender is None:
            return {}
        found = self.recommender.recommended.get(node_type, [])
        return {name: confidence for name, confidence, _ in found}

    def refine(self, analysis: PRDAnalysis, spec: NodeSpec) -> NodeSpec:
        """Return ``inner``'s spec once its mixins are checked (see the class docstring)."""
        final = spec if self.inner is None else self.inner.refine(analysis, spec)
        mixins = list(final.mixins)
        optional = self._recommended(final.node_type)
        withheld = getattr(self.inner, "withheld_mixins", None)
        held = withheld(analysis, final.node_type) if callable(withheld) else {}
        for name, detection in held.items():
            if name in optional and name in mixins:
                mixins.remove(name)
                self.notes.append(
                    f"dropped the recommended {name}: the {detection.name} pattern was found at "
                    f"{detection.confidence:.2f}, below the threshold its feedback set ({detection.threshold:.2f})"
                )
        while True:
            conflicts = self.learner.check_set(final.node_type, mixins)
            droppable = [
                (p, name)
                for p in conflicts
                for name in (p.mixin_a, p.mixin_b)
                if name in optional and name in mixins
            ]
            if not droppable:
                break
            prediction, name = min(droppable, key=lambda d: (optional[d[1]], d[1]))
            mixins.remove(name)
            self.notes.append(f"dropped the recommended {name}: {describe_conflict(prediction)}")
        if mixins != list(final.mixins):
            final = NodeSpec.model_validate({**final.model_dump(), "mixins": mixins})
        if not conflicts:
            return final
        lines = [describe_conflict(p) for p in conflicts]
        if self.force:
            self.warnings.extend(lines)
            return final
        raise OnexError(
            f"the mixins of the {final.node_type} node are predicted incompatible: " + "; ".join(lines),
            ErrorCode.VALIDATION_ERROR,
            {"node_type": final.node_type, "mixins": mixins, "hint": "--force generates it anyway"},
        )


class MixinFeedbackHook(WorkflowHook):
    """Feeds each verified node's outcome to the learner, once per pair of the mixins it used.

    Nodes that were not verified (``--no-verify``) or failed before verification teach nothing. ``recorded``
    counts the outcomes given; ``errors`` keeps what went wrong (the run never fails for it).
    """

    def __init__(self, learner: MixinLearner, *, retrain_threshold: int = 100) -> None:
        self.learner = learner
        self.retrain_threshold = retrain_threshold
        self.recorded = 0
        self.errors: list[str] = []

    async def node_finished(self, run: WorkflowRun, result: GenerationResult) -> None:
        """Record the node's verification outcome for every pair of its mixins."""
        if result.spec is None or result.verification is None:
            return
        success = bool(result.verification.passed)
        for mixin_a, mixin_b in combinations(result.spec.mixins, 2):
            try:
                await self.learner.update_from_feedback(
                    mixin_a, mixin_b, result.node_type, success, retrain_threshold=self.retrain_threshold
                )
            except Exception as exc:  # feedback must never break the run
                self.errors.append(f"{mixin_a} + {mixin_b}: {type(exc).__name__}: {exc}")
            else:
                self.recorded += 1
