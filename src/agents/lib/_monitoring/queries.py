"""Storage queries monitoring needs beyond :class:`CodegenPersistence`'s summaries (SQLite and PostgreSQL).

Each function takes a :class:`~agents.lib.persistence.CodegenPersistence` and runs SQLAlchemy Core through its
connection (parameterized; the time window is a UTC cut-off bound as a parameter, as in the summaries). They
belong with the storage layer and are meant to move there.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from agents.lib.db.schema import (
    generation_performance_metrics,
    mixin_compatibility_matrix,
    pattern_feedback_log,
    utcnow,
)
from agents.lib.persistence import CodegenPersistence

__all__ = [
    "PARTIAL_FEEDBACK",
    "batch_summary",
    "mixin_summary",
    "pattern_summary",
    "ping",
    "recent_node_durations",
    "user_weight",
]

PARTIAL_FEEDBACK = ("partial", "adjusted")
"""Feedback types that count half a true positive and half a false positive."""


def user_weight(user_provided: bool) -> float:
    """Return the weight of one piece of pattern feedback in the weighted precision: 2 if user-provided, else 1."""
    return 2.0 if user_provided else 1.0


def _cutoff(window_minutes: float) -> datetime:
    return utcnow() - timedelta(minutes=float(window_minutes))


def _f(value: Any) -> float:
    return 0.0 if value is None else float(value)


async def ping(persistence: CodegenPersistence) -> None:
    """Run ``SELECT 1`` (raises ``OnexError`` when the database cannot be reached)."""
    async with persistence._begin("check the database") as conn:
        await conn.execute(sa.select(sa.literal(1)))


async def batch_summary(persistence: CodegenPersistence, window_minutes: float) -> dict[str, Any]:
    """Summarize the generator's batch rows (``phase = 'batch'``) of the window.

    ``cores_used`` comes from each batch row's context (``BatchStats.cores_used``: CPU time of the process and
    its verification subprocesses / wall time). Averages are 0.0 when there is nothing to average.
    """
    t = generation_performance_metrics
    cores = t.c.context["cores_used"].as_float()
    where = sa.and_(t.c.phase == "batch", t.c.created_at >= _cutoff(window_minutes))
    stmt = sa.select(
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(sa.case((t.c.parallel, 1), else_=0)), 0),
        sa.func.avg(sa.case((t.c.parallel, cores), else_=None)),
        sa.func.avg(sa.case((t.c.parallel, None), else_=cores)),
        sa.func.avg(t.c.duration_ms),
        sa.func.coalesce(sa.func.sum(sa.case((t.c.success, 0), else_=1)), 0),
        sa.func.avg(sa.case((t.c.parallel, t.c.worker_count), else_=None)),
    ).where(where)
    async with persistence._begin("summarize generation batches") as conn:
        total, parallel, par_cores, serial_cores, wall, failed, workers = (await conn.execute(stmt)).one()
    total, parallel = int(total), int(parallel)
    return {
        "total_batches": total,
        "parallel_batches": parallel,
        "failed_batches": int(failed),
        "avg_cores_used": _f(par_cores),
        "serial_cores_used": _f(serial_cores),
        "avg_batch_wall_ms": _f(wall),
        "avg_parallel_workers": _f(workers),
    }


async def pattern_summary(persistence: CodegenPersistence, window_minutes: float) -> dict[str, Any]:
    """Summarize pattern feedback of the window, with the weighted precision.

    Precision is ``sum(w * tp) / sum(w * (tp + fp))`` with ``w = 2`` for user-provided rows and 1 otherwise;
    ``correct`` is one true positive, ``incorrect`` one false positive, ``partial`` and ``adjusted`` half of
    each; other feedback types are not scored. ``scored_feedback`` counts the rows that were scored.
    """
    f = pattern_feedback_log
    kind = f.c.feedback_type
    half = kind.in_(PARTIAL_FEEDBACK)
    w = sa.case((f.c.user_provided, user_weight(True)), else_=user_weight(False))
    tp = sa.case((kind == "correct", 1.0), (half, 0.5), else_=0.0)
    fp = sa.case((kind == "incorrect", 1.0), (half, 0.5), else_=0.0)

    def count_of(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    stmt = sa.select(
        sa.func.count(),
        sa.func.count(sa.distinct(f.c.detected_pattern)),
        sa.func.coalesce(sa.func.sum(w * tp), 0.0),
        sa.func.coalesce(sa.func.sum(w * (tp + fp)), 0.0),
        count_of(kind == "correct"),
        count_of(kind == "incorrect"),
        count_of(kind == "partial"),
        count_of(kind == "adjusted"),
        count_of(f.c.user_provided),
        sa.func.avg(f.c.detected_confidence),
    ).where(f.c.created_at >= _cutoff(window_minutes))
    async with persistence._begin("summarize pattern feedback") as conn:
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
        "avg_confidence": _f(confidence),
    }


async def mixin_summary(persistence: CodegenPersistence, window_minutes: float) -> dict[str, Any]:
    """Summarize the mixin compatibility pairs updated in the window (outcomes are cumulative per pair).

    ``conflict_pairs`` counts pairs with more failures than successes.
    """
    m = mixin_compatibility_matrix
    stmt = sa.select(
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(m.c.success_count), 0),
        sa.func.coalesce(sa.func.sum(m.c.failure_count), 0),
        sa.func.coalesce(sa.func.sum(sa.case((m.c.failure_count > m.c.success_count, 1), else_=0)), 0),
        sa.func.count(sa.distinct(m.c.node_type)),
    ).where(m.c.updated_at >= _cutoff(window_minutes))
    async with persistence._begin("summarize mixin compatibility") as conn:
        pairs, ok, failed, conflicts, node_types = (await conn.execute(stmt)).one()
    observations = int(ok) + int(failed)
    return {
        "total_pairs": int(pairs),
        "total_observations": observations,
        "success_rate": int(ok) / observations if observations else 0.0,
        "conflict_pairs": int(conflicts),
        "node_types": int(node_types),
    }


async def recent_node_durations(
    persistence: CodegenPersistence, window_minutes: float, limit: int = 200
) -> list[tuple[datetime, str, float, bool]]:
    """Return the window's last ``limit`` generated nodes, oldest first: (time, node type, ms, success)."""
    t = generation_performance_metrics
    stmt = (
        sa.select(t.c.created_at, t.c.node_type, t.c.duration_ms, t.c.success)
        .where(t.c.phase == "job", t.c.created_at >= _cutoff(window_minutes))
        .order_by(t.c.created_at.desc(), t.c.id.desc())
        .limit(int(limit))
    )
    async with persistence._begin("read recent generation metrics") as conn:
        rows = (await conn.execute(stmt)).all()
    return [(r[0], str(r[1]), float(r[2]), bool(r[3])) for r in reversed(rows)]
