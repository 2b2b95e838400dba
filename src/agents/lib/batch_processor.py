"""Group events into batches for a processor function: :class:`BatchProcessor` and :class:`BatchConfig`.

``await add_event(e)`` appends to the current batch; the batch is handed to ``processor_func`` when it holds
``max_batch_size`` events (``add_event`` then waits for that flush), or when its oldest event has waited
``max_wait_ms`` (a timer started by the first event of each batch, so it restarts after every flush), or on
``await flush()`` / ``await cleanup()``. The processor receives a list of its own and runs one batch at a time,
in order.

A failing processor is never silent. In an explicit ``flush()`` (or a flush by ``add_event``) the error is
counted, logged, the events go to ``on_error(events, exc)`` when given, and the exception is raised to the
caller. In a timed flush nobody is waiting: the error is counted and logged, and the events go to
``on_error``; without one, the next ``add_event``/``flush``/``cleanup`` raises :class:`BatchProcessingError`
carrying the events. Time comes from an injected clock (see :mod:`agents.lib._events.clock`).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from agents.lib._events.clock import SYSTEM_CLOCK, Clock
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.structured_logger import get_logger

__all__ = ["BatchConfig", "BatchProcessingError", "BatchProcessor", "BatchStats"]

T = TypeVar("T")

_log = get_logger(__name__, component="events")

ProcessorFunc = Callable[[list[T]], Awaitable[Any] | Any]
ErrorCallback = Callable[[list[T], BaseException], Awaitable[Any] | Any]


@dataclass(frozen=True)
class BatchConfig:
    """How big a batch may grow and how long its oldest event may wait (the guide's values are the defaults)."""

    max_batch_size: int = 10
    max_wait_ms: float = 100

    def __post_init__(self) -> None:
        if type(self.max_batch_size) is not int or self.max_batch_size < 1:
            raise OnexError(
                f"BatchConfig.max_batch_size must be an integer >= 1, got {self.max_batch_size!r}",
                ErrorCode.VALIDATION_ERROR,
            )
        if not isinstance(self.max_wait_ms, int | float) or self.max_wait_ms <= 0:
            raise OnexError(
                f"BatchConfig.max_wait_ms must be > 0, got {self.max_wait_ms!r}", ErrorCode.VALIDATION_ERROR
            )


class BatchProcessingError(OnexError):
    """A batch the processor failed on, raised to the next caller when no ``on_error`` took it."""

    def __init__(self, events: Sequence[Any], cause: BaseException) -> None:
        super().__init__(
            f"processing a batch of {len(events)} events failed: {type(cause).__name__}: {cause}",
            ErrorCode.OPERATION_FAILED,
            {"events": len(events)},
        )
        self.events = list(events)
        self.cause = cause


@dataclass(frozen=True)
class BatchStats:
    """Counters of a :class:`BatchProcessor`."""

    events_added: int
    batches: int
    events_processed: int
    errors: int
    timed_flushes: int
    size_flushes: int
    pending: int
    last_error: str | None


class BatchProcessor(Generic[T]):
    """See the module docstring. ``clock`` defaults to the real one; tests pass a manual clock."""

    def __init__(
        self,
        processor_func: ProcessorFunc[T],
        config: BatchConfig | None = None,
        *,
        on_error: ErrorCallback[T] | None = None,
        clock: Clock | None = None,
        name: str = "batch",
    ) -> None:
        self.processor_func = processor_func
        self.config = config or BatchConfig()
        self.on_error = on_error
        self.name = name
        self._clock = clock or SYSTEM_CLOCK
        self._events: list[T] = []
        self._added_at: list[float] = []
        self._timer: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._deferred: BatchProcessingError | None = None
        self._closed = False
        self._flushing_wait_ms: float | None = None
        self._added = self._batches = self._processed = self._errors = 0
        self._timed = self._sized = 0
        self._last_error: str | None = None

    # -- what users call --
    async def add_event(self, event: T) -> None:
        """Add ``event`` to the current batch; flush (and wait for it) when the batch is full."""
        self._raise_deferred()
        if self._closed:
            raise OnexError(f"BatchProcessor {self.name!r} is closed", ErrorCode.OPERATION_FAILED)
        self._events.append(event)
        self._added_at.append(self._clock.monotonic())
        self._added += 1
        if len(self._events) == 1:
            self._start_timer()
        if len(self._events) >= self.config.max_batch_size:
            self._sized += 1
            await self._flush(timed=False)

    async def flush(self) -> int:
        """Hand what is pending to the processor now (batches of at most ``max_batch_size``); return the count."""
        self._raise_deferred()
        flushed = 0
        while self._events:
            flushed += await self._flush(timed=False)
        return flushed

    async def cleanup(self) -> None:
        """Flush what is left, stop the timer, and refuse further events (idempotent)."""
        if self._closed:
            self._raise_deferred()
            return
        self._closed = True
        try:
            while self._events:
                await self._flush(timed=False)
        finally:
            self._cancel_timer()
        self._raise_deferred()

    async def __aenter__(self) -> Self:
        """Return ``self``."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Run :meth:`cleanup`."""
        await self.cleanup()

    @property
    def pending(self) -> int:
        """Events waiting in the current batch."""
        return len(self._events)

    @property
    def flushing_wait_ms(self) -> float | None:
        """While the processor runs: how long the oldest event of its batch waited, in milliseconds."""
        return self._flushing_wait_ms

    def stats(self) -> BatchStats:
        """Return the processor's counters."""
        return BatchStats(
            events_added=self._added,
            batches=self._batches,
            events_processed=self._processed,
            errors=self._errors,
            timed_flushes=self._timed,
            size_flushes=self._sized,
            pending=len(self._events),
            last_error=self._last_error,
        )

    # -- internals --
    def _raise_deferred(self) -> None:
        if self._deferred is not None:
            error, self._deferred = self._deferred, None
            raise error

    def _start_timer(self) -> None:
        self._cancel_timer()
        if self._added_at:
            started = self._added_at[0]
            self._timer = asyncio.get_running_loop().create_task(self._timed_flush(started))

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and not timer.done() and timer is not asyncio.current_task():
            timer.cancel()

    async def _timed_flush(self, started: float) -> None:
        # the deadline counts from the batch's first event, not from when this task first runs
        await self._clock.sleep(started + self.config.max_wait_ms / 1000.0 - self._clock.monotonic())
        if not self._added_at or self._added_at[0] != started:
            return  # that batch was flushed meanwhile
        self._timer = None
        await self._flush(timed=True, started=started)

    async def _flush(self, *, timed: bool, started: float | None = None) -> int:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._events or (timed and self._added_at[0] != started):
                return 0
            if timed:
                self._timed += 1
            size = self.config.max_batch_size
            batch, self._events = self._events[:size], self._events[size:]
            oldest, self._added_at = self._added_at[0], self._added_at[size:]
            self._cancel_timer()
            if self._events:  # events beyond a full batch start the next one, with their own deadline
                self._start_timer()
            self._flushing_wait_ms = max(0.0, (self._clock.monotonic() - oldest) * 1000.0)
            try:
                outcome = self.processor_func(list(batch))
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:
                await self._failed(batch, exc, timed=timed)
                if not timed:
                    raise
                return len(batch)
            finally:
                self._flushing_wait_ms = None
            self._batches += 1
            self._processed += len(batch)
            return len(batch)

    async def _failed(self, batch: list[T], exc: Exception, *, timed: bool) -> None:
        self._errors += 1
        self._last_error = f"{type(exc).__name__}: {exc}"
        _log.error(
            "Batch processing failed",
            metadata={"processor": self.name, "events": len(batch), "timed": timed, "error": self._last_error},
        )
        if self.on_error is not None:
            try:
                handled = self.on_error(list(batch), exc)
                if inspect.isawaitable(handled):
                    await handled
                return
            except Exception as callback_exc:
                _log.error(
                    "Batch error callback failed",
                    metadata={"processor": self.name, "error": f"{type(callback_exc).__name__}: {callback_exc}"},
                )
        if timed:
            earlier = self._deferred.events if self._deferred is not None else []
            self._deferred = BatchProcessingError([*earlier, *batch], exc)
