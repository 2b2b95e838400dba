"""BackgroundPersistence: CodegenPersistence from synchronous code, on both backends."""

from __future__ import annotations

import asyncio

import pytest

from agents.lib.background_persistence import BackgroundPersistence
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.persistence import CodegenPersistence
from tests._leaks import settled_threads


def _threads() -> int:
    return sum(t.name == "agents-persistence" for t in settled_threads())


async def _count(persistence: CodegenPersistence) -> int:
    pool = await persistence._ensure_pool()
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM event_processing_metrics"))


def test_calls_run_on_one_private_loop_and_close_stops_it(backend_dsn: str) -> None:
    before = _threads()
    background = BackgroundPersistence(backend_dsn)
    assert repr(background) == "BackgroundPersistence(not started)"
    assert _threads() == before

    async def record(persistence: CodegenPersistence) -> int:
        await persistence.record_event_metric(event_type="e", processing_duration_ms=5.0, success=True)
        await persistence.record_event_metric(event_type="e", processing_duration_ms=7.0, success=False)
        return await persistence.flush()

    assert background.call(record) == 2
    assert background.call(_count) == 2
    assert _threads() == before + 1
    assert repr(background) == "BackgroundPersistence(running)"
    background.close()
    background.close()  # idempotent
    assert _threads() == before
    assert repr(background) == "BackgroundPersistence(closed)"
    with pytest.raises(OnexError) as caught:
        background.call(_count)
    assert caught.value.code is ErrorCode.OPERATION_FAILED

    async def count_again() -> int:
        async with CodegenPersistence(backend_dsn) as persistence:
            return await _count(persistence)

    assert asyncio.run(count_again()) == 2


def test_a_call_that_does_not_finish_in_time_is_a_timeout(tmp_path: object) -> None:
    background = BackgroundPersistence(f"sqlite:///{tmp_path}/x.db", timeout_seconds=0.05)

    async def stuck(persistence: CodegenPersistence) -> None:
        await asyncio.Event().wait()  # never set: a stand-in for a database that does not answer

    try:
        with pytest.raises(OnexError) as caught:
            background.call(stuck)
        assert caught.value.code is ErrorCode.TIMEOUT
        assert caught.value.message == "the database did not answer within 0.05 s"
    finally:
        background.close()
