"""Real broker outages: the breaker's transitions, and 10,000 events that each arrive exactly once.

The broker is tansu with memory storage: a restart loses every message, and a consumer that was reading keeps
stale offsets. So the 10,000-event test reads the topic with one consumer until the outage (having made sure it
read every acknowledged event before the broker is killed) and with a fresh one from the beginning after the
restart, and checks the union: every id once, none twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from uuid import uuid4

import pytest

from agents.lib._events.clock import ManualClock
from agents.lib._events.store import latest_breaker_transition
from agents.lib.codegen_events import NodeGeneratedEvent, parse_event
from agents.lib.errors import ErrorCode
from agents.lib.event_optimizer import (
    CircuitBreakerConfig,
    CircuitOpenError,
    CircuitState,
    EventOptimizer,
    EventPublishError,
    OptimizerConfig,
)
from agents.lib.persistence import CodegenPersistence
from tests._services.kafka import KafkaBroker
from tests.events._support import TopicCollector, aconsume

Factory = Callable[..., EventOptimizer]


async def test_breaker_transitions_during_a_real_outage(
    restartable_kafka: KafkaBroker, service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """CLOSED -> OPEN after failures, refusals while OPEN, one probe in HALF_OPEN, CLOSED after the successes."""
    clock = ManualClock()
    optimizer = optimizers(
        restartable_kafka.bootstrap,
        config=OptimizerConfig(enable_outbox=False, delivery_timeout_ms=3000),
        circuit_config=CircuitBreakerConfig(failure_threshold=2, recovery_timeout_ms=5000, success_threshold=2),
        persistence=persistence,
        clock=clock,
    )

    def event() -> NodeGeneratedEvent:
        return NodeGeneratedEvent(service=service, payload={"n": 1})

    assert (await optimizer.publish_event(event())).delivered
    restartable_kafka.stop()
    for _ in range(2):
        with pytest.raises(EventPublishError) as info:
            await optimizer.publish_event(event())
        assert info.value.code is ErrorCode.UNAVAILABLE
    assert optimizer.circuit_state is CircuitState.OPEN
    sent_before = dict(optimizer.producer_pool.sent) if optimizer.producer_pool else {}
    with pytest.raises(RuntimeError, match="Circuit breaker is OPEN"):
        await optimizer.publish_event(event())
    result_error = None
    try:
        await optimizer.publish_batch([event(), event()])
    except CircuitOpenError as exc:
        result_error = exc
    assert result_error is not None and "Circuit breaker is OPEN" in str(result_error)
    assert optimizer.producer_pool is not None and optimizer.producer_pool.sent == sent_before  # nothing tried

    await clock.advance(5.0)
    assert optimizer.circuit_state is CircuitState.HALF_OPEN
    with pytest.raises(EventPublishError):  # the probe, while the broker is still down
        await optimizer.publish_event(event())
    assert optimizer.circuit_state is CircuitState.OPEN

    restartable_kafka.start()
    await clock.advance(5.0)
    probes = [asyncio.create_task(optimizer.publish_event(event())) for _ in range(5)]
    outcomes = await asyncio.gather(*probes, return_exceptions=True)
    delivered = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, CircuitOpenError)]
    assert (len(delivered), len(refused)) == (1, 4)
    assert all("half-open" in str(r) for r in refused)
    assert optimizer.circuit_state is CircuitState.HALF_OPEN
    assert (await optimizer.publish_event(event())).delivered
    assert optimizer.circuit_state is CircuitState.CLOSED
    assert (await optimizer.publish_batch([event() for _ in range(3)])).ok
    await optimizer.cleanup()
    latest = await latest_breaker_transition(persistence)
    assert latest is not None and latest[0] == "CLOSED"
    summary = await persistence.event_processing_summary(60)
    transitions = sorted(
        (g["event_type"], g["count"]) for g in summary["by_event_type"] if g["event_type"].startswith("circuit")
    )
    assert transitions == [
        ("circuit_breaker.CLOSED", 1),
        ("circuit_breaker.HALF_OPEN", 2),
        ("circuit_breaker.OPEN", 2),
    ]
    records = await aconsume(restartable_kafka.bootstrap, f"{service}.node.generated.v1", 5)
    assert len(records) == 5  # the probe, the closing success and the batch of three, after the restart


async def test_ten_thousand_events_arrive_exactly_once_across_an_outage(
    restartable_kafka: KafkaBroker, service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """The broker is killed (longer than the delivery timeout) while 10,000 events are published, then restarted."""
    delivery_timeout_s = 1.5
    optimizer = optimizers(
        restartable_kafka.bootstrap,
        config=OptimizerConfig(
            delivery_timeout_ms=int(delivery_timeout_s * 1000), relay_interval_ms=100, drain_on_cleanup_ms=0
        ),
        circuit_config=CircuitBreakerConfig(failure_threshold=3, recovery_timeout_ms=300, success_threshold=2),
        persistence=persistence,
    )
    topic = f"{service}.node.generated.v1"
    events = [NodeGeneratedEvent(service=service, correlation_id=uuid4(), payload={"i": i}) for i in range(10_000)]
    all_ids = {str(e.id) for e in events}
    batches = [events[i : i + 500] for i in range(0, len(events), 500)]
    states: list[str] = []
    acked_before: set[str] = set()
    outboxed: set[str] = set()
    before = TopicCollector(restartable_kafka.bootstrap, topic)
    after: TopicCollector | None = None
    killed_at = 0.0
    for number, batch in enumerate(batches):
        if number == 1:
            before.start()
        if number == 8:  # the outage starts once every acknowledged event was read (memory storage, see above)
            await asyncio.to_thread(before.wait_for, acked_before)
            restartable_kafka.stop()
            killed_at = time.monotonic()
        if number == 15:  # the outage has lasted longer than the delivery timeout: bring the broker back
            await asyncio.sleep(max(0.0, killed_at + 2 * delivery_timeout_s - time.monotonic()))
            await asyncio.to_thread(before.stop)
            restartable_kafka.start()
            after = TopicCollector(restartable_kafka.bootstrap, topic)
            after.start()
        result = await optimizer.publish_batch(batch)
        assert result.failed == ()
        stored = {str(f.event.id) for f in result.outboxed}
        outboxed |= stored
        if killed_at == 0.0:
            acked_before |= {str(e.id) for e in batch} - stored
        states.append(optimizer.circuit_state.value)
    assert after is not None
    assert len(acked_before) == 8 * 500 and len(outboxed) >= 7 * 500
    await asyncio.to_thread(after.wait_for, all_ids - acked_before, 90.0)
    await asyncio.sleep(0.5)  # anything sent twice would arrive now
    after.stop()
    assert before.error is None and after.error is None
    seen = Counter(before.ids() + after.ids())
    assert set(seen) == all_ids
    assert [i for i, n in seen.items() if n > 1] == []
    assert sum(seen.values()) == 10_000
    assert set(before.ids()) == acked_before
    assert all(
        parse_event(r.value).payload["i"] == int(parse_event(r.value).payload["i"]) for r in after.records[:10]
    )
    counts = await persistence.outbox_counts()
    assert counts == {"pending": 0, "sent": len(outboxed), "dead": 0}
    assert optimizer.circuit_state is CircuitState.CLOSED
    assert "CLOSED" in states[:8]
