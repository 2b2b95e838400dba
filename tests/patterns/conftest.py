"""Fixtures of the pattern tests: a collector on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agents.lib.pattern_feedback import PatternFeedbackCollector
from agents.lib.persistence import CodegenPersistence
from tests._services.postgres import backend_dsn, postgres_db_dsn, postgres_dsn, postgres_service
from tests.workflow.conftest import log_capture

__all__ = ["backend_dsn", "collector", "log_capture", "postgres_db_dsn", "postgres_dsn", "postgres_service"]


@pytest.fixture
async def collector(backend_dsn: str) -> AsyncIterator[PatternFeedbackCollector]:
    """A collector on an empty database of each backend (its persistence closed after the test)."""
    persistence = CodegenPersistence(backend_dsn)
    try:
        yield PatternFeedbackCollector(persistence)
    finally:
        await persistence.close()
