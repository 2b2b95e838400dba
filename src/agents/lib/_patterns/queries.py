"""Storage queries of pattern feedback, as functions over a :class:`CodegenPersistence` (SQLAlchemy Core).

Every figure is aggregated in SQL (on SQLite and PostgreSQL alike) so that a pattern with a million feedback rows
is analysed without loading them: per pattern, one grouped row of weighted sums; per confidence bucket
(0.01 wide), one row; per false-positive/negative item, one row (the top ``limit`` per pattern, ranked in SQL).
The definition of the sums is :mod:`agents.lib._patterns.metrics`. All values are bound parameters.

The reads of one analysis run in one transaction (:func:`reading`), so its figures come from one snapshot; on
PostgreSQL that transaction turns JIT compilation off (it costs ~15 ms per query once tables pass ~100k rows,
more than these aggregates gain from it). The transaction (and the
definition of the credit) come from :class:`~agents.lib.db.stores.PatternFeedbackStore`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agents.lib._patterns.metrics import BUCKETS_PER_UNIT, FEEDBACK_TYPES, Bucket, Tally, credit_of
from agents.lib.db.schema import pattern_feedback_log
from agents.lib.db.stores.pattern_feedback import PatternFeedbackStore
from agents.lib.persistence import CodegenPersistence

__all__ = ["FeedbackReader", "insert_feedback", "reading"]

_T = pattern_feedback_log
_ITEM_COLUMNS = ("false_positives", "false_negatives")


def _scored() -> sa.ColumnElement[bool]:
    return _T.c.feedback_type.in_(FEEDBACK_TYPES)


def _only(column: sa.ColumnElement[Any], patterns: Sequence[str] | None) -> list[sa.ColumnElement[bool]]:
    return [] if patterns is None else [column.in_(list(patterns))]


async def insert_feedback(persistence: CodegenPersistence, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert feedback rows in one transaction (``rows`` hold column values, validated by the caller)."""
    if not rows:
        return
    await persistence.store(PatternFeedbackStore).insert_many(rows)


@asynccontextmanager
async def reading(persistence: CodegenPersistence, action: str) -> AsyncIterator[FeedbackReader]:
    """Yield a :class:`FeedbackReader` on one transaction of ``persistence`` (``action`` names it in errors)."""
    async with persistence.store(PatternFeedbackStore).reading(action) as conn:
        yield FeedbackReader(conn, persistence.backend)


