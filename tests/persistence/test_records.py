from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import orjson
import pytest
import sqlalchemy as sa

from agents.lib.db import create_engine
from agents.lib.db.schema import mixin_compatibility_matrix
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.persistence import CodegenPersistence, TemplateCacheDelta


async def test_mixin_pair_is_canonical_and_counts_increment(store: CodegenPersistence) -> None:
    first = await store.record_mixin_compatibility("MixinRetry", "MixinCaching", "EFFECT", True)
    assert (first.mixin_a, first.mixin_b) == ("MixinCaching", "MixinRetry")
    assert (first.success_count, first.failure_count) == (1, 0)

    second = await store.record_mixin_compatibility(
        "MixinCaching", "MixinRetry", "EFFECT", False, conflict_reason="retry storms the cache"
    )
    assert (second.success_count, second.failure_count) == (1, 1)
    assert second.last_conflict_reason == "retry storms the cache"
    third = await store.record_mixin_compatibility("MixinRetry", "MixinCaching", "EFFECT", True)
    assert (third.success_count, third.failure_count) == (2, 1)
    assert third.last_conflict_reason == "retry storms the cache"
    assert third.success_rate == pytest.approx(2 / 3)

    other_type = await store.record_mixin_compatibility("MixinRetry", "MixinCaching", "COMPUTE", False)
    assert (other_type.success_count, other_type.failure_count) == (0, 1)

    got = await store.get_mixin_compatibility("MixinRetry", "MixinCaching", "EFFECT")
    assert got is not None
    assert (got.mixin_a, got.mixin_b, got.success_count, got.failure_count) == (
        "MixinCaching",
        "MixinRetry",
        2,
        1,
    )
    assert got.updated_at.tzinfo is not None
    assert await store.get_mixin_compatibility("MixinA", "MixinB", "EFFECT") is None

    listed = await store.list_mixin_compatibility()
    assert [(m.node_type, m.mixin_a, m.mixin_b, m.total) for m in listed] == [
        ("COMPUTE", "MixinCaching", "MixinRetry", 1),
        ("EFFECT", "MixinCaching", "MixinRetry", 3),
    ]
    only_effect = await store.list_mixin_compatibility(node_type="EFFECT")
    assert [m.node_type for m in only_effect] == ["EFFECT"]


async def test_mixin_pair_order_is_code_point_order(store: CodegenPersistence) -> None:
    # Locale collations put "mixin_b" before "MixinZ"; code points (Python's order) do not.
    row = await store.record_mixin_compatibility("mixin_b", "MixinZ", "EFFECT", True)
    assert (row.mixin_a, row.mixin_b) == ("MixinZ", "mixin_b")
    again = await store.record_mixin_compatibility("MixinZ", "mixin_b", "EFFECT", True)
    assert again.success_count == 2


async def test_fifty_concurrent_increments_count_exactly(store: CodegenPersistence) -> None:
    await store.record_mixin_compatibility("MixinA", "MixinB", "EFFECT", True)  # schema ready
    results = await asyncio.gather(
        *(
            store.record_mixin_compatibility(
                *(("MixinB", "MixinA") if i % 2 else ("MixinA", "MixinB")), "EFFECT", i % 5 != 0
            )
            for i in range(50)
        )
    )
    assert len(results) == 50
    final = await store.get_mixin_compatibility("MixinA", "MixinB", "EFFECT")
    assert final is not None
    assert (final.success_count, final.failure_count) == (1 + 40, 10)
    assert len(await store.list_mixin_compatibility()) == 1


async def test_canonical_check_rejects_reversed_pair_written_directly(
    store: CodegenPersistence,
) -> None:
    await store.record_mixin_compatibility("MixinA", "MixinB", "EFFECT", True)
    engine = await store._get_engine()
    with pytest.raises(sa.exc.IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(mixin_compatibility_matrix).values(
                    mixin_a="MixinZ", mixin_b="MixinA", node_type="EFFECT"
                )
            )


