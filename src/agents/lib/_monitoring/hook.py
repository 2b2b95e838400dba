"""The workflow hook that records, during ``generate_microservice``, the metrics the thresholds watch."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

from agents.lib._monitoring.kinds import MetricType
from agents.lib.codegen.hooks import WorkflowHook, WorkflowResult, WorkflowRun
from agents.lib.codegen.job import GenerationResult
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import get_logger

if TYPE_CHECKING:
    from agents.lib.monitoring import MonitoringSystem

__all__ = ["DEFAULT_SYSTEM", "MonitoringHook"]

DEFAULT_SYSTEM: Callable[[], MonitoringSystem] | None = None
"""Where a hook made without a system gets one: ``agents.lib.monitoring`` installs its process singleton here."""

_log = get_logger("agents.lib.monitoring", component="monitoring")

_SYSTEM_ERRORS = {ErrorCode.OPERATION_FAILED, ErrorCode.TIMEOUT, ErrorCode.INTERNAL_ERROR, ErrorCode.UNAVAILABLE}


class MonitoringHook(WorkflowHook):
    """Records a run's metrics into a :class:`~agents.lib.monitoring.MonitoringSystem` (default: the process's).

    Per node: ``generation_duration_ms{node_type}`` (histogram) and ``generated_nodes{node_type, outcome}``.
    Per run: ``verification_pass_rate`` (when verification ran), ``parallel_speedup`` (``cores_used`` of a
    parallel batch), ``cache_hit_rate{cache="template"}``, ``template_load_duration_ms{template_type="all"}``
    (the cache's mean load time), ``generation_run_duration_ms``, ``generation_runs{outcome}``, the health of
    the ``generation`` component, and ``event_latency_ms{event_type}``: the mean processing time of each event
    type the database recorded during the run (read through ``persistence``, or a connection the hook opens
    and closes; ``read_events=False`` skips it). Thresholds fire alerts as the values arrive.
    """

    def __init__(
        self,
        monitoring: MonitoringSystem | None = None,
        *,
        persistence: CodegenPersistence | None = None,
        read_events: bool = True,
    ) -> None:
        self._monitoring = monitoring
        self._persistence = persistence
        self.read_events = read_events
        self._started: dict[UUID, float] = {}

    @property
    def monitoring(self) -> MonitoringSystem:
        """The system the metrics go to."""
        if self._monitoring is None:
            if DEFAULT_SYSTEM is None:
                raise RuntimeError("MonitoringHook needs a MonitoringSystem (import agents.lib.monitoring)")
            self._monitoring = DEFAULT_SYSTEM()
        return self._monitoring

    async def workflow_started(self, run: WorkflowRun) -> None:
        """Remember when the run started."""
        self._started[run.session_id] = time.time()

    async def node_finished(self, run: WorkflowRun, result: GenerationResult) -> None:
        """Record the node's duration and outcome."""
        m = self.monitoring
        labels = {"node_type": result.node_type}
        await m.record_metric(
            "generation_duration_ms", result.duration_ms, MetricType.HISTOGRAM, labels, "Node generation time (ms)"
        )
        outcome = {"node_type": result.node_type, "outcome": "passed" if result.success else "failed"}
        await m.record_metric("generated_nodes", 1, MetricType.COUNTER, outcome, "Nodes generated, by outcome")

    async def workflow_finished(self, run: WorkflowRun, result: WorkflowResult) -> None:
        """Record the run's figures and the generation component's health."""
        m = self.monitoring
        started = self._started.pop(result.session_id, None)
        outcome = "succeeded" if result.success else "failed"
        await m.record_metric("generation_runs", 1, MetricType.COUNTER, {"outcome": outcome}, "Generation runs")
        await m.record_metric(
            "generation_run_duration_ms", result.wall_ms, MetricType.HISTOGRAM, None, "Generation run time (ms)"
        )
        if result.verified and result.results:
            passed = sum(1 for r in result.results if r.verification is not None and r.verification.passed)
            await m.record_metric(
                "verification_pass_rate", passed / len(result.results), MetricType.GAUGE, None,
                "Share of the last run's nodes that passed verification",
            )  # fmt: skip
        if result.workers > 1 and len(result.results) > 1 and result.cores_used > 0:
            await m.record_metric(
                "parallel_speedup", result.speedup, MetricType.GAUGE, None,
                "Estimated gain of the last parallel run over one worker (never above the cores it kept busy)",
            )  # fmt: skip
        await self._record_cache(result.template_cache)
        if self.read_events and started is not None:
            await self._record_events(started)
        failed = [f"{r.node_type}: {r.error}" for r in result.failed]
        await m.update_health_status(
            "generation",
            healthy=result.success,
            status="healthy" if result.success else "degraded",
            error_message="; ".join(failed)[:500] or None,
            metadata={"service": result.service_name, "nodes": len(result.results), "failed": len(failed)},
        )
        await m.drain_notifications()

    async def workflow_failed(self, run: WorkflowRun, error: OnexError) -> None:
        """Count the failed run; a failure of the system (not of the input) degrades ``generation``."""
        self._started.pop(run.session_id, None)
        m = self.monitoring
        await m.record_metric("generation_runs", 1, MetricType.COUNTER, {"outcome": "error"}, "Generation runs")
        if error.code in _SYSTEM_ERRORS:
            await m.update_health_status(
                "generation", healthy=False, status="degraded", error_message=error.message[:500]
            )
        await m.drain_notifications()

    async def _record_cache(self, stats: dict[str, Any]) -> None:
        m = self.monitoring
        if stats.get("hits", 0) + stats.get("misses", 0) > 0:
            await m.record_metric(
                "cache_hit_rate", float(stats["hit_rate"]), MetricType.GAUGE, {"cache": "template"},
                "Template cache hit rate",
            )  # fmt: skip
        load_ms = float(stats.get("avg_uncached_load_ms", 0.0))
        if load_ms > 0:
            await m.record_metric(
                "template_load_duration_ms", load_ms, MetricType.HISTOGRAM, {"template_type": "all"},
                "Template load duration in milliseconds",
            )  # fmt: skip

    async def _record_events(self, started: float) -> None:
        window_minutes = (time.time() - started) / 60 + 1 / 60
        persistence = self._persistence
        owned = persistence is None
        try:
            if persistence is None:
                persistence = CodegenPersistence()
            summary = await persistence.event_processing_summary(window_minutes)
            for group in summary["by_event_type"]:
                if group["avg_duration_ms"] is not None:
                    await self.monitoring.record_metric(
                        "event_latency_ms", float(group["avg_duration_ms"]), MetricType.HISTOGRAM,
                        {"event_type": group["event_type"]}, "Event processing latency (ms)",
                    )  # fmt: skip
        except Exception as exc:  # reading the database must never break the run
            message = exc.message if isinstance(exc, OnexError) else f"{type(exc).__name__}: {exc}"
            _log.warning("could not read the run's event metrics", metadata={"error": message})
        finally:
            if owned and persistence is not None:
                await persistence.close()
