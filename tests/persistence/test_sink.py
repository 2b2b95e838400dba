"""The generic metrics sink: rows of every kind reach their tables through ``write(kind, rows)``, from any
thread and without waiting; the in-memory sink keeps them for tests; bad rows never raise."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

from agents.lib.background_persistence import BackgroundPersistence
from agents.lib.db.sink import (
    EVENT_METRICS,
    GENERATION_METRICS,
    TEMPLATE_CACHE_METRICS,
    MemoryMetricsSink,
    MetricsSink,
)
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import MemorySink, add_sink, remove_sink

WHEN = datetime(2026, 11, 30, 8, 15, tzinfo=UTC)


def _template_row(name: str, hits: int) -> dict[str, Any]:
    return {
        "template_name": name,
        "template_type": "EFFECT",
        "file_path": f"/t/{name}.py",
        "hits": hits,
        "misses": 1,
        "loads": 1,
        "load_time_ms": 2.0,
        "size_bytes": 40,
        "content_hash": "ab" * 32,
        "last_accessed_at": WHEN,
    }


async def test_one_sink_writes_every_kind_to_its_table(store: CodegenPersistence) -> None:
    sink: MetricsSink = store.metrics_sink()
    assert store.metrics_sink() is sink
    sink.write(
        GENERATION_METRICS,
        [
            {"node_type": "EFFECT", "phase": "job", "duration_ms": 120.0, "session_id": "s-1", "worker_count": 2},
            {"node_type": "BATCH", "phase": "batch", "duration_ms": 130.0, "speedup": 1.5, "success": False},
        ],
    )
    sink.write(EVENT_METRICS, [{"event_type": "node.generated", "processing_duration_ms": 4.0, "success": True}])
    sink.write(TEMPLATE_CACHE_METRICS, [_template_row("A", 3), _template_row("A", 4)])
    assert store.stats().buffered == 5  # buffered, nothing written yet: write() does not wait for I/O
    assert await store.flush() == 5

    generation = await store.generation_summary(60)
    assert (generation["total"], generation["success_rate"], generation["avg_speedup"]) == (2, 0.5, 1.5)
    events = await store.event_processing_summary(60)
    assert (events["total_events"], events["avg_latency_ms"]) == (1, 4.0)
    (template,) = await store.list_template_cache_metadata()
    assert (template["template_name"], template["hit_count"], template["miss_count"], template["load_count"]) == (
        "A",
        7,
        2,
        2,
    )


async def test_bad_rows_and_unknown_kinds_are_logged_and_dropped(store: CodegenPersistence) -> None:
    logs = MemorySink()
    add_sink(logs)
    try:
        sink = store.metrics_sink()
        sink.write(GENERATION_METRICS, [{"node_type": "", "phase": "job", "duration_ms": 1.0}])
        sink.write(GENERATION_METRICS, [{"node_type": "EFFECT", "phase": "job", "duration_ms": 1.0, "oops": 1}])
        sink.write(EVENT_METRICS, [{"event_type": "e", "processing_duration_ms": 1.0}])  # success is required
        sink.write("monitoring", [{"value": 1}])
        sink.write(GENERATION_METRICS, [{"node_type": "EFFECT", "phase": "job", "duration_ms": 1.0}])
    finally:
        remove_sink(logs)
    assert store.stats().recorded == 1
    messages = [record["message"] for record in logs.records]
    assert messages.count("invalid generation metric ignored") == 2
    assert messages.count("invalid event metric ignored") == 1
    assert "metrics of an unknown kind ignored" in messages
    assert await store.flush() == 1


async def test_the_sink_takes_rows_from_other_threads(store: CodegenPersistence) -> None:
    await store.list_mixin_compatibility()  # the buffer is bound to this loop

    def produce() -> None:
        store.metrics_sink().write(
            EVENT_METRICS,
            [{"event_type": "t", "processing_duration_ms": float(i), "success": True} for i in range(10)],
        )

    thread = threading.Thread(target=produce)
    thread.start()
    thread.join()
    assert await store.flush() == 10
    assert (await store.event_processing_summary(60))["total_events"] == 10


def test_the_memory_sink_keeps_copies_by_kind() -> None:
    sink = MemoryMetricsSink()
    row = {"node_type": "EFFECT", "phase": "job", "duration_ms": 1.0}
    sink.write(GENERATION_METRICS, [row])
    sink.write(GENERATION_METRICS, [])  # nothing: not a write
    row["phase"] = "changed later"
    sink.write(EVENT_METRICS, [{"event_type": "e"}])
    assert sink.rows(GENERATION_METRICS) == [{"node_type": "EFFECT", "phase": "job", "duration_ms": 1.0}]
    assert sink.kinds() == ["event", "generation"]
    assert sink.writes == 2
    sink.clear()
    assert (sink.kinds(), sink.writes) == ([], 0)


async def _count(persistence: CodegenPersistence, table: str) -> int:
    pool = await persistence._ensure_pool()
    async with pool.acquire() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))


def test_the_background_sink_does_not_wait_and_close_writes_everything(backend_dsn: str) -> None:
    background = BackgroundPersistence(backend_dsn)
    sink = background.metrics_sink()
    assert not background.started
    sink.write(EVENT_METRICS, [{"event_type": "e", "processing_duration_ms": 1.0, "success": True}] * 3)
    assert background.started  # the rows went to the database thread
    sink.write(GENERATION_METRICS, [{"node_type": "EFFECT", "phase": "job", "duration_ms": 5.0}])
    background.close()
    sink.write(EVENT_METRICS, [{"event_type": "late", "processing_duration_ms": 1.0, "success": True}])

    async def counts() -> tuple[int, int]:
        async with CodegenPersistence(backend_dsn) as reader:
            return await _count(reader, "event_processing_metrics"), await _count(
                reader, "generation_performance_metrics"
            )

    assert asyncio.run(counts()) == (3, 1)
