"""Storage of everything the streams record and query: :class:`CodegenPersistence`.

One class, two backends: SQLite (the embedded default, a file in the data directory) and PostgreSQL, with the
same schema (:mod:`agents.lib.db.schema`) and the same queries (SQLAlchemy Core; SQL is always parameterized).

- Low-volume records (mixin compatibility outcomes, pattern feedback, generation sessions, the event outbox) are
  written at once and errors are raised as :class:`~agents.lib.errors.OnexError`.
- High-volume metrics (generation phases, processed events, template cache counters) go through a
  :class:`MetricsBuffer`: ``record_*`` appends to a bounded in-memory buffer and never raises; a background task
  writes batches (one transaction and one ``executemany`` per table per batch). ``await flush()`` writes now.
  While the database is down rows stay buffered and are retried; beyond ``max_buffered_rows`` the oldest rows are
  dropped and counted (:attr:`CodegenPersistence.dropped_rows`, :meth:`CodegenPersistence.stats`).
- By default the schema is brought to the newest migration on first use (``auto_migrate=True``), under the same
  lock as ``python -m agents.lib.migrations apply``.

Time windows (``window_minutes``) are computed in Python as a UTC cut-off and bound as a parameter, so they mean
the same on both backends. p95 is the nearest-rank percentile (``percentile_disc(0.95)`` on PostgreSQL, the same
rank by ``ORDER BY ... DESC LIMIT 1 OFFSET`` on SQLite).

The DSN's password never appears in a log line or an error message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import re
import sqlite3
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agents.lib.config import redact_dsn
from agents.lib.db import (
    create_engine,
    normalize_dsn,
    plain_postgres_dsn,
    resolve_dsn,
    scrub,
    translate_error,
)
from agents.lib.db.schema import (
    event_outbox,
    event_processing_metrics,
    generation_performance_metrics,
    generation_sessions,
    mixin_compatibility_matrix,
    pattern_feedback_log,
    template_cache_metadata,
    utcnow,
)
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.structured_logger import get_logger

__all__ = [
    "BufferStats",
    "CodegenPersistence",
    "GenerationSession",
    "MetricsBuffer",
    "MixinCompatibility",
    "OutboxEvent",
    "PatternFeedbackRecord",
    "SqlitePool",
    "TemplateCacheDelta",
]

_log = get_logger("agents.lib.persistence", component="persistence")

Row = dict[str, Any]
BatchWriter = Callable[[dict[str, list[Row]]], Awaitable[None]]

_GENERATION = "generation"
_EVENT = "event"
_TEMPLATE = "template_cache"


# --------------------------------------------------------------------------------------------------------------
# Records returned by queries
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixinCompatibility:
    """Observed outcomes of two mixins used together on one node type (``mixin_a <= mixin_b``)."""

    mixin_a: str
    mixin_b: str
    node_type: str
    success_count: int
    failure_count: int
    last_conflict_reason: str | None
    updated_at: datetime

    @property
    def total(self) -> int:
        """Number of recorded outcomes."""
        return self.success_count + self.failure_count

    @property
    def success_rate(self) -> float:
        """Fraction of successful outcomes (0.0 when nothing was recorded)."""
        return self.success_count / self.total if self.total else 0.0


@dataclass(frozen=True)
class PatternFeedbackRecord:
    """One stored piece of pattern feedback."""

    id: int
    session_id: str | None
    detected_pattern: str
    detected_confidence: float | None
    actual_pattern: str | None
    feedback_type: str
    capabilities_matched: list[str]
    false_positives: list[str]
    false_negatives: list[str]
    user_provided: bool
    weight: float
    context: dict[str, Any] | None
    created_at: datetime


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


@dataclass(frozen=True)
class GenerationSession:
    """One run of the generator."""

    session_id: str
    prd_path: str | None
    service_name: str | None
    status: str
    node_count: int
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None
    error: str | None
    context: dict[str, Any] | None


@dataclass(frozen=True)
class TemplateCacheDelta:
    """Counter increments for one template (key: name, type and file path) since the last report."""

    template_name: str
    template_type: str
    file_path: str
    hits: int = 0
    misses: int = 0
    loads: int = 0
    load_time_ms: float = 0.0
    size_bytes: int | None = None
    content_hash: str | None = None
    last_accessed_at: datetime | None = None


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


# --------------------------------------------------------------------------------------------------------------
# The metrics buffer
# --------------------------------------------------------------------------------------------------------------


_TRANSIENT_TEXT = ("no such table", "does not exist", "undefinedtable", "database is locked")


def _is_transient(exc: BaseException) -> bool:
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
                    if _is_transient(exc):
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
                    if _is_transient(exc):
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


# --------------------------------------------------------------------------------------------------------------
# A pool with asyncpg's shape over SQLite (for the guide's raw-SQL examples)
# --------------------------------------------------------------------------------------------------------------


_POSTGRES_ONLY = re.compile(r"\bINTERVAL\s+'|::\s*[A-Za-z]|\bNOW\s*\(\s*\)|\bILIKE\b", re.IGNORECASE)


class _SqliteConnection:
    """One aiosqlite connection with asyncpg-like ``fetch``/``fetchrow``/``fetchval``/``execute``.

    Parameters are bound with ``?`` placeholders (or asyncpg-style ``$1``, rewritten to ``?N``).
    """

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @staticmethod
    def _sql(query: str) -> str:
        return re.sub(r"\$(\d+)", r"?\1", query)

    @staticmethod
    @contextmanager
    def _errors(query: str) -> Iterator[None]:
        """Turn SQLite's errors into one ``OnexError`` that says what to do about them."""
        try:
            yield
        except sqlite3.Error as exc:
            postgres_only = _POSTGRES_ONLY.search(query)
            hint = (
                f"the query uses PostgreSQL syntax ({postgres_only.group(0).strip()!r}) and the database is the "
                "embedded SQLite file; point DATABASE_URL at PostgreSQL, use SQLite syntax such as "
                "datetime('now', '-1 hour'), or the portable CodegenPersistence analytics methods"
                if postgres_only
                else "check the SQL"
            )
            raise OnexError(
                f"SQLite rejected the query: {exc}; {hint}",
                ErrorCode.OPERATION_FAILED,
                {"backend": "sqlite", "sqlite_error": str(exc), "postgres_syntax": postgres_only is not None},
            ) from exc

    async def fetch(self, query: str, *args: Any) -> list[sqlite3.Row]:
        """Run ``query`` and return every row (rows are addressable by column name and index)."""
        with self._errors(query):
            async with self._conn.execute(self._sql(query), args) as cursor:
                rows: list[sqlite3.Row] = list(await cursor.fetchall())
                return rows

    async def fetchrow(self, query: str, *args: Any) -> sqlite3.Row | None:
        """Run ``query`` and return its first row, or ``None``."""
        with self._errors(query):
            async with self._conn.execute(self._sql(query), args) as cursor:
                row: sqlite3.Row | None = await cursor.fetchone()
                return row

    async def fetchval(self, query: str, *args: Any) -> Any:
        """Run ``query`` and return the first column of its first row, or ``None``."""
        row = await self.fetchrow(query, *args)
        return None if row is None else row[0]

    async def execute(self, query: str, *args: Any) -> str:
        """Run a statement and commit; return a short status like asyncpg (``"OK <rowcount>"``)."""
        with self._errors(query):
            cursor = await self._conn.execute(self._sql(query), args)
            count = cursor.rowcount
            await cursor.close()
            await self._conn.commit()
        return f"OK {count}"


