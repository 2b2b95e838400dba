"""Every Stream 6 example of the guide, and "Common Patterns, Pattern 3", run as written against a real broker.

The blocks are read from the guide (see ``tests._guide``) and run with top-level ``await`` in one namespace, in
order, as a reader would paste them. Supplied: what the guide leaves to the reader (``OptimizerConfig`` and
``uuid4`` in the first block, ``event1``/``event2``), ``localhost:9092`` becomes the test broker, and
``DATABASE_URL`` names a PostgreSQL database (the last block's SQL is PostgreSQL's). Pattern 3's monitoring calls
go to a recording stand-in: the monitoring stream is not part of this branch.
"""

from __future__ import annotations

import ast
import contextlib
import enum
import io
import re
import socket
import time
import typing
from typing import Any
from uuid import uuid4

import pytest

from agents.lib.batch_processor import BatchProcessor
from agents.lib.codegen_events import BaseEvent, NodeGeneratedEvent, parse_event
from agents.lib.config import reset_settings
from agents.lib.event_optimizer import CircuitBreakerConfig, EventOptimizer, EventPublishError, OptimizerConfig
from agents.lib.structured_logger import MemorySink, add_sink, get_logger, remove_sink
from tests._guide import code_blocks
from tests.events._support import aconsume


async def run_block(code: str, namespace: dict[str, Any], name: str) -> str:
    """Run a block with top-level await; return what it printed."""
    compiled = compile(code, f"<guide: {name}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        outcome = eval(compiled, namespace)
        if outcome is not None:
            await outcome
    return out.getvalue()


async def test_stream6_examples_run_as_written(
    kafka_bootstrap: str, postgres_db_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_db_dsn)
    reset_settings()
    blocks = code_blocks("Stream 6: Event Optimization", "python")
    assert [h for h, _ in blocks] == [
        "Publishing Single Events",
        "Batch Publishing",
        "Using Batch Processor",
        "Circuit Breaker Configuration",
        "Custom Compression",
        "Monitoring Event Processing",
    ]
    namespace: dict[str, Any] = {
        "OptimizerConfig": OptimizerConfig,
        "uuid4": uuid4,
        "event1": NodeGeneratedEvent(service="codegen", payload={"task": "a"}),
        "event2": NodeGeneratedEvent(service="codegen", payload={"task": "b"}),
        "__name__": "guide_stream6",
    }
    optimizers: list[EventOptimizer] = []
    printed: dict[str, str] = {}
    try:
        for heading, code in blocks:
            if (
                heading == "Monitoring Event Processing"
            ):  # "query metrics later": what the optimizers buffered is written
                for optimizer in optimizers:
                    assert optimizer.persistence is not None
                    await optimizer.persistence.flush()
            printed[heading] = await run_block(code.replace("localhost:9092", kafka_bootstrap), namespace, heading)
            current = namespace.get("optimizer")
            if isinstance(current, EventOptimizer) and current not in optimizers:
                optimizers.append(current)
            if heading == "Custom Compression":
                custom = namespace["optimizer"]
                assert (custom.config.compression_threshold_bytes, custom.config.max_producer_pool_size) == (
                    2048,
                    5,
                )
                small = NodeGeneratedEvent(service="codegen", payload={"n": 1})
                large = NodeGeneratedEvent(service="codegen", payload={"blob": "z" * 4096})
                assert (await custom.publish_batch([small, large])).ok
                assert custom.producer_pool.sent == {"plain": 1, "compressed": 1}

        first, breaker_optimizer = optimizers[0], optimizers[1]
        event = namespace["event"]
        assert event.payload == {"node_type": "EFFECT", "microservice": "UserService", "status": "generated"}
        assert first.config.max_producer_pool_size == 3 and first.config.compression_threshold_bytes == 1024
        assert first.counts["delivered"] == 4  # the event and the batch of three
        assert breaker_optimizer.circuit_breaker.config == CircuitBreakerConfig(5, 10_000, 2)
        assert breaker_optimizer.counts["delivered"] == 1
        records = await aconsume(kafka_bootstrap, "codegen.node.generated.v1", 7)
        guide_ids = {str(event.id)} | {str(e.id) for e in namespace["events"]}
        mine = [r for r in records if r.event_id in guide_ids]
        assert sorted(r.event_id for r in mine if r.event_id == str(event.id)) == [str(event.id)] * 2
        assert sorted(parse_event(r.value).payload.get("task", 0) for r in mine) == [0, 0, 1, 2, 3]
        assert isinstance(namespace["batch_processor"], BatchProcessor)
        assert printed["Using Batch Processor"] == "Processing batch of 2 events\n"
        lines = printed["Monitoring Event Processing"].splitlines()
        assert lines, "the metrics query printed nothing"
        assert all(re.fullmatch(r"[a-z.]+: \d+ms, \d+\.\d% success", line) for line in lines), lines
        assert any(line.startswith("node.generated: ") and line.endswith(" 100.0% success") for line in lines)
    finally:
        processor = namespace.get("batch_processor")
        if isinstance(processor, BatchProcessor):
            await processor.cleanup()
        for optimizer in optimizers:
            await optimizer.cleanup()
        persistence = namespace.get("persistence")
        if persistence is not None:
            await persistence.close()


class MetricType(enum.Enum):
    """Stand-in for the monitoring stream's metric types."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class RecordingMonitoring:
    """Stand-in for the monitoring stream's system: remembers metrics and health updates."""

    def __init__(self) -> None:
        self.metrics: list[dict[str, Any]] = []
        self.health: list[dict[str, Any]] = []

    async def record_metric(
        self, name: str, value: float, metric_type: MetricType, labels: dict[str, str]
    ) -> None:
        self.metrics.append({"name": name, "value": value, "type": metric_type, "labels": labels})

    async def update_health_status(self, **status: Any) -> None:
        self.health.append(status)


def pattern_3(bootstrap: str) -> str:
    [code] = [
        c for h, c in code_blocks("Common Patterns", "python") if h == "Pattern 3: Monitored Event Processing"
    ]
    return code.replace("localhost:9092", bootstrap)


def pattern_namespace(monitoring: RecordingMonitoring) -> dict[str, Any]:
    return {
        "List": typing.List,  # noqa: UP006  (Pattern 3 annotates with typing.List)
        "BaseEvent": BaseEvent,
        "EventOptimizer": EventOptimizer,
        "OptimizerConfig": OptimizerConfig,
        "get_logger": get_logger,
        "get_monitoring_system": lambda: monitoring,
        "MetricType": MetricType,
        "time": time,
        "__name__": "guide_pattern_3",
    }


async def test_pattern_3_publishes_records_and_logs(kafka_bootstrap: str) -> None:
    """The batch reaches Kafka; the duration metric and the "Events processed" line carry the batch's figures."""
    monitoring = RecordingMonitoring()
    namespace = pattern_namespace(monitoring)
    exec(compile(pattern_3(kafka_bootstrap), "<guide: Pattern 3>", "exec"), namespace)
    service = f"svc-{uuid4().hex[:8]}"
    events = [NodeGeneratedEvent(service=service, payload={"n": i}) for i in range(3)]
    sink = MemorySink()
    add_sink(sink)
    try:
        await namespace["process_events_with_monitoring"](events)
    finally:
        remove_sink(sink)
    [metric] = monitoring.metrics
    assert (metric["name"], metric["type"], metric["labels"]) == (
        "batch_processing_duration_ms",
        MetricType.HISTOGRAM,
        {"batch_size": "3"},
    )
    assert metric["value"] > 0
    [line] = [r for r in sink.records if r["message"] == "Events processed"]
    assert line["component"] == "event-processor"
    assert line["metadata"]["count"] == 3
    assert line["metadata"]["duration_ms"] == metric["value"]
    assert line["metadata"]["avg_per_event_ms"] == pytest.approx(metric["value"] / 3)
    assert monitoring.health == []
    records = await aconsume(kafka_bootstrap, f"{service}.node.generated.v1", 3)
    assert sorted(r.event_id for r in records) == sorted(str(e.id) for e in events)


async def test_pattern_3_reports_a_failure_to_monitoring_and_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kafka refusing and the outbox's database unreachable: health goes critical, the error is logged and raised."""
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        kafka_port, db_port = a.getsockname()[1], b.getsockname()[1]
    monkeypatch.setenv("DATABASE_URL", f"postgresql://agents@127.0.0.1:{db_port}/agents")
    reset_settings()
    monitoring = RecordingMonitoring()
    namespace = pattern_namespace(monitoring)
    exec(compile(pattern_3(f"127.0.0.1:{kafka_port}"), "<guide: Pattern 3>", "exec"), namespace)
    sink = MemorySink()
    add_sink(sink)
    try:
        with pytest.raises(EventPublishError, match="nor stored in the outbox"):
            await namespace["process_events_with_monitoring"]([NodeGeneratedEvent(service="codegen")])
    finally:
        remove_sink(sink)
    assert monitoring.metrics == []
    [health] = monitoring.health
    assert (health["component"], health["healthy"], health["status"]) == ("event_processor", False, "critical")
    assert "nor stored in the outbox" in health["error_message"]
    [line] = [r for r in sink.records if r["message"] == "Event processing failed"]
    assert line["level"] == "ERROR" and "EventPublishError" in str(line)
