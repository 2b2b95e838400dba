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
from tests.template_cache.conftest import write

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


def test_a_cache_dropped_without_close_stops_its_database_thread(data_dir: Path, tmp_path: Path) -> None:
    import gc

    before = _persistence_threads()
    path = write(tmp_path / "t.py", "x")
    cache = TemplateCache(metrics_flush_interval_seconds=None)
    cache.get("T", "EFFECT", path)
    assert cache.flush_metrics() == 1
    assert _persistence_threads() == before + 1
    del cache
    gc.collect()
    assert _persistence_threads() == before
