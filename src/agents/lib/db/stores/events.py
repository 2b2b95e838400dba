"""Storage of event-processing metrics (Stream 6): buffered rows of kind ``"event"``, and their summary."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agents.lib.db.buffer import Row
from agents.lib.db.database import Database
from agents.lib.db.schema import event_processing_metrics
from agents.lib.db.sink import EVENT_METRICS
from agents.lib.db.stores.analytics import breakdown, p95
from agents.lib.db.stores.base import MetricKind, Store
from agents.lib.db.values import cutoff, non_negative_int, number, optional_float, rate, text, timestamp
from agents.lib.errors import ErrorCode, OnexError

__all__ = ["EventMetricsStore", "event_row"]

_EVENT_FIELDS = frozenset(
    {
        "event_type",
        "processing_duration_ms",
        "success",
        "batch_size",
        "queue_wait_ms",
        "retry_count",
        "error",
        "created_at",
    }
)


def event_row(row: Mapping[str, Any]) -> Row:
    """Check one ``"event"`` row (the keywords of ``record_event_metric``) and fill its defaults."""
    unknown = set(row) - _EVENT_FIELDS
    if unknown:
        raise OnexError(f"unknown event metric fields: {sorted(unknown)}", code=ErrorCode.VALIDATION_ERROR)
    if "success" not in row:
        raise OnexError("success is required", code=ErrorCode.VALIDATION_ERROR)
    queue_wait = row.get("queue_wait_ms")
    error = row.get("error")
    return {
        "event_type": text(row.get("event_type"), "event_type", 200),
        "processing_duration_ms": number(row.get("processing_duration_ms"), "processing_duration_ms"),
        "success": bool(row["success"]),
        "batch_size": non_negative_int(row.get("batch_size", 1), "batch_size"),
        "queue_wait_ms": None if queue_wait is None else number(queue_wait, "queue_wait_ms"),
        "retry_count": non_negative_int(row.get("retry_count", 0), "retry_count"),
        "error": None if error is None else str(error)[:4000],
        "created_at": timestamp(row.get("created_at")),
    }


async def _write_events(db: Database, conn: AsyncConnection, rows: list[Row]) -> None:
    await db.bulk_insert(conn, event_processing_metrics, rows)


BREAKER_EVENT_PREFIX = "circuit_breaker."
"""Event-metric rows whose ``event_type`` starts with this are breaker transitions (``circuit_breaker.OPEN``)."""


class EventMetricsStore(Store):
    """How events were processed (latency, batch size, retries), buffered; summarized per event type."""

    metric_kinds = (MetricKind(EVENT_METRICS, event_row, _write_events),)

    async def summary(self, window_minutes: float = 60) -> dict[str, Any]:
        """Summarize event-processing metrics recorded in the last ``window_minutes``.

        Keys: ``total_events``, ``overall_success_rate``, ``avg_latency_ms``, ``p95_latency_ms``,
        ``avg_batch_size``, ``total_retries``, ``by_event_type`` (list of dicts) and ``window_minutes``.
        Rates and averages are ``None`` when the window holds no rows.
        """
        await self._flush()
        t = event_processing_metrics
        where = t.c.created_at >= cutoff(window_minutes)
        ok = sa.func.sum(sa.case((t.c.success, 1), else_=0))
        totals = sa.select(
            sa.func.count(),
            ok,
            sa.func.avg(t.c.processing_duration_ms),
            sa.func.avg(t.c.batch_size),
            sa.func.coalesce(sa.func.sum(t.c.retry_count), 0),
        ).where(where)
        async with self.db.begin("summarize event metrics") as conn:
            total, succeeded, avg_ms, avg_batch, retries = (await conn.execute(totals)).one()
            p95_ms = await p95(self.db, conn, t.c.processing_duration_ms, where, int(total))
            duration = t.c.processing_duration_ms
            groups = await breakdown(conn, t.c.event_type, duration, t.c.success, where, "event_type")
        return {
            "window_minutes": window_minutes,
            "total_events": int(total),
            "overall_success_rate": rate(succeeded, total),
            "avg_latency_ms": optional_float(avg_ms),
            "p95_latency_ms": p95_ms,
            "avg_batch_size": optional_float(avg_batch),
            "total_retries": int(retries),
            "by_event_type": groups,
        }

    async def latest_breaker_transition(self) -> tuple[str, datetime] | None:
        """``(state, when)`` of the newest circuit breaker transition recorded as an event metric, or ``None``."""
        await self._flush()
        t = event_processing_metrics
        stmt = (
            sa.select(t.c.event_type, t.c.created_at)
            .where(t.c.event_type.startswith(BREAKER_EVENT_PREFIX, autoescape=True))
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(1)
        )
        async with self.db.begin("read the circuit breaker state") as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        return str(row[0])[len(BREAKER_EVENT_PREFIX) :], row[1]
