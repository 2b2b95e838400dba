"""Aggregates the summaries share, computed the same way on both backends (e.g. the nearest-rank p95)."""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agents.lib.db.database import Database
from agents.lib.db.values import optional_float, rate

__all__ = ["breakdown", "p95"]


async def p95(
    db: Database,
    conn: AsyncConnection,
    column: sa.ColumnElement[Any],
    where: sa.ColumnElement[bool],
    count: int,
) -> float | None:
    """Return the nearest-rank p95 of ``column`` over the ``count`` rows matching ``where`` (``None``: no rows).

    ``count`` comes from the caller's totals query in the same transaction. PostgreSQL uses
    ``percentile_disc(0.95)``; on SQLite the value at ascending rank ``ceil(0.95 * count)`` is read in
    descending order, so that ``LIMIT 1 OFFSET k`` keeps only the top ~5% of the rows in its sorter instead of
    sorting them all.
    """
    if db.is_postgres:
        stmt = sa.select(sa.func.percentile_disc(0.95).within_group(column.asc())).where(where)
        return optional_float((await conn.execute(stmt)).scalar())
    if not count:
        return None
    rank = max(math.ceil(0.95 * count), 1)  # 1-based, ascending
    ordered = sa.select(column).where(where).order_by(column.desc()).limit(1).offset(count - rank)
    return optional_float((await conn.execute(ordered)).scalar())


async def breakdown(
    conn: AsyncConnection,
    group: sa.ColumnElement[Any],
    duration: sa.ColumnElement[Any],
    success: sa.ColumnElement[Any],
    where: sa.ColumnElement[bool],
    label: str,
) -> list[dict[str, Any]]:
    """Return one dict per ``group`` value, sorted: ``label``, ``count``, ``success_rate``, ``avg_duration_ms``."""
    ok = sa.func.sum(sa.case((success, 1), else_=0))
    stmt = (
        sa.select(group, sa.func.count(), ok, sa.func.avg(duration)).where(where).group_by(group).order_by(group)
    )
    return [
        {label: name, "count": int(n), "success_rate": rate(s, n), "avg_duration_ms": optional_float(avg)}
        for name, n, s, avg in (await conn.execute(stmt)).all()
    ]
