from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from agents.lib.persistence import CodegenPersistence, SqlitePool, TemplateCacheDelta


def _nearest_rank_p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


async def test_empty_summaries(store: CodegenPersistence) -> None:
    events = await store.event_processing_summary(60)
    assert events["total_events"] == 0
    assert events["overall_success_rate"] is None
    assert events["p95_latency_ms"] is None
    generation = await store.generation_summary(60)
    assert (generation["total"], generation["avg_speedup"], generation["p95_duration_ms"]) == (0, None, None)
    cache = await store.template_cache_summary(60)
    assert (cache["total_templates"], cache["overall_hit_rate"]) == (0, None)


async def test_p95_is_the_nearest_rank_for_every_count_with_ties(store: CodegenPersistence) -> None:
    """The p95 of 1..60 rows (with repeated values) is the nearest-rank one on both backends."""
    now = datetime.now(UTC)
    values: list[float] = []
    for n in range(1, 61):
        value = float((n * 37) % 23)  # repeats values, in no particular order
        values.append(value)
        await store.record_event_metric(
            event_type="t", processing_duration_ms=value, success=True, created_at=now - timedelta(seconds=n)
        )
        summary = await store.event_processing_summary(60)
        assert summary["total_events"] == n
        assert summary["p95_latency_ms"] == _nearest_rank_p95(values), n


async def test_event_summary_honours_window_and_computes_p95(store: CodegenPersistence) -> None:
    now = datetime.now(UTC)
    recent = [float(v) for v in (5, 1, 9, 3, 7, 2, 8, 4, 6, 10, 12, 11, 15, 13, 14, 20, 16, 19, 18, 17, 100)]
    for i, value in enumerate(recent):
        await store.record_event_metric(
            event_type="a" if i % 3 else "b",
            processing_duration_ms=value,
            success=i % 4 != 0,
            batch_size=2,
            retry_count=1,
            created_at=now - timedelta(minutes=i),
        )
    # Old rows: outside a one-hour window, and huge, so they would move every figure.
    for _ in range(10):
        await store.record_event_metric(
            event_type="a",
            processing_duration_ms=10_000.0,
            success=False,
            created_at=now - timedelta(hours=2),
        )
    summary = await store.event_processing_summary(window_minutes=60)
    assert summary["total_events"] == len(recent)
    successes = sum(1 for i in range(len(recent)) if i % 4 != 0)
    assert summary["overall_success_rate"] == pytest.approx(successes / len(recent))
    assert summary["avg_latency_ms"] == pytest.approx(sum(recent) / len(recent))
    assert summary["p95_latency_ms"] == _nearest_rank_p95(recent) == 20.0
    assert summary["avg_batch_size"] == pytest.approx(2.0)
    assert summary["total_retries"] == len(recent)
    by_type = {row["event_type"]: row for row in summary["by_event_type"]}
    assert by_type["b"]["count"] == len(range(0, len(recent), 3))
    assert by_type["a"]["count"] + by_type["b"]["count"] == len(recent)

    wide = await store.event_processing_summary(window_minutes=180)
    assert wide["total_events"] == len(recent) + 10
    assert wide["p95_latency_ms"] == 10_000.0

    narrow = await store.event_processing_summary(window_minutes=4.5)
    assert narrow["total_events"] == 5  # minutes 0..4
    assert narrow["avg_latency_ms"] == pytest.approx(sum(recent[:5]) / 5)


async def test_generation_summary(store: CodegenPersistence) -> None:
    now = datetime.now(UTC)
    durations = [100.0, 200.0, 300.0, 400.0]
    for i, duration in enumerate(durations):
        await store.record_generation_metric(
            node_type="EFFECT" if i < 2 else "COMPUTE",
            phase="total",
            duration_ms=duration,
            parallel=i != 0,
            worker_count=3,
            speedup=None if i == 0 else 2.0 + i,
            success=i != 3,
            created_at=now - timedelta(minutes=1),
        )
    await store.record_generation_metric(
        node_type="EFFECT",
        phase="total",
        duration_ms=9999.0,
        parallel=True,
        speedup=50.0,
        created_at=now - timedelta(days=1),
    )
    summary = await store.generation_summary(window_minutes=60)
    assert summary["total"] == 4
    assert summary["success_rate"] == pytest.approx(0.75)
    assert summary["parallel_usage_rate"] == pytest.approx(0.75)
    assert summary["avg_speedup"] == pytest.approx((3.0 + 4.0 + 5.0) / 3)
    assert summary["avg_duration_ms"] == pytest.approx(250.0)
    assert summary["p95_duration_ms"] == 400.0
    assert summary["by_node_type"] == [
        {"node_type": "COMPUTE", "count": 2, "success_rate": 0.5, "avg_duration_ms": 350.0},
        {"node_type": "EFFECT", "count": 2, "success_rate": 1.0, "avg_duration_ms": 150.0},
    ]


