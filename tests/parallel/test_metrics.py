"""With metrics on, job and batch durations, the worker count and the speedup reach the database (SQLite and
PostgreSQL), and ``last_batch`` says the same."""

from __future__ import annotations

import threading
from pathlib import Path
from uuid import uuid4

import orjson
import pytest
import sqlalchemy as sa

from agents.lib.codegen.spec import NodeSpec
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.parallel_generator import ParallelGenerator
from agents.lib.persistence import CodegenPersistence
from agents.lib.prd_analyzer import PRDAnalysis
from tests.parallel._support import GATE_TIMEOUT_S, HookedGenerator, job

QUERY = sa.text(
    "SELECT session_id, node_type, phase, duration_ms, parallel, worker_count, speedup, success, context"
    " FROM generation_performance_metrics WHERE session_id = :session ORDER BY id"
)


def _context(value: object) -> dict[str, object]:
    if isinstance(value, str | bytes):
        loaded: dict[str, object] = orjson.loads(value)
        return loaded
    assert isinstance(value, dict)
    return value


async def test_job_and_batch_metrics_reach_the_database(
    backend_dsn: str, analysis: PRDAnalysis, tmp_path: Path
) -> None:
    barrier = threading.Barrier(2, timeout=GATE_TIMEOUT_S)

    def before(spec: NodeSpec) -> None:
        barrier.wait()  # the two good jobs overlap, so more than one job ran at once

    hooked = HookedGenerator(before=before)
    persistence = CodegenPersistence(backend_dsn, flush_interval_s=60.0)
    session_id = uuid4()
    jobs = [
        job(analysis, "EFFECT", tmp_path),
        job(analysis, "GATEWAY", tmp_path),
        job(analysis, "COMPUTE", tmp_path),
    ]
    try:
        async with ParallelGenerator(max_workers=3, persistence=persistence, generator=hooked) as generator:
            results = await generator.generate_nodes_parallel(jobs, session_id)
            stats = generator.last_batch
        # not ours to close: the persistence we were given still works after cleanup
        engine = await persistence._get_engine()
        async with engine.connect() as conn:
            rows = (await conn.execute(QUERY, {"session": str(session_id)})).all()

        async with ParallelGenerator(
            max_workers=2, enable_metrics=False, persistence=persistence, generator=hooked
        ) as quiet:
            silent_session = uuid4()
            barrier.reset()
            await quiet.generate_nodes_parallel(
                [job(analysis, "EFFECT", tmp_path / "b"), job(analysis, "REDUCER", tmp_path / "b")], silent_session
            )
        await persistence.flush()
        async with engine.connect() as conn:
            silent = (await conn.execute(QUERY, {"session": str(silent_session)})).all()
    finally:
        hooked.close()
        await persistence.close()

    assert [r.success for r in results] == [True, False, True]
    assert stats is not None
    assert (stats.jobs, stats.failed, stats.workers) == (3, 1, 3)
    assert stats.concurrency > 1.0
    assert stats.speedup == pytest.approx(min(stats.concurrency, stats.cores_used))
    job_rows = [r for r in rows if r.phase == "job"]
    batch_rows = [r for r in rows if r.phase == "batch"]
    assert len(rows) == 4
    assert [r.node_type for r in job_rows] == ["EFFECT", "GATEWAY", "COMPUTE"]
    for row, result in zip(job_rows, results, strict=True):
        assert row.duration_ms == pytest.approx(result.duration_ms)
        assert bool(row.success) is result.success
        assert (bool(row.parallel), row.worker_count, row.speedup) == (True, 3, None)
        assert _context(row.context)["job_id"] == str(result.job_id)
    assert _context(job_rows[1].context)["error_code"] == "VALIDATION_ERROR"
    (batch,) = batch_rows
    assert (batch.node_type, bool(batch.parallel), batch.worker_count, bool(batch.success)) == (
        "BATCH",
        True,
        3,
        False,
    )
    assert batch.duration_ms == pytest.approx(stats.wall_ms)
    assert batch.speedup == pytest.approx(stats.speedup)  # the estimate, not busy/wall
    context = _context(batch.context)
    assert (context["jobs"], context["failed"]) == (3, 1)
    assert context["busy_ms"] == pytest.approx(stats.busy_ms, abs=0.01)
    assert context["busy_ms"] / batch.duration_ms == pytest.approx(stats.concurrency, rel=1e-3)  # derivable
    assert {r.session_id for r in rows} == {str(session_id)}
    assert silent == []


async def test_an_all_failed_batch_records_the_estimated_speedup_not_busy_over_wall(
    backend_dsn: str, analysis: PRDAnalysis, tmp_path: Path
) -> None:
    """Issue 15: three jobs that fail at once (unknown node type) gained nothing; the row must not say 2.67x."""
    persistence = CodegenPersistence(backend_dsn, flush_interval_s=60.0)
    session_id = uuid4()
    try:
        async with ParallelGenerator(max_workers=3, persistence=persistence) as generator:
            with pytest.raises(OnexError) as caught:
                await generator.generate_nodes_parallel(
                    [job(analysis, "GATEWAY", tmp_path) for _ in range(3)], session_id
                )
            stats = generator.last_batch
        engine = await persistence._get_engine()
        async with engine.connect() as conn:
            rows = (await conn.execute(QUERY, {"session": str(session_id)})).all()
    finally:
        await persistence.close()
    assert caught.value.code is ErrorCode.OPERATION_FAILED
    assert stats is not None and (stats.jobs, stats.failed) == (3, 3)
    assert stats.speedup == pytest.approx(min(stats.concurrency, stats.cores_used))
    assert stats.speedup <= stats.cores_used
    (batch,) = [r for r in rows if r.phase == "batch"]
    assert batch.speedup == pytest.approx(stats.speedup)
    assert batch.speedup <= _context(batch.context)["cores_used"] + 0.001
    assert bool(batch.success) is False
