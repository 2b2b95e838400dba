"""Fixtures of the persistence tests: every test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._services.postgres import (
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


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """DSN of an empty database: a SQLite file in ``tmp_path``, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'agents-test.db'}"
    else:
        yield request.getfixturevalue("postgres_db_dsn")