async def test_pattern_feedback_round_trip(store: CodegenPersistence) -> None:
    session = uuid4()
    first = await store.record_pattern_feedback(
        session_id=session,
        detected_pattern="authentication_pattern",
        detected_confidence=0.85,
        actual_pattern="oauth2_pattern",
        feedback_type="incorrect",
        capabilities_matched=["auth", "security"],
        false_positives=["basic_auth"],
        false_negatives=["oauth2", "jwt"],
        user_provided=True,
        context={"source": "review", "id": session},
    )
    second = await store.record_pattern_feedback(
        detected_pattern="api_rest", detected_confidence=0.95, feedback_type="correct"
    )
    third = await store.record_pattern_feedback(
        detected_pattern="authentication_pattern",
        feedback_type="partial",
        weight=0.5,
    )
    assert first < second < third

    rows = await store.list_pattern_feedback("authentication_pattern")
    assert [r.id for r in rows] == [first, third]
    r = rows[0]
    assert r.session_id == str(session)
    assert UUID(r.session_id) == session
    assert r.detected_confidence == pytest.approx(0.85)
    assert r.actual_pattern == "oauth2_pattern"
    assert r.feedback_type == "incorrect"
    assert r.capabilities_matched == ["auth", "security"]
    assert r.false_positives == ["basic_auth"]
    assert r.false_negatives == ["oauth2", "jwt"]
    assert r.user_provided is True
    assert r.weight == 2.0
    assert r.context == {"source": "review", "id": str(session)}
    assert r.created_at.tzinfo is not None
    assert rows[1].weight == 0.5
    assert rows[1].user_provided is False
    assert rows[1].capabilities_matched == []

    everything = await store.list_pattern_feedback()
    assert [x.weight for x in everything] == [2.0, 1.0, 0.5]
    assert await store.list_pattern_feedback(limit=1) == everything[:1]
    assert await store.pattern_feedback_patterns() == ["api_rest", "authentication_pattern"]


async def test_pattern_feedback_window(store: CodegenPersistence) -> None:
    old = datetime.now(UTC) - timedelta(hours=3)
    await store.record_pattern_feedback(detected_pattern="p", feedback_type="correct", created_at=old)
    recent = await store.record_pattern_feedback(detected_pattern="p", feedback_type="incorrect")
    assert [r.id for r in await store.list_pattern_feedback("p", window_minutes=60)] == [recent]
    assert len(await store.list_pattern_feedback("p", window_minutes=240)) == 2


async def test_validation_errors_are_onex_errors(store: CodegenPersistence) -> None:
    with pytest.raises(OnexError) as info:
        await store.record_mixin_compatibility("", "MixinB", "EFFECT", True)
    assert info.value.code is ErrorCode.VALIDATION_ERROR
    with pytest.raises(OnexError) as info:
        await store.record_pattern_feedback(
            detected_pattern="p", feedback_type="correct", detected_confidence=float("nan")
        )
    assert info.value.code is ErrorCode.VALIDATION_ERROR


async def test_generation_sessions(store: CodegenPersistence) -> None:
    sid = uuid4()
    await store.start_generation_session(
        sid, prd_path="/tmp/prd.md", service_name="UserService", node_count=3, context={"k": 1}
    )
    started = await store.get_generation_session(sid)
    assert started is not None
    assert (started.status, started.node_count, started.finished_at) == ("running", 3, None)
    assert started.context == {"k": 1}
    assert await store.finish_generation_session(sid, status="succeeded", duration_ms=1234.5)
    done = await store.get_generation_session(str(sid))
    assert done is not None
    assert done.status == "succeeded"
    assert done.duration_ms == 1234.5
    assert done.finished_at is not None
    assert done.finished_at >= done.started_at
    assert not await store.finish_generation_session(uuid4(), status="failed")
    assert await store.get_generation_session(uuid4()) is None


