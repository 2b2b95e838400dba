"""The event outbox: events Kafka could not take wait in ``event_outbox`` until :class:`OutboxRelay` sends them.

:class:`OutboxWriter` stores events; concurrent callers share one transaction (an outage of thousands of
events costs a few inserts, not thousands), and each caller returns once its events are stored.

:class:`OutboxRelay` leases pending events oldest first, produces them with their original key, value and
headers (so their ids), waits for Kafka's acknowledgements, and marks them sent. An acknowledged event is
never produced again by this relay: if marking fails (the database is down) its id is kept and marked before
anything else is claimed. A failed event is given back: after an availability failure (broker down) with a
short delay and no dead-lettering, after a refusal (message too large, ...) through
``mark_event_failed``'s retry count and backoff, which ends in status ``dead``. The relay goes through the
optimizer's circuit breaker: while it is open nothing is claimed, and in HALF_OPEN the probe is a single event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agents.lib._events.breaker import CircuitBreaker, CircuitState
from agents.lib._events.metrics import EventMetrics, group
from agents.lib._events.producer import Outgoing, ProducerPool
from agents.lib._events.store import OutboxRow, enqueue_many, release_events
from agents.lib.structured_logger import get_logger

if TYPE_CHECKING:
    from agents.lib.persistence import CodegenPersistence, OutboxEvent

__all__ = ["OutboxRelay", "OutboxWriter", "RelayPass"]

_log = get_logger("agents.lib.event_optimizer", component="events")

_UNAVAILABLE_DELAY_S = 1.0


def _describe(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    return message if isinstance(message, str) else f"{type(exc).__name__}: {exc}"


class OutboxWriter:
    """Stores events in the outbox, one transaction for all the callers waiting at that moment."""

    def __init__(self, persistence: CodegenPersistence, on_stored: Callable[[], None] | None = None) -> None:
        self.persistence = persistence
        self.on_stored = on_stored
        self._queue: list[tuple[Sequence[OutboxRow], asyncio.Future[list[int]]]] = []
        self._task: asyncio.Task[None] | None = None
        self.sequence = 0
        self.stored = 0

    @property
    def busy(self) -> bool:
        """Whether a store is queued or being written."""
        return bool(self._queue) or (self._task is not None and not self._task.done())

    async def store(self, rows: Sequence[OutboxRow]) -> list[int]:
        """Store ``rows`` (in order); return their outbox ids. Raises when the database refuses."""
        if not rows:
            return []
        self.sequence += 1
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queue.append((rows, future))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._queue:
            waiting, self._queue = self._queue, []
            rows = [row for chunk, _ in waiting for row in chunk]
            try:
                ids = await enqueue_many(self.persistence, rows)
            except Exception as exc:
                for _, future in waiting:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.stored += len(ids)
            start = 0
            for chunk, future in waiting:
                if not future.done():
                    future.set_result(ids[start : start + len(chunk)])
                start += len(chunk)
            if self.on_stored is not None:
                self.on_stored()


@dataclass(frozen=True)
class RelayPass:
    """What one relay pass did."""

    claimed: int = 0
    sent: int = 0
    released: int = 0
    refused: int = 0
    circuit_open: bool = False
    error: str | None = None

    @property
    def empty(self) -> bool:
        """Nothing was waiting (and nothing went wrong)."""
        return not self.claimed and not self.circuit_open and self.error is None


def _message(event: OutboxEvent) -> Outgoing:
    return Outgoing(event.topic, event.payload, event.key, list(event.headers))


def _header(event: OutboxEvent, name: str) -> str | None:
    for key, value in event.headers:
        if key == name:
            return value.decode(errors="replace")
    return None


class OutboxRelay:
    """Publishes the outbox; :meth:`run_once` is one pass, :meth:`start` runs passes in the background."""

    def __init__(
        self,
        persistence: CodegenPersistence,
        pool: ProducerPool,
        breaker: CircuitBreaker,
        *,
        writer: OutboxWriter | None = None,
        metrics: EventMetrics | None = None,
        batch_size: int = 500,
        lease_seconds: float = 60.0,
        interval_s: float = 1.0,
        on_empty: Callable[[], None] | None = None,
    ) -> None:
        self.persistence = persistence
        self.pool = pool
        self.breaker = breaker
        self.writer = writer
        self.metrics = metrics or EventMetrics(None)
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.interval_s = interval_s
        self.on_empty = on_empty
        self.sent = 0
        self._unmarked: set[int] = set()
        self._wake = asyncio.Event()
        self._pass_lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- one pass --
    async def run_once(self) -> RelayPass:
        """Claim a batch, publish it, record the outcome; see the module docstring. One pass at a time."""
        if self._pass_lock is None:
            self._pass_lock = asyncio.Lock()
        async with self._pass_lock:
            return await self._pass()

    async def _pass(self) -> RelayPass:
        if self._unmarked and not await self._mark_unmarked():
            return RelayPass(error="could not mark acknowledged events as sent")
        permit = self.breaker.try_acquire()
        if permit is None:
            return RelayPass(circuit_open=True)
        limit = 1 if self.breaker.state is CircuitState.HALF_OPEN else self.batch_size
        sequence = self.writer.sequence if self.writer is not None else 0
        try:
            events = await self.persistence.claim_events(limit=limit, lease_seconds=self.lease_seconds)
        except Exception as exc:
            self.breaker.release(permit)
            _log.warning("Could not read the event outbox", metadata={"error": _describe(exc)})
            return RelayPass(error=_describe(exc))
        if not events:
            self.breaker.release(permit)
            if self.on_empty is not None and (
                self.writer is None or (self.writer.sequence == sequence and not self.writer.busy)
            ):
                self.on_empty()
            return RelayPass()
        started = time.perf_counter()
        delivery = await self.pool.send(events, _message)
        duration_ms = (time.perf_counter() - started) * 1000.0
        failures = {f.index: f for f in delivery.failures}
        acked = [e.id for i, e in enumerate(events) if i not in failures]
        self._unmarked.update(acked)
        self.sent += len(acked)
        await self._mark_unmarked()
        unavailable = [events[i].id for i, f in failures.items() if f.availability]
        refused = [(events[i], f) for i, f in failures.items() if not f.availability]
        if unavailable:
            self.breaker.record_failure(permit)
            first = next(f for f in failures.values() if f.availability)
            await self._give_back(unavailable, f"{first.code}: {first.message}")
        else:
            self.breaker.record_success(permit)
        for event, failure in refused:
            try:
                await self.persistence.mark_event_failed(event.id, f"{failure.code}: {failure.message}")
            except Exception as exc:
                _log.warning("Could not record a refused outbox event", metadata={"error": _describe(exc)})
        await self.metrics.batch(
            group(
                (
                    _header(e, "event_type") or "outbox",
                    i not in failures,
                    None if i not in failures else failures[i].code,
                    e.retry_count,
                )
                for i, e in enumerate(events)
            ),
            duration_ms,
        )
        return RelayPass(claimed=len(events), sent=len(acked), released=len(unavailable), refused=len(refused))

    async def _mark_unmarked(self) -> bool:
        ids = sorted(self._unmarked)
        try:
            await self.persistence.mark_events_sent(ids)
        except Exception as exc:
            _log.warning(
                "Could not mark relayed events as sent; will retry before claiming more",
                metadata={"events": len(ids), "error": _describe(exc)},
            )
            return False
        self._unmarked.difference_update(ids)
        return True

    async def _give_back(self, ids: list[int], error: str) -> None:
        try:
            await release_events(self.persistence, ids, error, delay_s=_UNAVAILABLE_DELAY_S)
        except Exception as exc:  # their leases expire on their own
            _log.warning("Could not release outbox events", metadata={"error": _describe(exc)})

    async def drain(self, timeout_s: float | None = None) -> int:
        """Run passes until the outbox has nothing available, the circuit refuses, or ``timeout_s`` passed.

        Returns how many events were sent.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        before = self.sent
        while deadline is None or time.monotonic() < deadline:
            outcome = await self.run_once()
            if outcome.empty or outcome.error is not None:
                break
            if outcome.circuit_open:
                wait = self.breaker.retry_after_ms() / 1000.0
                if deadline is not None and time.monotonic() + wait > deadline:
                    break
                await asyncio.sleep(max(wait, 0.01))
        return self.sent - before

    # -- in the background --
    def wake(self) -> None:
        """Run the next pass now (something was stored)."""
        self._wake.set()

    def start(self) -> None:
        """Run passes in a background task until :meth:`stop`."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="agents-outbox-relay")

    @property
    def running(self) -> bool:
        """Whether the background task runs."""
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                outcome = await self.run_once()
            except Exception as exc:
                _log.error("Outbox relay pass failed", metadata={"error": _describe(exc)})
                outcome = RelayPass(error=_describe(exc))
            if outcome.claimed and outcome.error is None and not outcome.released:
                continue  # more may be waiting
            wait = self.interval_s
            if outcome.circuit_open:
                wait = min(max(self.breaker.retry_after_ms() / 1000.0, 0.01), wait)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def stop(self) -> None:
        """Stop the background task after its current pass."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await task
            except Exception as exc:
                _log.warning("Outbox relay stopped with an error", metadata={"error": _describe(exc)})
