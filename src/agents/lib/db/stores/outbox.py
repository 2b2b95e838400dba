"""Storage of the event outbox (Stream 6): events waiting for Kafka in ``event_outbox``, leased to publishers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from agents.lib.db.schema import event_outbox, utcnow
from agents.lib.db.stores.base import Store
from agents.lib.db.values import as_bytes, decode_headers, encode_headers, non_negative_int, number, text

__all__ = ["OutboxEvent", "OutboxStore"]


@dataclass(frozen=True)
class OutboxEvent:
    """An event waiting in the outbox to be published."""

    id: int
    topic: str
    key: bytes | None
    payload: bytes
    headers: list[tuple[str, bytes]]
    status: str
    retry_count: int
    last_error: str | None
    created_at: datetime
    available_at: datetime
    leased_until: datetime | None


def _outbox(row: sa.RowMapping) -> OutboxEvent:
    return OutboxEvent(
        id=int(row["id"]),
        topic=row["topic"],
        key=None if row["key"] is None else bytes(row["key"]),
        payload=bytes(row["payload"]),
        headers=decode_headers(row["headers"]),
        status=row["status"],
        retry_count=int(row["retry_count"]),
        last_error=row["last_error"],
        created_at=row["created_at"],
        available_at=row["available_at"],
        leased_until=row["leased_until"],
    )


OutboxRow = tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]
"""``(topic, key, value, headers)`` of one event to store with :meth:`OutboxStore.enqueue_many`."""


class OutboxStore(Store):
    """Events stored for later publishing: enqueue, lease (claim), mark sent or failed, count."""

    async def enqueue(
        self,
        topic: str,
        key: str | bytes | None,
        payload: bytes | Mapping[str, Any],
        headers: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]] | None = None,
    ) -> int:
        """Store an event to be published later; return its outbox id.

        A mapping payload is serialized as JSON (orjson); headers are kept as ``(name, bytes)`` pairs.
        """
        body = (
            bytes(payload)
            if isinstance(payload, bytes | bytearray | memoryview)
            else orjson.dumps(dict(payload), default=str)
        )
        now = utcnow()
        t = event_outbox
        stmt = (
            sa.insert(t)
            .values(
                topic=text(topic, "topic", 255),
                key=None if key is None else as_bytes(key),
                payload=body,
                headers=encode_headers(headers),
                status="pending",
                created_at=now,
                available_at=now,
            )
            .returning(t.c.id)
        )
        async with self.db.begin("store an event in the outbox") as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def claim(self, limit: int = 100, lease_seconds: float = 30.0) -> list[OutboxEvent]:
        """Lease up to ``limit`` pending events (oldest first) for ``lease_seconds``; return them.

        A leased event is not returned again until its lease expires, so concurrent publishers do not send it
        twice (PostgreSQL uses ``FOR UPDATE SKIP LOCKED``; SQLite serializes writers).
        """
        non_negative_int(limit, "limit")
        lease = number(lease_seconds, "lease_seconds")
        now = utcnow()
        t = event_outbox
        candidates = (
            sa.select(t.c.id)
            .where(
                t.c.status == "pending",
                t.c.available_at <= now,
                sa.or_(t.c.leased_until.is_(None), t.c.leased_until <= now),
            )
            .order_by(t.c.id)
            .limit(limit)
        )
        if self.db.is_postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        stmt = (
            sa.update(t)
            .where(t.c.id.in_(candidates.scalar_subquery()))
            .values(leased_until=now + timedelta(seconds=lease))
            .returning(*t.c)
        )
        async with self.db.begin("claim outbox events") as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return sorted((_outbox(r) for r in rows), key=lambda e: e.id)

    async def mark_sent(self, ids: Iterable[int]) -> int:
        """Mark events as published; return how many pending events were updated."""
        wanted = sorted({non_negative_int(i, "id") for i in ids})
        if not wanted:
            return 0
        t = event_outbox
        stmt = (
            sa.update(t)
            .where(t.c.id.in_(wanted), t.c.status == "pending")
            .values(status="sent", sent_at=utcnow(), leased_until=None)
        )
        async with self.db.begin("mark outbox events sent") as conn:
            return int((await conn.execute(stmt)).rowcount)

    async def mark_failed(
        self,
        event_id: int,
        error: str,
        *,
        max_retries: int = 10,
        retry_delay_s: float | None = None,
    ) -> OutboxEvent | None:
        """Record a failed publish: increment the retry count, release the lease, schedule a retry.

        The retry waits ``retry_delay_s`` (default: exponential, 2**retries seconds, at most 5 minutes). After
        ``max_retries`` failures the event's status becomes ``dead``. Returns the updated event, or ``None``.
        """
        t = event_outbox
        message = str(error)[:4000]
        now = utcnow()
        bump = (
            sa.update(t)
            .where(t.c.id == non_negative_int(event_id, "event_id"), t.c.status == "pending")
            .values(retry_count=t.c.retry_count + 1, last_error=message, leased_until=None)
            .returning(t.c.retry_count)
        )
        async with self.db.begin("mark an outbox event failed") as conn:
            retries = (await conn.execute(bump)).scalar_one_or_none()
            if retries is None:
                return None
            delay = retry_delay_s if retry_delay_s is not None else min(2.0 ** int(retries), 300.0)
            status = "dead" if int(retries) >= max_retries else "pending"
            row = (
                (
                    await conn.execute(
                        sa.update(t)
                        .where(t.c.id == event_id)
                        .values(status=status, available_at=now + timedelta(seconds=delay))
                        .returning(*t.c)
                    )
                )
                .mappings()
                .one()
            )
        return _outbox(row)

    async def counts(self) -> dict[str, int]:
        """Return the number of outbox events per status (``pending``, ``sent``, ``dead``)."""
        t = event_outbox
        stmt = sa.select(t.c.status, sa.func.count()).group_by(t.c.status)
        async with self.db.begin("count outbox events") as conn:
            rows = (await conn.execute(stmt)).all()
        result = {"pending": 0, "sent": 0, "dead": 0}
        result.update({str(status): int(n) for status, n in rows})
        return result

    async def enqueue_many(self, rows: Sequence[OutboxRow]) -> list[int]:
        """Store ``rows`` as pending events in one transaction; return their ids in the same order.

        :meth:`enqueue` takes one transaction per event, which an outage of thousands of events cannot afford.
        """
        if not rows:
            return []
        now = utcnow()
        t = event_outbox
        values: list[dict[str, Any]] = [
            {
                "topic": topic,
                "key": key,
                "payload": value,
                "headers": encode_headers(headers) or [],
                "status": "pending",
                "retry_count": 0,
                "created_at": now,
                "available_at": now,
            }
            for topic, key, value, headers in rows
        ]
        stmt = sa.insert(t).returning(t.c.id, sort_by_parameter_order=True)
        async with self.db.begin("store events in the outbox") as conn:
            result = await conn.execute(stmt, values)
            return [int(row[0]) for row in result.all()]

    async def release(self, ids: Iterable[int], error: str, *, delay_s: float = 1.0) -> int:
        """Give leased pending events back after a failed publish; return how many.

        A retry is counted, ``last_error`` kept, and the events are available again after ``delay_s``; they are
        never dead-lettered (an unreachable broker is not the event's fault).
        """
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
        async with self.db.begin("release outbox events") as conn:
            return int((await conn.execute(stmt)).rowcount)

    async def has_pending(self) -> bool:
        """Whether any event is pending (whatever its lease or retry time)."""
        t = event_outbox
        stmt = sa.select(t.c.id).where(t.c.status == "pending").limit(1)
        async with self.db.begin("look for pending outbox events") as conn:
            return (await conn.execute(stmt)).first() is not None

    async def oldest_pending(self) -> datetime | None:
        """When the oldest pending event was stored, or ``None``."""
        t = event_outbox
        stmt = sa.select(sa.func.min(t.c.created_at)).where(t.c.status == "pending")
        async with self.db.begin("read the outbox backlog") as conn:
            value = (await conn.execute(stmt)).scalar()
        return value if isinstance(value, datetime) else None
