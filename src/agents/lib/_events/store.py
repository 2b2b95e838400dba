"""The outbox and breaker queries the events stream uses, through the persistence's stores.

Thin functions over :class:`~agents.lib.db.stores.OutboxStore` and
:class:`~agents.lib.db.stores.EventMetricsStore` (where the SQL lives), so the stream's code reads
``enqueue_many(persistence, rows)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from agents.lib.db.stores.events import BREAKER_EVENT_PREFIX, EventMetricsStore
from agents.lib.db.stores.outbox import OutboxRow, OutboxStore

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


async def enqueue_many(persistence: CodegenPersistence, rows: Sequence[OutboxRow]) -> list[int]:
    """Store ``rows`` as pending outbox events in one transaction; return their ids in the same order."""
    return await persistence.store(OutboxStore).enqueue_many(rows)


async def release_events(
    persistence: CodegenPersistence, ids: Iterable[int], error: str, *, delay_s: float = 1.0
) -> int:
    """Give leased pending events back: a retry counted, ``last_error`` kept, available after ``delay_s``."""
    return await persistence.store(OutboxStore).release(ids, error, delay_s=delay_s)


async def has_pending(persistence: CodegenPersistence) -> bool:
    """Whether any outbox event is pending (whatever its lease or retry time)."""
    return await persistence.store(OutboxStore).has_pending()


async def oldest_pending(persistence: CodegenPersistence) -> datetime | None:
    """When the oldest pending outbox event was stored, or ``None``."""
    return await persistence.store(OutboxStore).oldest_pending()


async def latest_breaker_transition(persistence: CodegenPersistence) -> tuple[str, datetime] | None:
    """``(state, when)`` of the newest breaker transition recorded as an event metric, or ``None``."""
    return await persistence.store(EventMetricsStore).latest_breaker_transition()
