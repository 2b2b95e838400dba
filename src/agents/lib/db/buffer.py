"""The metrics buffer: a bounded in-memory buffer of rows, written in batches by a background asyncio task.

Behaviour (batching, outages, the bound, rejected rows) is described in docs/persistence.md, "The metrics buffer".
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.lib.errors import ErrorCode, OnexError
from agents.lib.structured_logger import get_logger

__all__ = ["BatchWriter", "BufferStats", "MetricsBuffer", "Row", "is_transient"]

_log = get_logger("agents.lib.persistence", component="persistence")

Row = dict[str, Any]
"""One buffered row: column name -> value, as the kind's writer expects it."""

BatchWriter = Callable[[dict[str, list[Row]]], Awaitable[None]]
"""Writes ``{kind: [row, ...]}`` in one transaction."""


@dataclass(frozen=True)
class BufferStats:
    """Counters of a :class:`MetricsBuffer`.

    Every recorded row is in exactly one of ``written``, ``buffered``, ``dropped`` (buffer full, or still
    buffered at close) and ``rejected`` (the database refused the row itself, for example a constraint).
    """

    recorded: int
    buffered: int
    written: int
    dropped: int
    rejected: int
    failed_flushes: int
    last_error: str | None


_TRANSIENT_TEXT = ("no such table", "does not exist", "undefinedtable", "database is locked")


def is_transient(exc: BaseException) -> bool:
    """Whether a failed batch should stay buffered (server down, schema missing) rather than be split."""
    if isinstance(exc, OnexError) and exc.code in {ErrorCode.UNAVAILABLE, ErrorCode.CONFIGURATION_ERROR}:
        return True
    text = (exc.message if isinstance(exc, OnexError) else str(exc)).lower()
    return any(marker in text for marker in _TRANSIENT_TEXT)


