"""The mixins a node can use; each does what its name says, and the catalogue below declares them.

``MIXIN_CATALOGUE`` is the one source of truth for which mixins exist, the capabilities each provides and the
node types it applies to: the generator only recommends mixins listed here.

Mixins that wrap calls to the outside world override ``_wrap_io``; list them before the node base class, in
the order retry, circuit breaker, timeout, metrics (outermost first).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import ErrorCode, OnexError
from .node_base import IOWrapper

__all__ = [
    "MIXIN_CATALOGUE",
    "WRAP_ORDER",
    "MixinCaching",
    "MixinCircuitBreaker",
    "MixinEventBus",
    "MixinHealthCheck",
    "MixinLogging",
    "MixinMetrics",
    "MixinRetry",
    "MixinTimeout",
    "MixinValidation",
]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

_TRANSIENT_CODES = frozenset({ErrorCode.TIMEOUT, ErrorCode.UNAVAILABLE})


def is_transient(exc: BaseException) -> bool:
    """Return whether ``exc`` is worth retrying (timeouts, unavailable services, connection errors)."""
    if isinstance(exc, OnexError):
        return exc.code in _TRANSIENT_CODES
    return isinstance(exc, ConnectionError | TimeoutError)


class MixinCaching(IOWrapper):
    """Caches results by key for ``cache_ttl_seconds``, at most ``cache_max_entries`` (least recent go first)."""

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("caching", "cache", "memoization")
    APPLIES_TO: ClassVar[tuple[str, ...]] = ("EFFECT", "COMPUTE")
    cache_ttl_seconds: ClassVar[float] = 60.0
    cache_max_entries: ClassVar[int] = 1024

    def _now(self) -> float:
        return time.monotonic()

    def _cache(self) -> OrderedDict[str, tuple[float, Any]]:
        cache: OrderedDict[str, tuple[float, Any]] | None = self.__dict__.get("_mixin_cache")
        if cache is None:
            cache = OrderedDict()
            self.__dict__["_mixin_cache"] = cache
        return cache

    async def cached(self, key: str, factory: Callable[[], Awaitable[T]]) -> T:
        """Return the cached value of ``key``, or compute it with ``factory`` and cache it."""
        cache = self._cache()
        now = self._now()
        entry = cache.get(key)
        if entry is not None and now - entry[0] < self.cache_ttl_seconds:
            cache.move_to_end(key)
            value: T = entry[1]
            return value
        value = await factory()
        cache[key] = (now, value)
        cache.move_to_end(key)
        while len(cache) > self.cache_max_entries:
            cache.popitem(last=False)
        return value

    def invalidate_cache(self, key: str | None = None) -> None:
        """Forget one key, or everything."""
        if key is None:
            self._cache().clear()
        else:
            self._cache().pop(key, None)


class MixinRetry(IOWrapper):
    """Retries transient failures of outside calls with exponential backoff."""

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("retry", "resilience", "backoff")
    APPLIES_TO: ClassVar[tuple[str, ...]] = ("EFFECT", "ORCHESTRATOR")
    retry_attempts: ClassVar[int] = 3
    retry_base_delay: ClassVar[float] = 0.05
    retry_max_delay: ClassVar[float] = 2.0

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def with_retry(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call``; on a transient failure wait and try again, up to ``retry_attempts`` times in all."""
        attempt = 1
        while True:
            try:
                return await call()
            except Exception as exc:
                if attempt >= self.retry_attempts or not is_transient(exc):
                    raise
                await self._sleep(min(self.retry_base_delay * 2 ** (attempt - 1), self.retry_max_delay))
                attempt += 1

    async def _wrap_io(self, call: Callable[[], Awaitable[T]]) -> T:
        return await self.with_retry(lambda: super(MixinRetry, self)._wrap_io(call))


@dataclass
class _BreakerState:
    state: str = "closed"
    failures: int = 0
    opened_at: float = 0.0
    probe_in_flight: bool = False


