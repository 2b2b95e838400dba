"""Rows of ``event_processing_metrics`` for what the optimizer did, written through the persistence buffer.

One row per processed unit: a single publish is a row with ``batch_size`` 1; a batch is one row per event type
and outcome in it, with ``batch_size`` the number of those events and ``processing_duration_ms`` the time until
the batch's last acknowledgement; ``queue_wait_ms`` is how long the batch's oldest event waited in a batch
processor; ``retry_count`` counts earlier attempts (outbox retries). Breaker transitions are rows of event type
``circuit_breaker.<STATE>``. The rows go through ``CodegenPersistence.record_event_metric``, whose buffer writes
them in batches; recording never raises and never blocks on the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from agents.lib._events.store import BREAKER_EVENT_PREFIX

if TYPE_CHECKING:
    from agents.lib.persistence import CodegenPersistence

__all__ = ["EventMetrics", "group"]


def group(outcomes: Iterable[tuple[str, bool, str | None, int]]) -> list[tuple[str, bool, str | None, int, int]]:
    """Group per-event ``(event_type, success, error, retries)`` into ``(type, success, error, count, retries)``.

    The error of a group is its first event's.
    """
    groups: dict[tuple[str, bool], list[Any]] = {}
    for event_type, success, error, retries in outcomes:
        entry = groups.get((event_type, success))
        if entry is None:
            entry = groups[(event_type, success)] = [error, 0, 0]
        entry[1] += 1
        entry[2] += retries
    return [(t, ok, e, n, r) for (t, ok), (e, n, r) in groups.items()]


class EventMetrics:
    """Records publish outcomes; a ``None`` persistence records nothing."""

    def __init__(self, persistence: CodegenPersistence | None) -> None:
        self.persistence = persistence

    async def single(
        self,
        event_type: str,
        duration_ms: float,
        success: bool,
        *,
        queue_wait_ms: float | None = None,
        retry_count: int = 0,
        error: str | None = None,
    ) -> None:
        """Record one event published (or not) on its own."""
        if self.persistence is None:
            return
        await self.persistence.record_event_metric(
            event_type=event_type,
            processing_duration_ms=duration_ms,
            success=success,
            batch_size=1,
            queue_wait_ms=queue_wait_ms,
            retry_count=retry_count,
            error=error,
        )

    async def batch(
        self,
        groups: Iterable[tuple[str, bool, str | None, int, int]],
        duration_ms: float,
        *,
        queue_wait_ms: float | None = None,
    ) -> None:
        """Record a batch: one row per ``(event_type, success, error, count, retries)`` (see :func:`group`)."""
        if self.persistence is None:
            return
        for event_type, success, error, count, retries in groups:
            await self.persistence.record_event_metric(
                event_type=event_type,
                processing_duration_ms=duration_ms,
                success=success,
                batch_size=count,
                queue_wait_ms=queue_wait_ms,
                retry_count=retries,
                error=error,
            )

    async def breaker(self, state: str, time_in_previous_ms: float) -> None:
        """Record a circuit breaker transition to ``state``."""
        if self.persistence is None:
            return
        await self.persistence.record_event_metric(
            event_type=BREAKER_EVENT_PREFIX + state,
            processing_duration_ms=time_in_previous_ms,
            success=state == "CLOSED",
            batch_size=1,
        )
