"""Fixtures of the parallel-generation tests; the metrics tests run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.lib.prd_analyzer import PRDAnalysis, analyze_prd
from tests._services.postgres import (
    postgres_db_dsn,
    postgres_dsn,
    postgres_service,
)
from tests.parallel._support import EXAMPLE_PRD, CollectingSink, remember_children

__all__ = ["backend_dsn", "postgres_db_dsn", "postgres_dsn", "postgres_service"]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """DSN of an empty database: a SQLite file in ``tmp_path``, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'agents-test.db'}"
    else:
        yield request.getfixturevalue("postgres_db_dsn")


@pytest.fixture(autouse=True)
def _children_before() -> None:
    """Processes this xdist worker already runs (a PostgreSQL server started by another test) are not leaks."""
    remember_children()


@pytest.fixture
def analysis() -> PRDAnalysis:
    """The analysis of an example PRD."""
    return analyze_prd(EXAMPLE_PRD)


@pytest.fixture
def log_sink() -> CollectingSink:
    """A sink registered for every logger (the autouse isolation resets the sinks after the test)."""
    from agents.lib.structured_logger import add_sink

    sink = CollectingSink()
    add_sink(sink)
    return sink
