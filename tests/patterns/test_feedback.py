"""PatternFeedbackCollector on SQLite and PostgreSQL: what is stored, and every figure, by the one definition."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa

from agents.lib._patterns.advice import decide_threshold
from agents.lib._patterns.metrics import Bucket, sweep
from agents.lib.db.schema import pattern_feedback_log
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.pattern_feedback import PatternAnalysis, PatternFeedback, PatternFeedbackCollector


def fb(
    detected: str,
    confidence: float,
    actual: str | None,
    kind: str,
    *,
    user: bool = False,
    fps: list[str] | None = None,
    fns: list[str] | None = None,
) -> PatternFeedback:
    return PatternFeedback(
        uuid4(),
        detected,
        confidence,
        actual,
        kind,
        false_positives=fps or [],
        false_negatives=fns or [],
        user_provided=user,
    )


# The worked example of docs/patterns.md ("A worked example").
EXAMPLE = [
    fb("auth", 0.9, "auth", "correct", user=True),  # w2: tp 2
    fb("auth", 0.8, "auth", "correct"),  # tp 1
    fb("auth", 0.7, "oauth2", "incorrect", fps=["basic_auth"], fns=["oauth2", "jwt"]),  # fp 1; oauth2 fn 1
    fb("auth", 0.6, "oauth2", "partial", user=True, fps=["basic_auth"]),  # tp 1, fp 1; oauth2 fn 1
    fb("auth", 0.5, "auth", "adjusted", fns=["jwt"]),  # tp .5, fp .5
    fb("session", 0.4, "auth", "incorrect", user=True),  # session fp 2; auth fn 2
    fb("session", 0.95, "auth", "correct"),  # session tp 1; no miss
    fb("crud", 0.3, "auth", "partial", user=True),  # crud tp 1, fp 1; auth fn 1
]


async def _record_example(collector: PatternFeedbackCollector) -> None:
    await collector.record_feedback_batch(EXAMPLE)
    # a feedback type outside the definition is stored but never scored
    await collector.persistence.record_pattern_feedback(detected_pattern="auth", feedback_type="skipped")


async def test_record_feedback_stores_every_field_and_returns_its_uuid(
    collector: PatternFeedbackCollector,
) -> None:
    session = uuid4()
    feedback = PatternFeedback(
        session_id=session,
        detected_pattern="authentication_pattern",
        detected_confidence=0.85,
        actual_pattern="oauth2_pattern",
        feedback_type="incorrect",
        capabilities_matched=["auth", "security"],
        false_positives=["basic_auth"],
        false_negatives=["oauth2", "jwt"],
        user_provided=True,
        contract_json='{"node_type": "EFFECT", "capabilities": ["auth"]}',
    )
    feedback_id = await collector.record_feedback(feedback, context={"source": "test"})
    assert isinstance(feedback_id, UUID)
    automatic = await collector.record_feedback(fb("caching", 0.5, None, "correct"))
    [row, other] = await collector.persistence.list_pattern_feedback()
    assert (row.session_id, row.detected_pattern, row.detected_confidence) == (
        str(session),
        "authentication_pattern",
        0.85,
    )
    assert (row.actual_pattern, row.feedback_type) == ("oauth2_pattern", "incorrect")
    assert row.capabilities_matched == ["auth", "security"]
    assert (row.false_positives, row.false_negatives) == (["basic_auth"], ["oauth2", "jwt"])
    assert (row.user_provided, row.weight) == (True, 2.0)
    assert row.context == {"source": "test", "contract": {"node_type": "EFFECT", "capabilities": ["auth"]}}
    assert (other.user_provided, other.weight, other.actual_pattern, other.context) == (False, 1.0, None, None)
    async with collector.persistence._db.begin("read ids") as conn:
        ids = (await conn.execute(sa.select(pattern_feedback_log.c.feedback_id).order_by("id"))).scalars().all()
    assert ids == [str(feedback_id), str(automatic)]


async def test_the_user_flag_of_the_call_makes_feedback_user_provided(collector: PatternFeedbackCollector) -> None:
    await collector.record_feedback(fb("caching", 0.5, "caching", "correct"), user_provided=True)
    [row] = await collector.persistence.list_pattern_feedback()
    assert (row.user_provided, row.weight) == (True, 2.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"feedback_type": "wrong"},
            "feedback_type must be one of correct, incorrect, partial, adjusted, got 'wrong'",
        ),
        ({"detected_confidence": 1.5}, "detected_confidence must be between 0 and 1, got 1.5"),
        ({"detected_confidence": -0.1}, "detected_confidence must be between 0 and 1, got -0.1"),
        ({"detected_confidence": float("nan")}, "detected_confidence must be a number, got nan"),
        ({"detected_confidence": True}, "detected_confidence must be a number, got True"),
        ({"detected_pattern": "  "}, "detected_pattern must be a non-empty string, got '  '"),
        ({"detected_pattern": None}, "detected_pattern must be a non-empty string, got None"),
        ({"actual_pattern": ""}, "actual_pattern must be a non-empty string, got ''"),
        ({"false_positives": "basic_auth"}, "false_positives must be a list of strings, got 'basic_auth'"),
        (
            {"capabilities_matched": ["auth", ""]},
            "an item of capabilities_matched must be a non-empty string, got ''",
        ),
        ({"contract_json": "[1, 2]"}, "contract_json must be a JSON object, got list"),
        ({"user_provided": "yes"}, "user_provided must be a bool, got 'yes'"),
    ],
)
def test_bad_values_give_a_clear_validation_error(changes: dict[str, object], message: str) -> None:
    values: dict[str, object] = {
        "session_id": None,
        "detected_pattern": "caching",
        "detected_confidence": 0.5,
        "actual_pattern": "caching",
        "feedback_type": "correct",
        **changes,
    }
    with pytest.raises(OnexError) as caught:
        PatternFeedback(**values)  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert caught.value.message == message


async def test_analysis_weights_user_feedback_twice_in_every_figure(collector: PatternFeedbackCollector) -> None:
    await _record_example(collector)
    a = await collector.analyze_feedback("auth", min_samples=5)
    assert isinstance(a, PatternAnalysis)
    assert (a.pattern_name, a.sufficient_data, a.sample_count, a.weighted_sample_count) == ("auth", True, 5, 7.0)
    assert a.precision == pytest.approx(4.5 / 7)
    assert a.recall == pytest.approx(4.5 / 7.5)
    assert a.f1_score == pytest.approx(2 * (4.5 / 7) * 0.6 / (4.5 / 7 + 0.6))
    counts = (a.correct_count, a.incorrect_count, a.partial_count, a.adjusted_count)
    assert counts == (3.0, 1.0, 2.0, 1.0)
    assert (a.user_provided_count, a.missed_count, a.weighted_missed) == (2, 2, 3.0)
    assert a.false_positive_counts == {"basic_auth": 3.0}
    assert list(a.false_negative_counts.items()) == [("jwt", 2.0), ("oauth2", 1.0)]
    assert a.suggested_threshold == 0.8
    assert a.recommendations == [
        "Raise the confidence threshold to 0.80: detections at or above it reach 100.0% precision "
        "(target 90%, now 64.3%).",
        "Most frequent false positives: 'basic_auth' (3); add them as evidence against the pattern, or split it.",
        "Recall is 60.0%: 2 detections of other patterns were really auth; lower its threshold or add evidence "
        "for it. Most frequent false negatives: 'jwt' (2), 'oauth2' (1).",
        "43% of the feedback says the detection was only partly right: consider a more specific sub-pattern.",
    ]


async def test_min_samples_decides_sufficiency_and_the_suggested_threshold(
    collector: PatternFeedbackCollector,
) -> None:
    await _record_example(collector)
    a = await collector.analyze_feedback("auth", min_samples=6)
    assert (a.sufficient_data, a.sample_count, a.suggested_threshold) == (False, 5, None)
    assert a.precision == pytest.approx(4.5 / 7)  # the figures are computed all the same
    assert a.recommendations[0] == (
        "Collect more feedback: 5 scored detections, 6 needed before the figures and the threshold can be trusted."
    )
    assert await collector.tune_pattern_threshold("auth", 0.9, min_samples=6) is None
    assert await collector.tune_pattern_threshold("auth", 0.9, min_samples=5) == 0.8
    assert await collector.tune_pattern_threshold("auth", 0.65, min_samples=5) == 0.6  # 4/6 >= 0.65 > 4.5/7


async def test_a_pattern_without_feedback_has_empty_figures(collector: PatternFeedbackCollector) -> None:
    a = await collector.analyze_feedback("nothing_here")
    assert (a.sample_count, a.precision, a.recall, a.f1_score, a.sufficient_data) == (0, 0.0, 0.0, 0.0, False)
    assert (a.false_positive_counts, a.suggested_threshold) == ({}, None)


async def test_tuning_follows_the_weights(collector: PatternFeedbackCollector) -> None:
    nine = [fb("cache", 0.9, "cache", "correct") for _ in range(9)]
    await collector.record_feedback_batch([*nine, fb("cache", 0.8, None, "incorrect")])
    await collector.record_feedback_batch([fb("cache_user", 0.9, "cache_user", "correct") for _ in range(9)])
    await collector.record_feedback(fb("cache_user", 0.8, None, "incorrect", user=True))
    assert await collector.tune_pattern_threshold("cache", 0.9, min_samples=10) == 0.8  # 9 / 10
    assert await collector.tune_pattern_threshold("cache_user", 0.9, min_samples=10) == 0.9  # 9 / 11 at 0.8
    assert await collector.tune_pattern_threshold("cache", 0.95, min_samples=10) == 0.9
    curve = (await collector.threshold_sweep("cache", 0.9)).curve
    assert curve == ((0.9, 1.0, 1.0, 9), (0.8, 0.9, 1.0, 10))


async def test_tuning_is_none_when_no_threshold_reaches_the_target(collector: PatternFeedbackCollector) -> None:
    await collector.record_feedback_batch([fb("bad", 0.1 * (i % 9 + 1), None, "incorrect") for i in range(25)])
    assert await collector.tune_pattern_threshold("bad") is None
    result = await collector.threshold_sweep("bad")
    assert (result.rows, result.threshold, result.lowest, result.highest) == (25, None, 0.1, 0.9)


async def test_global_metrics_and_bulk_analysis(collector: PatternFeedbackCollector) -> None:
    await _record_example(collector)
    metrics = await collector.get_global_precision_metrics(min_samples=2)
    needs = metrics.pop("needs_improvement")
    assert metrics == {
        "overall_precision": pytest.approx(6.5 / 12),
        "overall_recall": pytest.approx(6.5 / 11.5),
        "overall_f1": pytest.approx(2 * (6.5 / 12) * (6.5 / 11.5) / (6.5 / 12 + 6.5 / 11.5)),
        "patterns_analyzed": 3,
        "patterns_meeting_target": 0,
        "target_precision": 0.9,
        "min_samples": 2,
        "total_feedback": 8,
        "weighted_feedback": 12.0,
        "insufficient_data": ["crud"],
    }
    assert [(n["pattern"], n["sample_count"]) for n in needs] == [("session", 2), ("auth", 5)]
    assert needs[0]["precision"] == pytest.approx(1 / 3)
    assert needs[1]["recall"] == pytest.approx(0.6)
    assert needs[0]["recommendations"][0].startswith("Raise the confidence threshold to 0.95")
    analyses = await collector.get_all_pattern_analyses(min_samples=2)
    assert [(a.pattern_name, round(a.precision, 3)) for a in analyses] == [
        ("oauth2", 0.0),
        ("session", 0.333),
        ("crud", 0.5),
        ("auth", 0.643),
    ]
    oauth2 = analyses[0]
    assert (oauth2.sample_count, oauth2.missed_count, oauth2.weighted_missed) == (0, 2, 2.0)
    assert oauth2.recommendations[-1].startswith("Never detected, but 2 detections of other patterns were")


async def test_a_pattern_meeting_the_target_is_counted(collector: PatternFeedbackCollector) -> None:
    await collector.record_feedback_batch([fb("good", 0.9, "good", "correct") for _ in range(20)])
    metrics = await collector.get_global_precision_metrics()
    assert (metrics["patterns_meeting_target"], metrics["needs_improvement"]) == (1, [])
    a = await collector.analyze_feedback("good")
    assert a.recommendations == ["Meets the 90% precision target; keep recording feedback."]


def test_generation_threshold_rules() -> None:
    good = sweep([Bucket(80, 10, 10.0, 0.0), Bucket(70, 10, 10.0, 0.0)], 0.9)
    assert decide_threshold("p", 0.6, good, 20).effective == 0.6  # lowest recorded 0.7 is above the default
    assert decide_threshold("p", 0.75, good, 20).effective == 0.7  # feedback lowers it to the lowest recorded
    mixed = sweep([Bucket(80, 10, 10.0, 0.0), Bucket(70, 10, 2.0, 8.0)], 0.9)
    decided = decide_threshold("p", 0.6, mixed, 20)
    assert (decided.effective, decided.tuned, decided.samples) == (0.8, 0.8, 20)
    assert decided.reason == "tuned: detections below it fall short of 90% precision"
    bad = sweep([Bucket(85, 20, 0.0, 20.0)], 0.9)
    assert decide_threshold("p", 0.6, bad, 20).effective == 0.86
    assert decide_threshold("p", 0.6, mixed, 21).effective == 0.6  # not enough samples
    assert decide_threshold("p", 0.6, None, 20).reason == "default (0 of 20 samples)"


async def test_generation_thresholds_come_from_feedback(collector: PatternFeedbackCollector) -> None:
    rows = [fb("caching", 0.9, "caching", "correct") for _ in range(15)]
    rows += [fb("caching", 0.6, None, "incorrect", user=True) for _ in range(5)]
    await collector.record_feedback_batch(rows)
    decisions = await collector.generation_thresholds()
    assert (decisions["caching"].default, decisions["caching"].effective) == (0.55, 0.9)
    assert decisions["caching"].from_feedback
    assert decisions["crud"].effective == decisions["crud"].default == 0.55
    assert not decisions["crud"].from_feedback
