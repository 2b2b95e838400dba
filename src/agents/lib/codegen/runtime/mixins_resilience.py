"""Resilience mixins: retry, circuit breaker, timeout (around each outside call), rate limiter (per operation).

The catalogue and the wrapping order are in :mod:`.mixins`; the hook and trait vocabularies in :mod:`.mixin_info`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from .errors import ErrorCode, OnexError
from .mixin_info import MixinInfo
from .node_base import IOWrapper, Operation

__all__ = ["MixinCircuitBreaker", "MixinRateLimiter", "MixinRetry", "MixinTimeout", "is_transient"]

T = TypeVar("T")

_TRANSIENT_CODES = frozenset({ErrorCode.TIMEOUT, ErrorCode.UNAVAILABLE})
_BUSINESS_CODES = frozenset({ErrorCode.NOT_FOUND, ErrorCode.CONFLICT, ErrorCode.VALIDATION_ERROR})


def is_transient(exc: BaseException) -> bool:
    """Return whether ``exc`` is worth retrying (timeouts, unavailable services, connection errors)."""
    if isinstance(exc, OnexError):
        return exc.code in _TRANSIENT_CODES
    return isinstance(exc, ConnectionError | TimeoutError)


class MixinRetry(IOWrapper):
    """Retries transient failures of outside calls with exponential backoff."""

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="resilience",
        capabilities=("retry", "retries", "resilience", "backoff"),
        hooks=("wrap_io",),
        modifies_state=False,
        resource_intensive=False,
        external_dependencies=(),
        node_types=("EFFECT", "ORCHESTRATOR"),
        traits=("replays_calls",),
    )
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

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="resilience",
        capabilities=("circuit_breaker", "breaker", "resilience", "fault_tolerance"),
        hooks=("wrap_io",),
        modifies_state=True,
        resource_intensive=False,
        external_dependencies=(),
        node_types=("EFFECT", "ORCHESTRATOR"),
        traits=("short_circuits", "bounds_wait"),
    )
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
            if isinstance(exc, OnexError) and exc.code in _BUSINESS_CODES:
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

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="resilience",
        capabilities=("timeout", "timeouts", "deadline"),
        hooks=("wrap_io",),
        modifies_state=False,
        resource_intensive=False,
        external_dependencies=(),
        node_types=("EFFECT", "ORCHESTRATOR"),
        traits=("cancels_calls", "bounds_wait"),
    )
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


class MixinRateLimiter(IOWrapper):
    """Admits at most ``rate_limit`` operations per ``rate_window_seconds`` (a sliding window); refuses the rest.

    A refused operation is UNAVAILABLE with ``details["reason"] == "rate_limited"`` and does not run at all.
    """

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="resilience",
        capabilities=("rate_limiting", "rate_limiter", "throttling", "quota"),
        hooks=("read", "write"),
        modifies_state=True,
        resource_intensive=False,
        external_dependencies=(),
        node_types=("EFFECT", "ORCHESTRATOR"),
        traits=("short_circuits", "limits_calls", "refuses_calls"),
    )
    rate_limit: ClassVar[int] = 1000
    rate_window_seconds: ClassVar[float] = 1.0

    def _now(self) -> float:
        return time.monotonic()

    def _admitted(self) -> deque[float]:
        admitted: deque[float] | None = self.__dict__.get("_mixin_admitted")
        if admitted is None:
            admitted = deque()
            self.__dict__["_mixin_admitted"] = admitted
        return admitted

    def admit(self) -> bool:
        """Take one unit of the window's quota; False (nothing taken) when none is left."""
        admitted, now = self._admitted(), self._now()
        while admitted and now - admitted[0] >= self.rate_window_seconds:
            admitted.popleft()
        if len(admitted) >= self.rate_limit:
            return False
        admitted.append(now)
        return True

    async def _wrap_operation(self, operation: Operation, call: Callable[[], Awaitable[T]]) -> T:
        if not self.admit():
            raise OnexError(
                f"rate limit of {self.rate_limit} per {self.rate_window_seconds} s reached",
                ErrorCode.UNAVAILABLE,
                {"reason": "rate_limited", "operation": operation.name},
            )
        return await super()._wrap_operation(operation, call)