@dataclass
class _State:
    recorded: int = 0
    written: int = 0
    dropped: int = 0
    rejected: int = 0
    failed_flushes: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    in_outage: bool = False
    warned_drop: bool = False
    inflight: int = 0
    dropped_at_close: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class MetricsBuffer:
    """A bounded buffer of metric rows written in batches by a background asyncio task.

    ``writer`` receives ``{kind: [row, ...]}`` and must write the whole batch in one transaction.
    :meth:`append` never raises and never waits; it may be called from any thread. When the buffer holds
    ``max_rows`` rows the oldest are dropped and counted, so after an outage the newest ``max_rows`` rows are
    kept. (While a batch is being written, memory holds at most ``max_rows + batch_size`` rows.)
    """

    def __init__(
        self,
        writer: BatchWriter,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 1.0,
        max_rows: int = 100_000,
        describe_error: Callable[[BaseException], str] = str,
        row_writer: BatchWriter | None = None,
    ) -> None:
        if batch_size < 1:
            raise OnexError("batch_size must be at least 1", code=ErrorCode.VALIDATION_ERROR)
        if max_rows < 1:
            raise OnexError("max_buffered_rows must be at least 1", code=ErrorCode.VALIDATION_ERROR)
        if not flush_interval_s > 0:
            raise OnexError("flush_interval_s must be positive", code=ErrorCode.VALIDATION_ERROR)
        self._writer = writer
        self._row_writer = row_writer or writer
        self._batch_size = min(batch_size, max_rows)
        self._interval = flush_interval_s
        self._max_rows = max_rows
        self._describe = describe_error
        self._rows: deque[tuple[str, Row]] = deque()
        self._lock = threading.Lock()
        self._state = _State()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self._flush_lock: asyncio.Lock | None = None
        self._closed = False

    # -- recording --
    def append(self, kind: str, row: Row) -> None:
        """Buffer ``row`` for table ``kind``; drop the oldest row when the buffer is full. Never raises."""
        try:
            with self._lock:
                if self._closed:
                    self._state.recorded += 1
                    self._state.dropped += 1
                    return
                self._rows.append((kind, row))
                self._state.recorded += 1
                self._enforce_bound()
                pending = len(self._rows)
            self._kick(pending >= self._batch_size)
        except Exception:  # a metric must never break the caller
            return

    def _enforce_bound(self) -> None:
        # Rows being written are not counted: if the write fails they come back first and are dropped first.
        excess = len(self._rows) - self._max_rows
        dropped = 0
        while excess > 0 and self._rows:
            self._rows.popleft()
            excess -= 1
            dropped += 1
        if dropped:
            self._state.dropped += dropped
            if not self._state.warned_drop:
                self._state.warned_drop = True
                _log.warning(
                    "metrics buffer full: dropping the oldest rows",
                    metadata={"max_buffered_rows": self._max_rows},
                )

    def _bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not loop:
            self._loop = loop
            self._task = None
            self._wakeup = asyncio.Event()
            self._flush_lock = asyncio.Lock()

    def _kick(self, urgent: bool) -> None:
        """Make sure a flusher task runs on the buffer's event loop (from any thread)."""
        if self._closed:
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        home = self._loop
        if home is not None and home is not running and home.is_running():
            # Called from another thread: hand the work to the loop the buffer lives on.
            with contextlib.suppress(RuntimeError):
                home.call_soon_threadsafe(self._kick, urgent)
            return
        if running is None:
            return  # no event loop yet: the next flush() or in-loop record picks the rows up
        self._bind_loop(running)
        if self._task is None or self._task.done():
            self._task = running.create_task(self._run(), name="agents-metrics-flush")
        if urgent and self._wakeup is not None:
            self._wakeup.set()

    # -- flushing --
    async def _run(self) -> None:
        """Flush every ``flush_interval_s`` (or when a batch is full); back off while writes fail.

        The task ends when the buffer is empty; the next recorded row starts a new one.
        """
        wakeup = self._wakeup
        assert wakeup is not None
        while not self._closed:
            failures = self._state.consecutive_failures
            if failures:
                await asyncio.sleep(min(self._interval * 2 ** min(failures, 10), 30.0))
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), timeout=self._interval)
            wakeup.clear()
            if self._closed:
                return
            await self.flush()
            with self._lock:
                idle = not self._rows and not self._state.consecutive_failures
            if idle:
                self._task = None
                return

    def _take(self, limit: int) -> list[tuple[str, Row]]:
        with self._lock:
            count = min(limit, len(self._rows))
            batch = [self._rows.popleft() for _ in range(count)]
            self._state.inflight = len(batch)
            return batch

    def _put_back(self, batch: list[tuple[str, Row]]) -> None:
        with self._lock:
            self._state.inflight = 0
            self._rows.extendleft(reversed(batch))
            self._enforce_bound()

    def _done(self, count: int, rejected: int = 0) -> None:
        with self._lock:
            self._state.inflight = 0
            self._state.written += count
            self._state.rejected += rejected

    @staticmethod
    def _group(batch: Sequence[tuple[str, Row]]) -> dict[str, list[Row]]:
        groups: dict[str, list[Row]] = {}
        for kind, row in batch:
            groups.setdefault(kind, []).append(row)
        return groups

    async def flush(self) -> int:
        """Write the rows buffered now, in batches; return how many were written.

        Does not raise when the database is unavailable: the rows stay buffered (see :meth:`stats`).
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - flush is always awaited
            return 0
        self._bind_loop(loop)
        assert self._flush_lock is not None
        async with self._flush_lock:
            with self._lock:
                remaining = len(self._rows)
            total = 0
            while remaining > 0:
                batch = self._take(min(self._batch_size, remaining))
                if not batch:
                    break
                remaining -= len(batch)
                try:
                    await self._writer(self._group(batch))
                except asyncio.CancelledError:
                    self._put_back(batch)
                    raise
                except Exception as exc:
                    if is_transient(exc):
                        self._put_back(batch)
                        self._failed(exc)
                        return total
                    written, _rejected = await self._write_rows(batch, exc)
                    total += written
                    continue
                self._done(len(batch))
                total += len(batch)
                self._recovered()
            return total

    async def _write_rows(self, batch: list[tuple[str, Row]], first: BaseException) -> tuple[int, int]:
        """Write a batch the database refused row by row, rejecting only the rows that fail on their own."""
        _log.warning(
            "a metrics batch was refused; writing its rows one by one",
            metadata={"rows": len(batch), "error": self._describe(first)},
        )
        written = rejected = 0
        first_rejection: str | None = None
        try:
            for index, (kind, row) in enumerate(batch):
                try:
                    await self._row_writer({kind: [row]})
                except asyncio.CancelledError:
                    self._done(written, rejected)
                    self._put_back(batch[index:])
                    raise
                except Exception as exc:
                    if is_transient(exc):
                        self._done(written, rejected)
                        self._put_back(batch[index:])
                        self._failed(exc)
                        return written, rejected
                    rejected += 1
                    if first_rejection is None:
                        first_rejection = f"{kind}: {self._describe(exc)}"
                else:
                    written += 1
            self._done(written, rejected)
            return written, rejected
        finally:
            if rejected:
                _log.error(
                    "metrics rows were rejected by the database and discarded",
                    metadata={"rows": rejected, "first_error": first_rejection},
                )

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            state = self._state
            state.failed_flushes += 1
            state.consecutive_failures += 1
            state.last_error = self._describe(exc)
            first = not state.in_outage
            state.in_outage = True
            buffered = len(self._rows)
        if first:
            _log.warning(
                "metrics cannot be written; keeping them buffered and retrying",
                metadata={"error": state.last_error, "buffered_rows": buffered},
            )

    def _recovered(self) -> None:
        with self._lock:
            was_out = self._state.in_outage
            self._state.in_outage = False
            self._state.consecutive_failures = 0
            self._state.warned_drop = False
        if was_out:
            _log.info("metrics are being written again", metadata={"dropped_rows": self.dropped_rows})

    # -- lifecycle and stats --
    async def close(self) -> None:
        """Flush what can be written, stop the background task; rows still buffered count as dropped."""
        if self._closed:
            return
        await self.flush()
        with self._lock:
            self._closed = True
            lost = len(self._rows)
            self._rows.clear()
            self._state.dropped += lost
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if lost:
            _log.warning(
                "metrics still buffered at close were discarded (the database was unavailable)",
                metadata={"rows": lost, "error": self._state.last_error},
            )

    @property
    def buffered_rows(self) -> int:
        """Rows waiting to be written (including a batch being written now)."""
        with self._lock:
            return len(self._rows) + self._state.inflight

    @property
    def dropped_rows(self) -> int:
        """Rows dropped because the buffer was full (or still buffered at close)."""
        return self._state.dropped

    def stats(self) -> BufferStats:
        """Return the buffer's counters."""
        with self._lock:
            s = self._state
            return BufferStats(
                recorded=s.recorded,
                buffered=len(self._rows) + s.inflight,
                written=s.written,
                dropped=s.dropped,
                rejected=s.rejected,
                failed_flushes=s.failed_flushes,
                last_error=s.last_error,
            )
