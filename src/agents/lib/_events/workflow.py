"""The codegen lifecycle as events: :class:`EventPublishingHook`, a workflow hook for ``generate_microservice``.

A run publishes ``generation.started``, one ``node.generated`` or ``node.failed`` per node as it finishes, and
``generation.completed`` or ``generation.failed``, all under the run's correlation id (the message key: the
run's events of one type share a partition). The hook never slows the run down: events are queued and
published in lifecycle order by one background task, and the hook waits for them only at the end of the run,
boundedly. Without Kafka configured nothing connects and the events go straight to the outbox; with Kafka
down the first delivery fails (fast when the broker refuses connections, after ``delivery_timeout_ms``
otherwise), the circuit opens and the rest go to the outbox too. Either way every event of the run is kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any
from uuid import UUID

from agents.lib.codegen.hooks import WorkflowHook, WorkflowResult, WorkflowRun
from agents.lib.codegen.job import GenerationResult
from agents.lib.codegen_events import (
    BaseEvent,
    GenerationCompletedEvent,
    GenerationFailedEvent,
    GenerationStartedEvent,
    NodeGeneratedEvent,
    NodeGenerationFailedEvent,
)
from agents.lib.errors import OnexError
from agents.lib.event_optimizer import (
    CircuitBreakerConfig,
    EventOptimizer,
    OptimizerConfig,
    PublishOutcome,
)
from agents.lib.log_context import get_correlation_id
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import get_logger

__all__ = ["HOOK_CIRCUIT_CONFIG", "HOOK_OPTIMIZER_CONFIG", "EventPublishingHook"]

_log = get_logger("agents.lib.event_optimizer", component="events")

HOOK_OPTIMIZER_CONFIG = OptimizerConfig(delivery_timeout_ms=5_000, drain_on_cleanup_ms=5_000)
"""The hook's own optimizer: a delivery waits at most 5 s, then the event goes to the outbox."""

HOOK_CIRCUIT_CONFIG = CircuitBreakerConfig(failure_threshold=1, recovery_timeout_ms=30_000, success_threshold=1)
"""One failed delivery opens the circuit for the rest of a run: its later events go straight to the outbox."""