async def test_generation_and_event_metrics_are_written_on_flush(store: CodegenPersistence) -> None:
    for i in range(7):
        await store.record_generation_metric(
            session_id=uuid4(),
            node_type="EFFECT",
            phase="render",
            duration_ms=10.0 * (i + 1),
            parallel=i % 2 == 0,
            worker_count=3,
            speedup=2.5,
            success=i != 3,
        )
    for i in range(5):
        await store.record_event_metric(
            event_type="node.generated",
            processing_duration_ms=float(i),
            success=True,
            batch_size=10,
            queue_wait_ms=1.5,
            retry_count=1,
        )
    assert store.stats().buffered == 12
    assert await store.flush() == 12
    stats = store.stats()
    assert (stats.recorded, stats.written, stats.buffered, stats.dropped) == (12, 12, 0, 0)
    engine = await store._get_engine()
    async with engine.connect() as conn:
        gen = (
            await conn.execute(
                sa.text(
                    "SELECT node_type, phase, duration_ms, parallel, worker_count, speedup, success"
                    " FROM generation_performance_metrics ORDER BY duration_ms"
                )
            )
        ).all()
        ev = (
            await conn.execute(
                sa.text(
                    "SELECT event_type, processing_duration_ms, success, batch_size, queue_wait_ms,"
                    " retry_count FROM event_processing_metrics ORDER BY processing_duration_ms"
                )
            )
        ).all()
    assert [g.duration_ms for g in gen] == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    assert [bool(g.parallel) for g in gen] == [True, False, True, False, True, False, True]
    assert [bool(g.success) for g in gen] == [True, True, True, False, True, True, True]
    assert {(g.node_type, g.phase, g.worker_count, g.speedup) for g in gen} == {("EFFECT", "render", 3, 2.5)}
    assert [e.processing_duration_ms for e in ev] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert {(e.event_type, bool(e.success), e.batch_size, e.queue_wait_ms, e.retry_count) for e in ev} == {
        ("node.generated", True, 10, 1.5, 1)
    }


async def test_invalid_metric_is_ignored_not_raised(store: CodegenPersistence) -> None:
    await store.record_generation_metric(node_type="", phase="x", duration_ms=1.0)
    await store.record_event_metric(event_type="e", processing_duration_ms=-1.0, success=True)
    assert store.stats().recorded == 0


async def test_template_cache_stats_upsert(store: CodegenPersistence) -> None:
    await store.record_template_cache_stats(
        [
            TemplateCacheDelta(
                "NodeApiEffect",
                "EFFECT",
                "/t/effect.py",
                misses=1,
                loads=1,
                load_time_ms=8.0,
                size_bytes=100,
                content_hash="h1",
            ),
            {"template_name": "NodeApiEffect", "template_type": "EFFECT", "file_path": "/t/effect.py", "hits": 4},
            # Same name, other type and path: a different template.
            TemplateCacheDelta("NodeApiEffect", "MY_CUSTOM_TYPE", "/t/other.py", hits=1),
        ]
    )
    await store.flush()
    await store.record_template_cache_stats(
        [
            TemplateCacheDelta(
                "NodeApiEffect", "EFFECT", "/t/effect.py", hits=2, misses=1, loads=1, load_time_ms=4.0
            )
        ]
    )
    await store.flush()
    rows = await store.list_template_cache_metadata()
    by_key = {(r["template_type"], r["file_path"]): r for r in rows}
    effect = by_key[("EFFECT", "/t/effect.py")]
    assert (effect["hit_count"], effect["miss_count"], effect["load_count"]) == (6, 2, 2)
    assert effect["total_load_time_ms"] == pytest.approx(12.0)
    assert effect["avg_load_time_ms"] == pytest.approx(6.0)
    assert effect["size_bytes"] == 100
    assert effect["content_hash"] == "h1"
    assert effect["last_accessed_at"].tzinfo is not None
    custom = by_key[("MY_CUSTOM_TYPE", "/t/other.py")]
    assert (custom["hit_count"], custom["miss_count"], custom["load_count"]) == (1, 0, 0)
    assert custom["size_bytes"] is None
    assert [r["template_type"] for r in rows] == ["EFFECT", "MY_CUSTOM_TYPE"]


