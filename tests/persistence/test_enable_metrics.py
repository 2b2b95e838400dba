"""``ENABLE_METRICS=false`` (the guide's ``.env`` setting) is honoured wherever metrics are written: the sinks drop
rows, so the template cache, the parallel generator and the persistence's own ``record_*`` write nothing."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from uuid import uuid4

import pytest

from agents.lib.background_persistence import BackgroundPersistence
from agents.lib.config import reset_settings
from agents.lib.db.sink import EVENT_METRICS, GENERATION_METRICS, MemoryMetricsSink, metrics_enabled
from agents.lib.parallel_generator import ParallelGenerator
from agents.lib.persistence import CodegenPersistence
from agents.lib.prd_analyzer import PRDAnalysis, analyze_prd
from agents.lib.template_cache import TemplateCache
from tests.parallel._support import EXAMPLE_PRD, job
from tests.template_cache.conftest import run_quick_start_example_1, write


@pytest.fixture
def metrics_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENABLE_METRICS", "false")
    reset_settings()


def _persistence_threads() -> int:
    return sum(t.name == "agents-persistence" for t in threading.enumerate())


async def _count(dsn: str, table: str) -> int:
    async with CodegenPersistence(dsn) as persistence:
        pool = await persistence._ensure_pool()
        async with pool.acquire() as conn:
            return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))


def test_the_setting_is_read_on_every_write(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = MemoryMetricsSink()
    assert metrics_enabled() is True
    monkeypatch.setenv("ENABLE_METRICS", "false")
    reset_settings()
    assert metrics_enabled() is False
    sink.write(EVENT_METRICS, [{"event_type": "e"}])
    assert sink.kinds() == []
    monkeypatch.setenv("ENABLE_METRICS", "true")
    reset_settings()
    sink.write(EVENT_METRICS, [{"event_type": "e"}])
    assert sink.rows(EVENT_METRICS) == [{"event_type": "e"}]


@pytest.mark.usefixtures("metrics_off")
def test_the_guide_example_1_writes_nothing(data_dir: Path, tmp_path: Path) -> None:
    run = run_quick_start_example_1(tmp_path)
    assert run.stdout.splitlines()[0] == "Cache hit rate: 100.0%"  # the cache itself works as before
    assert not (data_dir / "agents.db").exists()  # and no metrics: the database was never even opened


@pytest.mark.usefixtures("metrics_off")
def test_a_cache_with_a_sink_of_any_kind_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "t.py", "x")
    batches: list[list[dict[str, object]]] = []
    memory = MemoryMetricsSink()
    before = _persistence_threads()
    for sink in (batches.append, memory, None):
        cache = TemplateCache(metrics_sink=sink, metrics_flush_interval_seconds=None)
        cache.get("T", "EFFECT", path)
        cache.get("T", "EFFECT", path)
        cache.flush_metrics()
        cache.close()
        assert cache.get_stats()["hits"] == 1
    assert (batches, memory.kinds()) == ([], [])
    assert _persistence_threads() == before  # the default database sink started nothing


@pytest.mark.usefixtures("metrics_off")
async def test_record_methods_and_the_persistence_sink_keep_nothing(backend_dsn: str) -> None:
    async with CodegenPersistence(backend_dsn) as store:
        await store.record_generation_metric(node_type="EFFECT", phase="job", duration_ms=1.0)
        await store.record_event_metric(event_type="e", processing_duration_ms=1.0, success=True)
        await store.record_template_cache_stats(
            [{"template_name": "T", "template_type": "EFFECT", "file_path": "/t"}]
        )
        store.metrics_sink().write(
            GENERATION_METRICS, [{"node_type": "EFFECT", "phase": "job", "duration_ms": 2.0}]
        )
        assert store.stats().recorded == 0
        # Records that are not metrics are still written.
        pair = await store.record_mixin_compatibility("MixinA", "MixinB", "EFFECT", True)
        assert pair.success_count == 1
        assert (await store.generation_summary(60))["total"] == 0
    assert await _count(backend_dsn, "event_processing_metrics") == 0


@pytest.mark.usefixtures("metrics_off")
def test_the_background_sink_starts_nothing(tmp_path: Path) -> None:
    background = BackgroundPersistence(f"sqlite:///{tmp_path}/x.db")
    background.metrics_sink().write(EVENT_METRICS, [{"event_type": "e", "processing_duration_ms": 1.0}])
    assert not background.started
    background.close()
    assert not (tmp_path / "x.db").exists()


@pytest.mark.usefixtures("metrics_off")
async def test_the_guide_parallel_generator_records_no_metrics(backend_dsn: str, tmp_path: Path) -> None:
    analysis: PRDAnalysis = analyze_prd(EXAMPLE_PRD)
    session = uuid4()
    # The guide's Stream 3 statement (metrics on by default), given a persistence so the table can be read.
    persistence = CodegenPersistence(backend_dsn)
    try:
        generator = ParallelGenerator(max_workers=3, timeout_seconds=120, persistence=persistence)
        async with generator:
            results = await generator.generate_nodes_parallel([job(analysis, "EFFECT", tmp_path)], session)
        assert [r.success for r in results] == [True]
        assert generator.enable_metrics is True
        await persistence.list_mixin_compatibility()  # the schema exists: an empty table is a real answer
    finally:
        await persistence.close()
    assert await _count(backend_dsn, "generation_performance_metrics") == 0


@pytest.mark.usefixtures("metrics_off")
def test_the_default_generator_does_not_even_create_the_database(data_dir: Path, tmp_path: Path) -> None:
    analysis = analyze_prd(EXAMPLE_PRD)

    async def run() -> None:
        async with ParallelGenerator(max_workers=3, timeout_seconds=120) as generator:
            await generator.generate_nodes_parallel([job(analysis, "COMPUTE", tmp_path)], uuid4())

    asyncio.run(run())
    assert not (data_dir / "agents.db").exists()