class SqlitePool:
    """The pool :meth:`CodegenPersistence._ensure_pool` returns on SQLite (asyncpg's shape).

    ``acquire()`` yields a connection with ``fetch``/``fetchrow``/``fetchval``/``execute``.

    The SQL is run by SQLite as written: PostgreSQL-only syntax (``NOW() - INTERVAL '1 hour'``, ``::float``
    casts) does not run here. Use the portable analytics methods of :class:`CodegenPersistence`, or SQLite
    syntax such as ``datetime('now', '-1 hour')`` (timestamps are stored as UTC text ``YYYY-MM-DD HH:MM:SS``).
    """

    def __init__(self, path: str) -> None:
        self._path = path

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[_SqliteConnection]:
        """Open a connection for the duration of the ``async with`` block."""
        import aiosqlite

        conn = await aiosqlite.connect(self._path)
        conn.row_factory = sqlite3.Row
        try:
            yield _SqliteConnection(conn)
        finally:
            await conn.close()

    async def close(self) -> None:
        """Nothing to release: connections are closed when their ``acquire()`` block ends."""


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


def _text(value: object, name: str, max_len: int) -> str:
    if isinstance(value, UUID):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise OnexError(f"{name} must be a non-empty string", code=ErrorCode.VALIDATION_ERROR)
    if len(value) > max_len:
        raise OnexError(f"{name} is longer than {max_len} characters", code=ErrorCode.VALIDATION_ERROR)
    return value


def _opt_id(value: object) -> str | None:
    if value is None:
        return None
    return _text(value, "session_id", 64)


def _number(value: object, name: str, *, minimum: float | None = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OnexError(f"{name} must be a number", code=ErrorCode.VALIDATION_ERROR)
    number = float(value)
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        raise OnexError(f"{name} must be a finite number >= {minimum}", code=ErrorCode.VALIDATION_ERROR)
    return number


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OnexError(f"{name} must be a non-negative integer", code=ErrorCode.VALIDATION_ERROR)
    return value


def _strings(values: Iterable[object] | None, name: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str | bytes):
        raise OnexError(f"{name} must be a list of strings", code=ErrorCode.VALIDATION_ERROR)
    out = [str(v) for v in values]
    return out


def _json_safe(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    # Round-trip through orjson so values such as UUIDs and datetimes become JSON text.
    decoded: dict[str, Any] = orjson.loads(orjson.dumps(dict(value), default=str, option=orjson.OPT_NON_STR_KEYS))
    return decoded


def _cutoff(window_minutes: float) -> datetime:
    minutes = _number(window_minutes, "window_minutes")
    return utcnow() - timedelta(minutes=minutes)


def _ts(value: datetime | None) -> datetime:
    return utcnow() if value is None else value


def _as_bytes(value: str | bytes | bytearray | memoryview) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def _encode_headers(
    headers: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]] | None,
) -> list[list[str]] | None:
    if headers is None:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [[str(k), base64.b64encode(_as_bytes(v)).decode("ascii")] for k, v in pairs]


def _decode_headers(value: Any) -> list[tuple[str, bytes]]:
    if not value:
        return []
    return [(str(k), base64.b64decode(v)) for k, v in value]


def _rate(numerator: Any, denominator: Any) -> float | None:
    if not denominator:
        return None
    return float(numerator or 0) / float(denominator)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    from agents.lib.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    return any(r.revision == revision for r in script.walk_revisions())


# --------------------------------------------------------------------------------------------------------------
# CodegenPersistence
# --------------------------------------------------------------------------------------------------------------


