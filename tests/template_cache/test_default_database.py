"""With persistence enabled and no sink given, the cache's metrics reach the configured database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.lib.config import reset_settings
from agents.lib.persistence import CodegenPersistence
from agents.lib.template_cache import TemplateCache
from tests._leaks import settled_threads
from tests._services.postgres import postgres_db_dsn, postgres_dsn, postgres_service
from tests.template_cache.conftest import run_quick_start_example_1, write

__all__ = ["postgres_db_dsn", "postgres_dsn", "postgres_service"]


@pytest.fixture(params=["sqlite", "postgresql"])
def configured_dsn(
    request: pytest.FixtureRequest, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The database the settings name: the embedded SQLite file, or PostgreSQL through DATABASE_URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{data_dir / 'agents.db'}"
    else:
        dsn = request.getfixturevalue("postgres_db_dsn")
        monkeypatch.setenv("DATABASE_URL", dsn)
        reset_settings()
        yield dsn


async def _rows(dsn: str) -> list[dict[str, Any]]:
    async with CodegenPersistence(dsn) as persistence:
        pool = await persistence._ensure_pool()
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT template_name, template_type, hit_count, miss_count, load_count FROM template_cache_metadata"
            )
            return [dict(r) for r in rows]


def _persistence_threads() -> int:
    return sum(t.name == "agents-persistence" for t in settled_threads())


def test_default_cache_writes_its_counters_to_the_configured_database(configured_dsn: str, tmp_path: Path) -> None:
    before = _persistence_threads()
    path = write(tmp_path / "effect_template.py", "x = 1\n")
    cache = TemplateCache(metrics_flush_interval_seconds=None)
    assert cache.get("NodeAPIEffect", "EFFECT", path) == ("x = 1\n", False)
    assert cache.get("NodeAPIEffect", "EFFECT", path) == ("x = 1\n", True)
    assert cache.get("NodeAPIEffect", "EFFECT", path) == ("x = 1\n", True)
    assert _persistence_threads() == before  # nothing is started before there is something to write
    assert cache.flush_metrics() == 1
    assert _persistence_threads() == before + 1
    cache.get("NodeAPIEffect", "EFFECT", path)
    cache.close()
    assert _persistence_threads() == before  # close stops the thread it started
    rows = asyncio.run(_rows(configured_dsn))
    assert [
        (r["template_name"], r["template_type"], r["hit_count"], r["miss_count"], r["load_count"]) for r in rows
    ] == [("NodeAPIEffect", "EFFECT", 3, 1, 1)]


def test_persistence_off_starts_nothing_and_writes_nothing(data_dir: Path, tmp_path: Path) -> None:
    before = _persistence_threads()
    path = write(tmp_path / "t.py", "x")
    cache = TemplateCache(enable_persistence=False)
    cache.get("T", "EFFECT", path)
    assert cache.flush_metrics() == 0
    cache.close()
    assert _persistence_threads() == before
    assert not (data_dir / "agents.db").exists()


def test_a_cache_dropped_without_close_writes_its_metrics_and_stops_its_thread(
    configured_dsn: str, tmp_path: Path
) -> None:
    before = _persistence_threads()
    path = write(tmp_path / "t.py", "x")
    cache = TemplateCache(metrics_flush_interval_seconds=None)
    cache.get("T", "EFFECT", path)
    assert cache.flush_metrics() == 1
    assert _persistence_threads() == before + 1
    cache.get("T", "EFFECT", path)  # pending when the cache is dropped
    cache.get("T", "EFFECT", path)
    del cache  # no cycle holds a cache: it is finalized here, and its finalizer waits for the write
    assert _persistence_threads() == before
    rows = asyncio.run(_rows(configured_dsn))
    assert [(r["template_name"], r["hit_count"], r["miss_count"], r["load_count"]) for r in rows] == [
        ("T", 2, 1, 1)
    ]


def test_a_cache_in_a_reference_cycle_is_flushed_by_the_garbage_collector(data_dir: Path, tmp_path: Path) -> None:
    import gc

    path = write(tmp_path / "t.py", "x")
    holder: dict[str, object] = {}
    cache = TemplateCache()  # with its flush thread
    holder["cache"], holder["self"] = cache, holder
    cache.get("T", "EFFECT", path)
    cache.get("T", "EFFECT", path)
    del cache, holder
    gc.collect()
    rows = asyncio.run(_rows(f"sqlite:///{data_dir / 'agents.db'}"))
    assert [(r["template_name"], r["hit_count"], r["miss_count"]) for r in rows] == [("T", 1, 1)]


def test_the_guide_example_1_without_close_records_its_metrics_at_exit(
    configured_dsn: str, tmp_path: Path
) -> None:
    """Quick Start Example 1 never calls close(): its counters are written when the interpreter exits."""
    run = run_quick_start_example_1(tmp_path)
    assert run.stdout.splitlines()[0] == "Cache hit rate: 100.0%"
    rows = asyncio.run(_rows(configured_dsn))
    assert sorted(
        (r["template_name"], r["template_type"], r["hit_count"], r["miss_count"], r["load_count"]) for r in rows
    ) == [
        ("NodeDatabaseEffect", "EFFECT", 1, 0, 0),  # the example's get: a hit on the warmed file
        ("compute_template", "COMPUTE", 0, 0, 1),  # the warmup loads, under the files' names
        ("effect_template", "EFFECT", 0, 0, 1),
        ("orchestrator_template", "ORCHESTRATOR", 0, 0, 1),
        ("reducer_template", "REDUCER", 0, 0, 1),
    ]