class EventPublishingHook(WorkflowHook):
    """Publishes a generation run's lifecycle events (see the module docstring).

    Pass an ``optimizer`` to share one (the hook then leaves it open), or let the hook build its own from the
    settings on ``persistence`` (the workflow's, ideally) and close it at the end of the run;
    ``enable_metrics=False`` keeps the events (outbox) but records no event metrics.
    ``outcomes`` lists where each event went, in order.
    """

    def __init__(
        self,
        optimizer: EventOptimizer | None = None,
        *,
        persistence: CodegenPersistence | None = None,
        bootstrap_servers: str | None = None,
        service: str = "codegen",
        enable_metrics: bool = True,
        drain_timeout_s: float = 30.0,
    ) -> None:
        self._optimizer = optimizer
        self._enable_metrics = enable_metrics
        self._owns_optimizer = optimizer is None
        self._persistence = persistence
        self._servers = bootstrap_servers
        self.service = service
        self.drain_timeout_s = drain_timeout_s
        self.outcomes: list[PublishOutcome] = []
        self.errors: list[str] = []
        self._queue: asyncio.Queue[BaseEvent | None] | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def optimizer(self) -> EventOptimizer:
        """The optimizer events go through (built on first use when none was given)."""
        if self._optimizer is None:
            self._optimizer = EventOptimizer(
                self._servers,
                config=dataclasses.replace(HOOK_OPTIMIZER_CONFIG, enable_metrics=self._enable_metrics),
                circuit_config=HOOK_CIRCUIT_CONFIG,
                persistence=self._persistence,
            )
        return self._optimizer

    # -- the workflow's calls --
    async def workflow_started(self, run: WorkflowRun) -> None:
        """Queue ``generation.started``."""
        analysis = run.analysis
        self._submit(
            GenerationStartedEvent,
            {
                "session_id": str(run.session_id),
                "service_name": None if analysis is None else analysis.service_name,
                "domain": None if analysis is None else analysis.domain,
                "prd_path": run.prd_path,
                "node_types": list(run.node_types),
            },
            correlation_id=run.correlation_id,
        )

    async def node_finished(self, run: WorkflowRun, result: GenerationResult) -> None:
        """Queue ``node.generated`` (or ``node.failed``) for the node."""
        verification = result.verification
        payload: dict[str, Any] = {
            "session_id": str(run.session_id),
            "job_id": str(result.job_id),
            "node_type": result.node_type,
            "microservice": result.microservice_name,
            "status": "generated" if result.success else "failed",
            "duration_ms": round(result.duration_ms, 3),
            "output_path": result.output_path,
            "files": len(result.generated_files),
            "verification": None
            if verification is None
            else {check.name: check.passed for check in verification.checks},
        }
        if result.success:
            self._submit(NodeGeneratedEvent, payload, correlation_id=run.correlation_id)
        else:
            payload.update(error=result.error, error_code=result.error_code)
            self._submit(NodeGenerationFailedEvent, payload, correlation_id=run.correlation_id)

    async def workflow_finished(self, run: WorkflowRun, result: WorkflowResult) -> None:
        """Queue ``generation.completed``, then wait for the run's events."""
        self._submit(
            GenerationCompletedEvent,
            {
                "session_id": str(result.session_id),
                "service_name": result.service_name,
                "success": result.success,
                "total": len(result.results),
                "succeeded": len(result.results) - len(result.failed),
                "failed": len(result.failed),
                "wall_ms": round(result.wall_ms, 3),
                "speedup": round(result.speedup, 3),
                "cores_used": round(result.cores_used, 3),
                "verified": result.verified,
                "output_dir": str(result.output_dir),
            },
            correlation_id=result.correlation_id,
        )
        await self.drain()

    async def workflow_failed(self, run: WorkflowRun, error: OnexError) -> None:
        """Queue ``generation.failed``, then wait for the run's events."""
        self._submit(
            GenerationFailedEvent,
            {"session_id": str(run.session_id), "error": error.message, "error_code": error.code.value},
            correlation_id=run.correlation_id,
        )
        await self.drain()

    # -- publishing in order, in the background --
    def _submit(
        self, cls: type[BaseEvent], payload: dict[str, Any], correlation_id: UUID | str | None = None
    ) -> None:
        event = cls(service=self.service, correlation_id=correlation_id or get_correlation_id(), payload=payload)
        if self._queue is None:
            self._queue = asyncio.Queue()
        self._queue.put_nowait(event)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._publish_queued(self._queue))

    async def _publish_queued(self, queue: asyncio.Queue[BaseEvent | None]) -> None:
        while True:
            event = await queue.get()
            if event is None:
                return
            try:
                self.outcomes.append(await self.optimizer.publish_event(event))
            except Exception as exc:
                text = exc.message if isinstance(exc, OnexError) else f"{type(exc).__name__}: {exc}"
                self.errors.append(text)
                _log.error(
                    "A lifecycle event was lost",
                    metadata={"event_type": event.event_type, "event_id": str(event.id), "error": text},
                )

    async def drain(self) -> None:
        """Wait (up to ``drain_timeout_s``) until queued events are published or stored; close our optimizer."""
        worker, queue = self._worker, self._queue
        self._worker = self._queue = None
        if worker is not None and queue is not None:
            queue.put_nowait(None)
            try:
                await asyncio.wait_for(worker, timeout=self.drain_timeout_s)
            except TimeoutError:  # wait_for cancelled the worker
                _log.error("Gave up publishing lifecycle events", metadata={"left": queue.qsize()})
        if self._owns_optimizer and self._optimizer is not None:
            optimizer, self._optimizer = self._optimizer, None
            await optimizer.cleanup()
