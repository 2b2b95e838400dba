"""CodegenPersistence for synchronous code: a private event loop on a thread of its own, started on first use.

Its :meth:`BackgroundPersistence.metrics_sink` is the database :class:`~agents.lib.db.sink.MetricsSink` of code
that has no event loop (the template cache's default sink). Still open at interpreter exit, it flushes and closes
within a bounded time. See docs/persistence.md, "Synchronous code".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from agents.lib.db.sink import BaseMetricsSink, MetricsSink, register_exit_hook
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import get_logger

__all__ = ["BackgroundPersistence"]

T = TypeVar("T")
_log = get_logger(__name__, component="persistence")

_EXIT_TIMEOUT_S = 10.0
"""How long interpreter exit waits for a background persistence to write what it holds."""


class BackgroundPersistence:
    """Runs a :class:`CodegenPersistence` on a private event loop thread of its own.

    ``dsn`` ``None`` means the configured database. :meth:`call` runs a coroutine there and waits for it (a
    call that takes longer than ``timeout_seconds`` raises ``OnexError(TIMEOUT)``); :meth:`metrics_sink`
    hands rows over without waiting; :meth:`close` flushes, closes the database and stops the thread.
    """

    def __init__(self, dsn: str | None = None, *, timeout_seconds: float = 30.0) -> None:
        self._dsn = dsn
        self.timeout_seconds = timeout_seconds
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._persistence: CodegenPersistence | None = None
        self._closed = False
        self._sink = _BackgroundSink(self)
        register_exit_hook(self._close_at_exit, stage="close")

    def __repr__(self) -> str:
        """Say whether the thread runs."""
        state = "closed" if self._closed else "running" if self._thread is not None else "not started"
        return f"BackgroundPersistence({state})"

    @property
    def started(self) -> bool:
        """Whether the loop thread has been started (and not yet stopped)."""
        return self._thread is not None

    def _running(self) -> tuple[asyncio.AbstractEventLoop, CodegenPersistence]:
        """Return the loop and the persistence, starting them on first use (lock held by the caller)."""
        if self._closed:
            raise OnexError("the background persistence is closed", ErrorCode.OPERATION_FAILED)
        if self._loop is not None and self._persistence is not None:
            return self._loop, self._persistence
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_forever()
            finally:
                loop.close()

        thread = threading.Thread(target=run, name="agents-persistence", daemon=True)
        thread.start()
        persistence = CodegenPersistence(self._dsn)
        self._loop, self._thread, self._persistence = loop, thread, persistence
        return loop, persistence

    def call(self, operation: Callable[[CodegenPersistence], Awaitable[T]]) -> T:
        """Run ``operation(persistence)`` on the loop thread and return its result (blocks the caller)."""
        with self._lock:
            loop, persistence = self._running()

        async def run() -> T:
            return await operation(persistence)

        future = asyncio.run_coroutine_threadsafe(run(), loop)
        try:
            return future.result(self.timeout_seconds)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise OnexError(
                f"the database did not answer within {self.timeout_seconds:g} s",
                ErrorCode.TIMEOUT,
                {"timeout_seconds": self.timeout_seconds},
            ) from None

    def metrics_sink(self) -> MetricsSink:
        """Return a :class:`~agents.lib.db.sink.MetricsSink` writing to this persistence, from any thread.

        ``write`` never waits: the rows are handed to the loop thread (started if needed) and buffered there,
        then written with the persistence's next batch (at the latest when this is closed). Rows written after
        :meth:`close` are dropped. Nothing is kept, and nothing is started, while ``ENABLE_METRICS`` is false.
        """
        return self._sink

    def _submit(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
        copies = [dict(row) for row in rows]
        with self._lock:
            if self._closed:
                return
            loop, persistence = self._running()
            loop.call_soon_threadsafe(persistence.metrics_sink().write, kind, copies)

    def close(self, timeout: float | None = 10.0) -> None:
        """Flush and close the persistence, stop the loop, wait up to ``timeout`` s for the thread; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread, persistence = self._loop, self._thread, self._persistence
            self._loop = self._thread = self._persistence = None
        if loop is None or thread is None or persistence is None:
            return
        if thread is threading.current_thread():  # called on the loop itself (a finalizer): do not wait on it
            loop.call_soon(lambda: loop.create_task(persistence.close()).add_done_callback(lambda _: loop.stop()))
            return
        try:
            asyncio.run_coroutine_threadsafe(persistence.close(), loop).result(timeout)
        except Exception as exc:  # closing must finish; the persistence counts what it could not write
            _log.warning("closing the background persistence failed", metadata={"error": repr(exc)})
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)

    def _close_at_exit(self) -> None:
        self.close(min(self.timeout_seconds, _EXIT_TIMEOUT_S))


class _BackgroundSink(BaseMetricsSink):
    """The :class:`~agents.lib.db.sink.MetricsSink` of a :class:`BackgroundPersistence`."""

    def __init__(self, owner: BackgroundPersistence) -> None:
        self._owner = owner

    def _write(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
        try:
            self._owner._submit(kind, rows)
        except Exception as exc:  # a sink never raises into its producer
            _log.warning("metrics could not be handed to the database thread", metadata={"error": repr(exc)})