async def test_outbox_enqueue_claim_mark(store: CodegenPersistence) -> None:
    a = await store.enqueue_event("codegen.node", "k1", {"node_type": "EFFECT", "n": 1}, {"trace": "abc"})
    b = await store.enqueue_event("codegen.node", b"k2", b"\x00raw", [("h", b"\xff\x01")])
    c = await store.enqueue_event("other", None, b"three")
    assert a < b < c

    claimed = await store.claim_events(limit=2, lease_seconds=60)
    assert [e.id for e in claimed] == [a, b]
    first = claimed[0]
    assert orjson.loads(first.payload) == {"node_type": "EFFECT", "n": 1}
    assert first.key == b"k1"
    assert first.headers == [("trace", b"abc")]
    assert claimed[1].payload == b"\x00raw"
    assert claimed[1].headers == [("h", b"\xff\x01")]
    assert first.leased_until is not None
    assert first.leased_until > datetime.now(UTC)

    # Leased events are not handed out again while the lease lasts.
    again = await store.claim_events(limit=10, lease_seconds=60)
    assert [e.id for e in again] == [c]
    assert again[0].key is None
    assert await store.claim_events(limit=10) == []

    assert await store.mark_events_sent([a, c]) == 2
    assert await store.mark_events_sent([a]) == 0
    failed = await store.mark_event_failed(b, "broker down", retry_delay_s=0)
    assert failed is not None
    assert (failed.retry_count, failed.status, failed.last_error) == (1, "pending", "broker down")
    assert failed.leased_until is None
    retry = await store.claim_events(limit=10)
    assert [e.id for e in retry] == [b]
    assert retry[0].retry_count == 1
    assert await store.outbox_counts() == {"pending": 1, "sent": 2, "dead": 0}


async def test_outbox_retry_backoff_and_dead_letter(store: CodegenPersistence) -> None:
    event_id = await store.enqueue_event("t", None, b"x")
    delayed = await store.mark_event_failed(event_id, "boom")
    assert delayed is not None
    assert delayed.retry_count == 1
    assert delayed.available_at > datetime.now(UTC) + timedelta(seconds=1)
    assert await store.claim_events() == []  # not yet due
    dead = await store.mark_event_failed(event_id, "boom again", max_retries=2, retry_delay_s=0)
    assert dead is not None
    assert (dead.retry_count, dead.status) == (2, "dead")
    assert await store.claim_events() == []
    assert await store.mark_event_failed(event_id, "no longer pending") is None
    assert await store.outbox_counts() == {"pending": 0, "sent": 0, "dead": 1}


async def test_concurrent_claims_never_share_an_event(backend_dsn: str) -> None:
    setup = CodegenPersistence(backend_dsn)
    ids = [await setup.enqueue_event("t", None, f"{i}".encode()) for i in range(40)]
    await setup.close()
    workers = [CodegenPersistence(backend_dsn) for _ in range(4)]
    try:
        batches = await asyncio.gather(*(w.claim_events(limit=15, lease_seconds=60) for w in workers))
    finally:
        for w in workers:
            await w.close()
    claimed = [e.id for batch in batches for e in batch]
    assert len(claimed) == len(set(claimed))
    assert sorted(claimed) == ids


async def test_background_flush_writes_without_explicit_flush(backend_dsn: str) -> None:
    store = CodegenPersistence(backend_dsn, batch_size=10, flush_interval_s=0.05)
    try:
        await store.list_mixin_compatibility()  # schema ready
        for i in range(25):
            await store.record_event_metric(event_type="bg", processing_duration_ms=float(i), success=True)
        for _ in range(200):
            if store.stats().written == 25:
                break
            await asyncio.sleep(0.05)
        assert store.stats().written == 25
        summary = await store.event_processing_summary(60)
        assert summary["total_events"] == 25
    finally:
        await store.close()


