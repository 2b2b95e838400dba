"""Publishing to a real broker: every event type round trips, codecs, threshold routing, pool, settings, metrics."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import orjson
import pytest
import sqlalchemy as sa

from agents.lib._events.producer import CODECS
from agents.lib.codegen_events import (
    BaseEvent,
    GenerationCompletedEvent,
    GenerationFailedEvent,
    GenerationStartedEvent,
    NodeGeneratedEvent,
    NodeGenerationFailedEvent,
    parse_event,
)
from agents.lib.db.schema import event_processing_metrics
from agents.lib.errors import ErrorCode
from agents.lib.event_optimizer import (
    BatchConfig,
    EventOptimizer,
    EventPublishError,
    OptimizerConfig,
)
from agents.lib.persistence import CodegenPersistence
from tests.events._support import aconsume

Factory = Callable[..., EventOptimizer]
LIFECYCLE: list[type[BaseEvent]] = [
    GenerationStartedEvent,
    NodeGeneratedEvent,
    NodeGenerationFailedEvent,
    GenerationCompletedEvent,
    GenerationFailedEvent,
]


def sized(service: str, size: int, **kwargs: Any) -> NodeGeneratedEvent:
    """A NodeGeneratedEvent whose message value is exactly ``size`` bytes."""
    event = NodeGeneratedEvent(service=service, payload={"pad": ""}, **kwargs)
    base = len(event.to_bytes())
    assert size >= base
    event = NodeGeneratedEvent(
        service=service, id=event.id, timestamp=event.timestamp, payload={"pad": "a" * (size - base)}, **kwargs
    )
    assert len(event.to_bytes()) == size
    return event


async def test_every_event_type_round_trips_through_kafka(
    kafka_bootstrap: str, service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """Each lifecycle type, by publish_event and by publish_batch, is consumed back equal, with key and id header."""
    optimizer = optimizers(kafka_bootstrap, persistence=persistence)
    correlation = uuid4()
    singles = [
        cls(service=service, correlation_id=correlation, payload={"n": i}) for i, cls in enumerate(LIFECYCLE)
    ]
    batch = [
        cls(service=service, payload={"n": 10 + i}, metadata={"batch": True}) for i, cls in enumerate(LIFECYCLE)
    ]
    outcomes = [await optimizer.publish_event(event) for event in singles]
    assert [o.status for o in outcomes] == ["delivered"] * 5
    assert all(o.partition is not None and o.offset is not None for o in outcomes)
    result = await optimizer.publish_batch(batch)
    assert (result.ok, result.delivered, result.total, result.failed, result.outboxed) == (True, 5, 5, (), ())
    for single, batched in zip(singles, batch, strict=True):
        topic = f"{service}.{single.event_type}.v1"
        assert single.to_kafka_topic() == topic
        records = await aconsume(kafka_bootstrap, topic, 2)
        by_id = {r.event_id: r for r in records}
        assert set(by_id) == {str(single.id), str(batched.id)}
        for event in (single, batched):
            record = by_id[str(event.id)]
            back = parse_event(record.value)
            assert type(back) is type(event) and back == event
            assert record.key == event.kafka_key()
            assert record.headers["event_type"] == event.event_type.encode()
            assert record.headers["content-type"] == b"application/json"
    assert optimizer.counts == {"delivered": 10, "outboxed": 0, "failed": 0}
    assert await persistence.outbox_counts() == {"pending": 0, "sent": 0, "dead": 0}


async def test_events_of_one_correlation_id_keep_their_order(
    kafka_bootstrap: str, service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """The correlation id is the key: one partition, in publishing order, even with a pool of producers."""
    optimizer = optimizers(
        kafka_bootstrap,
        config=OptimizerConfig(max_producer_pool_size=3, enable_metrics=False),
        persistence=persistence,
    )
    correlation = uuid4()
    events = [
        NodeGeneratedEvent(service=service, correlation_id=correlation, payload={"seq": i}) for i in range(300)
    ]
    for chunk in (events[:100], events[100:200]):
        assert (await optimizer.publish_batch(chunk)).ok
    for event in events[200:]:
        await optimizer.publish_event(event)
    records = await aconsume(kafka_bootstrap, f"{service}.node.generated.v1", 300)
    assert len({r.partition for r in records}) == 1
    assert [parse_event(r.value).payload["seq"] for r in records] == list(range(300))


@pytest.mark.parametrize("codec", CODECS)
async def test_each_codec_compresses_on_the_wire_and_round_trips(
    kafka_bootstrap: str, service: str, optimizers: Factory, persistence: CodegenPersistence, codec: str
) -> None:
    """Large compressible events go out compressed with the chosen codec (librdkafka's byte counters say so)."""
    stats: list[dict[str, Any]] = []
    lock = threading.Lock()

    def collect(text: str) -> None:
        with lock:
            stats.append(orjson.loads(text))

    optimizer = optimizers(
        kafka_bootstrap,
        config=OptimizerConfig(
            compression_codec=codec,
            compression_threshold_bytes=1024,
            enable_metrics=False,
            producer_config={"statistics.interval.ms": 100, "stats_cb": collect},
        ),
        persistence=persistence,
    )
    text = "node generated and verified; " * 200
    events = [NodeGeneratedEvent(service=service, payload={"i": i, "log": text}) for i in range(200)]
    raw_bytes = sum(len(e.to_bytes()) for e in events)
    assert (await optimizer.publish_batch(events)).ok
    assert optimizer.producer_pool is not None and optimizer.producer_pool.sent == {"plain": 0, "compressed": 200}
    await asyncio.sleep(0.35)
    with lock:
        sent_bytes = max(sum(b["txbytes"] for b in s["brokers"].values()) for s in stats)
    assert sent_bytes < raw_bytes / 10, (codec, sent_bytes, raw_bytes)
    records = await aconsume(kafka_bootstrap, f"{service}.node.generated.v1", 200)
    assert sorted(parse_event(r.value).payload["i"] for r in records) == list(range(200))
    assert all(parse_event(r.value).payload["log"] == text for r in records)


async def test_without_compression_the_bytes_go_out_as_they_are(
    kafka_bootstrap: str, service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """enable_compression=False: large events take the plain producer and the wire carries every byte."""
    stats: list[dict[str, Any]] = []
    optimizer = optimizers(
        kafka_bootstrap,
        config=OptimizerConfig(
            enable_compression=False,
            enable_metrics=False,
            producer_config={"statistics.interval.ms": 100, "stats_cb": lambda s: stats.append(orjson.loads(s))},
        ),
        persistence=persistence,
    )
    events = [NodeGeneratedEvent(service=service, payload={"log": "x" * 4000}) for _ in range(50)]
    assert (await optimizer.publish_batch(events)).ok
    assert optimizer.producer_pool is not None and optimizer.producer_pool.sent == {"plain": 50, "compressed": 0}
    await asyncio.sleep(0.35)
    sent_bytes = max(sum(b["txbytes"] for b in s["brokers"].values()) for s in list(stats))
    assert sent_bytes > sum(len(e.to_bytes()) for e in events)


async def test_the_threshold_routes_by_size(
    kafka_bootstrap: str, service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """Below compression_threshold_bytes: the plain producer; at or above it: the compressing one."""
    optimizer = optimizers(
        kafka_bootstrap,
        config=OptimizerConfig(compression_threshold_bytes=2048, enable_metrics=False),
        persistence=persistence,
    )
    small, edge_below, edge, large = (sized(service, n) for n in (400, 2047, 2048, 9000))
    pool_sent = []
    for event in (small, edge_below, edge, large):
        assert (await optimizer.publish_event(event)).delivered
        assert optimizer.producer_pool is not None
        pool_sent.append(dict(optimizer.producer_pool.sent))
    assert pool_sent == [
        {"plain": 1, "compressed": 0},
        {"plain": 2, "compressed": 0},
        {"plain": 2, "compressed": 1},
        {"plain": 2, "compressed": 2},
    ]
    assert optimizer.producer_pool.compressed(edge.to_bytes()) and not optimizer.producer_pool.compressed(
        edge_below.to_bytes()
    )
    records = await aconsume(kafka_bootstrap, f"{service}.node.generated.v1", 4)
    assert {r.event_id for r in records} == {str(e.id) for e in (small, edge_below, edge, large)}


async def test_the_pool_size_is_honoured(
    kafka_bootstrap: str, service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """Keys spread over max_producer_pool_size producers, never more; a pool of one uses one."""
    for size in (3, 1):
        optimizer = optimizers(
            kafka_bootstrap,
            config=OptimizerConfig(max_producer_pool_size=size, enable_metrics=False),
            persistence=persistence,
        )
        events = [NodeGeneratedEvent(service=service, correlation_id=uuid4(), payload={}) for _ in range(60)]
        assert (await optimizer.publish_batch(events)).ok
        assert optimizer.producer_pool is not None
        assert (optimizer.producer_pool.producers, optimizer.producer_pool.created) == (size, size)
        await optimizer.cleanup()


async def test_oversized_and_unserializable_events_fail_without_reaching_kafka(
    kafka_bootstrap: str, service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """max_message_bytes is honoured: a bigger event is refused at once; a batch reports exactly those events."""
    optimizer = optimizers(
        kafka_bootstrap,
        config=OptimizerConfig(max_message_bytes=5000, enable_metrics=False),
        persistence=persistence,
    )
    big = sized(service, 5001)
    with pytest.raises(EventPublishError, match="more than max_message_bytes") as info:
        await optimizer.publish_event(big)
    assert info.value.code is ErrorCode.VALIDATION_ERROR
    fine = [sized(service, 5000), NodeGeneratedEvent(service=service, payload={"ok": 1})]
    broken = NodeGeneratedEvent(service=service, payload={"obj": object()})
    result = await optimizer.publish_batch([fine[0], big, broken, fine[1]])
    assert (result.total, result.delivered, result.ok) == (4, 2, False)
    assert [f.event for f in result.failed] == [big, broken]
    assert result.failed_events == [big, broken]
    assert all(f.code == "VALIDATION_ERROR" for f in result.failed)
    assert (
        optimizer.producer_pool is not None
        and optimizer.producer_pool.sent["plain"] + optimizer.producer_pool.sent["compressed"] == 2
    )
    assert await persistence.outbox_counts() == {"pending": 0, "sent": 0, "dead": 0}


def test_producer_settings_that_make_the_guarantees_cannot_be_overridden() -> None:
    """acks, idempotence, compression and the servers belong to the optimizer; bad values are refused."""
    for bad in (
        {"producer_config": {"acks": 1}},
        {"producer_config": {"enable.idempotence": False}},
        {"compression_codec": "brotli"},
        {"max_producer_pool_size": 0},
        {"linger_ms": -1},
        {"topic_prefix": "Not valid"},
    ):
        with pytest.raises(Exception, match=r"OptimizerConfig|KAFKA_TOPIC_PREFIX"):
            OptimizerConfig(**bad)  # type: ignore[arg-type]


async def test_metrics_reach_event_processing_metrics_per_event_and_per_batch(
    kafka_bootstrap: str, service: str, optimizers: Factory, backend_dsn: str
) -> None:
    """Single events are rows of batch_size 1; a batch is a row per event type; processor batches carry queue waits."""
    store = CodegenPersistence(backend_dsn)
    try:
        optimizer = optimizers(
            kafka_bootstrap, persistence=store, batch_config=BatchConfig(max_batch_size=4, max_wait_ms=50)
        )
        for _ in range(3):
            await optimizer.publish_event(NodeGeneratedEvent(service=service))
        mixed = [NodeGeneratedEvent(service=service) for _ in range(4)] + [
            NodeGenerationFailedEvent(service=service) for _ in range(2)
        ]
        assert (await optimizer.publish_batch(mixed)).ok
        processor = optimizer.create_batch_processor()
        for _ in range(6):
            await processor.add_event(GenerationStartedEvent(service=service))
        await processor.flush()
        await optimizer.cleanup()
        await store.flush()
        t = event_processing_metrics
        query = sa.select(
            t.c.event_type, t.c.batch_size, t.c.success, t.c.queue_wait_ms, t.c.processing_duration_ms
        ).order_by(t.c.id)
        async with store._db.begin("read") as conn:
            rows = [tuple(r) for r in (await conn.execute(query)).all()]
        shape = [(r[0], r[1], r[2], r[3] is not None) for r in rows]
        assert shape == [
            ("node.generated", 1, True, False),
            ("node.generated", 1, True, False),
            ("node.generated", 1, True, False),
            ("node.generated", 4, True, False),
            ("node.failed", 2, True, False),
            ("generation.started", 4, True, True),
            ("generation.started", 2, True, True),
        ]
        assert all(r[4] > 0 for r in rows)
        summary = await store.event_processing_summary(60)
        assert summary["total_events"] == 7
        assert {g["event_type"]: g["count"] for g in summary["by_event_type"]} == {
            "generation.started": 2,
            "node.failed": 1,
            "node.generated": 4,
        }
    finally:
        await store.close()


async def test_the_batch_processor_publishes_every_event(
    kafka_bootstrap: str, service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """create_batch_processor: full batches and the timer both publish; cleanup flushes the rest."""
    optimizer = optimizers(
        kafka_bootstrap, persistence=persistence, batch_config=BatchConfig(max_batch_size=10, max_wait_ms=30)
    )
    processor = optimizer.create_batch_processor()
    events = [NodeGeneratedEvent(service=service, payload={"i": i}) for i in range(25)]
    for event in events[:20]:
        await processor.add_event(event)
    for event in events[20:23]:
        await processor.add_event(event)
    await asyncio.sleep(0.3)  # the timer flushes these three
    assert processor.stats().timed_flushes == 1
    for event in events[23:]:
        await processor.add_event(event)
    await optimizer.cleanup()
    stats = processor.stats()
    assert (stats.batches, stats.events_processed, stats.size_flushes, stats.errors) == (4, 25, 2, 0)
    records = await aconsume(kafka_bootstrap, f"{service}.node.generated.v1", 25)
    assert sorted(parse_event(r.value).payload["i"] for r in records) == list(range(25))


async def test_the_topic_prefix_and_producer_settings_are_honoured(
    kafka_bootstrap: str, service: str, optimizers: Factory, persistence: CodegenPersistence
) -> None:
    """topic_prefix names the topics; linger, delivery timeout and message size reach every producer."""
    optimizer = optimizers(
        kafka_bootstrap,
        config=OptimizerConfig(
            topic_prefix="staging",
            linger_ms=2,
            delivery_timeout_ms=7000,
            max_message_bytes=200_000,
            enable_metrics=False,
            producer_config={"socket.keepalive.enable": True},
        ),
        persistence=persistence,
    )
    event = NodeGeneratedEvent(service=service, payload={"p": 1})
    outcome = await optimizer.publish_event(event)
    assert (outcome.status, outcome.topic) == ("delivered", f"staging.{service}.node.generated.v1")
    [record] = await aconsume(kafka_bootstrap, f"staging.{service}.node.generated.v1", 1)
    assert record.event_id == str(event.id)
    pool = optimizer.producer_pool
    assert pool is not None
    settings = pool._config
    assert (settings["linger.ms"], settings["message.timeout.ms"], settings["socket.keepalive.enable"]) == (
        2,
        7000,
        True,
    )
    assert (settings["acks"], settings["enable.idempotence"]) == ("all", True)
    assert settings["message.max.bytes"] >= 200_000
