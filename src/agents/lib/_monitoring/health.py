"""Component health: the board of reported states, and the checker that measures them.

:class:`HealthBoard` holds the latest :class:`ComponentHealth` of each component; the overall status is the
worst of them (``unknown`` does not count against it). :class:`HealthChecker` checks the database (a query),
Kafka when bootstrap servers are configured (a metadata request), and judges the template cache, generation,
event processing and the outbox from ``collect_all_metrics`` against the thresholds; each check reports its
latency and a status of ``healthy``, ``degraded``, ``critical`` or ``unknown``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agents.lib._monitoring.kinds import AlertSeverity, HealthState, worst_health
from agents.lib._monitoring.thresholds import ThresholdRule
from agents.lib._threads import run_on_own_thread
from agents.lib.config import get_settings
from agents.lib.errors import ErrorCode, OnexError

if TYPE_CHECKING:
    from agents.lib.monitoring import MonitoringSystem

__all__ = ["ComponentHealth", "HealthBoard", "HealthChecker"]

_STATES = {s.value for s in HealthState}


@dataclass(frozen=True)
class ComponentHealth:
    """The latest reported health of one component."""

    component: str
    healthy: bool
    status: str
    error_message: str | None
    metadata: Mapping[str, Any]
    last_check: datetime
    latency_ms: float | None = None

    @property
    def level(self) -> str:
        """Status that counts for the overall one (an unhealthy component is at least ``degraded``)."""
        if not self.healthy and self.status in {"healthy", "unknown"}:
            return "degraded"
        return self.status

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; ``error`` is the error message (the guide's key)."""
        return {
            "component": self.component,
            "healthy": self.healthy,
            "status": self.status,
            "error": self.error_message,
            "metadata": dict(self.metadata),
            "last_check": self.last_check.isoformat(),
            "latency_ms": self.latency_ms,
        }


@dataclass
class HealthBoard:
    """The latest health of each component (thread-safe)."""

    clock: Callable[[], float]
    _components: dict[str, ComponentHealth] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def update(
        self,
        component: str,
        healthy: bool,
        status: str,
        error_message: str | None,
        metadata: Mapping[str, Any] | None,
        latency_ms: float | None,
    ) -> ComponentHealth:
        """Store a component's health; ``status`` is one of healthy, degraded, critical, unknown."""
        if not isinstance(component, str) or not component.strip():
            raise OnexError("component must be a non-empty string", ErrorCode.VALIDATION_ERROR)
        state = str(getattr(status, "value", status)).lower()
        if state not in _STATES:
            raise OnexError(
                f"unknown health status {status!r}; use healthy, degraded, critical or unknown",
                ErrorCode.VALIDATION_ERROR,
            )
        entry = ComponentHealth(
            component=component,
            healthy=bool(healthy),
            status=state,
            error_message=None if error_message is None else str(error_message),
            metadata=dict(metadata or {}),
            last_check=datetime.fromtimestamp(self.clock(), UTC),
            latency_ms=None if latency_ms is None else float(latency_ms),
        )
        with self._lock:
            self._components[component] = entry
        return entry

    def get(self, component: str) -> ComponentHealth | None:
        """Return the latest health of ``component``."""
        return self._components.get(component)

    def components(self) -> dict[str, ComponentHealth]:
        """Return every component's latest health, by name."""
        with self._lock:
            return dict(sorted(self._components.items()))

    def summary(self) -> dict[str, Any]:
        """Return ``overall_status``, ``components`` (name -> dict) and counts."""
        components = self.components()
        overall = worst_health([c.level for c in components.values()])
        return {
            "overall_status": overall,
            "components": {name: c.to_dict() for name, c in components.items()},
            "healthy_count": sum(1 for c in components.values() if c.healthy),
            "unhealthy_count": sum(1 for c in components.values() if not c.healthy),
        }


_JUDGED: dict[str, tuple[str, ...]] = {
    "template_cache": ("template_load_ms", "cache_hit_rate"),
    "generation": ("generation_duration_ms", "parallel_speedup", "verification_pass_rate"),
    "events": ("event_latency_ms", "event_success_rate"),
    "outbox": ("outbox_pending",),
}
_SECTION_OF = {
    "template_cache": "template_cache",
    "generation": "parallel_generation",
    "events": "event_processing",
    "outbox": "event_processing",
}


