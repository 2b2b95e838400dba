"""Publishing events to Kafka fast and without losing any: :class:`EventOptimizer` (guide Stream 6).

``await publish_event(e)`` and ``await publish_batch(events)`` return once Kafka acknowledged the messages
(``acks=all``, idempotent confluent-kafka producers), or once the events that Kafka could not take are stored
in the database outbox, from which a relay publishes them with their original ids when Kafka is back. Events
go to the outbox when Kafka is not configured (then nothing connects to anything), when a delivery fails for
lack of a broker, when the circuit breaker is open, and while earlier events still wait there (so a run's
events keep their order). Without the outbox (``enable_outbox=False``) an open circuit raises
``RuntimeError("Circuit breaker is OPEN ...")`` and a failed ``publish_event`` raises :class:`EventPublishError`.

Messages at or above ``compression_threshold_bytes`` go through compressing producers, smaller ones through
uncompressed ones; per-event and per-batch metrics reach ``event_processing_metrics`` through the persistence
buffer. See docs/events.md for the settings, the wire format and the guarantees.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from agents.lib._events.breaker import CircuitBreaker, CircuitBreakerConfig, CircuitOpenError, CircuitState
from agents.lib._events.clock import SYSTEM_CLOCK, Clock
from agents.lib._events.metrics import EventMetrics, group
from agents.lib._events.outbox import OutboxRelay, OutboxWriter
from agents.lib._events.producer import CODECS, Outgoing, ProducerPool
from agents.lib._events.store import OutboxRow, has_pending
from agents.lib._events.topics import default_prefix, topic_name, validate_prefix
from agents.lib.batch_processor import BatchConfig, BatchProcessor
from agents.lib.codegen_events import BaseEvent
from agents.lib.config import get_settings
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import get_logger

__all__ = [
    "BatchConfig",
    "BatchResult",
    "CircuitBreakerConfig",
    "CircuitOpenError",
    "CircuitState",
    "EventFailure",
    "EventOptimizer",
    "EventPublishError",
    "OptimizerConfig",
    "PublishOutcome",
]

_log = get_logger(__name__, component="events")

_RESERVED = frozenset(
    {"bootstrap.servers", "acks", "enable.idempotence", "compression.type", "compression.codec", "client.id"}
)


@dataclass(frozen=True)
class OptimizerConfig:
    """Settings of an :class:`EventOptimizer`; every one is honoured (see docs/events.md).

    ``producer_config`` adds librdkafka settings (``"socket.timeout.ms"``, ...); the ones that make the
    guarantees (``acks``, ``enable.idempotence``, compression, servers) cannot be overridden there.
    """

    enable_compression: bool = True
    compression_threshold_bytes: int = 1024
    compression_codec: str = "zstd"
    max_producer_pool_size: int = 1
    linger_ms: float = 5.0
    delivery_timeout_ms: int = 30_000
    max_message_bytes: int = 1_000_000
    enable_outbox: bool = True
    enable_metrics: bool = True
    topic_prefix: str | None = None
    relay_batch_size: int = 500
    relay_interval_ms: float = 1_000
    drain_on_cleanup_ms: float = 5_000
    producer_config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> OnexError:
            value = getattr(self, name)
            return OnexError(f"OptimizerConfig.{name} must be {rule}, got {value!r}", ErrorCode.VALIDATION_ERROR)

        for name in ("compression_threshold_bytes", "max_producer_pool_size", "delivery_timeout_ms"):
            value = getattr(self, name)
            if type(value) is not int or value < (0 if name == "compression_threshold_bytes" else 1):
                raise bad(name, "a positive integer")
        for name in ("max_message_bytes", "relay_batch_size"):
            if type(getattr(self, name)) is not int or getattr(self, name) < 1:
                raise bad(name, "a positive integer")
        for name in ("linger_ms", "relay_interval_ms", "drain_on_cleanup_ms"):
            if not isinstance(getattr(self, name), int | float) or getattr(self, name) < 0:
                raise bad(name, "a number >= 0")
        if self.compression_codec not in CODECS:
            raise bad("compression_codec", f"one of {', '.join(CODECS)}")
        if self.topic_prefix is not None:
            validate_prefix(self.topic_prefix)
        reserved = sorted(_RESERVED & set(self.producer_config))
        if reserved:
            raise bad("producer_config", f"free of {', '.join(reserved)} (set by the optimizer)")


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """Where one event went: ``"delivered"`` (Kafka acknowledged it) or ``"outboxed"`` (stored to relay later)."""

    event_id: UUID
    status: str
    topic: str
    partition: int | None = None
    offset: int | None = None
    outbox_id: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        """Whether Kafka acknowledged the event."""
        return self.status == "delivered"


@dataclass(frozen=True, slots=True)
class EventFailure:
    """An event of a batch that Kafka did not acknowledge, and why."""

    event: BaseEvent
    code: str
    error: str


@dataclass(frozen=True)
class BatchResult:
    """What :meth:`EventOptimizer.publish_batch` did with each event of the batch.

    ``delivered`` counts the acknowledged events; ``outboxed`` lists the events stored in the outbox instead
    (with why); ``failed`` the events neither delivered nor stored (refused by Kafka, not serializable, too big,
    or no outbox).
    """

    total: int
    delivered: int
    outboxed: tuple[EventFailure, ...] = ()
    failed: tuple[EventFailure, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every event was delivered."""
        return self.delivered == self.total

    @property
    def failed_events(self) -> list[BaseEvent]:
        """The events that were neither delivered nor stored."""
        return [f.event for f in self.failed]


