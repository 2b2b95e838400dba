"""Fixtures of the parallel-generation tests; the metrics tests run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import pytest

from agents.lib.prd_analyzer import PRDAnalysis, analyze_prd
from tests._services.postgres import (
    backend_dsn,
    postgres_db_dsn,
    postgres_dsn,
    postgres_service,
)
from tests.parallel._support import EXAMPLE_PRD, CollectingSink, remember_children

__all__ = ["backend_dsn", "postgres_db_dsn", "postgres_dsn", "postgres_service"]


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
