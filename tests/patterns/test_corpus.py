"""Precision and recall per pattern on the labelled corpus, at the default thresholds and at the tuned ones.

The tuned thresholds come from the real loop: every detection of the corpus is recorded as user feedback
(``correct`` when the label says so, else ``incorrect``), ``tune_pattern_threshold`` sweeps them in SQL, and the
detector, held to those thresholds, is measured again. The SQL sweep is checked against a brute-force sweep.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import cache

import pytest

from agents.lib._patterns.detect import DetectedPattern, detect_patterns
from agents.lib._patterns.library import PATTERN_NAMES
from agents.lib.pattern_feedback import PatternFeedback, PatternFeedbackCollector
from agents.lib.prd_analyzer import analyze_prd
from tests.patterns.corpus import CORPUS, CorpusItem

MIN_PRECISION = 0.9
MIN_RECALL = 0.5  # a pattern that is never detected would have no precision to speak of
TUNING_SAMPLES = 3  # the corpus has 4 to 25 detections per pattern


@cache
def _detections() -> tuple[tuple[CorpusItem, tuple[DetectedPattern, ...]], ...]:
    return tuple((item, tuple(detect_patterns(analyze_prd(item.text)))) for item in CORPUS)


def _scores(thresholds: dict[str, float] | None = None) -> dict[str, tuple[int, int, int]]:
    """(tp, fp, fn) per pattern, detections held to ``thresholds`` (default: the library's)."""
    counts: dict[str, Counter[str]] = {name: Counter() for name in PATTERN_NAMES}
    for item, found in _detections():
        applied = {d.name for d in found if d.confidence >= (thresholds or {}).get(d.name, d.threshold)}
        for name in PATTERN_NAMES:
            if name in applied:
                counts[name]["tp" if name in item.patterns else "fp"] += 1
            elif name in item.patterns:
                counts[name]["fn"] += 1
    return {name: (c["tp"], c["fp"], c["fn"]) for name, c in counts.items()}


def test_the_corpus_is_big_varied_and_labelled_with_known_patterns() -> None:
    assert len(CORPUS) >= 30
    assert len({item.domain for item in CORPUS}) >= 10
    assert len({item.id for item in CORPUS}) == len(CORPUS)
    labels = Counter(name for item in CORPUS for name in item.patterns)
    assert set(labels) == set(PATTERN_NAMES)
    assert min(labels.values()) >= 6, labels


def test_precision_and_recall_at_the_default_thresholds() -> None:
    scores = _scores()
    for name, (tp, fp, fn) in scores.items():
        assert tp / (tp + fp) >= MIN_PRECISION, (name, tp, fp, fn)
        assert tp / (tp + fn) >= MIN_RECALL, (name, tp, fp, fn)


def _brute_force_threshold(rows: list[tuple[float, bool]], target: float) -> float | None:
    """The lowest recorded confidence (floored to 0.01) whose detections at or above it reach ``target``."""
    candidates = sorted({math.floor(confidence * 100 + 1e-6) / 100 for confidence, _ in rows})
    for t in candidates:
        above = [ok for confidence, ok in rows if confidence >= t]
        if sum(above) / len(above) >= target:
            return t
    return None


async def test_precision_at_the_thresholds_tuned_from_recorded_feedback(
    collector: PatternFeedbackCollector,
) -> None:
    feedback = [
        PatternFeedback(
            session_id=item.id,
            detected_pattern=d.name,
            detected_confidence=d.confidence,
            actual_pattern=d.name if d.name in item.patterns else None,
            feedback_type="correct" if d.name in item.patterns else "incorrect",
            user_provided=True,
        )
        for item, found in _detections()
        for d in found
    ]
    await collector.record_feedback_batch(feedback)
    tuned: dict[str, float] = {}
    for name in PATTERN_NAMES:
        rows = [
            (f.detected_confidence, f.feedback_type == "correct") for f in feedback if f.detected_pattern == name
        ]
        threshold = await collector.tune_pattern_threshold(name, MIN_PRECISION, min_samples=TUNING_SAMPLES)
        assert threshold == _brute_force_threshold(rows, MIN_PRECISION), name
        assert threshold is not None
        tuned[name] = threshold
    for name, (tp, fp, fn) in _scores(tuned).items():
        assert tp / (tp + fp) >= MIN_PRECISION, (name, tuned[name], tp, fp, fn)
        assert tp / (tp + fn) >= MIN_RECALL, (name, tuned[name], tp, fp, fn)


@pytest.mark.parametrize("name", PATTERN_NAMES)
def test_every_pattern_is_detected_somewhere_with_evidence(name: str) -> None:
    hits = [d for _, found in _detections() for d in found if d.name == name and d.applied]
    assert hits
    assert all(d.evidence for d in hits)