class EventPublishError(OnexError):
    """An event could be neither published nor stored in the outbox."""


class EventOptimizer:
    """Publishes events through a producer pool, a circuit breaker and the outbox; see the module docstring.

    ``bootstrap_servers`` defaults to ``KAFKA_BOOTSTRAP_SERVERS``; without servers nothing connects and every
    event goes to the outbox. ``persistence`` (default: a :class:`CodegenPersistence` on the configured
    database, closed by :meth:`cleanup`) holds the outbox and receives the metrics. ``clock`` drives the
    breaker and the batch processors (tests inject one).
    """

    def __init__(
        self,
        bootstrap_servers: str | None = None,
        config: OptimizerConfig | None = None,
        circuit_config: CircuitBreakerConfig | None = None,
        batch_config: BatchConfig | None = None,
        *,
        persistence: CodegenPersistence | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config or OptimizerConfig()
        self.circuit_config = circuit_config or CircuitBreakerConfig()
        self.batch_config = batch_config or BatchConfig()
        servers = bootstrap_servers if bootstrap_servers is not None else get_settings().kafka_bootstrap_servers
        self.bootstrap_servers = servers.strip() if servers and servers.strip() else None
        self._clock = clock or SYSTEM_CLOCK
        cfg = self.config
        self._prefix = cfg.topic_prefix if cfg.topic_prefix is not None else default_prefix()
        self._owned_persistence = persistence is None and (cfg.enable_outbox or cfg.enable_metrics)
        self.persistence = CodegenPersistence() if self._owned_persistence else persistence
        self._metrics = EventMetrics(self.persistence if cfg.enable_metrics else None)
        self._breaker = CircuitBreaker(
            self.circuit_config, clock=self._clock.monotonic, on_transition=self._on_transition
        )
        self._changed_at = self._clock.monotonic()
        self._writer: OutboxWriter | None = None
        if cfg.enable_outbox and self.persistence is not None:
            self._writer = OutboxWriter(self.persistence, on_stored=self._on_stored)
        self._pool: ProducerPool | None = None
        self._relay: OutboxRelay | None = None
        self._backlog = False
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._closed = False
        self._processors: list[BatchProcessor[BaseEvent]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._topics: dict[tuple[str, str, int], str] = {}
        self._max_bytes = cfg.max_message_bytes
        self.counts = {"delivered": 0, "outboxed": 0, "failed": 0}

    def __repr__(self) -> str:
        """Show the servers, the circuit state and the counters."""
        state = self.circuit_state.value
        return f"EventOptimizer(servers={self.bootstrap_servers!r}, circuit={state}, {self.counts})"

    # -- state --
    @property
    def kafka_configured(self) -> bool:
        """Whether there are bootstrap servers (otherwise every event goes to the outbox)."""
        return self.bootstrap_servers is not None

    @property
    def circuit_state(self) -> CircuitState:
        """The circuit breaker's state."""
        return self._breaker.state

    @property
    def circuit_breaker(self) -> CircuitBreaker:
        """The circuit breaker in front of Kafka."""
        return self._breaker

    @property
    def producer_pool(self) -> ProducerPool | None:
        """The producer pool (created by the first publish to Kafka)."""
        return self._pool

    @property
    def outbox_backlog(self) -> bool:
        """Whether new events go to the outbox because earlier ones wait there."""
        return self._backlog

    # -- publishing --
    async def publish_event(self, event: BaseEvent) -> PublishOutcome:
        """Publish one event; return once Kafka acknowledged it or it is in the outbox (see module docstring)."""
        message = self._encode(event)
        await self._start()
        return await self._publish_one(event, message)

    async def publish_batch(self, events: Iterable[BaseEvent]) -> BatchResult:
        """Publish ``events`` together; return once each is acknowledged, stored in the outbox, or failed."""
        return await self._publish_many(list(events), queue_wait_ms=None)

    def create_batch_processor(self, config: BatchConfig | None = None) -> BatchProcessor[BaseEvent]:
        """Return a :class:`BatchProcessor` whose batches go to :meth:`publish_batch` (config: ``batch_config``).

        A batch that cannot be published goes to the outbox (with the outbox enabled); :meth:`cleanup`
        flushes the processor.
        """
        processor: BatchProcessor[BaseEvent]

        async def publish(events: list[BaseEvent]) -> None:
            await self._publish_many(events, queue_wait_ms=processor.flushing_wait_ms)

        processor = BatchProcessor(
            publish,
            config or self.batch_config,
            on_error=self._store_failed_batch if self._writer is not None else None,
            clock=self._clock,
            name="event-optimizer",
        )
        self._processors.append(processor)
        return processor

    async def relay_outbox(self, timeout_s: float | None = None) -> int:
        """Publish what waits in the outbox now (until it is empty, the circuit opens or ``timeout_s``)."""
        relay = self._ensure_relay()
        if relay is None:
            return 0
        await self._start()
        return await relay.drain(timeout_s)

    # -- lifecycle --
    async def cleanup(self) -> None:
        """Flush the batch processors, let the relay drain briefly, flush the producers, close what we own."""
        if self._closed:
            return
        self._closed = True
        for processor in self._processors:
            try:
                await processor.cleanup()
            except Exception as exc:
                _log.error("Flushing a batch processor failed", metadata={"error": _text(exc)})
        if self._relay is not None:
            if self.config.drain_on_cleanup_ms > 0 and self._breaker.state is not CircuitState.OPEN:
                await self._relay.drain(self.config.drain_on_cleanup_ms / 1000.0)
            await self._relay.stop()
        if self._pool is not None:
            await self._pool.close(self.config.delivery_timeout_ms / 1000.0)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.persistence is not None:
            if self._owned_persistence:
                await self.persistence.close()
            else:
                await self.persistence.flush()

    async def __aenter__(self) -> Self:
        """Return ``self``."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Run :meth:`cleanup`."""
        await self.cleanup()

    # -- internals --
    def _encode(self, event: BaseEvent) -> Outgoing:
        key = (event.service, event.event_type, event.schema_version)
        topic = self._topics.get(key)
        if topic is None:
            topic = self._topics[key] = topic_name(*key, self._prefix)
        value, message_key, headers = event.to_message()
        if len(value) > self._max_bytes:
            raise EventPublishError(
                f"event {event.id} is {len(value)} bytes, more than max_message_bytes "
                f"({self.config.max_message_bytes})",
                ErrorCode.VALIDATION_ERROR,
                {"event_id": str(event.id), "size": len(value)},
            )
        return tuple.__new__(Outgoing, (topic, value, message_key, headers))  # Outgoing(...) minus its __new__

    async def _start(self) -> None:
        if self._started:
            return
        if self._closed:
            raise OnexError("EventOptimizer is closed", ErrorCode.OPERATION_FAILED)
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:  # concurrent first publishers all wait for the backlog check
            if self._started:
                return
            relay = self._ensure_relay()
            if relay is not None and self.persistence is not None:
                try:
                    self._backlog = await has_pending(self.persistence)
                except Exception as exc:
                    _log.warning("Could not read the event outbox", metadata={"error": _text(exc)})
                relay.start()
            self._started = True

    def _ensure_pool(self) -> ProducerPool:
        if self._pool is None:
            cfg = self.config
            producer = {
                **dict(cfg.producer_config),
                "bootstrap.servers": self.bootstrap_servers,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": cfg.linger_ms,
                "message.timeout.ms": cfg.delivery_timeout_ms,
                "message.max.bytes": max(cfg.max_message_bytes + 4096, 1000),
            }
            self._pool = ProducerPool(
                producer,
                pool_size=cfg.max_producer_pool_size,
                codec=cfg.compression_codec if cfg.enable_compression else None,
                threshold_bytes=cfg.compression_threshold_bytes,
                delivery_timeout_s=cfg.delivery_timeout_ms / 1000.0,
            )
        return self._pool

    def _ensure_relay(self) -> OutboxRelay | None:
        if self._relay is None and self._writer is not None and self.kafka_configured:
            assert self.persistence is not None
            cfg = self.config
            self._relay = OutboxRelay(
                self.persistence,
                self._ensure_pool(),
                self._breaker,
                writer=self._writer,
                metrics=self._metrics,
                batch_size=cfg.relay_batch_size,
                lease_seconds=cfg.delivery_timeout_ms / 1000.0 + 30.0,
                interval_s=cfg.relay_interval_ms / 1000.0,
                on_empty=self._on_outbox_empty,
            )
        return self._relay

    async def _publish_one(self, event: BaseEvent, message: Outgoing) -> PublishOutcome:
        if not self.kafka_configured:
            return await self._outbox_one(event, message, "Kafka is not configured")
        if self._backlog:
            return await self._outbox_one(event, message, "earlier events wait in the outbox")
        permit = self._breaker.try_acquire()
        if permit is None:
            if self._writer is None:
                self._breaker.acquire()  # raises CircuitOpenError with the details
            return await self._outbox_one(event, message, "the circuit breaker is open")
        started = time.perf_counter()
        try:
            delivery = await self._ensure_pool().send([message], _as_is)
        except BaseException:
            self._breaker.release(permit)
            raise
        duration_ms = (time.perf_counter() - started) * 1000.0
        if delivery.ok:
            self._breaker.record_success(permit)
            self.counts["delivered"] += 1
            await self._metrics.single(event.event_type, duration_ms, True)
            return PublishOutcome(event.id, "delivered", message.topic, delivery.partition, delivery.offset)
        failure = delivery.failures[0]
        if failure.availability:
            self._breaker.record_failure(permit)
        else:
            self._breaker.release(permit)
        reason = f"{failure.code}: {failure.message}"
        await self._metrics.single(event.event_type, duration_ms, False, error=reason)
        if self._writer is not None and failure.availability:
            return await self._outbox_one(event, message, reason)
        self.counts["failed"] += 1
        raise EventPublishError(
            f"Kafka did not acknowledge event {event.id}: {reason}",
            ErrorCode.UNAVAILABLE if failure.availability else ErrorCode.VALIDATION_ERROR,
            {"event_id": str(event.id), "topic": message.topic, "error_code": failure.code},
        )

    async def _outbox_one(self, event: BaseEvent, message: Outgoing, reason: str) -> PublishOutcome:
        [outbox_id] = await self._store([event], [message], reason)
        return PublishOutcome(event.id, "outboxed", message.topic, outbox_id=outbox_id, error=reason)

    async def _store(self, events: Sequence[BaseEvent], messages: Sequence[Outgoing], reason: str) -> list[int]:
        if self._writer is None:
            raise EventPublishError(
                f"{len(events)} event(s) could not be published ({reason}) and the outbox is disabled",
                ErrorCode.UNAVAILABLE,
            )
        rows: list[OutboxRow] = [(m.topic, m.key, m.value, m.headers) for m in messages]
        try:
            ids = await self._writer.store(rows)
        except Exception as exc:
            self.counts["failed"] += len(events)
            raise EventPublishError(
                f"{len(events)} event(s) could not be published ({reason}) nor stored in the outbox: {_text(exc)}",
                ErrorCode.UNAVAILABLE,
                {"event_ids": [str(e.id) for e in events[:20]]},
            ) from exc
        self.counts["outboxed"] += len(ids)
        if self.kafka_configured:
            self._backlog = True
        return ids

    async def _publish_many(self, events: list[BaseEvent], *, queue_wait_ms: float | None) -> BatchResult:
        await self._start()
        if not events:
            return BatchResult(0, 0)
        reason = None
        permit = None
        if not self.kafka_configured:
            reason = "Kafka is not configured"
        elif self._backlog:
            reason = "earlier events wait in the outbox"
        else:
            permit = self._breaker.try_acquire()
            if permit is None:
                if self._writer is None:
                    self._breaker.acquire()  # raises CircuitOpenError with the details
                reason = "the circuit breaker is open"
        if permit is None:
            return await self._outbox_batch(events, reason or "")
        started = time.perf_counter()
        try:
            delivery = await self._ensure_pool().send(events, self._encode)
        except BaseException:
            self._breaker.release(permit)
            raise
        duration_ms = (time.perf_counter() - started) * 1000.0
        by_index = {f.index: f for f in delivery.failures}
        delivered = len(events) - len(by_index)
        if any(f.availability for f in delivery.failures):
            self._breaker.record_failure(permit)
        elif delivered:
            self._breaker.record_success(permit)
        else:
            self._breaker.release(permit)
        self.counts["delivered"] += delivered
        if by_index:
            groups = group(
                (e.event_type, i not in by_index, None if i not in by_index else by_index[i].code, 0)
                for i, e in enumerate(events)
            )
        else:  # the common case, counted in C
            groups = [(t, True, None, n, 0) for t, n in Counter(map(attrgetter("event_type"), events)).items()]
        await self._metrics.batch(groups, duration_ms, queue_wait_ms=queue_wait_ms)
        if not by_index:
            return BatchResult(len(events), delivered)
        keep = [i for i, f in sorted(by_index.items()) if f.availability and self._writer is not None]
        if keep:
            await self._store(
                [events[i] for i in keep], [self._encode(events[i]) for i in keep], "delivery failed"
            )
        kept = set(keep)
        failed = [EventFailure(events[i], f.code, f.message) for i, f in sorted(by_index.items()) if i not in kept]
        self.counts["failed"] += len(failed)
        return BatchResult(
            len(events),
            delivered,
            outboxed=tuple(EventFailure(events[i], by_index[i].code, by_index[i].message) for i in keep),
            failed=tuple(failed),
        )

    async def _outbox_batch(self, events: list[BaseEvent], reason: str) -> BatchResult:
        """Store the batch's events in the outbox (those that can be encoded; the others failed)."""
        failed: list[EventFailure] = []
        valid: list[BaseEvent] = []
        messages: list[Outgoing] = []
        for event in events:
            try:
                messages.append(self._encode(event))
                valid.append(event)
            except OnexError as exc:
                failed.append(EventFailure(event, exc.code.value, exc.message))
        self.counts["failed"] += len(failed)
        if valid:
            await self._store(valid, messages, reason)
        stored = tuple(EventFailure(e, "OUTBOX", reason) for e in valid)
        return BatchResult(len(events), 0, outboxed=stored, failed=tuple(failed))

    async def _store_failed_batch(self, events: list[BaseEvent], exc: BaseException) -> None:
        """Keep in the outbox the events of a batch that failed as a whole (not event by event)."""
        messages: list[Outgoing] = []
        kept: list[BaseEvent] = []
        for event in events:
            try:
                messages.append(self._encode(event))
                kept.append(event)
            except OnexError:
                continue
        await self._store(kept, messages, f"batch failed: {_text(exc)}")

    def _on_stored(self) -> None:
        if self._relay is not None:
            self._relay.wake()

    def _on_outbox_empty(self) -> None:
        self._backlog = False

    def _on_transition(self, old: CircuitState, new: CircuitState) -> None:
        now = self._clock.monotonic()
        elapsed_ms, self._changed_at = (now - self._changed_at) * 1000.0, now
        level = _log.info if new is CircuitState.CLOSED else _log.warning
        level("Circuit breaker changed state", metadata={"from": old.value, "to": new.value})
        self._spawn(self._metrics.breaker(new.value, elapsed_ms))
        if new is not CircuitState.OPEN and self._relay is not None:
            self._relay.wake()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coroutine)
        except RuntimeError:  # no loop (a state read outside async code): nothing to record it with
            coroutine.close()
            return
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _as_is(message: Outgoing) -> Outgoing:
    return message


def _text(exc: BaseException) -> str:
    return exc.message if isinstance(exc, OnexError) else f"{type(exc).__name__}: {exc}"