async def test_records_from_another_thread_are_flushed(backend_dsn: str) -> None:
    store = CodegenPersistence(backend_dsn, flush_interval_s=0.05)
    try:
        await store.record_event_metric(event_type="main", processing_duration_ms=1.0, success=True)

        def other_thread() -> None:
            for i in range(10):
                store.buffer.append(
                    "event",
                    {
                        "event_type": "thread",
                        "processing_duration_ms": float(i),
                        "success": True,
                        "batch_size": 1,
                        "queue_wait_ms": None,
                        "retry_count": 0,
                        "error": None,
                        "created_at": datetime.now(UTC),
                    },
                )

        await asyncio.to_thread(other_thread)
        for _ in range(200):
            if store.stats().written == 11:
                break
            await asyncio.sleep(0.05)
        assert store.stats().written == 11
    finally:
        await store.close()


async def test_close_flushes_and_context_manager(backend_dsn: str) -> None:
    async with CodegenPersistence(backend_dsn, flush_interval_s=60) as store:
        await store.record_generation_metric(node_type="EFFECT", phase="render", duration_ms=5.0)
        assert store.stats().buffered == 1
    assert store.stats().written == 1
    async with CodegenPersistence(backend_dsn) as reader:
        assert (await reader.generation_summary(60))["total"] == 1
    with pytest.raises(OnexError):
        await store.list_mixin_compatibility()


async def test_pair_order_holds_in_a_database_with_a_locale_collation(postgres_dsn: str) -> None:
    """In an ICU en-US database "mixin_b" sorts before "MixinZ"; our CHECK must still accept Python's order."""
    import asyncpg  # type: ignore[import-untyped]

    from tests._services.postgres import drop_database, dsn_with_database

    name = f"agents_icu_{uuid4().hex[:10]}"
    conn = await asyncpg.connect(postgres_dsn)
    try:
        await conn.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0'
            " LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    finally:
        await conn.close()
    dsn = dsn_with_database(postgres_dsn, name)
    try:
        check = await asyncpg.connect(dsn)
        try:
            assert await check.fetchval("SELECT 'mixin_b' < 'MixinZ'") is True  # the locale's order
        finally:
            await check.close()
        async with CodegenPersistence(dsn) as store:
            row = await store.record_mixin_compatibility("mixin_b", "MixinZ", "EFFECT", True)
            assert (row.mixin_a, row.mixin_b) == ("MixinZ", "mixin_b")
            listed = await store.list_mixin_compatibility()
            assert [(m.mixin_a, m.mixin_b) for m in listed] == [("MixinZ", "mixin_b")]
    finally:
        await asyncio.to_thread(drop_database, postgres_dsn, name)


def _event_row(event_type: object, value: float) -> dict[str, object]:
    return {
        "event_type": event_type,
        "processing_duration_ms": value,
        "success": True,
        "batch_size": 1,
        "queue_wait_ms": None,
        "retry_count": 0,
        "error": None,
        "created_at": datetime.now(UTC),
    }


async def test_a_row_the_database_rejects_does_not_block_the_others(store: CodegenPersistence) -> None:
    await store.list_mixin_compatibility()  # schema ready
    for i, event_type in enumerate(["ok", "ok", None, "ok"]):
        store.buffer.append("event", _event_row(event_type, float(i)))
    assert await store.flush() == 3
    stats = store.stats()
    assert (stats.recorded, stats.written, stats.rejected, stats.buffered, stats.dropped) == (4, 3, 1, 0, 0)
    summary = await store.event_processing_summary(60)
    assert summary["total_events"] == 3
    assert summary["avg_latency_ms"] == pytest.approx((0.0 + 1.0 + 3.0) / 3)


