"""Storage of pattern feedback (Stream 5): ``pattern_feedback_log``, one row per piece of feedback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agents.lib.db.schema import pattern_feedback_log
from agents.lib.db.stores.base import Store
from agents.lib.db.values import (
    cutoff,
    json_safe,
    non_negative_int,
    number,
    optional_float,
    optional_id,
    string_list,
    text,
    timestamp,
)

__all__ = [
    "AUTOMATIC_WEIGHT",
    "CREDIT",
    "FEEDBACK_TYPES",
    "USER_WEIGHT",
    "PatternFeedbackRecord",
    "PatternFeedbackStore",
    "credit_of",
]


@dataclass(frozen=True)
class PatternFeedbackRecord:
    """One stored piece of pattern feedback."""

    id: int
    session_id: str | None
    detected_pattern: str
    detected_confidence: float | None
    actual_pattern: str | None
    feedback_type: str
    capabilities_matched: list[str]
    false_positives: list[str]
    false_negatives: list[str]
    user_provided: bool
    weight: float
    context: dict[str, Any] | None
    created_at: datetime


FEEDBACK_TYPES: tuple[str, ...] = ("correct", "incorrect", "partial", "adjusted")
"""The feedback types that are scored (docs/patterns.md, "Precision and recall": the project's one definition)."""

CREDIT: dict[str, float] = {"correct": 1.0, "incorrect": 0.0, "partial": 0.5, "adjusted": 0.5}
"""True-positive credit of each feedback type (the rest of the row's weight is a false positive)."""

USER_WEIGHT = 2.0
"""Weight of user-provided feedback (the ``weight`` column of its rows)."""
AUTOMATIC_WEIGHT = 1.0
"""Weight of automatic feedback (verification outcomes, ML suggestions)."""


def credit_of(feedback_type: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """Return the SQL true-positive credit of a row (``NULL`` for an unscored feedback type)."""
    return sa.case(*((feedback_type == name, sa.literal(value)) for name, value in CREDIT.items()), else_=None)


class PatternFeedbackStore(Store):
    """Feedback on detected patterns, read back oldest first."""

    async def record(
        self,
        *,
        detected_pattern: str,
        feedback_type: str,
        session_id: UUID | str | None = None,
        detected_confidence: float | None = None,
        actual_pattern: str | None = None,
        capabilities_matched: Iterable[str] | None = None,
        false_positives: Iterable[str] | None = None,
        false_negatives: Iterable[str] | None = None,
        user_provided: bool = False,
        weight: float | None = None,
        context: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> int:
        """Store one piece of feedback and return its id (``weight``: 2.0 if user-provided, else 1.0)."""
        confidence = None if detected_confidence is None else number(detected_confidence, "detected_confidence")
        values = {
            "session_id": optional_id(session_id),
            "detected_pattern": text(detected_pattern, "detected_pattern", 200),
            "detected_confidence": confidence,
            "actual_pattern": None if actual_pattern is None else text(actual_pattern, "actual_pattern", 200),
            "feedback_type": text(feedback_type, "feedback_type", 64),
            "capabilities_matched": string_list(capabilities_matched, "capabilities_matched"),
            "false_positives": string_list(false_positives, "false_positives"),
            "false_negatives": string_list(false_negatives, "false_negatives"),
            "user_provided": bool(user_provided),
            "weight": (2.0 if user_provided else 1.0) if weight is None else number(weight, "weight"),
            "context": json_safe(context),
            "created_at": timestamp(created_at),
        }
        t = pattern_feedback_log
        stmt = sa.insert(t).values(**values).returning(t.c.id)
        async with self.db.begin("record pattern feedback") as conn:
            new_id = (await conn.execute(stmt)).scalar_one()
        return int(new_id)

    async def list_feedback(
        self,
        detected_pattern: str | None = None,
        *,
        window_minutes: float | None = None,
        limit: int | None = None,
    ) -> list[PatternFeedbackRecord]:
        """Return stored feedback, oldest first (optionally one pattern, a time window, a row limit)."""
        t = pattern_feedback_log
        stmt = sa.select(t).order_by(t.c.created_at, t.c.id)
        if detected_pattern is not None:
            stmt = stmt.where(t.c.detected_pattern == detected_pattern)
        if window_minutes is not None:
            stmt = stmt.where(t.c.created_at >= cutoff(window_minutes))
        if limit is not None:
            stmt = stmt.limit(non_negative_int(limit, "limit"))
        async with self.db.begin("read pattern feedback") as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [
            PatternFeedbackRecord(
                id=int(r["id"]),
                session_id=r["session_id"],
                detected_pattern=r["detected_pattern"],
                detected_confidence=optional_float(r["detected_confidence"]),
                actual_pattern=r["actual_pattern"],
                feedback_type=r["feedback_type"],
                capabilities_matched=list(r["capabilities_matched"] or []),
                false_positives=list(r["false_positives"] or []),
                false_negatives=list(r["false_negatives"] or []),
                user_provided=bool(r["user_provided"]),
                weight=float(r["weight"]),
                context=r["context"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    async def patterns(self) -> list[str]:
        """Return the distinct detected patterns that have feedback, sorted."""
        t = pattern_feedback_log
        stmt = sa.select(t.c.detected_pattern).distinct().order_by(t.c.detected_pattern)
        async with self.db.begin("read pattern feedback") as conn:
            return list((await conn.execute(stmt)).scalars().all())

    async def precision_summary(self, window_minutes: float = 60) -> dict[str, Any]:
        """Summarize the window's feedback with the weighted precision (docs/patterns.md, "Precision and recall").

        Precision is ``sum(w * credit) / sum(w)`` over the scored rows, ``w`` the row's weight (2 for
        user-provided feedback, 1 otherwise) and ``credit`` by :data:`CREDIT`; other feedback types are not
        scored. The per-type counts are raw row counts; ``scored_feedback`` counts the rows that were scored.
        """
        f = pattern_feedback_log
        kind = f.c.feedback_type
        credit = credit_of(kind)
        scored = kind.in_(FEEDBACK_TYPES)

        def count_of(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
            return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

        stmt = sa.select(
            sa.func.count(),
            sa.func.count(sa.distinct(f.c.detected_pattern)),
            sa.func.coalesce(sa.func.sum(f.c.weight * credit), 0.0),
            sa.func.coalesce(sa.func.sum(sa.case((scored, f.c.weight), else_=0.0)), 0.0),
            *(count_of(kind == name) for name in FEEDBACK_TYPES),
            count_of(f.c.user_provided),
            sa.func.avg(f.c.detected_confidence),
        ).where(f.c.created_at >= cutoff(window_minutes))
        async with self.db.begin("summarize pattern feedback") as conn:
            row = (await conn.execute(stmt)).one()
        total, patterns, wtp, wall, correct, incorrect, partial, adjusted, users, confidence = row
        correct, incorrect, partial, adjusted = int(correct), int(incorrect), int(partial), int(adjusted)
        return {
            "overall_precision": float(wtp) / float(wall) if wall else 0.0,
            "total_feedback": int(total),
            "scored_feedback": correct + incorrect + partial + adjusted,
            "patterns_analyzed": int(patterns),
            "correct": correct,
            "incorrect": incorrect,
            "partial": partial,
            "adjusted": adjusted,
            "user_provided": int(users),
            "avg_confidence": 0.0 if confidence is None else float(confidence),
        }

    async def insert_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert feedback rows in one transaction (``rows`` hold column values, validated by the caller)."""
        if not rows:
            return
        async with self.db.begin("record pattern feedback") as conn:
            await conn.execute(sa.insert(pattern_feedback_log), [dict(r) for r in rows])

    @asynccontextmanager
    async def reading(self, action: str) -> AsyncIterator[AsyncConnection]:
        """Yield a connection on one transaction for a set of aggregate reads (one snapshot).

        On PostgreSQL the transaction turns JIT compilation off: it costs ~15 ms per query once the table
        passes ~100k rows, more than these aggregates gain from it.
        """
        async with self.db.begin(action) as conn:
            if self.db.backend == "postgresql":
                await conn.execute(sa.text("SET LOCAL jit = off"))
            yield conn
