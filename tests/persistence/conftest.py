"""Fixtures of the persistence tests: every test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agents.lib.persistence import CodegenPersistence
from tests._services.postgres import (
    backend_dsn,
    postgres_db_dsn,
    postgres_dsn,
    postgres_service,
    restartable_postgres,
)

__all__ = [
    "backend_dsn",
    "postgres_db_dsn",
    "postgres_dsn",
    "postgres_service",
    "restartable_postgres",
]


@pytest.fixture
async def store(backend_dsn: str) -> AsyncIterator[CodegenPersistence]:
    """A persistence on an empty database that flushes only when asked (or every minute)."""
    persistence = CodegenPersistence(backend_dsn, flush_interval_s=60.0)
    try:
        yield persistence
    finally:
        await persistence.close()