async def test_metrics_wait_for_a_missing_schema(backend_dsn: str) -> None:
    from agents.lib.migrations import apply_async

    store = CodegenPersistence(backend_dsn, auto_migrate=False, flush_interval_s=60)
    try:
        for i in range(5):
            await store.record_event_metric(event_type="early", processing_duration_ms=float(i), success=True)
        assert await store.flush() == 0
        stats = store.stats()
        assert (stats.buffered, stats.written, stats.rejected) == (5, 0, 0)
        await apply_async(backend_dsn)
        assert await store.flush() == 5
        assert (await store.event_processing_summary(60))["total_events"] == 5
    finally:
        await store.close()


async def test_newer_schema_is_not_migrated(backend_dsn: str) -> None:
    from agents.lib.migrations import apply_async, status_async

    await apply_async(backend_dsn)
    engine = create_engine(backend_dsn)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    finally:
        await engine.dispose()
    async with CodegenPersistence(backend_dsn) as store:
        row = await store.record_mixin_compatibility("A", "B", "EFFECT", True)
        assert row.success_count == 1
    status = await status_async(backend_dsn)
    assert (status.current, status.known, status.pending) == ("9999_future", False, ())
    assert "unknown to this version" in str(status)


async def test_batched_metric_rows_keep_every_value(store: CodegenPersistence) -> None:
    """What the batch writer (COPY on PostgreSQL, executemany on SQLite) stores is what was recorded."""
    when = datetime(2026, 11, 29, 12, 30, 15, 123456, tzinfo=UTC)
    session = uuid4()
    await store.record_generation_metric(
        node_type="EFFECT",
        phase="job",
        duration_ms=12.5,
        session_id=session,
        parallel=True,
        worker_count=3,
        speedup=1.75,
        success=False,
        context={"id": session, "nested": {"k": [1, "two"]}, "quote": 'it\'s "x"'},
        created_at=when,
    )
    await store.record_generation_metric(node_type="COMPUTE", phase="batch", duration_ms=3.0)
    await store.record_event_metric(
        event_type="node.generated",
        processing_duration_ms=7.25,
        success=True,
        batch_size=4,
        queue_wait_ms=None,
        retry_count=2,
        error="boom\nline two",
        created_at=when,
    )
    assert await store.flush() == 3
    pool = await store._ensure_pool()
    async with pool.acquire() as conn:
        generation = await conn.fetch(
            "SELECT node_type, phase, duration_ms, session_id, parallel, worker_count, speedup, success, context"
            " FROM generation_performance_metrics ORDER BY id"
        )
        events = await conn.fetch(
            "SELECT event_type, processing_duration_ms, success, batch_size, queue_wait_ms, retry_count, error"
            " FROM event_processing_metrics"
        )
    booleans = {"parallel", "success"}  # SQLite's raw rows give 0/1
    first, second = ({k: bool(v) if k in booleans else v for k, v in dict(r).items()} for r in generation)
    context = first.pop("context")
    assert (orjson.loads(context) if isinstance(context, str) else context) == {
        "id": str(session),
        "nested": {"k": [1, "two"]},
        "quote": 'it\'s "x"',
    }
    assert first == {
        "node_type": "EFFECT",
        "phase": "job",
        "duration_ms": 12.5,
        "session_id": str(session),
        "parallel": True,
        "worker_count": 3,
        "speedup": 1.75,
        "success": False,
    }
    assert (second["node_type"], second["worker_count"], second["parallel"], second["context"]) == (
        "COMPUTE",
        1,
        False,
        None,
    )
    assert [{k: bool(v) if k in booleans else v for k, v in dict(r).items()} for r in events] == [
        {
            "event_type": "node.generated",
            "processing_duration_ms": 7.25,
            "success": True,
            "batch_size": 4,
            "queue_wait_ms": None,
            "retry_count": 2,
            "error": "boom\nline two",
        }
    ]
