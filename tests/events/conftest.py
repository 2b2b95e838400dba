"""Fixtures of the event tests: the session's Kafka-protocol broker, a restartable one, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from agents.lib.event_optimizer import EventOptimizer
from agents.lib.persistence import CodegenPersistence
from tests._services.kafka import kafka_bootstrap, restartable_kafka
from tests._services.postgres import backend_dsn, postgres_db_dsn, postgres_dsn, postgres_service

__all__ = [
    "backend_dsn",
    "kafka_bootstrap",
    "optimizers",
    "persistence",
    "postgres_db_dsn",
    "postgres_dsn",
    "postgres_service",
    "restartable_kafka",
    "service",
]


@pytest.fixture
def service() -> str:
    """A service name of this test's own, so its topics are its own on the shared broker."""
    return f"svc-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def persistence(tmp_path: Path) -> AsyncIterator[CodegenPersistence]:
    """A CodegenPersistence on a SQLite file of this test's own."""
    store = CodegenPersistence(f"sqlite:///{tmp_path / 'events.db'}")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def optimizers(persistence: CodegenPersistence) -> AsyncIterator[Callable[..., EventOptimizer]]:
    """Build EventOptimizers that are cleaned up after the test, before ``persistence`` is closed."""
    made: list[EventOptimizer] = []

    def make(*args: Any, **kwargs: Any) -> EventOptimizer:
        optimizer = EventOptimizer(*args, **kwargs)
        made.append(optimizer)
        return optimizer

    try:
        yield make
    finally:
        for optimizer in made:
            await optimizer.cleanup()
