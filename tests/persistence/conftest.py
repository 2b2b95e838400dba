"""Fixtures of the persistence tests: every test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

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
