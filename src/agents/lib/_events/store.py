"""Outbox and breaker queries the persistence facade does not have yet (for the lead to move into db/).

Each function takes a :class:`~agents.lib.persistence.CodegenPersistence` and runs SQLAlchemy Core through its
engine, parameterized, on SQLite and PostgreSQL:

- :func:`enqueue_many`: many events in one transaction (``enqueue_event`` takes one per transaction, which an
  outage of thousands of events cannot afford), ids returned in the order given;
- :func:`release_events`: give leased events back after a failed publish, in one statement, without the
  dead-lettering of ``mark_event_failed`` (an unreachable broker is not the event's fault);
- :func:`has_pending`, :func:`oldest_pending`: is anything waiting, and since when;
- :func:`latest_breaker_transition`: the newest circuit breaker transition recorded as an event metric.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from agents.lib.db.schema import event_outbox, event_processing_metrics, utcnow

if TYPE_CHECKING:
    from agents.lib.persistence import CodegenPersistence

__all__ = [
    "BREAKER_EVENT_PREFIX",
    "OutboxRow",
    "enqueue_many",
    "has_pending",
    "latest_breaker_transition",
    "oldest_pending",
    "release_events",
]

BREAKER_EVENT_PREFIX = "circuit_breaker."
"""Event-metric rows whose ``event_type`` starts with this are breaker transitions (``circuit_breaker.OPEN``)."""

OutboxRow = tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]
"""``(topic, key, value, headers)`` of one event to store."""


def _headers(pairs: Iterable[tuple[str, bytes]]) -> list[list[str]]:
    # The format CodegenPersistence.enqueue_event writes and claim_events reads: [name, base64(value)] pairs.
    return [[name, base64.b64encode(value).decode("ascii")] for name, value in pairs]


async def enqueue_many(persistence: CodegenPersistence, rows: Sequence[OutboxRow]) -> list[int]:
    """Store ``rows`` as pending outbox events in one transaction; return their ids in the same order."""
    if not rows:
        return []
    now = utcnow()
    t = event_outbox
    values: list[dict[str, Any]] = [
        {
            "topic": topic,
            "key": key,
            "payload": value,
            "headers": _headers(headers),
            "status": "pending",
            "retry_count": 0,
            "created_at": now,
            "available_at": now,
        }
        for topic, key, value, headers in rows
    ]
    stmt = sa.insert(t).returning(t.c.id, sort_by_parameter_order=True)
    async with persistence._begin("store events in the outbox") as conn:
        result = await conn.execute(stmt, values)
        return [int(row[0]) for row in result.all()]


async def release_events(
    persistence: CodegenPersistence, ids: Iterable[int], error: str, *, delay_s: float = 1.0
) -> int:
    """Give leased pending events back: a retry counted, ``last_error`` kept, available after ``delay_s``."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return 0
    t = event_outbox
    stmt = (
        sa.update(t)
        .where(t.c.id.in_(wanted), t.c.status == "pending")
        .values(
            retry_count=t.c.retry_count + 1,
            last_error=error[:4000],
            leased_until=None,
            available_at=utcnow() + timedelta(seconds=max(delay_s, 0.0)),
        )
    )
    async with persistence._begin("release outbox events") as conn:
        return int((await conn.execute(stmt)).rowcount)


async def has_pending(persistence: CodegenPersistence) -> bool:
    """Whether any outbox event is pending (whatever its lease or retry time)."""
    t = event_outbox
    stmt = sa.select(t.c.id).where(t.c.status == "pending").limit(1)
    async with persistence._begin("look for pending outbox events") as conn:
        return (await conn.execute(stmt)).first() is not None


async def oldest_pending(persistence: CodegenPersistence) -> datetime | None:
    """When the oldest pending outbox event was stored, or ``None``."""
    t = event_outbox
    stmt = sa.select(sa.func.min(t.c.created_at)).where(t.c.status == "pending")
    async with persistence._begin("read the outbox backlog") as conn:
        value = (await conn.execute(stmt)).scalar()
    return value if isinstance(value, datetime) else None


async def latest_breaker_transition(persistence: CodegenPersistence) -> tuple[str, datetime] | None:
    """``(state, when)`` of the newest breaker transition recorded as an event metric, or ``None``."""
    await persistence.flush()
    t = event_processing_metrics
    stmt = (
        sa.select(t.c.event_type, t.c.created_at)
        .where(t.c.event_type.startswith(BREAKER_EVENT_PREFIX, autoescape=True))
        .order_by(t.c.created_at.desc(), t.c.id.desc())
        .limit(1)
    )
    async with persistence._begin("read the circuit breaker state") as conn:
        row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    return str(row[0])[len(BREAKER_EVENT_PREFIX) :], row[1]