class HealthChecker:
    """Check the parts of the system and report them through ``monitoring.update_health_status``.

    ``kafka_bootstrap_servers`` defaults to the ``KAFKA_BOOTSTRAP_SERVERS`` setting; without it Kafka is not
    checked (events wait in the outbox). An unreachable Kafka is ``degraded`` (the outbox takes the events),
    an unreachable database ``critical``.
    """

    def __init__(
        self,
        monitoring: MonitoringSystem,
        *,
        kafka_bootstrap_servers: str | None = None,
        window_minutes: float = 60.0,
        timeout_s: float = 5.0,
        slow_ms: float = 1_000.0,
    ) -> None:
        self.monitoring = monitoring
        self.kafka_bootstrap_servers = (
            kafka_bootstrap_servers
            if kafka_bootstrap_servers is not None
            else get_settings().kafka_bootstrap_servers
        )
        self.window_minutes = window_minutes
        self.timeout_s = timeout_s
        self.slow_ms = slow_ms

    async def check_all(self) -> dict[str, Any]:
        """Run every check (concurrently), report each, return ``{overall_status, components, metrics}``."""
        checks: list[Awaitable[None]] = [self._report("database", self._database, prepare=self._open_database)]
        if self.kafka_bootstrap_servers:
            checks.append(self._report("kafka", self._kafka))
        metrics_task = asyncio.ensure_future(self.monitoring.collect_all_metrics(self.window_minutes))
        await asyncio.gather(*checks)
        metrics = await metrics_task
        for component in _JUDGED:
            await self._judge(component, metrics)
        names = ["database", "template_cache", "generation", "events", "outbox"]
        if self.kafka_bootstrap_servers:
            names.insert(1, "kafka")
        board = self.monitoring.health_board.components()
        reported = {name: board[name].to_dict() for name in names if name in board}
        return {
            "overall_status": worst_health([board[name].level for name in names if name in board]),
            "components": reported,
            "metrics": metrics,
            "checked_at": datetime.now(UTC).isoformat(),
        }

    async def _report(
        self,
        component: str,
        check: Callable[[], Awaitable[dict[str, Any]]],
        prepare: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Run ``check`` and store the component's health; ``prepare`` runs first, outside the timed latency."""
        started = time.perf_counter()
        try:
            if prepare is not None:
                await asyncio.wait_for(prepare(), timeout=self.timeout_s)
                started = time.perf_counter()
            metadata = await asyncio.wait_for(check(), timeout=self.timeout_s)
        except Exception as exc:
            latency = (time.perf_counter() - started) * 1000
            message = exc.message if isinstance(exc, OnexError) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, TimeoutError):
                message = f"no answer within {self.timeout_s:g} s"
            status = "degraded" if component == "kafka" else "critical"
            await self.monitoring.update_health_status(
                component, healthy=False, status=status, error_message=message, latency_ms=latency
            )
            return
        latency = (time.perf_counter() - started) * 1000
        slow = latency > self.slow_ms
        await self.monitoring.update_health_status(
            component,
            healthy=True,
            status="degraded" if slow else "healthy",
            error_message=f"slow: {latency:.0f} ms" if slow else None,
            metadata=metadata,
            latency_ms=latency,
        )

    async def _open_database(self) -> None:
        """Open (and on first use migrate) the database: not part of its latency, which is one round trip."""
        await self.monitoring.persistence.ping()

    async def _database(self) -> dict[str, Any]:
        persistence = self.monitoring.persistence
        await persistence.ping()
        stats = persistence.stats()
        return {"backend": persistence.backend, "dsn": persistence.dsn, "buffered_rows": stats.buffered}

    async def _kafka(self) -> dict[str, Any]:
        servers = self.kafka_bootstrap_servers
        assert servers
        timeout = max(self.timeout_s - 0.5, 0.5)

        def probe() -> dict[str, Any]:
            from confluent_kafka.admin import AdminClient

            client = AdminClient({"bootstrap.servers": servers, "log_level": 0})
            metadata = client.list_topics(timeout=timeout)
            return {"bootstrap_servers": servers, "brokers": len(metadata.brokers), "topics": len(metadata.topics)}

        return await run_on_own_thread(probe, "agents-health-kafka")

    async def _judge(self, component: str, metrics: Mapping[str, Any]) -> None:
        section_name = _SECTION_OF[component]
        section = metrics.get(section_name, {})
        error = metrics.get("errors", {}).get(section_name)
        latency = metrics.get("section_times_ms", {}).get(section_name)
        rules = {r.name: r for r in self.monitoring.thresholds.builtin_rules()}
        if error is not None:
            await self._set(component, False, "unknown", f"cannot read the metrics: {error}", {}, latency)
            return
        worst: AlertSeverity | None = None
        problems: list[str] = []
        judged: dict[str, Any] = {}
        for name in _JUDGED[component]:
            value = _value_of(rules[name], section)
            if value is None:
                continue
            judged[name] = value
            level = rules[name].level(value, None, 0.0)
            if level is not None:
                problems.append(rules[name].describe(value, level))
                if worst is None or level is AlertSeverity.CRITICAL:
                    worst = level
        if component == "outbox" and section.get("outbox_dead", 0):
            problems.append(f"{section['outbox_dead']} events gave up after too many retries (dead)")
            worst = worst or AlertSeverity.WARNING
        if not judged and component != "outbox":
            await self._set(component, True, "unknown", None, {"reason": "no data in the window"}, latency)
            return
        status = "healthy" if worst is None else ("critical" if worst is AlertSeverity.CRITICAL else "degraded")
        await self._set(component, worst is None, status, "; ".join(problems) or None, judged, latency)

    async def _set(
        self,
        component: str,
        healthy: bool,
        status: str,
        error: str | None,
        metadata: Mapping[str, Any],
        latency_ms: float | None,
    ) -> None:
        await self.monitoring.update_health_status(
            component, healthy, status, error_message=error, metadata=metadata, latency_ms=latency_ms
        )


def _value_of(rule: ThresholdRule, section: Mapping[str, Any]) -> float | None:
    """Return the section's figure for ``rule``, or ``None`` when it has no data behind it."""
    spec = rule.spec
    if spec is None or spec.key is None or section.get(spec.key) is None:
        return None
    if spec.samples_key is not None and not section.get(spec.samples_key):
        return None
    return float(section[spec.key])