class MixinCircuitBreaker(IOWrapper):
    """Stops calling a failing dependency: opens after ``breaker_failure_threshold`` failures in a row.

    After ``breaker_recovery_seconds`` one probe call is let through (half-open); its success closes the
    breaker, its failure opens it again. Business errors (not found, conflict, validation) do not count.
    """

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("circuit_breaker", "resilience", "fault_tolerance")
    APPLIES_TO: ClassVar[tuple[str, ...]] = ("EFFECT", "ORCHESTRATOR")
    breaker_failure_threshold: ClassVar[int] = 5
    breaker_recovery_seconds: ClassVar[float] = 30.0

    def _now(self) -> float:
        return time.monotonic()

    def breaker_state(self) -> str:
        """Return ``closed``, ``open`` or ``half_open``."""
        return self._breaker().state

    def _breaker(self) -> _BreakerState:
        state: _BreakerState | None = self.__dict__.get("_mixin_breaker")
        if state is None:
            state = _BreakerState()
            self.__dict__["_mixin_breaker"] = state
        return state

    async def call_with_breaker(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call`` unless the breaker is open; UNAVAILABLE when it is."""
        breaker = self._breaker()
        probe = False
        if breaker.state == "open":
            if self._now() - breaker.opened_at < self.breaker_recovery_seconds:
                raise OnexError("circuit breaker is open", ErrorCode.UNAVAILABLE, {"state": "open"})
            breaker.state = "half_open"
        if breaker.state == "half_open":
            if breaker.probe_in_flight:
                raise OnexError("circuit breaker is half-open", ErrorCode.UNAVAILABLE, {"state": "half_open"})
            breaker.probe_in_flight = probe = True
        try:
            result = await call()
        except Exception as exc:
            if isinstance(exc, OnexError) and exc.code in {
                ErrorCode.NOT_FOUND,
                ErrorCode.CONFLICT,
                ErrorCode.VALIDATION_ERROR,
            }:
                if probe:
                    breaker.state, breaker.failures = "closed", 0
                raise
            breaker.failures += 1
            if probe or breaker.failures >= self.breaker_failure_threshold:
                breaker.state, breaker.opened_at = "open", self._now()
            raise
        finally:
            if probe:
                breaker.probe_in_flight = False
        breaker.state, breaker.failures = "closed", 0
        return result

    async def _wrap_io(self, call: Callable[[], Awaitable[T]]) -> T:
        return await self.call_with_breaker(lambda: super(MixinCircuitBreaker, self)._wrap_io(call))


class MixinTimeout(IOWrapper):
    """Fails outside calls that take longer than ``timeout_seconds`` with TIMEOUT."""

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("timeout", "deadline")
    APPLIES_TO: ClassVar[tuple[str, ...]] = ("EFFECT", "ORCHESTRATOR")
    timeout_seconds: ClassVar[float] = 10.0

    async def with_timeout(self, call: Callable[[], Awaitable[T]], seconds: float | None = None) -> T:
        """Run ``call`` within ``seconds`` (default ``timeout_seconds``)."""
        limit = self.timeout_seconds if seconds is None else seconds
        try:
            return await asyncio.wait_for(call(), timeout=limit)
        except TimeoutError:
            raise OnexError(f"timed out after {limit} s", ErrorCode.TIMEOUT, {"seconds": limit}) from None

    async def _wrap_io(self, call: Callable[[], Awaitable[T]]) -> T:
        return await self.with_timeout(lambda: super(MixinTimeout, self)._wrap_io(call))


class MixinValidation:
    """Validates input against pydantic models; failures are VALIDATION_ERROR with every problem listed."""

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("validation", "input_validation", "schema")
    APPLIES_TO: ClassVar[tuple[str, ...]] = ("EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR")

    def validate_input(self, model: type[M], data: Mapping[str, Any] | M) -> M:
        """Return ``data`` as a ``model``; VALIDATION_ERROR listing each invalid field."""
        if isinstance(data, model):
            return data
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()]
            raise OnexError(
                f"invalid {model.__name__}: " + "; ".join(f"{p['field']}: {p['problem']}" for p in problems),
                ErrorCode.VALIDATION_ERROR,
                {"errors": problems},
            ) from None


HealthCheck = Callable[[], Awaitable[bool]]


class MixinHealthCheck:
    """Reports health from registered checks: ``healthy``, ``degraded`` (some fail) or ``unhealthy``."""

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("health_check", "health", "liveness", "readiness")
    APPLIES_TO: ClassVar[tuple[str, ...]] = ("EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR")

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

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("metrics", "monitoring", "observability", "telemetry")
    APPLIES_TO: ClassVar[tuple[str, ...]] = ("EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR")

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


class MixinLogging:
    """Logs structured events through the stdlib logger ``onex.<node name>``."""

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("logging", "audit", "tracing")
    APPLIES_TO: ClassVar[tuple[str, ...]] = ("EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR")
    node_name: ClassVar[str] = "node"

    def log_event(self, level: int, message: str, **metadata: Any) -> None:
        """Log ``message`` with ``metadata`` (under ``extra={"metadata": ...}``)."""
        logging.getLogger(f"onex.{self.node_name}").log(
            level, message, extra={"metadata": metadata, "component": self.node_name}
        )


Handler = Callable[[str, Mapping[str, Any]], Awaitable[None]]


class MixinEventBus:
    """An in-process event bus: ``subscribe(topic, handler)``, ``await emit(topic, payload)``."""

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("events", "event_bus", "publish_subscribe", "messaging")
    APPLIES_TO: ClassVar[tuple[str, ...]] = ("EFFECT", "REDUCER", "ORCHESTRATOR")

    def _subscribers(self) -> dict[str, list[Handler]]:
        subs: dict[str, list[Handler]] | None = self.__dict__.get("_mixin_subscribers")
        if subs is None:
            subs = {}
            self.__dict__["_mixin_subscribers"] = subs
        return subs

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call ``handler(topic, payload)`` for every event emitted on ``topic``."""
        self._subscribers().setdefault(topic, []).append(handler)

    async def emit(self, topic: str, payload: Mapping[str, Any]) -> int:
        """Deliver ``payload`` to the subscribers of ``topic``; return how many received it."""
        handlers = list(self._subscribers().get(topic, ()))
        for handler in handlers:
            await handler(topic, dict(payload))
        return len(handlers)


WRAP_ORDER: tuple[str, ...] = (
    "MixinRetry",
    "MixinCircuitBreaker",
    "MixinTimeout",
    "MixinMetrics",
    "MixinCaching",
    "MixinValidation",
    "MixinHealthCheck",
    "MixinLogging",
    "MixinEventBus",
)
"""The order mixins are listed in a node's bases (outermost wrapper first)."""

MIXIN_CATALOGUE: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        MixinRetry,
        MixinCircuitBreaker,
        MixinTimeout,
        MixinMetrics,
        MixinCaching,
        MixinValidation,
        MixinHealthCheck,
        MixinLogging,
        MixinEventBus,
    )
}
"""Every mixin by name; each class has ``CAPABILITIES`` and ``APPLIES_TO``."""