class FeedbackReader:
    """The aggregate reads of pattern feedback, on one connection (see :func:`reading`)."""

    def __init__(self, conn: AsyncConnection, backend: str) -> None:
        self.conn = conn
        self.backend = backend

    async def tallies(self, patterns: Sequence[str] | None = None) -> dict[str, Tally]:
        """Return the :class:`Tally` of every pattern with scored feedback or misses (or of ``patterns`` only).

        Two grouped queries: the rows detecting each pattern, and the rows that missed it.
        """
        credit = credit_of(_T.c.feedback_type)
        w = _T.c.weight
        by_type = [
            sa.func.coalesce(sa.func.sum(sa.case((_T.c.feedback_type == kind, w), else_=0.0)), 0.0)
            for kind in FEEDBACK_TYPES
        ]
        detected = (
            sa.select(
                _T.c.detected_pattern,
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(sa.case((_T.c.user_provided, 1), else_=0)), 0),
                sa.func.coalesce(sa.func.sum(w), 0.0),
                sa.func.coalesce(sa.func.sum(w * credit), 0.0),
                sa.func.coalesce(sa.func.sum(w * (1.0 - credit)), 0.0),
                *by_type,
            )
            .where(_scored(), *_only(_T.c.detected_pattern, patterns))
            .group_by(_T.c.detected_pattern)
        )
        missed = (
            sa.select(_T.c.actual_pattern, sa.func.count(), sa.func.coalesce(sa.func.sum(w * (1.0 - credit)), 0.0))
            .where(
                _scored(),
                _T.c.actual_pattern.is_not(None),
                _T.c.actual_pattern != _T.c.detected_pattern,
                _T.c.feedback_type != "correct",
                *_only(_T.c.actual_pattern, patterns),
            )
            .group_by(_T.c.actual_pattern)
        )
        detected_rows = (await self.conn.execute(detected)).all()
        missed_rows = (await self.conn.execute(missed)).all()
        fn: dict[str, tuple[int, float]] = {str(r[0]): (int(r[1]), float(r[2])) for r in missed_rows}
        out: dict[str, Tally] = {}
        for row in detected_rows:
            name = str(row[0])
            missed_count, missed_weight = fn.pop(name, (0, 0.0))
            out[name] = Tally(
                rows=int(row[1]),
                user_rows=int(row[2]),
                weight=float(row[3]),
                tp=float(row[4]),
                fp=float(row[5]),
                fn=missed_weight,
                missed_rows=missed_count,
                by_type=tuple((kind, float(v)) for kind, v in zip(FEEDBACK_TYPES, row[6:], strict=True)),
            )
        for name, (missed_count, missed_weight) in fn.items():  # patterns only ever missed, never detected
            out[name] = Tally(fn=missed_weight, missed_rows=missed_count)
        return out

    def _bucket(self) -> sa.ColumnElement[Any]:
        scaled = _T.c.detected_confidence * BUCKETS_PER_UNIT + 1e-6
        if self.backend == "postgresql":
            return sa.cast(sa.func.floor(scaled), sa.Integer)
        return sa.cast(scaled, sa.Integer)  # SQLite's CAST truncates: floor, for these non-negative values

    async def buckets(self, patterns: Sequence[str] | None = None) -> dict[str, list[Bucket]]:
        """Return, per pattern, its scored rows with a confidence in [0, 1] grouped into 0.01-wide buckets."""
        credit = credit_of(_T.c.feedback_type)
        w = _T.c.weight
        bucket = self._bucket().label("bucket")
        stmt = (
            sa.select(
                _T.c.detected_pattern,
                bucket,
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(w * credit), 0.0),
                sa.func.coalesce(sa.func.sum(w * (1.0 - credit)), 0.0),
            )
            .where(
                _scored(),
                _T.c.detected_confidence.is_not(None),
                _T.c.detected_confidence >= 0.0,
                _T.c.detected_confidence <= 1.0,
                *_only(_T.c.detected_pattern, patterns),
            )
            .group_by(_T.c.detected_pattern, bucket)
        )
        rows = (await self.conn.execute(stmt)).all()
        out: dict[str, list[Bucket]] = defaultdict(list)
        for name, index, count, tp, fp in rows:
            out[str(name)].append(Bucket(min(int(index), BUCKETS_PER_UNIT), int(count), float(tp), float(fp)))
        return dict(out)

    async def table_rows(self) -> int:
        """Return the number of feedback rows (of every pattern and type)."""
        return int((await self.conn.execute(sa.select(sa.func.count()).select_from(_T))).scalar_one())

    async def item_counts(
        self,
        column: str,
        patterns: Sequence[str] | None = None,
        *,
        limit: int = 25,
        scan: bool = False,
    ) -> dict[str, list[tuple[str, float]]]:
        """Return, per pattern, the ``limit`` most frequent items of ``column`` with their weighted counts.

        ``column`` is ``"false_positives"`` or ``"false_negatives"``; items are ranked by weighted count, then
        name. The JSON lists are in the table, not in an index: every matching row is read. ``scan=True`` tells
        SQLite to read the table in order rather than look each row up from the index (about 4x cheaper per row
        when the patterns hold a large share of the table); PostgreSQL's planner makes that choice itself.
        """
        if column not in _ITEM_COLUMNS:
            raise ValueError(f"column must be one of {_ITEM_COLUMNS}")
        if self.backend == "postgresql":
            item = sa.func.jsonb_array_elements_text(_T.c[column]).table_valued("value").alias("item")
        else:
            item = sa.func.json_each(_T.c[column]).table_valued("value").alias("item")
        weight = sa.func.sum(_T.c.weight).label("weight")
        pattern: sa.ColumnElement[Any] = _T.c.detected_pattern
        if scan and self.backend == "sqlite":
            pattern = pattern.concat("")  # an expression: SQLite cannot walk the index for it
        grouped = (
            sa.select(pattern.label("pattern"), item.c.value.label("item"), weight)
            .select_from(_T.join(item, sa.true()))
            .where(_scored(), *_only(pattern, patterns))
            .group_by(pattern, item.c.value)
            .subquery()
        )
        rank = (
            sa.func.row_number()
            .over(partition_by=grouped.c.pattern, order_by=(grouped.c.weight.desc(), grouped.c.item))
            .label("rank")
        )
        ranked = sa.select(grouped.c.pattern, grouped.c.item, grouped.c.weight, rank).subquery()
        stmt = (
            sa.select(ranked.c.pattern, ranked.c.item, ranked.c.weight)
            .where(ranked.c.rank <= limit)
            .order_by(ranked.c.pattern, ranked.c.rank)
        )
        rows = (await self.conn.execute(stmt)).all()
        out: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for name, value, total in rows:
            out[str(name)].append((str(value), float(total)))
        return dict(out)
