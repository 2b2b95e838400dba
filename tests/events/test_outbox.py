"""The outbox: no Kafka means no connection and every event kept; the relay publishes in order with the ids."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import sqlalchemy as sa

from agents.lib._events.store import (
    enqueue_many,
    has_pending,
    latest_breaker_transition,
    oldest_pending,
    release_events,
)
from agents.lib.codegen_events import NodeGeneratedEvent, parse_event
from agents.lib.db.schema import event_outbox, utcnow
from agents.lib.event_optimizer import CircuitState, EventOptimizer, OptimizerConfig
from agents.lib.persistence import CodegenPersistence
from tests.events._support import aconsume

Factory = Callable[..., EventOptimizer]


def kafka_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("agents-events", "rdk:"))]


async def test_without_kafka_nothing_connects_and_every_event_is_kept(
    service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """No KAFKA_BOOTSTRAP_SERVERS: no producer, no thread; events and batches land in the outbox as messages."""
    optimizer = optimizers(persistence=persistence)
    assert not optimizer.kafka_configured
    correlation = uuid4()
    one = NodeGeneratedEvent(service=service, correlation_id=correlation, payload={"i": 0})
    outcome = await optimizer.publish_event(one)
    assert (outcome.status, outcome.error, outcome.delivered) == ("outboxed", "Kafka is not configured", False)
    batch = [
        NodeGeneratedEvent(service=service, correlation_id=correlation, payload={"i": i}) for i in range(1, 4)
    ]
    result = await optimizer.publish_batch(batch)
    assert (result.delivered, [f.event for f in result.outboxed], result.failed) == (0, batch, ())
    assert optimizer.producer_pool is None
    assert kafka_threads() == []
    claimed = await persistence.claim_events(limit=10)
    assert [e.id for e in claimed] == [outcome.outbox_id, *sorted(e.id for e in claimed[1:])]
    assert [parse_event(e.payload) for e in claimed] == [one, *batch]
    assert all(e.topic == f"{service}.node.generated.v1" and e.key == str(correlation).encode() for e in claimed)
    assert [dict(e.headers)["event_id"] for e in claimed] == [str(ev.id).encode() for ev in (one, *batch)]
    assert optimizer.counts == {"delivered": 0, "outboxed": 4, "failed": 0}


async def test_the_relay_publishes_the_outbox_in_order_with_the_original_ids(
    kafka_bootstrap: str, service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """Events stored while Kafka was absent reach the topic once it is there: same ids, same order, marked sent."""
    offline = optimizers(persistence=persistence)
    correlation = uuid4()
    events = [
        NodeGeneratedEvent(service=service, correlation_id=correlation, payload={"seq": i}) for i in range(40)
    ]
    await offline.publish_batch(events[:30])
    for event in events[30:]:
        await offline.publish_event(event)
    await offline.cleanup()
    assert (await persistence.outbox_counts())["pending"] == 40

    online = optimizers(kafka_bootstrap, config=OptimizerConfig(relay_batch_size=16), persistence=persistence)
    assert await online.relay_outbox(timeout_s=30) == 40
    records = await aconsume(kafka_bootstrap, f"{service}.node.generated.v1", 40)
    assert [r.event_id for r in records] == [str(e.id) for e in events]
    assert [parse_event(r.value) for r in records] == events
    assert await persistence.outbox_counts() == {"pending": 0, "sent": 40, "dead": 0}


async def test_new_events_queue_behind_the_outbox_until_it_is_drained(
    kafka_bootstrap: str, service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """A running optimizer relays the backlog by itself; events published meanwhile follow it, then go direct."""
    correlation = uuid4()
    old = [NodeGeneratedEvent(service=service, correlation_id=correlation, payload={"seq": i}) for i in range(5)]
    offline = optimizers(persistence=persistence)
    await offline.publish_batch(old)
    await offline.cleanup()
    online = optimizers(
        kafka_bootstrap,
        config=OptimizerConfig(relay_interval_ms=50, drain_on_cleanup_ms=10_000),
        persistence=persistence,
    )
    fresh = NodeGeneratedEvent(service=service, correlation_id=correlation, payload={"seq": 5})
    first = await online.publish_event(fresh)
    assert (first.status, first.error) == ("outboxed", "earlier events wait in the outbox")
    records = await aconsume(kafka_bootstrap, f"{service}.node.generated.v1", 6)
    assert [parse_event(r.value).payload["seq"] for r in records] == [0, 1, 2, 3, 4, 5]
    assert not online.outbox_backlog
    later = await online.publish_event(
        NodeGeneratedEvent(service=service, correlation_id=correlation, payload={"seq": 6})
    )
    assert later.status == "delivered"
    records = await aconsume(kafka_bootstrap, f"{service}.node.generated.v1", 7)
    assert [parse_event(r.value).payload["seq"] for r in records] == list(range(7))
    assert await persistence.outbox_counts() == {"pending": 0, "sent": 6, "dead": 0}


async def test_a_refused_outbox_event_is_retried_later_without_opening_the_circuit(
    kafka_bootstrap: str, service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """A message Kafka can never take counts a retry with its error; the good events around it are sent."""
    good = NodeGeneratedEvent(service=service)
    await persistence.enqueue_event(good.to_kafka_topic(), good.kafka_key(), good.to_bytes(), good.kafka_headers())
    huge = await persistence.enqueue_event(f"{service}.node.generated.v1", b"k", b"x" * 3_000_000)
    optimizer = optimizers(
        kafka_bootstrap, config=OptimizerConfig(max_message_bytes=1_000_000), persistence=persistence
    )
    assert await optimizer.relay_outbox(timeout_s=20) == 1
    assert optimizer.circuit_state is CircuitState.CLOSED
    async with persistence._db.begin("read") as conn:
        row = (await conn.execute(sa.select(event_outbox).where(event_outbox.c.id == huge))).mappings().one()
    assert (row["status"], row["retry_count"]) == ("pending", 1)
    assert "MSG_SIZE_TOO_LARGE" in row["last_error"]
    assert row["available_at"] > utcnow()
    assert [r.event_id for r in await aconsume(kafka_bootstrap, good.to_kafka_topic(), 1)] == [str(good.id)]


async def test_outbox_queries_on_both_backends(backend_dsn: str) -> None:
    """enqueue_many keeps order in one transaction; release counts a retry and delays; pending/oldest/breaker reads."""
    store = CodegenPersistence(backend_dsn)
    try:
        assert not await has_pending(store)
        assert await oldest_pending(store) is None
        assert await latest_breaker_transition(store) is None
        rows = [("t.v1", f"k{i}".encode(), f"v{i}".encode(), [("event_id", f"id{i}".encode())]) for i in range(5)]
        ids = await enqueue_many(store, rows)
        assert ids == sorted(ids) and len(set(ids)) == 5
        assert await has_pending(store)
        oldest = await oldest_pending(store)
        assert oldest is not None and utcnow() - oldest < timedelta(minutes=5)
        claimed = await store.claim_events(limit=3)
        assert [(e.id, e.key, e.payload, e.headers) for e in claimed] == [
            (ids[i], f"k{i}".encode(), f"v{i}".encode(), [("event_id", f"id{i}".encode())]) for i in range(3)
        ]
        assert await release_events(store, [ids[0], ids[1]], "_TRANSPORT: down", delay_s=3600) == 2
        again = await store.claim_events(limit=10)
        assert [e.id for e in again] == ids[3:]  # released ones wait an hour, the third is still leased
        await release_events(store, [ids[2]], "_TRANSPORT: down", delay_s=0)
        [third] = await store.claim_events(limit=10)
        assert (third.id, third.retry_count, third.last_error) == (ids[2], 1, "_TRANSPORT: down")
        await store.record_event_metric(
            event_type="circuit_breaker.OPEN", processing_duration_ms=1.0, success=False
        )
        await store.record_event_metric(
            event_type="circuit_breaker.CLOSED", processing_duration_ms=2.0, success=True
        )
        await store.record_event_metric(event_type="node.generated", processing_duration_ms=2.0, success=True)
        latest = await latest_breaker_transition(store)
        assert latest is not None and latest[0] == "CLOSED"
    finally:
        await store.close()


async def test_concurrent_first_publishers_all_queue_behind_an_existing_backlog(
    kafka_bootstrap: str, service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """The backlog check happens once, before any of the first concurrent publishes goes to Kafka."""
    correlation = uuid4()
    old = NodeGeneratedEvent(service=service, correlation_id=correlation, payload={"seq": 0})
    await persistence.enqueue_event(old.to_kafka_topic(), old.kafka_key(), old.to_bytes(), old.kafka_headers())
    online = optimizers(kafka_bootstrap, config=OptimizerConfig(relay_interval_ms=50), persistence=persistence)
    fresh = [
        NodeGeneratedEvent(service=service, correlation_id=correlation, payload={"seq": i}) for i in range(1, 6)
    ]
    outcomes = await asyncio.gather(*(online.publish_event(e) for e in fresh))
    assert [o.status for o in outcomes] == ["outboxed"] * 5
    records = await aconsume(kafka_bootstrap, f"{service}.node.generated.v1", 6)
    assert [parse_event(r.value).payload["seq"] for r in records] == [0, 1, 2, 3, 4, 5]
