"""A circuit breaker for an asyncio caller: CLOSED, OPEN, HALF_OPEN, with exactly one probe at a time.

CLOSED lets calls through and opens after ``failure_threshold`` consecutive failures. OPEN refuses calls
(:class:`CircuitOpenError`, a ``RuntimeError`` saying "Circuit breaker is OPEN") until ``recovery_timeout_ms``
has passed; the next caller then becomes the only probe of HALF_OPEN, and every other caller is refused until
that probe ends. A failed probe opens the circuit again (a new timeout); ``success_threshold`` successful probes
in a row close it. Each permit carries the breaker's generation, so the result of a call admitted before a
transition (a slow call that fails after the circuit opened) does not count in the new state.

Not thread-safe: use one breaker from one event loop. Time comes from an injected ``clock`` callable.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from agents.lib.errors import ErrorCode, OnexError

__all__ = ["CircuitBreaker", "CircuitBreakerConfig", "CircuitOpenError", "CircuitState"]

T = TypeVar("T")


class CircuitState(StrEnum):
    """The state of a :class:`CircuitBreaker`."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass(frozen=True)
class CircuitBreakerConfig:
    """When the circuit opens and how it recovers (the guide's values are the defaults).

    ``failure_threshold``: consecutive failures that open it; ``recovery_timeout_ms``: how long it stays open
    before one probe is let through; ``success_threshold``: successful probes in a row that close it.
    """

    failure_threshold: int = 5
    recovery_timeout_ms: float = 10_000
    success_threshold: int = 2

    def __post_init__(self) -> None:
        for name in ("failure_threshold", "success_threshold"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise OnexError(f"CircuitBreakerConfig.{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.recovery_timeout_ms, int | float) or self.recovery_timeout_ms < 0:
            raise OnexError(
                f"CircuitBreakerConfig.recovery_timeout_ms must be >= 0, got {self.recovery_timeout_ms!r}"
            )


class CircuitOpenError(OnexError, RuntimeError):
    """Raised instead of calling through an open circuit; ``str()`` contains "Circuit breaker is OPEN"."""

    def __init__(self, message: str, retry_after_ms: float) -> None:
        super().__init__(message, ErrorCode.UNAVAILABLE, {"retry_after_ms": round(retry_after_ms, 1)})
        self.retry_after_ms = retry_after_ms


Transition = Callable[[CircuitState, CircuitState], None]


class CircuitBreaker:
    """See the module docstring. ``on_transition(old, new)`` is called on every state change."""

    __slots__ = (
        "_clock",
        "_failures",
        "_generation",
        "_on_transition",
        "_opened_at",
        "_probe_out",
        "_recovery_s",
        "_state",
        "_successes",
        "config",
        "name",
    )

    def __init__(
        self,
        config: CircuitBreakerConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Transition | None = None,
        name: str = "kafka",
    ) -> None:
        self.config = config or CircuitBreakerConfig()
        self.name = name
        self._clock = clock
        self._on_transition = on_transition
        self._recovery_s = self.config.recovery_timeout_ms / 1000.0
        self._state = CircuitState.CLOSED
        self._generation = 0
        self._failures = 0
        self._successes = 0
        self._opened_at = 0.0
        self._probe_out = False

    def __repr__(self) -> str:
        """Show the state and the counters."""
        return (
            f"CircuitBreaker({self.name!r}, state={self.state.value}, failures={self._failures}, "
            f"successes={self._successes})"
        )

    @property
    def state(self) -> CircuitState:
        """The current state (an OPEN circuit whose timeout has passed reads HALF_OPEN)."""
        if self._state is CircuitState.OPEN and self._clock() - self._opened_at >= self._recovery_s:
            self._move(CircuitState.HALF_OPEN)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures in a row counted in the current state."""
        return self._failures

    @property
    def probe_in_flight(self) -> bool:
        """Whether the one HALF_OPEN probe is out."""
        return self._probe_out

    def retry_after_ms(self) -> float:
        """Milliseconds until an OPEN circuit lets a probe through (0 when it would now)."""
        if self._state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, (self._opened_at + self._recovery_s - self._clock()) * 1000.0)

    def _move(self, state: CircuitState) -> None:
        old = self._state
        self._state = state
        self._generation += 1
        self._failures = 0
        self._successes = 0
        self._probe_out = False
        if state is CircuitState.OPEN:
            self._opened_at = self._clock()
        if self._on_transition is not None:
            self._on_transition(old, state)

    def acquire(self) -> int:
        """Return a permit for one call, or raise :class:`CircuitOpenError`.

        Pass the permit to :meth:`record_success`, :meth:`record_failure` or :meth:`release`.
        """
        state = self._state
        if state is CircuitState.CLOSED:
            return self._generation
        if state is CircuitState.OPEN:
            wait_ms = self.retry_after_ms()
            if wait_ms > 0:
                raise CircuitOpenError(
                    f"Circuit breaker is OPEN ({self.name}): failing calls are refused for another "
                    f"{wait_ms:.0f} ms",
                    wait_ms,
                )
            self._move(CircuitState.HALF_OPEN)
        if self._probe_out:
            raise CircuitOpenError(
                f"Circuit breaker is OPEN ({self.name}, half-open): one probe call is in flight", 0.0
            )
        self._probe_out = True
        return self._generation

    def try_acquire(self) -> int | None:
        """Like :meth:`acquire`, but return ``None`` instead of raising."""
        try:
            return self.acquire()
        except CircuitOpenError:
            return None

    def record_success(self, permit: int) -> None:
        """Count a success of the call holding ``permit``."""
        if permit != self._generation:
            return
        if self._state is CircuitState.CLOSED:
            self._failures = 0
        elif self._state is CircuitState.HALF_OPEN:
            self._probe_out = False
            self._successes += 1
            if self._successes >= self.config.success_threshold:
                self._move(CircuitState.CLOSED)

    def record_failure(self, permit: int) -> None:
        """Count a failure of the call holding ``permit``."""
        if permit != self._generation:
            return
        if self._state is CircuitState.CLOSED:
            self._failures += 1
            if self._failures >= self.config.failure_threshold:
                self._move(CircuitState.OPEN)
        elif self._state is CircuitState.HALF_OPEN:
            self._move(CircuitState.OPEN)

    def release(self, permit: int) -> None:
        """End the call holding ``permit`` without a verdict (cancelled, nothing to send): free the probe."""
        if permit == self._generation and self._state is CircuitState.HALF_OPEN:
            self._probe_out = False

    async def call(self, func: Callable[[], Awaitable[T]]) -> T:
        """Await ``func()`` through the breaker: any exception is a failure, a return a success."""
        permit = self.acquire()
        try:
            result = await func()
        except BaseException as exc:
            if isinstance(exc, Exception):
                self.record_failure(permit)
            else:  # cancelled: no verdict
                self.release(permit)
            raise
        self.record_success(permit)
        return result

    def reset(self) -> None:
        """Close the circuit now (forget failures)."""
        if self._state is not CircuitState.CLOSED:
            self._move(CircuitState.CLOSED)
        self._failures = 0