async def test_template_cache_summary_window(store: CodegenPersistence) -> None:
    now = datetime.now(UTC)
    await store.record_template_cache_stats(
        [
            TemplateCacheDelta(
                "A",
                "EFFECT",
                "/a",
                hits=8,
                misses=2,
                loads=2,
                load_time_ms=30.0,
                size_bytes=10,
                last_accessed_at=now,
            ),
            TemplateCacheDelta(
                "B",
                "COMPUTE",
                "/b",
                hits=1,
                misses=1,
                loads=1,
                load_time_ms=10.0,
                size_bytes=5,
                last_accessed_at=now - timedelta(minutes=5),
            ),
            TemplateCacheDelta(
                "C",
                "REDUCER",
                "/c",
                hits=0,
                misses=50,
                loads=50,
                load_time_ms=5000.0,
                last_accessed_at=now - timedelta(hours=5),
            ),
        ]
    )
    summary = await store.template_cache_summary(window_minutes=60)
    assert summary["total_templates"] == 2
    assert (summary["total_hits"], summary["total_misses"], summary["total_loads"]) == (9, 3, 3)
    assert summary["overall_hit_rate"] == pytest.approx(9 / 12)
    assert summary["avg_load_time_ms"] == pytest.approx(40.0 / 3)
    assert summary["total_size_bytes"] == 15
    everything = await store.template_cache_summary(window_minutes=24 * 60)
    assert everything["total_templates"] == 3


async def test_guide_stream6_query_runs_on_postgres(postgres_db_dsn: str) -> None:
    persistence = CodegenPersistence(postgres_db_dsn)
    try:
        for i in range(4):
            await persistence.record_event_metric(
                event_type="node.generated", processing_duration_ms=10.0 * (i + 1), success=i != 0
            )
        await persistence.record_event_metric(
            event_type="node.generated",
            processing_duration_ms=5000.0,
            success=True,
            created_at=datetime.now(UTC) - timedelta(hours=2),
        )
        await persistence.flush()

        # The guide's example, verbatim.
        pool = await persistence._ensure_pool()
        async with pool.acquire() as conn:
            metrics = await conn.fetch("""
                SELECT
                    event_type,
                    avg(processing_duration_ms) as avg_duration,
                    count(*) as total_events,
                    sum(CASE WHEN success THEN 1 ELSE 0 END)::float / count(*) as success_rate
                FROM event_processing_metrics
                WHERE created_at >= NOW() - INTERVAL '1 hour'
                GROUP BY event_type
            """)
            lines = [
                f"{metric['event_type']}: {metric['avg_duration']:.0f}ms, {metric['success_rate']:.1%} success"
                for metric in metrics
            ]
        assert lines == ["node.generated: 25ms, 75.0% success"]
        assert metrics[0]["total_events"] == 4
        assert await persistence._ensure_pool() is pool
    finally:
        await persistence.close()


async def test_sqlite_pool_has_the_same_shape(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    persistence = CodegenPersistence(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        await persistence.record_event_metric(event_type="e", processing_duration_ms=7.0, success=True)
        await persistence.record_event_metric(event_type="e", processing_duration_ms=9.0, success=False)
        await persistence.flush()
        pool = await persistence._ensure_pool()
        assert isinstance(pool, SqlitePool)
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT event_type, avg(processing_duration_ms) AS avg_duration, count(*) AS total"
                " FROM event_processing_metrics WHERE created_at >= datetime('now', '-1 hour')"
                " AND event_type = $1 GROUP BY event_type",
                "e",
            )
            assert [(r["event_type"], r["avg_duration"], r["total"]) for r in rows] == [("e", 8.0, 2)]
            assert await conn.fetchval("SELECT count(*) FROM event_processing_metrics") == 2
    finally:
        await persistence.close()


async def test_postgres_only_sql_on_sqlite_is_one_clear_error(tmp_path: object) -> None:
    """The guide's Stream 6 query names what to do when the database is the embedded SQLite file."""
    from pathlib import Path

    from agents.lib.errors import ErrorCode, OnexError

    assert isinstance(tmp_path, Path)
    persistence = CodegenPersistence(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        pool = await persistence._ensure_pool()
        async with pool.acquire() as conn:
            with pytest.raises(OnexError) as caught:
                await conn.fetch(
                    "SELECT count(*) FROM event_processing_metrics WHERE created_at >= NOW() - INTERVAL '1 hour'"
                )
            assert caught.value.code is ErrorCode.OPERATION_FAILED
            assert caught.value.message.startswith("""SQLite rejected the query: near "'1 hour'": syntax error;""")
            assert "PostgreSQL syntax" in caught.value.message and "DATABASE_URL" in caught.value.message
            assert caught.value.details["postgres_syntax"] is True
            with pytest.raises(OnexError) as plain:
                await conn.execute("INSERT INTO no_such_table VALUES (1)")
            assert plain.value.message == "SQLite rejected the query: no such table: no_such_table; check the SQL"
            assert plain.value.details["postgres_syntax"] is False
            assert await conn.fetchval("SELECT 1 + 1") == 2  # the connection is still usable
    finally:
        await persistence.close()
