"""Storage of the main job: its runs and its buffered phase metrics (kind ``"generation"``), with their summary.

Tables: ``generation_sessions`` (written at once) and ``generation_performance_metrics`` (buffered).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agents.lib.db.buffer import Row
from agents.lib.db.database import Database
from agents.lib.db.schema import generation_performance_metrics, generation_sessions, utcnow
from agents.lib.db.sink import GENERATION_METRICS
from agents.lib.db.stores.analytics import breakdown, p95
from agents.lib.db.stores.base import MetricKind, Store
from agents.lib.db.values import (
    cutoff,
    json_safe,
    non_negative_int,
    number,
    optional_float,
    optional_id,
    rate,
    text,
    timestamp,
)
from agents.lib.errors import ErrorCode, OnexError

__all__ = ["GenerationSession", "GenerationStore", "generation_row"]


@dataclass(frozen=True)
class GenerationSession:
    """One run of the generator."""

    session_id: str
    prd_path: str | None
    service_name: str | None
    status: str
    node_count: int
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None
    error: str | None
    context: dict[str, Any] | None


_GENERATION_FIELDS = frozenset(
    {
        "node_type",
        "phase",
        "duration_ms",
        "session_id",
        "parallel",
        "worker_count",
        "speedup",
        "success",
        "context",
        "created_at",
    }
)


def generation_row(row: Mapping[str, Any]) -> Row:
    """Check one ``"generation"`` row (the keywords of ``record_generation_metric``) and fill its defaults."""
    unknown = set(row) - _GENERATION_FIELDS
    if unknown:
        raise OnexError(f"unknown generation metric fields: {sorted(unknown)}", code=ErrorCode.VALIDATION_ERROR)
    speedup = row.get("speedup")
    return {
        "session_id": optional_id(row.get("session_id")),
        "node_type": text(row.get("node_type"), "node_type", 64),
        "phase": text(row.get("phase"), "phase", 64),
        "duration_ms": number(row.get("duration_ms"), "duration_ms"),
        "parallel": bool(row.get("parallel", False)),
        "worker_count": non_negative_int(row.get("worker_count", 1), "worker_count"),
        "speedup": None if speedup is None else number(speedup, "speedup"),
        "success": bool(row.get("success", True)),
        "context": json_safe(row.get("context")),
        "created_at": timestamp(row.get("created_at")),
    }


async def _write_generation(db: Database, conn: AsyncConnection, rows: list[Row]) -> None:
    await db.bulk_insert(conn, generation_performance_metrics, rows)


class GenerationStore(Store):
    """Generation sessions (written at once) and generation-phase metrics (buffered)."""

    metric_kinds = (MetricKind(GENERATION_METRICS, generation_row, _write_generation),)

    async def start_session(
        self,
        session_id: UUID | str,
        *,
        prd_path: str | None = None,
        service_name: str | None = None,
        node_count: int = 0,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """Record that a generation run started (status ``running``)."""
        stmt = sa.insert(generation_sessions).values(
            session_id=text(session_id, "session_id", 64),
            prd_path=prd_path,
            service_name=service_name,
            status="running",
            node_count=non_negative_int(node_count, "node_count"),
            started_at=utcnow(),
            context=json_safe(context),
        )
        async with self.db.begin("record a generation session") as conn:
            await conn.execute(stmt)

    async def finish_session(
        self,
        session_id: UUID | str,
        *,
        status: str,
        node_count: int | None = None,
        duration_ms: float | None = None,
        error: str | None = None,
    ) -> bool:
        """Record the end of a run; return whether the session existed."""
        t = generation_sessions
        values: dict[str, Any] = {"status": text(status, "status", 32), "finished_at": utcnow(), "error": error}
        if node_count is not None:
            values["node_count"] = non_negative_int(node_count, "node_count")
        if duration_ms is not None:
            values["duration_ms"] = number(duration_ms, "duration_ms")
        stmt = sa.update(t).where(t.c.session_id == text(session_id, "session_id", 64)).values(values)
        async with self.db.begin("record a generation session") as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def get_session(self, session_id: UUID | str) -> GenerationSession | None:
        """Return one generation run, or ``None``."""
        t = generation_sessions
        stmt = sa.select(t).where(t.c.session_id == text(session_id, "session_id", 64))
        async with self.db.begin("read a generation session") as conn:
            r = (await conn.execute(stmt)).mappings().one_or_none()
        if r is None:
            return None
        return GenerationSession(
            session_id=r["session_id"],
            prd_path=r["prd_path"],
            service_name=r["service_name"],
            status=r["status"],
            node_count=int(r["node_count"]),
            started_at=r["started_at"],
            finished_at=r["finished_at"],
            duration_ms=optional_float(r["duration_ms"]),
            error=r["error"],
            context=r["context"],
        )

    async def summary(self, window_minutes: float = 60) -> dict[str, Any]:
        """Summarize generation metrics recorded in the last ``window_minutes``.

        Keys: ``total``, ``success_rate``, ``parallel_usage_rate``, ``avg_speedup`` (over rows with a speedup),
        ``avg_duration_ms``, ``p95_duration_ms``, ``by_node_type`` (list of dicts) and ``window_minutes``.
        Rates and averages are ``None`` when the window holds no rows.
        """
        await self._flush()
        t = generation_performance_metrics
        where = t.c.created_at >= cutoff(window_minutes)
        ok = sa.func.sum(sa.case((t.c.success, 1), else_=0))
        par = sa.func.sum(sa.case((t.c.parallel, 1), else_=0))
        totals = sa.select(sa.func.count(), ok, par, sa.func.avg(t.c.speedup), sa.func.avg(t.c.duration_ms)).where(
            where
        )
        async with self.db.begin("summarize generation metrics") as conn:
            total, succeeded, parallel, speedup, avg_ms = (await conn.execute(totals)).one()
            p95_ms = await p95(self.db, conn, t.c.duration_ms, where, int(total))
            groups = await breakdown(conn, t.c.node_type, t.c.duration_ms, t.c.success, where, "node_type")
        return {
            "window_minutes": window_minutes,
            "total": int(total),
            "success_rate": rate(succeeded, total),
            "parallel_usage_rate": rate(parallel, total),
            "avg_speedup": optional_float(speedup),
            "avg_duration_ms": optional_float(avg_ms),
            "p95_duration_ms": p95_ms,
            "by_node_type": groups,
        }

    async def batch_summary(self, window_minutes: float = 60) -> dict[str, Any]:
        """Summarize the generator's batch rows (``phase = 'batch'``) of the window.

        ``cores_used`` comes from each batch row's context (``BatchStats.cores_used``: CPU time of the process and
        its verification subprocesses / wall time). Averages are 0.0 when there is nothing to average.
        """
        await self._flush()
        t = generation_performance_metrics
        cores = t.c.context["cores_used"].as_float()
        where = sa.and_(t.c.phase == "batch", t.c.created_at >= cutoff(window_minutes))
        stmt = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((t.c.parallel, 1), else_=0)), 0),
            sa.func.avg(sa.case((t.c.parallel, cores), else_=None)),
            sa.func.avg(sa.case((t.c.parallel, None), else_=cores)),
            sa.func.avg(t.c.duration_ms),
            sa.func.coalesce(sa.func.sum(sa.case((t.c.success, 0), else_=1)), 0),
            sa.func.avg(sa.case((t.c.parallel, t.c.worker_count), else_=None)),
        ).where(where)
        async with self.db.begin("summarize generation batches") as conn:
            total, parallel, par_cores, serial_cores, wall, failed, workers = (await conn.execute(stmt)).one()
        return {
            "total_batches": int(total),
            "parallel_batches": int(parallel),
            "failed_batches": int(failed),
            "avg_cores_used": optional_float(par_cores) or 0.0,
            "serial_cores_used": optional_float(serial_cores) or 0.0,
            "avg_batch_wall_ms": optional_float(wall) or 0.0,
            "avg_parallel_workers": optional_float(workers) or 0.0,
        }

    async def recent_node_durations(
        self, window_minutes: float = 60, limit: int = 200
    ) -> list[tuple[datetime, str, float, bool]]:
        """Return the window's last ``limit`` generated nodes, oldest first: (time, node type, ms, success)."""
        await self._flush()
        t = generation_performance_metrics
        stmt = (
            sa.select(t.c.created_at, t.c.node_type, t.c.duration_ms, t.c.success)
            .where(t.c.phase == "job", t.c.created_at >= cutoff(window_minutes))
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(int(limit))
        )
        async with self.db.begin("read recent generation metrics") as conn:
            rows = (await conn.execute(stmt)).all()
        return [(r[0], str(r[1]), float(r[2]), bool(r[3])) for r in reversed(rows)]
