"""Storage of everything the streams record and query: :class:`CodegenPersistence`, on SQLite or PostgreSQL.

The facade over the storage layer: it owns the database (:mod:`agents.lib.db.database`), the metrics buffer
(:mod:`agents.lib.db.buffer`) and its sink (:mod:`agents.lib.db.sink`), and delegates to one store per concern
(:mod:`agents.lib.db.stores`). How it behaves, and how a stream adds its storage: docs/persistence.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar, cast
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from agents.lib.db.buffer import BufferStats, MetricsBuffer, Row
from agents.lib.db.database import Database
from agents.lib.db.sink import (
    EVENT_METRICS,
    GENERATION_METRICS,
    TEMPLATE_CACHE_METRICS,
    BufferedMetricsSink,
    MetricsSink,
)
from agents.lib.db.sqlite_pool import SqlitePool
from agents.lib.db.stores import (
    STORES,
    EventMetricsStore,
    GenerationStore,
    MixinStore,
    OutboxStore,
    PatternFeedbackStore,
    Store,
    TemplateCacheStore,
)
from agents.lib.db.stores.generation import GenerationSession
from agents.lib.db.stores.mixins import MixinCompatibility
from agents.lib.db.stores.outbox import OutboxEvent
from agents.lib.db.stores.pattern_feedback import PatternFeedbackRecord
from agents.lib.db.stores.template_cache import TemplateCacheDelta
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

S = TypeVar("S", bound=Store)

_log = get_logger("agents.lib.persistence", component="persistence")


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
        self._db = Database(dsn, auto_migrate=auto_migrate)
        self._buffer = MetricsBuffer(
            self._write_batch,
            batch_size=batch_size,
            flush_interval_s=flush_interval_s,
            max_rows=max_buffered_rows,
            describe_error=self._db.describe,
        )
        self._stores: dict[type[Store], Store] = {cls: cls(self._db, self._buffer.flush) for cls in STORES}
        self._kinds = {kind.name: kind for store in self._stores.values() for kind in store.metric_kinds}
        self._sink = BufferedMetricsSink(
            self._buffer, {name: kind.normalize for name, kind in self._kinds.items()}
        )
        self._generation = self.store(GenerationStore)
        self._events = self.store(EventMetricsStore)
        self._templates = self.store(TemplateCacheStore)
        self._mixins = self.store(MixinStore)
        self._feedback = self.store(PatternFeedbackStore)
        self._outbox = self.store(OutboxStore)

    def __repr__(self) -> str:
        """Show the backend and the DSN without its password."""
        return f"CodegenPersistence(backend={self.backend!r}, dsn={self.dsn!r})"

    # -- properties and seams --
    @property
    def dsn(self) -> str:
        """The DSN with its password replaced by ``***``."""
        return self._db.dsn

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._db.backend

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

    def metrics_sink(self) -> MetricsSink:
        """Return the :class:`~agents.lib.db.sink.MetricsSink` writing here (non-blocking, any thread).

        Rows of every registered kind (``"generation"``, ``"event"``, ``"template_cache"``...) are checked and
        buffered; they reach the database with the next batch. Nothing is kept while ``ENABLE_METRICS`` is
        false. Pass it as a :class:`~agents.lib.template_cache.TemplateCache`'s ``metrics_sink``.
        """
        return self._sink

    def store(self, cls: type[S]) -> S:
        """Return this persistence's instance of the store class ``cls`` (registered in ``db.stores.STORES``)."""
        try:
            return cast(S, self._stores[cls])
        except KeyError:
            raise OnexError(
                f"{cls.__name__} is not a registered store (agents.lib.db.stores.STORES)",
                code=ErrorCode.VALIDATION_ERROR,
            ) from None

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
        if self._db.closed:
            return
        await self._buffer.close()
        await self._db.close()

    async def flush(self) -> int:
        """Write buffered metrics now; return how many rows were written (never raises on outages)."""
        return await self._buffer.flush()

    async def ping(self) -> None:
        """Run ``SELECT 1``; raise ``OnexError`` (``DATABASE_ERROR``) when the database cannot be reached."""
        await self._db.ping()

    async def _get_engine(self) -> AsyncEngine:
        return await self._db.engine()

    async def _write_batch(self, groups: dict[str, list[Row]]) -> None:
        """Write one batch of buffered rows in one transaction (one bulk write per kind)."""
        async with self._db.begin("write metrics") as conn:
            for kind, rows in groups.items():
                await self._kinds[kind].write(self._db, conn, rows)

    # -- mixin compatibility (Stream 4) --
    async def record_mixin_compatibility(
        self,
        mixin_a: str,
        mixin_b: str,
        node_type: str,
        success: bool,
        conflict_reason: str | None = None,
    ) -> MixinCompatibility:
        """Add one outcome for the pair (atomically); return the pair's counts after the update."""
        return await self._mixins.record(mixin_a, mixin_b, node_type, success, conflict_reason)

    async def get_mixin_compatibility(
        self, mixin_a: str, mixin_b: str, node_type: str
    ) -> MixinCompatibility | None:
        """Return the counts of one pair (in either order) on ``node_type``, or ``None``."""
        return await self._mixins.get(mixin_a, mixin_b, node_type)

    async def list_mixin_compatibility(self, node_type: str | None = None) -> list[MixinCompatibility]:
        """Return every recorded pair (optionally of one node type), ordered by node type and pair."""
        return await self._mixins.list_pairs(node_type)

    # -- pattern feedback (Stream 5) --
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
        return await self._feedback.record(
            detected_pattern=detected_pattern,
            feedback_type=feedback_type,
            session_id=session_id,
            detected_confidence=detected_confidence,
            actual_pattern=actual_pattern,
            capabilities_matched=capabilities_matched,
            false_positives=false_positives,
            false_negatives=false_negatives,
            user_provided=user_provided,
            weight=weight,
            context=context,
            created_at=created_at,
        )

    async def list_pattern_feedback(
        self,
        detected_pattern: str | None = None,
        *,
        window_minutes: float | None = None,
        limit: int | None = None,
    ) -> list[PatternFeedbackRecord]:
        """Return stored feedback, oldest first (optionally one pattern, a time window, a row limit)."""
        return await self._feedback.list_feedback(detected_pattern, window_minutes=window_minutes, limit=limit)

    async def pattern_feedback_patterns(self) -> list[str]:
        """Return the distinct detected patterns that have feedback, sorted."""
        return await self._feedback.patterns()

    # -- generation sessions and metrics (the main job, Stream 3) --
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
        await self._generation.start_session(
            session_id, prd_path=prd_path, service_name=service_name, node_count=node_count, context=context
        )

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
        return await self._generation.finish_session(
            session_id, status=status, node_count=node_count, duration_ms=duration_ms, error=error
        )

    async def get_generation_session(self, session_id: UUID | str) -> GenerationSession | None:
        """Return one generation run, or ``None``."""
        return await self._generation.get_session(session_id)

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
        row = {
            "node_type": node_type,
            "phase": phase,
            "duration_ms": duration_ms,
            "session_id": session_id,
            "parallel": parallel,
            "worker_count": worker_count,
            "speedup": speedup,
            "success": success,
            "context": context,
            "created_at": created_at,
        }
        self._sink.write(GENERATION_METRICS, [row])

    async def generation_summary(self, window_minutes: float = 60) -> dict[str, Any]:
        """Summarize generation metrics recorded in the last ``window_minutes`` (see docs/persistence.md)."""
        return await self._generation.summary(window_minutes)

    # -- event metrics and the outbox (Stream 6) --
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
        row = {
            "event_type": event_type,
            "processing_duration_ms": processing_duration_ms,
            "success": success,
            "batch_size": batch_size,
            "queue_wait_ms": queue_wait_ms,
            "retry_count": retry_count,
            "error": error,
            "created_at": created_at,
        }
        self._sink.write(EVENT_METRICS, [row])

    async def event_processing_summary(self, window_minutes: float = 60) -> dict[str, Any]:
        """Summarize event-processing metrics recorded in the last ``window_minutes`` (see docs/persistence.md)."""
        return await self._events.summary(window_minutes)

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
        return await self._outbox.enqueue(topic, key, payload, headers)

    async def claim_events(self, limit: int = 100, lease_seconds: float = 30.0) -> list[OutboxEvent]:
        """Lease up to ``limit`` pending events (oldest first) for ``lease_seconds``; return them."""
        return await self._outbox.claim(limit, lease_seconds)

    async def mark_events_sent(self, ids: Iterable[int]) -> int:
        """Mark events as published; return how many pending events were updated."""
        return await self._outbox.mark_sent(ids)

    async def mark_event_failed(
        self,
        event_id: int,
        error: str,
        *,
        max_retries: int = 10,
        retry_delay_s: float | None = None,
    ) -> OutboxEvent | None:
        """Record a failed publish and schedule a retry (``dead`` after ``max_retries``); return the event."""
        return await self._outbox.mark_failed(
            event_id, error, max_retries=max_retries, retry_delay_s=retry_delay_s
        )

    async def outbox_counts(self) -> dict[str, int]:
        """Return the number of outbox events per status (``pending``, ``sent``, ``dead``)."""
        return await self._outbox.counts()

    # -- template cache counters (Stream 2) --
    async def record_template_cache_stats(self, rows: Iterable[TemplateCacheDelta | Mapping[str, Any]]) -> None:
        """Buffer counter increments of templates (added to the stored counters at the next flush).

        Each item is a :class:`TemplateCacheDelta` or a mapping with its field names. Never raises.
        """
        try:
            items = [dataclasses.asdict(r) if isinstance(r, TemplateCacheDelta) else r for r in rows]
        except Exception as exc:  # a broken iterable is an invalid metric, not an error
            _log.warning("invalid template cache metric ignored", metadata={"error": repr(exc)})
            return
        self._sink.write(TEMPLATE_CACHE_METRICS, items)

    async def list_template_cache_metadata(self) -> list[dict[str, Any]]:
        """Return the stored counters of every template, most accessed first."""
        return await self._templates.list_metadata()

    async def template_cache_summary(self, window_minutes: float = 60) -> dict[str, Any]:
        """Summarize the counters of templates accessed in the last ``window_minutes`` (docs/persistence.md)."""
        return await self._templates.summary(window_minutes)

    # -- raw SQL access (the guide's Stream 6 example) --
    async def _ensure_pool(self) -> Any:
        """Return a connection pool for raw SQL: ``async with pool.acquire() as conn: await conn.fetch(...)``.

        On PostgreSQL this is an :func:`asyncpg.create_pool` pool on the same DSN (created once), so the
        guide's queries (``NOW() - INTERVAL '1 hour'``, ``::float``) run as written. On SQLite it is a
        :class:`SqlitePool` with the same ``acquire()``/``fetch()`` shape, whose rows are addressable by column
        name; PostgreSQL-only SQL does not run there (use the summary methods, which work on both).
        The schema is migrated first (unless ``auto_migrate=False``).
        """
        return await self._db.pool()
