"""Observability mixins: logging, metrics and health checks, and the audit trail.

The catalogue and the wrapping order are in :mod:`.mixins`; the hook and trait vocabularies in :mod:`.mixin_info`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from .errors import ErrorCode, OnexError
from .mixin_info import MixinInfo
from .node_base import IOWrapper, Operation

__all__ = ["AUDIT_COLLECTION", "MixinAudit", "MixinHealthCheck", "MixinLogging", "MixinMetrics"]

T = TypeVar("T")
HealthCheck = Callable[[], Awaitable[bool]]
AUDIT_COLLECTION = "audit_log"
"""The record store collection audit entries are written to."""


def _outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    return exc.code.value if isinstance(exc, OnexError) else type(exc).__name__


class MixinHealthCheck:
    """Reports health from registered checks: ``healthy``, ``degraded`` (some fail) or ``unhealthy``."""

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="observability",
        capabilities=("health_check", "health", "liveness", "readiness"),
        hooks=("health",),
        modifies_state=False,
        resource_intensive=False,
        external_dependencies=(),
        node_types=("EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"),
        traits=(),
    )

    def _checks(self) -> dict[str, HealthCheck]:
        checks: dict[str, HealthCheck] | None = self.__dict__.get("_mixin_checks")
        if checks is None:
            checks = {}
            self.__dict__["_mixin_checks"] = checks
        return checks

    def register_health_check(self, name: str, check: HealthCheck) -> None:
        """Add a check; it returns True when healthy (raising counts as unhealthy)."""
        self._checks()[name] = check

    async def health_check(self) -> dict[str, Any]:
        """Run every check and summarise."""
        results: dict[str, bool] = {}
        for name, check in sorted(self._checks().items()):
            try:
                results[name] = bool(await check())
            except Exception:
                results[name] = False
        passed = sum(results.values())
        if passed == len(results):
            status = "healthy"
        elif passed == 0:
            status = "unhealthy"
        else:
            status = "degraded"
        return {"status": status, "checks": results}


@dataclass
class _Summary:
    count: int = 0
    total: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)


@dataclass
class _Metrics:
    counters: dict[str, float] = field(default_factory=dict)
    summaries: dict[str, _Summary] = field(default_factory=dict)


class MixinMetrics(IOWrapper):
    """Counts and times what the node does; outside calls are counted and timed automatically."""

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="observability",
        capabilities=("metrics", "monitoring", "observability", "telemetry"),
        hooks=("wrap_io", "process"),
        modifies_state=False,
        resource_intensive=False,
        external_dependencies=(),
        node_types=("EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"),
        traits=("records_calls", "times_calls"),
    )

    def _metrics(self) -> _Metrics:
        metrics: _Metrics | None = self.__dict__.get("_mixin_metrics")
        if metrics is None:
            metrics = _Metrics()
            self.__dict__["_mixin_metrics"] = metrics
        return metrics

    def increment(self, name: str, by: float = 1) -> None:
        """Add ``by`` to counter ``name``."""
        counters = self._metrics().counters
        counters[name] = counters.get(name, 0) + by

    def observe(self, name: str, value: float) -> None:
        """Record one observation of ``name`` (a duration, a size...)."""
        self._metrics().summaries.setdefault(name, _Summary()).add(value)

    def metrics_snapshot(self) -> dict[str, Any]:
        """Return the counters and, per summary, count, sum, min, max and mean."""
        metrics = self._metrics()
        return {
            "counters": dict(sorted(metrics.counters.items())),
            "summaries": {
                name: {
                    "count": s.count,
                    "sum": s.total,
                    "min": s.minimum,
                    "max": s.maximum,
                    "mean": s.total / s.count,
                }
                for name, s in sorted(metrics.summaries.items())
            },
        }

    async def _wrap_io(self, call: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        self.increment("io_calls")
        try:
            return await super()._wrap_io(call)
        except Exception:
            self.increment("io_errors")
            raise
        finally:
            self.observe("io_duration_ms", (time.perf_counter() - started) * 1000)


class MixinLogging(IOWrapper):
    """Logs structured events through the stdlib logger ``onex.<node name>``; every operation is logged.

    Each operation the node runs logs one ``operation`` record (INFO when it succeeds, WARNING when it fails) with
    its name, key and outcome (``ok`` or the error code).
    """

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="observability",
        capabilities=("logging", "structured_logging", "tracing"),
        hooks=("read", "write", "process"),
        modifies_state=False,
        resource_intensive=False,
        external_dependencies=(),
        node_types=("EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"),
        traits=("records_calls",),
    )
    node_name: ClassVar[str] = "node"

    def log_event(self, level: int, message: str, **metadata: Any) -> None:
        """Log ``message`` with ``metadata`` (under ``extra={"metadata": ...}``)."""
        logging.getLogger(f"onex.{self.node_name}").log(
            level, message, extra={"metadata": metadata, "component": self.node_name}
        )

    async def _wrap_operation(self, operation: Operation, call: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        failure: BaseException | None = None
        try:
            return await super()._wrap_operation(operation, call)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self.log_event(
                logging.INFO if failure is None else logging.WARNING,
                "operation",
                operation=operation.name,
                key=operation.key,
                outcome=_outcome(failure),
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            )


class MixinAudit(IOWrapper):
    """Keeps an audit trail: one entry per operation attempt (who, what, which record, outcome).

    Entries go to the record store's ``audit_log`` collection when the node has a record store (through
    ``_wrap_io``, like every outside call; a replayed insert of the same entry stores nothing more), else to
    memory. ``audit_trail()`` returns them, oldest first.
    """

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="security",
        capabilities=("audit", "audit_trail", "audit_logging", "compliance"),
        hooks=("read", "write"),
        modifies_state=True,
        resource_intensive=False,
        external_dependencies=("record_store",),
        node_types=("EFFECT", "ORCHESTRATOR"),
        traits=("records_calls", "writes_records"),
    )

    def _audit_memory(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] | None = self.__dict__.get("_mixin_audit")
        if entries is None:
            entries = []
            self.__dict__["_mixin_audit"] = entries
        return entries

    def _audit_store(self) -> Any:
        return getattr(self, "_record_store", None)

    def _audit_actor(self) -> str:
        caller = getattr(self, "current_caller", None)
        principal = caller() if callable(caller) else None
        return str(getattr(principal, "name", "anonymous"))

    async def audit_trail(self) -> list[dict[str, Any]]:
        """Return every audit entry, oldest first."""
        store = self._audit_store()
        if store is None:
            return list(self._audit_memory())
        rows: list[dict[str, Any]] = await store.scan(AUDIT_COLLECTION)
        return sorted(rows, key=lambda r: (r["sequence"], r["entry_id"]))

    async def _record_audit(self, operation: Operation, outcome: str) -> None:
        entries = self._audit_memory()
        entry: dict[str, Any] = {
            "sequence": len(entries),
            "actor": self._audit_actor(),
            "operation": operation.name,
            "kind": operation.kind,
            "key": operation.key,
            "outcome": outcome,
        }
        store = self._audit_store()
        if store is None:
            entries.append(entry | {"entry_id": str(len(entries))})
            return
        entries.append(entry)
        # chosen once: a replayed insert (retry, lost acknowledgement) stores nothing more
        entry_id = uuid.uuid4().hex
        row = entry | {"entry_id": entry_id}

        async def insert() -> None:
            try:
                await store.insert(AUDIT_COLLECTION, entry_id, row)
            except OnexError as exc:  # stored by an attempt whose acknowledgement was lost: that entry is this one
                if exc.code is not ErrorCode.CONFLICT or await store.get(AUDIT_COLLECTION, entry_id) != row:
                    raise

        await self._wrap_io(insert)

    async def _wrap_operation(self, operation: Operation, call: Callable[[], Awaitable[T]]) -> T:
        try:
            result = await super()._wrap_operation(operation, call)
        except Exception as exc:
            await self._record_audit(operation, _outcome(exc))
            raise
        await self._record_audit(operation, "ok")
        return result
