"""Logging, metrics, health checks and the audit trail do their job on a node."""

from __future__ import annotations

import logging

import pytest

from agents.lib.codegen.runtime.errors import OnexError
from agents.lib.codegen.runtime.mixins import (
    AUDIT_COLLECTION,
    MixinAudit,
    MixinHealthCheck,
    MixinLogging,
    MixinMetrics,
    Principal,
    acting_as,
)

from ._nodes import FlakyStore, Items


class Logged(MixinLogging, Items):
    node_name = "items_test"


async def test_logging_logs_every_operation_with_its_outcome(caplog: pytest.LogCaptureFixture) -> None:
    node = Logged()
    with caplog.at_level(logging.INFO, logger="onex.items_test"):
        await node.put("a", "1")
        with pytest.raises(OnexError):
            await node.get("missing")
    ops = [(r.levelno, r.metadata["operation"], r.metadata["outcome"]) for r in caplog.records]  # type: ignore[attr-defined]
    assert ops == [(logging.INFO, "put", "ok"), (logging.WARNING, "get", "NOT_FOUND")]


class Measured(MixinMetrics, Items):
    pass


async def test_metrics_count_and_time_every_outside_call() -> None:
    store = FlakyStore()
    node = Measured(store)
    await node.put("a", "1")
    store.failures = 1
    with pytest.raises(OnexError):
        await node.get("a")
    snapshot = node.metrics_snapshot()
    assert snapshot["counters"] == {"io_calls": 3, "io_errors": 1}
    assert snapshot["summaries"]["io_duration_ms"]["count"] == 3


class Healthy(MixinHealthCheck, Items):
    pass


async def test_health_check_summarises_the_registered_checks() -> None:
    node = Healthy()

    async def up() -> bool:
        return True

    async def down() -> bool:
        raise ConnectionError("no")

    assert await node.health_check() == {"status": "healthy", "checks": {}}
    node.register_health_check("db", up)
    node.register_health_check("cache", down)
    assert await node.health_check() == {"status": "degraded", "checks": {"cache": False, "db": True}}


class Audited(MixinAudit, Items):
    pass


async def test_audit_records_every_attempt_in_the_record_store() -> None:
    store = FlakyStore()
    node = Audited(store)
    with acting_as(Principal("ada", frozenset({"writer"}))):
        await node.put("a", "1")
    with pytest.raises(OnexError):
        await node.get("missing")
    trail = await node.audit_trail()
    assert [(e["actor"], e["operation"], e["key"], e["outcome"]) for e in trail] == [
        ("anonymous", "put", "item:a", "ok"),  # no authorizing mixin: the actor is not known to audit
        ("anonymous", "get", "item:missing", "NOT_FOUND"),
    ]
    assert len(await store.scan(AUDIT_COLLECTION)) == 2
