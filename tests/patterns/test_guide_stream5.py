"""The guide's Stream 5 examples run as written, against the configured database, and print what they should.

The blocks are read from the guide (see ``tests._guide``) and share one namespace, as a reader running them in
order would. Only what the guide leaves to the reader is supplied: ``min_samples`` (the analysis block prints it
without defining it). The database is the configured one: ``DATABASE_URL`` names a SQLite file or a
PostgreSQL database. Between blocks the test records more feedback, so that the analysis has enough data.
"""

from __future__ import annotations

import ast
import contextlib
import io
from typing import Any
from uuid import UUID, uuid4

import pytest

from agents.lib.config import reset_settings
from agents.lib.pattern_feedback import PatternFeedback, PatternFeedbackCollector
from tests._guide import code_blocks

HEADINGS = [
    "Recording Feedback",
    "Analyzing Pattern Performance",
    "Tuning Pattern Thresholds",
    "Global Metrics",
    "Bulk Analysis",
    "Custom Feedback Types",
]


async def run_block(code: str, namespace: dict[str, Any], name: str) -> list[str]:
    """Run one block with top-level ``await``; return the lines it printed."""
    out = io.StringIO()
    compiled = compile(code, f"<guide: {name}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    with contextlib.redirect_stdout(out):
        outcome = eval(compiled, namespace)
        if outcome is not None:
            await outcome
    return out.getvalue().splitlines()


def more_feedback() -> list[PatternFeedback]:
    """24 more detections of authentication_pattern: 16 right, 4 wrong (users), 4 partly right."""
    rows = [PatternFeedback(uuid4(), "authentication_pattern", 0.9, "authentication_pattern", "correct")] * 16
    rows += [
        PatternFeedback(
            uuid4(),
            "authentication_pattern",
            0.6,
            "oauth2_pattern",
            "incorrect",
            false_positives=["basic_auth"],
            user_provided=True,
        )
    ] * 4
    rows += [
        PatternFeedback(
            uuid4(), "authentication_pattern", 0.75, "jwt_pattern", "partial", false_positives=["session_cookie"]
        )
    ] * 4
    return rows


async def test_stream5_examples_run_as_written(backend_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", backend_dsn)
    reset_settings()
    blocks = code_blocks("Stream 5: Pattern Feedback", "python")
    assert [heading for heading, _ in blocks] == HEADINGS
    code = dict(blocks)
    namespace: dict[str, Any] = {"__name__": "guide_stream5", "min_samples": 20}
    try:
        [line] = await run_block(code["Recording Feedback"], namespace, "record")
        feedback_id = namespace["feedback_id"]
        assert isinstance(feedback_id, UUID)
        assert line == f"Feedback recorded: {feedback_id}"
        collector: PatternFeedbackCollector = namespace["collector"]
        [row] = await collector.persistence.list_pattern_feedback()
        assert (row.detected_pattern, row.actual_pattern, row.weight) == (
            "authentication_pattern",
            "oauth2_pattern",
            2.0,
        )
        assert (row.capabilities_matched, row.false_negatives) == (["auth", "security"], ["oauth2", "jwt"])

        # One sample is not enough to judge the pattern, nor to tune it.
        lines = await run_block(code["Analyzing Pattern Performance"], namespace, "analyze")
        assert lines == ["Insufficient data: 1 samples (need 20)"]
        assert await run_block(code["Tuning Pattern Thresholds"], namespace, "tune") == []

        await collector.record_feedback_batch(more_feedback())
        lines = await run_block(code["Analyzing Pattern Performance"], namespace, "analyze")
        assert lines == [
            "Pattern: authentication_pattern",
            "Precision: 60.0%",  # (16 + 4 * 0.5) / (16 + 2 * 5 + 4)
            "Samples: 25",
            "Correct: 16.0",
            "Incorrect: 10.0",  # five wrong detections by users, each weighing 2
            "",
            "Top false positives:",
            "  basic_auth: 10.0 occurrences",
            "  session_cookie: 4.0 occurrences",
            "",
            "Recommendations:",
            "  - Raise the confidence threshold to 0.90: detections at or above it reach 100.0% precision "
            "(target 90%, now 60.0%).",
            "  - Most frequent false positives: 'basic_auth' (10), 'session_cookie' (4); add them as evidence "
            "against the pattern, or split it.",
        ]

        lines = await run_block(code["Tuning Pattern Thresholds"], namespace, "tune")
        assert lines == ["Recommended confidence threshold: 0.90"]
        assert namespace["threshold"] == 0.9

        lines = await run_block(code["Global Metrics"], namespace, "global")
        assert lines == [
            "Overall Metrics:",
            "  Overall precision: 60.0%",
            "  Patterns analyzed: 1",
            "  Meeting target (90%): 0",
            "",
            "Patterns needing attention:",
            "  authentication_pattern: 60.0%",
            "    Recommendations: Raise the confidence threshold to 0.90: detections at or above it reach 100.0% "
            "precision (target 90%, now 60.0%)., Most frequent false positives: 'basic_auth' (10), "
            "'session_cookie' (4); add them as evidence against the pattern, or split it.",
        ]

        # Patterns that were only ever missed come first: they need the most attention.
        lines = await run_block(code["Bulk Analysis"], namespace, "bulk")
        assert lines == [
            "jwt_pattern: 0.0% (0 samples)",
            "oauth2_pattern: 0.0% (0 samples)",
            "authentication_pattern: 60.0% (25 samples)",
        ]

        assert await run_block(code["Custom Feedback Types"], namespace, "types") == []
        kinds = {
            name: (
                namespace[name].feedback_type,
                namespace[name].detected_confidence,
                namespace[name].actual_pattern,
            )
            for name in ("feedback_correct", "feedback_partial", "feedback_adjusted")
        }
        assert kinds == {
            "feedback_correct": ("correct", 0.95, "api_rest"),
            "feedback_partial": ("partial", 0.75, "database_raw_sql"),
            "feedback_adjusted": ("adjusted", 0.7, "cache_memcached"),
        }
        ids = [await collector.record_feedback(namespace[n]) for n in kinds]
        assert len(set(ids)) == 3
        partial = await collector.analyze_feedback("database_orm", min_samples=1)
        assert (partial.precision, partial.partial_count) == (0.5, 1.0)
    finally:
        if "collector" in namespace:
            await namespace["collector"].close()
        reset_settings()