class CodegenPersistence:
    """Async storage of the framework's records and metrics, on SQLite or PostgreSQL.

    ``dsn`` defaults to the configured one (``DATABASE_URL``, else ``POSTGRES_*``, else the SQLite file in the
    data directory). Use ``async with CodegenPersistence() as p: ...`` or call :meth:`close` to flush buffered
    metrics and release connections.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 1.0,
        max_buffered_rows: int = 100_000,
        auto_migrate: bool = True,
    ) -> None:
        self._dsn = resolve_dsn(dsn)
        self._url = normalize_dsn(self._dsn)
        self._backend = self._url.get_backend_name()
        self._auto_migrate = auto_migrate
        self._engine: AsyncEngine | None = None
        self._ready = False
        self._init_lock: asyncio.Lock | None = None
        self._init_loop: asyncio.AbstractEventLoop | None = None
        self._pool: Any = None
        self._closed = False
        self._buffer = MetricsBuffer(
            self._write_batch,
            batch_size=batch_size,
            flush_interval_s=flush_interval_s,
            max_rows=max_buffered_rows,
            describe_error=self._describe,
        )

    def __repr__(self) -> str:
        """Show the backend and the DSN without its password."""
        return f"CodegenPersistence(backend={self._backend!r}, dsn={self.dsn!r})"

    # -- properties --
    @property
    def dsn(self) -> str:
        """The DSN with its password replaced by ``***``."""
        return redact_dsn(self._dsn)

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._backend

    @property
    def buffer(self) -> MetricsBuffer:
        """The buffer of high-volume metrics."""
        return self._buffer

    @property
    def dropped_rows(self) -> int:
        """Metric rows dropped because the buffer was full (or unwritable at close)."""
        return self._buffer.dropped_rows

    def stats(self) -> BufferStats:
        """Counters of the metrics buffer (recorded, buffered, written, dropped, ...)."""
        return self._buffer.stats()

    # -- lifecycle --
    async def __aenter__(self) -> Self:
        """Return ``self``; the database is opened lazily on first use."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close: flush metrics, release connections."""
        await self.close()

    async def close(self) -> None:
        """Flush buffered metrics (when the database is reachable) and release every connection."""
        if self._closed:
            return
        await self._buffer.close()
        self._closed = True
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await pool.close()
            except Exception as exc:
                _log.warning("closing the connection pool failed", metadata={"error": self._describe(exc)})
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()

    async def flush(self) -> int:
        """Write buffered metrics now; return how many rows were written (never raises on outages)."""
        return await self._buffer.flush()

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, OnexError):
            return scrub(exc.message, self._dsn)
        return scrub(f"{type(exc).__name__}: {exc}".splitlines()[0], self._dsn)

    async def _get_engine(self) -> AsyncEngine:
        if self._closed:
            raise OnexError("CodegenPersistence is closed", code=ErrorCode.OPERATION_FAILED)
        if self._ready and self._engine is not None:
            return self._engine
        loop = asyncio.get_running_loop()
        if self._init_lock is None or self._init_loop is not loop:
            self._init_lock = asyncio.Lock()
            self._init_loop = loop
        async with self._init_lock:
            if self._engine is None:
                self._engine = create_engine(self._dsn)
            if not self._ready:
                if self._auto_migrate:
                    await self._ensure_schema(self._engine)
                self._ready = True
        return self._engine

    async def _ensure_schema(self, engine: AsyncEngine) -> None:
        from agents.lib.migrations import HEAD_REVISION, apply_async

        try:
            async with engine.connect() as conn:
                has_version = await conn.run_sync(lambda c: sa.inspect(c).has_table("alembic_version"))
                version = None
                if has_version:
                    version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
        except OnexError:
            raise
        except Exception as exc:
            raise translate_error(exc, self._dsn, "connect to the database") from None
        if version is not None and version != HEAD_REVISION and not _known_revision(version):
            _log.warning(
                "the database schema is newer than this version of agents; not migrating",
                metadata={"dsn": self.dsn, "database_revision": version, "head": HEAD_REVISION},
            )
            return
        if version != HEAD_REVISION:
            result = await apply_async(self._dsn)
            _log.info(
                "database schema migrated",
                metadata={"dsn": self.dsn, "result": result.lines()},
            )

    @asynccontextmanager
    async def _begin(self, action: str) -> AsyncIterator[AsyncConnection]:
        engine = await self._get_engine()
        try:
            async with engine.begin() as conn:
                yield conn
        except OnexError:
            raise
        except Exception as exc:
            raise translate_error(exc, self._dsn, action) from None

    def _insert(self, table: sa.Table) -> Any:
        """Return a dialect ``INSERT`` that supports ``on_conflict_do_update`` on both backends."""
        if self._backend == "postgresql":
            return pg_dialect.insert(table)
        return sqlite_dialect.insert(table)

    # -- mixin compatibility --
    async def record_mixin_compatibility(
        self,
        mixin_a: str,
        mixin_b: str,
        node_type: str,
        success: bool,
        conflict_reason: str | None = None,
    ) -> MixinCompatibility:
        """Add one outcome for the pair (atomically); return the pair's counts after the update."""
        a, b = sorted((_text(mixin_a, "mixin_a", 200), _text(mixin_b, "mixin_b", 200)))
        node = _text(node_type, "node_type", 64)
        now = utcnow()
        t = mixin_compatibility_matrix
        ins = self._insert(t).values(
            mixin_a=a,
            mixin_b=b,
            node_type=node,
            success_count=1 if success else 0,
            failure_count=0 if success else 1,
            last_conflict_reason=conflict_reason,
            created_at=now,
            updated_at=now,
        )
        stmt = ins.on_conflict_do_update(
            index_elements=[t.c.mixin_a, t.c.mixin_b, t.c.node_type],
            set_={
                "success_count": t.c.success_count + ins.excluded.success_count,
                "failure_count": t.c.failure_count + ins.excluded.failure_count,
                "last_conflict_reason": sa.func.coalesce(
                    ins.excluded.last_conflict_reason, t.c.last_conflict_reason
                ),
                "updated_at": ins.excluded.updated_at,
            },
        ).returning(*t.c)
        async with self._begin("record a mixin compatibility outcome") as conn:
            row = (await conn.execute(stmt)).mappings().one()
        return self._mixin(row)

    @staticmethod
    def _mixin(row: sa.RowMapping) -> MixinCompatibility:
        return MixinCompatibility(
            mixin_a=row["mixin_a"],
            mixin_b=row["mixin_b"],
            node_type=row["node_type"],
            success_count=int(row["success_count"]),
            failure_count=int(row["failure_count"]),
            last_conflict_reason=row["last_conflict_reason"],
            updated_at=row["updated_at"],
        )

    async def get_mixin_compatibility(
        self, mixin_a: str, mixin_b: str, node_type: str
    ) -> MixinCompatibility | None:
        """Return the counts of one pair (in either order) on ``node_type``, or ``None``."""
        a, b = sorted((_text(mixin_a, "mixin_a", 200), _text(mixin_b, "mixin_b", 200)))
        t = mixin_compatibility_matrix
        stmt = sa.select(t).where(t.c.mixin_a == a, t.c.mixin_b == b, t.c.node_type == node_type)
        async with self._begin("read mixin compatibility") as conn:
            row = (await conn.execute(stmt)).mappings().one_or_none()
        return None if row is None else self._mixin(row)

    async def list_mixin_compatibility(self, node_type: str | None = None) -> list[MixinCompatibility]:
        """Return every recorded pair (optionally of one node type), ordered by node type and pair."""
        t = mixin_compatibility_matrix
        stmt = sa.select(t).order_by(t.c.node_type, t.c.mixin_a, t.c.mixin_b)
        if node_type is not None:
            stmt = stmt.where(t.c.node_type == node_type)
        async with self._begin("read mixin compatibility") as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [self._mixin(r) for r in rows]

    # -- pattern feedback --
    async def record_pattern_feedback(
        self,
        *,
        detected_pattern: str,
        feedback_type: str,
        session_id: UUID | str | None = None,
        detected_confidence: float | None = None,
        actual_pattern: str | None = None,
        capabilities_matched: Iterable[str] | None = None,
        false_positives: Iterable[str] | None = None,
        false_negatives: Iterable[str] | None = None,
        user_provided: bool = False,
        weight: float | None = None,
        context: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> int:
        """Store one piece of feedback and return its id.

        ``weight`` defaults to 2.0 for user-provided feedback and 1.0 otherwise.
        """
        confidence = None if detected_confidence is None else _number(detected_confidence, "detected_confidence")
        values = {
            "session_id": _opt_id(session_id),
            "detected_pattern": _text(detected_pattern, "detected_pattern", 200),
            "detected_confidence": confidence,
            "actual_pattern": None if actual_pattern is None else _text(actual_pattern, "actual_pattern", 200),
            "feedback_type": _text(feedback_type, "feedback_type", 64),
            "capabilities_matched": _strings(capabilities_matched, "capabilities_matched"),
            "false_positives": _strings(false_positives, "false_positives"),
            "false_negatives": _strings(false_negatives, "false_negatives"),
            "user_provided": bool(user_provided),
            "weight": (2.0 if user_provided else 1.0) if weight is None else _number(weight, "weight"),
            "context": _json_safe(context),
            "created_at": _ts(created_at),
        }
        t = pattern_feedback_log
        stmt = sa.insert(t).values(**values).returning(t.c.id)
        async with self._begin("record pattern feedback") as conn:
            new_id = (await conn.execute(stmt)).scalar_one()
        return int(new_id)

    async def list_pattern_feedback(
        self,
        detected_pattern: str | None = None,
        *,
        window_minutes: float | None = None,
        limit: int | None = None,
    ) -> list[PatternFeedbackRecord]:
        """Return stored feedback, oldest first (optionally one pattern, a time window, a row limit)."""
        t = pattern_feedback_log
        stmt = sa.select(t).order_by(t.c.created_at, t.c.id)
        if detected_pattern is not None:
            stmt = stmt.where(t.c.detected_pattern == detected_pattern)
        if window_minutes is not None:
            stmt = stmt.where(t.c.created_at >= _cutoff(window_minutes))
        if limit is not None:
            stmt = stmt.limit(_count(limit, "limit"))
        async with self._begin("read pattern feedback") as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [
            PatternFeedbackRecord(
                id=int(r["id"]),
                session_id=r["session_id"],
                detected_pattern=r["detected_pattern"],
                detected_confidence=_opt_float(r["detected_confidence"]),
                actual_pattern=r["actual_pattern"],
                feedback_type=r["feedback_type"],
                capabilities_matched=list(r["capabilities_matched"] or []),
                false_positives=list(r["false_positives"] or []),
                false_negatives=list(r["false_negatives"] or []),
                user_provided=bool(r["user_provided"]),
                weight=float(r["weight"]),
                context=r["context"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    async def pattern_feedback_patterns(self) -> list[str]:
        """Return the distinct detected patterns that have feedback, sorted."""
        t = pattern_feedback_log
        stmt = sa.select(t.c.detected_pattern).distinct().order_by(t.c.detected_pattern)
        async with self._begin("read pattern feedback") as conn:
            return list((await conn.execute(stmt)).scalars().all())

    # -- generation sessions --
    async def start_generation_session(
        self,
        session_id: UUID | str,
        *,
        prd_path: str | None = None,
        service_name: str | None = None,
        node_count: int = 0,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """Record that a generation run started (status ``running``)."""
        stmt = sa.insert(generation_sessions).values(
            session_id=_text(session_id, "session_id", 64),
            prd_path=prd_path,
            service_name=service_name,
            status="running",
            node_count=_count(node_count, "node_count"),
            started_at=utcnow(),
            context=_json_safe(context),
        )
        async with self._begin("record a generation session") as conn:
            await conn.execute(stmt)

    async def finish_generation_session(
        self,
        session_id: UUID | str,
        *,
        status: str,
        node_count: int | None = None,
        duration_ms: float | None = None,
        error: str | None = None,
    ) -> bool:
        """Record the end of a run; return whether the session existed."""
        t = generation_sessions
        values: dict[str, Any] = {
            "status": _text(status, "status", 32),
            "finished_at": utcnow(),
            "error": error,
        }
        if node_count is not None:
            values["node_count"] = _count(node_count, "node_count")
        if duration_ms is not None:
            values["duration_ms"] = _number(duration_ms, "duration_ms")
        stmt = sa.update(t).where(t.c.session_id == _text(session_id, "session_id", 64)).values(values)
        async with self._begin("record a generation session") as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def get_generation_session(self, session_id: UUID | str) -> GenerationSession | None:
        """Return one generation run, or ``None``."""
        t = generation_sessions
        stmt = sa.select(t).where(t.c.session_id == _text(session_id, "session_id", 64))
        async with self._begin("read a generation session") as conn:
            r = (await conn.execute(stmt)).mappings().one_or_none()
        if r is None:
            return None
        return GenerationSession(
            session_id=r["session_id"],
            prd_path=r["prd_path"],
            service_name=r["service_name"],
            status=r["status"],
            node_count=int(r["node_count"]),
            started_at=r["started_at"],
            finished_at=r["finished_at"],
            duration_ms=_opt_float(r["duration_ms"]),
            error=r["error"],
            context=r["context"],
        )

    # -- buffered metrics --
    async def record_generation_metric(
        self,
        *,
        node_type: str,
        phase: str,
        duration_ms: float,
        session_id: UUID | str | None = None,
        parallel: bool = False,
        worker_count: int = 1,
        speedup: float | None = None,
        success: bool = True,
        context: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> None:
        """Buffer one generation-phase measurement (never raises; invalid values are logged and ignored)."""
        try:
            row: Row = {
                "session_id": _opt_id(session_id),
                "node_type": _text(node_type, "node_type", 64),
                "phase": _text(phase, "phase", 64),
                "duration_ms": _number(duration_ms, "duration_ms"),
                "parallel": bool(parallel),
                "worker_count": _count(worker_count, "worker_count"),
                "speedup": None if speedup is None else _number(speedup, "speedup"),
                "success": bool(success),
                "context": _json_safe(context),
                "created_at": _ts(created_at),
            }
        except Exception as exc:
            self._invalid_metric("generation", exc)
            return
        self._buffer.append(_GENERATION, row)

    async def record_event_metric(
        self,
        *,
        event_type: str,
        processing_duration_ms: float,
        success: bool,
        batch_size: int = 1,
        queue_wait_ms: float | None = None,
        retry_count: int = 0,
        error: str | None = None,
        created_at: datetime | None = None,
    ) -> None:
        """Buffer one event-processing measurement (never raises; invalid values are logged and ignored)."""
        try:
            row: Row = {
                "event_type": _text(event_type, "event_type", 200),
                "processing_duration_ms": _number(processing_duration_ms, "processing_duration_ms"),
                "success": bool(success),
                "batch_size": _count(batch_size, "batch_size"),
                "queue_wait_ms": None if queue_wait_ms is None else _number(queue_wait_ms, "queue_wait_ms"),
                "retry_count": _count(retry_count, "retry_count"),
                "error": None if error is None else str(error)[:4000],
                "created_at": _ts(created_at),
            }
        except Exception as exc:
            self._invalid_metric("event", exc)
            return
        self._buffer.append(_EVENT, row)

    async def record_template_cache_stats(self, rows: Iterable[TemplateCacheDelta | Mapping[str, Any]]) -> None:
        """Buffer counter increments of templates (added to the stored counters at the next flush).

        Each item is a :class:`TemplateCacheDelta` or a mapping with its field names. Never raises.
        """
        self.buffer_template_cache_stats(rows)

    def template_cache_sink(self) -> Callable[[list[dict[str, Any]]], None]:
        """Return a ``metrics_sink`` for :class:`~agents.lib.template_cache.TemplateCache` writing here.

        The sink takes the cache's records (``hits_delta``, ``misses_delta``, ``loads_delta``,
        ``load_ms_delta``, ...), buffers them without waiting (from any thread), and they reach
        ``template_cache_metadata`` with the next batch. Never raises.
        """

        def sink(records: list[dict[str, Any]]) -> None:
            self.buffer_template_cache_stats(
                TemplateCacheDelta(
                    template_name=r["template_name"],
                    template_type=r["template_type"],
                    file_path=r["file_path"],
                    hits=r.get("hits_delta", 0),
                    misses=r.get("misses_delta", 0),
                    loads=r.get("loads_delta", 0),
                    load_time_ms=r.get("load_ms_delta", 0.0),
                    size_bytes=r.get("size_bytes"),
                    content_hash=r.get("content_hash"),
                    last_accessed_at=r.get("last_accessed_at"),
                )
                for r in records
            )

        return sink

    def buffer_template_cache_stats(self, rows: Iterable[TemplateCacheDelta | Mapping[str, Any]]) -> None:
        """Do :meth:`record_template_cache_stats` synchronously, from any thread. Never raises."""
        try:
            items = list(rows)
        except Exception as exc:
            self._invalid_metric("template cache", exc)
            return
        for item in items:
            try:
                delta = item if isinstance(item, TemplateCacheDelta) else TemplateCacheDelta(**item)
                row: Row = {
                    "template_name": _text(delta.template_name, "template_name", 255),
                    "template_type": _text(delta.template_type, "template_type", 64),
                    "file_path": _text(str(delta.file_path), "file_path", 1024),
                    "hits": _count(delta.hits, "hits"),
                    "misses": _count(delta.misses, "misses"),
                    "loads": _count(delta.loads, "loads"),
                    "load_time_ms": _number(delta.load_time_ms, "load_time_ms"),
                    "size_bytes": None if delta.size_bytes is None else _count(delta.size_bytes, "size_bytes"),
                    "content_hash": delta.content_hash,
                    "last_accessed_at": _ts(delta.last_accessed_at),
                }
            except Exception as exc:
                self._invalid_metric("template cache", exc)
                continue
            self._buffer.append(_TEMPLATE, row)

    def _invalid_metric(self, kind: str, exc: BaseException) -> None:
        message = exc.message if isinstance(exc, OnexError) else f"{type(exc).__name__}: {exc}"
        _log.warning(f"invalid {kind} metric ignored", metadata={"error": message})

    async def _write_batch(self, groups: dict[str, list[Row]]) -> None:
        """Write one batch of buffered rows in one transaction (one ``executemany`` per table)."""
        async with self._begin("write metrics") as conn:
            generation = groups.get(_GENERATION)
            if generation:
                await self._bulk_insert(conn, generation_performance_metrics, generation)
            events = groups.get(_EVENT)
            if events:
                await self._bulk_insert(conn, event_processing_metrics, events)
            templates = groups.get(_TEMPLATE)
            if templates:
                await self._upsert_templates(conn, templates)

    async def _bulk_insert(self, conn: AsyncConnection, table: sa.Table, rows: list[Row]) -> None:
        """Insert ``rows``: ``COPY`` on PostgreSQL (one streamed round trip), ``executemany`` on SQLite.

        The values go through the columns' own bind processors first (UTC timestamps, JSON text), so COPY
        writes exactly what an ``INSERT`` would; constraints and defaults apply the same way. The COPY runs on
        the transaction's connection, inside the transaction (a ``SELECT 1`` starts it first: SQLAlchemy's
        asyncpg adapter begins lazily), so a failed batch leaves nothing behind.
        """
        if self._backend != "postgresql":
            await conn.execute(sa.insert(table), rows)
            return
        dialect = conn.dialect
        by_columns: dict[tuple[str, ...], list[Row]] = {}
        for row in rows:
            by_columns.setdefault(tuple(row), []).append(row)
        await conn.exec_driver_sql("SELECT 1")
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        for columns, group in by_columns.items():
            processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
            records = [
                tuple(
                    value if proc is None or value is None else proc(value)
                    for proc, value in zip(processors, (row[name] for name in columns), strict=True)
                )
                for row in group
            ]
            await driver.copy_records_to_table(table.name, records=records, columns=list(columns))

    async def _upsert_templates(self, conn: AsyncConnection, rows: list[Row]) -> None:
        merged: dict[tuple[str, str, str], Row] = {}
        for row in rows:
            key = (row["template_name"], row["template_type"], row["file_path"])
            current = merged.get(key)
            if current is None:
                merged[key] = dict(row)
                continue
            for name in ("hits", "misses", "loads", "load_time_ms"):
                current[name] += row[name]
            for name in ("size_bytes", "content_hash"):
                if row[name] is not None:
                    current[name] = row[name]
            current["last_accessed_at"] = max(current["last_accessed_at"], row["last_accessed_at"])
        now = utcnow()
        params = [
            {
                "template_name": r["template_name"],
                "template_type": r["template_type"],
                "file_path": r["file_path"],
                "content_hash": r["content_hash"],
                "size_bytes": r["size_bytes"],
                "hit_count": r["hits"],
                "miss_count": r["misses"],
                "load_count": r["loads"],
                "total_load_time_ms": r["load_time_ms"],
                "avg_load_time_ms": r["load_time_ms"] / r["loads"] if r["loads"] else 0.0,
                "last_accessed_at": r["last_accessed_at"],
                "created_at": now,
                "updated_at": now,
            }
            for r in merged.values()
        ]
        t = template_cache_metadata
        ins = self._insert(t)
        ex = ins.excluded
        loads = t.c.load_count + ex.load_count
        total = t.c.total_load_time_ms + ex.total_load_time_ms
        stmt = ins.on_conflict_do_update(
            index_elements=[t.c.template_name, t.c.template_type, t.c.file_path],
            set_={
                "hit_count": t.c.hit_count + ex.hit_count,
                "miss_count": t.c.miss_count + ex.miss_count,
                "load_count": loads,
                "total_load_time_ms": total,
                "avg_load_time_ms": sa.case((loads > 0, total / loads), else_=0.0),
                "size_bytes": sa.func.coalesce(ex.size_bytes, t.c.size_bytes),
                "content_hash": sa.func.coalesce(ex.content_hash, t.c.content_hash),
                "last_accessed_at": ex.last_accessed_at,
                "updated_at": ex.updated_at,
            },
        )
        await conn.execute(stmt, params)

    async def list_template_cache_metadata(self) -> list[dict[str, Any]]:
        """Return the stored counters of every template, most accessed first."""
        t = template_cache_metadata
        stmt = sa.select(t).order_by((t.c.hit_count + t.c.miss_count).desc(), t.c.template_name, t.c.file_path)
        async with self._begin("read template cache metadata") as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [dict(r) for r in rows]

    # -- the event outbox --
    async def enqueue_event(
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
                topic=_text(topic, "topic", 255),
                key=None if key is None else _as_bytes(key),
                payload=body,
                headers=_encode_headers(headers),
                status="pending",
                created_at=now,
                available_at=now,
            )
            .returning(t.c.id)
        )
        async with self._begin("store an event in the outbox") as conn:
            return int((await conn.execute(stmt)).scalar_one())

    @staticmethod
    def _outbox(row: sa.RowMapping) -> OutboxEvent:
        return OutboxEvent(
            id=int(row["id"]),
            topic=row["topic"],
            key=None if row["key"] is None else bytes(row["key"]),
            payload=bytes(row["payload"]),
            headers=_decode_headers(row["headers"]),
            status=row["status"],
            retry_count=int(row["retry_count"]),
            last_error=row["last_error"],
            created_at=row["created_at"],
            available_at=row["available_at"],
            leased_until=row["leased_until"],
        )

    async def claim_events(self, limit: int = 100, lease_seconds: float = 30.0) -> list[OutboxEvent]:
        """Lease up to ``limit`` pending events (oldest first) for ``lease_seconds``; return them.

        A leased event is not returned again until its lease expires, so concurrent publishers do not send it
        twice (PostgreSQL uses ``FOR UPDATE SKIP LOCKED``; SQLite serializes writers).
        """
        _count(limit, "limit")
        lease = _number(lease_seconds, "lease_seconds")
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
        if self._backend == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        stmt = (
            sa.update(t)
            .where(t.c.id.in_(candidates.scalar_subquery()))
            .values(leased_until=now + timedelta(seconds=lease))
            .returning(*t.c)
        )
        async with self._begin("claim outbox events") as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return sorted((self._outbox(r) for r in rows), key=lambda e: e.id)

    async def mark_events_sent(self, ids: Iterable[int]) -> int:
        """Mark events as published; return how many pending events were updated."""
        wanted = sorted({_count(i, "id") for i in ids})
        if not wanted:
            return 0
        t = event_outbox
        stmt = (
            sa.update(t)
            .where(t.c.id.in_(wanted), t.c.status == "pending")
            .values(status="sent", sent_at=utcnow(), leased_until=None)
        )
        async with self._begin("mark outbox events sent") as conn:
            return int((await conn.execute(stmt)).rowcount)

    async def mark_event_failed(
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
            .where(t.c.id == _count(event_id, "event_id"), t.c.status == "pending")
            .values(retry_count=t.c.retry_count + 1, last_error=message, leased_until=None)
            .returning(t.c.retry_count)
        )
        async with self._begin("mark an outbox event failed") as conn:
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
        return self._outbox(row)

    async def outbox_counts(self) -> dict[str, int]:
        """Return the number of outbox events per status (``pending``, ``sent``, ``dead``)."""
        t = event_outbox
        stmt = sa.select(t.c.status, sa.func.count()).group_by(t.c.status)
        async with self._begin("count outbox events") as conn:
            rows = (await conn.execute(stmt)).all()
        counts = {"pending": 0, "sent": 0, "dead": 0}
        counts.update({str(status): int(n) for status, n in rows})
        return counts

    # -- analytics --
    async def _p95(
        self, conn: AsyncConnection, column: sa.ColumnElement[Any], where: sa.ColumnElement[bool], count: int
    ) -> float | None:
        """Return the nearest-rank p95 of ``column`` over the ``count`` rows matching ``where``.

        ``count`` comes from the caller's totals query in the same transaction. On SQLite the value at
        ascending rank ``ceil(0.95 * count)`` is read in descending order, so that ``LIMIT 1 OFFSET k`` keeps
        only the top ~5% of the rows in its sorter instead of sorting them all.
        """
        if self._backend == "postgresql":
            stmt = sa.select(sa.func.percentile_disc(0.95).within_group(column.asc())).where(where)
            value = (await conn.execute(stmt)).scalar()
            return _opt_float(value)
        if not count:
            return None
        rank = max(math.ceil(0.95 * count), 1)  # 1-based, ascending
        stmt = sa.select(column).where(where).order_by(column.desc()).limit(1).offset(count - rank)
        return _opt_float((await conn.execute(stmt)).scalar())

    async def template_cache_summary(self, window_minutes: float = 60) -> dict[str, Any]:
        """Summarize the template cache counters of templates accessed in the last ``window_minutes``.

        Counters are cumulative per template, so the window selects templates (by last access), not hits.
        Keys: ``total_templates``, ``total_hits``, ``total_misses``, ``total_loads``, ``overall_hit_rate``,
        ``avg_load_time_ms`` (``None`` when there is nothing to divide), ``total_size_bytes``,
        ``window_minutes``.
        """
        await self._buffer.flush()
        t = template_cache_metadata
        where = t.c.last_accessed_at >= _cutoff(window_minutes)
        stmt = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(t.c.hit_count), 0),
            sa.func.coalesce(sa.func.sum(t.c.miss_count), 0),
            sa.func.coalesce(sa.func.sum(t.c.load_count), 0),
            sa.func.coalesce(sa.func.sum(t.c.total_load_time_ms), 0.0),
            sa.func.coalesce(sa.func.sum(t.c.size_bytes), 0),
        ).where(where)
        async with self._begin("summarize template cache metrics") as conn:
            count, hits, misses, loads, load_ms, size = (await conn.execute(stmt)).one()
        return {
            "window_minutes": window_minutes,
            "total_templates": int(count),
            "total_hits": int(hits),
            "total_misses": int(misses),
            "total_loads": int(loads),
            "overall_hit_rate": _rate(hits, int(hits) + int(misses)),
            "avg_load_time_ms": _rate(load_ms, loads),
            "total_size_bytes": int(size),
        }

    async def generation_summary(self, window_minutes: float = 60) -> dict[str, Any]:
        """Summarize generation metrics recorded in the last ``window_minutes``.

        Keys: ``total``, ``success_rate``, ``parallel_usage_rate``, ``avg_speedup`` (over rows with a speedup),
        ``avg_duration_ms``, ``p95_duration_ms``, ``by_node_type`` (list of dicts) and ``window_minutes``.
        Rates and averages are ``None`` when the window holds no rows.
        """
        await self._buffer.flush()
        t = generation_performance_metrics
        where = t.c.created_at >= _cutoff(window_minutes)
        ok = sa.func.sum(sa.case((t.c.success, 1), else_=0))
        par = sa.func.sum(sa.case((t.c.parallel, 1), else_=0))
        totals = sa.select(sa.func.count(), ok, par, sa.func.avg(t.c.speedup), sa.func.avg(t.c.duration_ms)).where(
            where
        )
        by_type = (
            sa.select(t.c.node_type, sa.func.count(), ok, sa.func.avg(t.c.duration_ms))
            .where(where)
            .group_by(t.c.node_type)
            .order_by(t.c.node_type)
        )
        async with self._begin("summarize generation metrics") as conn:
            total, succeeded, parallel, speedup, avg_ms = (await conn.execute(totals)).one()
            p95 = await self._p95(conn, t.c.duration_ms, where, int(total))
            groups = (await conn.execute(by_type)).all()
        return {
            "window_minutes": window_minutes,
            "total": int(total),
            "success_rate": _rate(succeeded, total),
            "parallel_usage_rate": _rate(parallel, total),
            "avg_speedup": _opt_float(speedup),
            "avg_duration_ms": _opt_float(avg_ms),
            "p95_duration_ms": p95,
            "by_node_type": [
                {
                    "node_type": node,
                    "count": int(n),
                    "success_rate": _rate(s, n),
                    "avg_duration_ms": _opt_float(avg),
                }
                for node, n, s, avg in groups
            ],
        }

    async def event_processing_summary(self, window_minutes: float = 60) -> dict[str, Any]:
        """Summarize event-processing metrics recorded in the last ``window_minutes``.

        Keys: ``total_events``, ``overall_success_rate``, ``avg_latency_ms``, ``p95_latency_ms``,
        ``avg_batch_size``, ``total_retries``, ``by_event_type`` (list of dicts) and ``window_minutes``.
        Rates and averages are ``None`` when the window holds no rows.
        """
        await self._buffer.flush()
        t = event_processing_metrics
        where = t.c.created_at >= _cutoff(window_minutes)
        ok = sa.func.sum(sa.case((t.c.success, 1), else_=0))
        totals = sa.select(
            sa.func.count(),
            ok,
            sa.func.avg(t.c.processing_duration_ms),
            sa.func.avg(t.c.batch_size),
            sa.func.coalesce(sa.func.sum(t.c.retry_count), 0),
        ).where(where)
        by_type = (
            sa.select(t.c.event_type, sa.func.count(), ok, sa.func.avg(t.c.processing_duration_ms))
            .where(where)
            .group_by(t.c.event_type)
            .order_by(t.c.event_type)
        )
        async with self._begin("summarize event metrics") as conn:
            total, succeeded, avg_ms, avg_batch, retries = (await conn.execute(totals)).one()
            p95 = await self._p95(conn, t.c.processing_duration_ms, where, int(total))
            groups = (await conn.execute(by_type)).all()
        return {
            "window_minutes": window_minutes,
            "total_events": int(total),
            "overall_success_rate": _rate(succeeded, total),
            "avg_latency_ms": _opt_float(avg_ms),
            "p95_latency_ms": p95,
            "avg_batch_size": _opt_float(avg_batch),
            "total_retries": int(retries),
            "by_event_type": [
                {
                    "event_type": name,
                    "count": int(n),
                    "success_rate": _rate(s, n),
                    "avg_duration_ms": _opt_float(avg),
                }
                for name, n, s, avg in groups
            ],
        }

    # -- raw SQL access (the guide's Stream 6 example) --
    async def _ensure_pool(self) -> Any:
        """Return a connection pool for raw SQL: ``async with pool.acquire() as conn: await conn.fetch(...)``.

        On PostgreSQL this is an :func:`asyncpg.create_pool` pool on the same DSN (created once), so the
        guide's queries (``NOW() - INTERVAL '1 hour'``, ``::float``) run as written. On SQLite it is a
        :class:`SqlitePool` with the same ``acquire()``/``fetch()`` shape, whose rows are addressable by column
        name; PostgreSQL-only SQL does not run there (use the summary methods, which work on both).
        The schema is migrated first (unless ``auto_migrate=False``).
        """
        if self._pool is not None:
            return self._pool
        await self._get_engine()
        if self._backend == "sqlite":
            self._pool = SqlitePool(self._url.database or ":memory:")
            return self._pool
        import asyncpg  # type: ignore[import-untyped]

        try:
            self._pool = await asyncpg.create_pool(
                plain_postgres_dsn(self._dsn), min_size=1, max_size=5, timeout=10
            )
        except Exception as exc:
            raise translate_error(exc, self._dsn, "open a connection pool") from None
        return self._pool
