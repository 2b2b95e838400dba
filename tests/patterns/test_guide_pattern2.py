"""The guide's "Common Patterns, Pattern 2: ML-Enhanced Pattern Matching", run as written.

The block uses names it does not import; we supply real ones: ``detect_pattern`` (our contract detector),
``PatternFeedbackCollector``, ``PatternFeedback``, ``get_logger`` and ``uuid4``. ``MixinLearner`` is the real
learner (its shipped model), which also remembers each ``recommend_mixins`` call. Collectors the block creates (and
never closes) are closed by the test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from uuid import uuid4

from agents.lib.mixin_learner import MixinLearner
from agents.lib.pattern_feedback import PatternFeedback, PatternFeedbackCollector, detect_pattern
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import get_logger
from tests._guide import code_blocks
from tests.workflow.conftest import LogCapture


class RecordingMixinLearner(MixinLearner):
    """The real learner; remembers each ``recommend_mixins`` call."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def recommend_mixins(
        self,
        node_type: str,
        required_capabilities: Sequence[str],
        existing_mixins: Sequence[str] | None = None,
        max_recommendations: int = 5,
    ) -> list[tuple[str, float, str]]:
        """Record the call, then recommend."""
        self.calls.append(
            {"node_type": node_type, "capabilities": list(required_capabilities), "max": max_recommendations}
        )
        return super().recommend_mixins(node_type, required_capabilities, existing_mixins, max_recommendations)


class TrackedCollector(PatternFeedbackCollector):
    """The real collector, remembered so the test can close it."""

    made: ClassVar[list[PatternFeedbackCollector]] = []

    def __init__(self) -> None:
        super().__init__()
        self.made.append(self)


def pattern_2() -> str:
    [code] = [c for heading, c in code_blocks("Common Patterns", "python") if heading.startswith("Pattern 2:")]
    return code


async def test_pattern_2_detects_records_feedback_and_logs(log_capture: LogCapture) -> None:
    namespace: dict[str, Any] = {
        "__name__": "guide_pattern_2",
        "get_logger": get_logger,
        "MixinLearner": RecordingMixinLearner,
        "PatternFeedbackCollector": TrackedCollector,
        "PatternFeedback": PatternFeedback,
        "detect_pattern": detect_pattern,
        "uuid4": uuid4,
    }
    exec(compile(pattern_2(), "<guide: Pattern 2>", "exec"), namespace)
    match = namespace["match_pattern_with_ml"]
    try:
        weak = {"node_type": "EFFECT", "capabilities": ["caching", "redis"]}
        strong = {"node_type": "EFFECT", "capabilities": ["caching", "redis", "ttl"]}
        assert detect_pattern(weak) == ("caching", 0.685)
        assert detect_pattern(strong) == ("caching", 0.795)
        assert await match(weak) == "MixinCaching"  # below 0.7: the ML recommendation wins
        assert await match(strong) == "caching"
        assert await match({"node_type": "COMPUTE", "capabilities": ["auth"]}, confidence_threshold=0.3) == (
            "authentication"
        )
    finally:
        for collector in TrackedCollector.made:
            await collector.close()
    assert RecordingMixinLearner.calls[0] == {
        "node_type": "EFFECT",
        "capabilities": ["caching", "redis"],
        "max": 1,
    }
    async with CodegenPersistence() as persistence:
        rows = await persistence.list_pattern_feedback()
    assert [
        (r.detected_pattern, r.detected_confidence, r.actual_pattern, r.feedback_type, r.weight) for r in rows
    ] == [
        ("caching", 0.685, "MixinCaching", "adjusted", 1.0),
        ("caching", 0.795, "MixinCaching", "correct", 1.0),
    ]
    logged = [r["metadata"] for r in log_capture.records() if r["message"] == "Pattern matched"]
    assert logged == [
        {"pattern": "caching", "confidence": 0.685, "ml_recommendation": "MixinCaching"},
        {"pattern": "caching", "confidence": 0.795, "ml_recommendation": "MixinCaching"},
        {"pattern": "authentication", "confidence": 0.4, "ml_recommendation": None},
    ]
