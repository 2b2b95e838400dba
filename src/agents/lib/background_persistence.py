"""CodegenPersistence for synchronous code: a private event loop on a thread of its own.

:class:`~agents.lib.persistence.CodegenPersistence` is async. Code that has no event loop of its own, such as a
:class:`~agents.lib.template_cache.TemplateCache` flushing its metrics from a background thread, uses a
:class:`BackgroundPersistence`: the first call starts one daemon thread running an event loop and opens the
persistence there (the configured database unless a DSN is given); :meth:`BackgroundPersistence.call` runs a
coroutine on that loop and waits for its result; :meth:`BackgroundPersistence.close` flushes, closes the
database and stops the thread. Nothing is started until the first call.

A database outage does not raise from metric writes (the persistence keeps rows in its bounded buffer and
writes them when the database returns); a call that takes longer than ``timeout_seconds`` raises
``OnexError`` with code ``TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from agents.lib.errors import ErrorCode, OnexError
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import get_logger

__all__ = ["BackgroundPersistence"]

T = TypeVar("T")
_log = get_logger(__name__, component="persistence")


class BackgroundPersistence:
    """Runs a :class:`CodegenPersistence` on a private event loop thread; see the module docstring."""

    def __init__(self, dsn: str | None = None, *, timeout_seconds: float = 30.0) -> None:
        self._dsn = dsn
        self.timeout_seconds = timeout_seconds
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._persistence: CodegenPersistence | None = None
        self._closed = False

    def __repr__(self) -> str:
        """Say whether the thread runs."""
        state = "closed" if self._closed else "running" if self._thread is not None else "not started"
        return f"BackgroundPersistence({state})"

    @property
    def started(self) -> bool:
        """Whether the loop thread has been started (and not yet stopped)."""
        return self._thread is not None

    def _start(self) -> tuple[asyncio.AbstractEventLoop, CodegenPersistence]:
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
            if self._closed:
                raise OnexError("the background persistence is closed", ErrorCode.OPERATION_FAILED)
            if self._loop is None or self._persistence is None:
                loop, persistence = self._start()
            else:
                loop, persistence = self._loop, self._persistence

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

    def write_template_metrics(self, records: list[dict[str, Any]]) -> None:
        """Write a TemplateCache's metric records in one batch (a ``metrics_sink``; blocks the caller)."""

        async def write(persistence: CodegenPersistence) -> int:
            persistence.template_cache_sink()(records)
            return await persistence.flush()

        self.call(write)

    def metrics_sink(self) -> Callable[[list[dict[str, Any]]], None]:
        """Return a ``metrics_sink`` for a TemplateCache (:meth:`write_template_metrics`)."""
        return self.write_template_metrics

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
            if thread is not threading.current_thread():
                thread.join(timeout)
