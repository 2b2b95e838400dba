"""The circuit breaker's transitions, with an injected clock: thresholds, recovery, exactly one probe at a time."""

from __future__ import annotations

import asyncio

import pytest

from agents.lib._events.breaker import CircuitBreaker, CircuitBreakerConfig, CircuitOpenError, CircuitState
from agents.lib._events.clock import ManualClock
from agents.lib.errors import ErrorCode, OnexError


def breaker(clock: ManualClock, **config: float) -> tuple[CircuitBreaker, list[tuple[str, str]]]:
    moves: list[tuple[str, str]] = []
    cb = CircuitBreaker(
        CircuitBreakerConfig(**config),  # type: ignore[arg-type]
        clock=clock.monotonic,
        on_transition=lambda old, new: moves.append((old.value, new.value)),
    )
    return cb, moves


async def test_opens_after_consecutive_failures_only() -> None:
    """A success resets the count: only failure_threshold failures in a row open the circuit."""
    clock = ManualClock()
    cb, moves = breaker(clock, failure_threshold=3, recovery_timeout_ms=1000, success_threshold=2)
    for _ in range(2):
        cb.record_failure(cb.acquire())
    cb.record_success(cb.acquire())
    assert cb.consecutive_failures == 0
    for _ in range(2):
        cb.record_failure(cb.acquire())
    assert cb.state is CircuitState.CLOSED
    cb.record_failure(cb.acquire())
    assert cb.state is CircuitState.OPEN
    assert moves == [("CLOSED", "OPEN")]
    with pytest.raises(RuntimeError, match="Circuit breaker is OPEN") as info:
        cb.acquire()
    assert isinstance(info.value, CircuitOpenError) and info.value.code is ErrorCode.UNAVAILABLE
    assert info.value.retry_after_ms == pytest.approx(1000.0)


async def test_recovers_through_half_open_after_the_timeout() -> None:
    """OPEN until recovery_timeout_ms; then probes; success_threshold successes close it, a failure reopens it."""
    clock = ManualClock()
    cb, moves = breaker(clock, failure_threshold=1, recovery_timeout_ms=500, success_threshold=2)
    cb.record_failure(cb.acquire())
    await clock.advance(0.499)
    assert cb.state is CircuitState.OPEN
    assert cb.retry_after_ms() == pytest.approx(1.0)
    assert cb.try_acquire() is None
    await clock.advance(0.001)
    assert cb.state is CircuitState.HALF_OPEN
    probe = cb.acquire()
    cb.record_failure(probe)
    assert cb.state is CircuitState.OPEN
    assert cb.retry_after_ms() == pytest.approx(500.0)  # a new timeout from the failed probe
    await clock.advance(0.5)
    cb.record_success(cb.acquire())
    assert cb.state is CircuitState.HALF_OPEN
    cb.record_success(cb.acquire())
    assert cb.state is CircuitState.CLOSED
    assert moves == [
        ("CLOSED", "OPEN"),
        ("OPEN", "HALF_OPEN"),
        ("HALF_OPEN", "OPEN"),
        ("OPEN", "HALF_OPEN"),
        ("HALF_OPEN", "CLOSED"),
    ]


async def test_half_open_lets_exactly_one_concurrent_probe_through() -> None:
    """Twenty concurrent callers in HALF_OPEN: one runs, nineteen are refused while it is in flight."""
    clock = ManualClock()
    cb, _ = breaker(clock, failure_threshold=1, recovery_timeout_ms=100, success_threshold=1)
    cb.record_failure(cb.acquire())
    await clock.advance(0.1)
    release = asyncio.Event()
    running = 0
    peak = 0

    async def downstream() -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        return "ok"

    tasks = [asyncio.create_task(cb.call(downstream)) for _ in range(20)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert cb.probe_in_flight
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    refused = [r for r in results if isinstance(r, CircuitOpenError)]
    assert results.count("ok") == 1
    assert len(refused) == 19
    assert all("half-open" in str(r) for r in refused)
    assert peak == 1
    assert cb.state is CircuitState.CLOSED


async def test_a_cancelled_probe_frees_the_slot_and_stale_results_do_not_count() -> None:
    """A probe that ends without a verdict lets the next caller probe; a call admitted before OPEN is ignored."""
    clock = ManualClock()
    cb, _ = breaker(clock, failure_threshold=2, recovery_timeout_ms=100, success_threshold=1)
    early = cb.acquire()  # admitted while CLOSED, answers late
    cb.record_failure(cb.acquire())
    cb.record_failure(cb.acquire())
    assert cb.state is CircuitState.OPEN
    cb.record_success(early)  # a stale success must not close (or count in) the new state
    assert cb.state is CircuitState.OPEN
    await clock.advance(0.1)
    probe = cb.acquire()
    with pytest.raises(CircuitOpenError):
        cb.acquire()
    cb.release(probe)
    cb.record_failure(early)  # stale failure: ignored as well
    assert cb.state is CircuitState.HALF_OPEN
    second = cb.acquire()
    cb.record_success(second)
    assert cb.state is CircuitState.CLOSED

    async def cancelled() -> None:
        raise asyncio.CancelledError

    cb2, _ = breaker(clock, failure_threshold=1, recovery_timeout_ms=10, success_threshold=1)
    cb2.record_failure(cb2.acquire())
    await clock.advance(0.01)
    with pytest.raises(asyncio.CancelledError):
        await cb2.call(cancelled)
    assert cb2.state is CircuitState.HALF_OPEN and not cb2.probe_in_flight


async def test_call_counts_exceptions_as_failures() -> None:
    """breaker.call: a raise is a failure (re-raised), a return a success."""
    clock = ManualClock()
    cb, _ = breaker(clock, failure_threshold=2, recovery_timeout_ms=100, success_threshold=1)

    async def boom() -> None:
        raise ValueError("down")

    async def fine() -> int:
        return 7

    with pytest.raises(ValueError, match="down"):
        await cb.call(boom)
    assert cb.consecutive_failures == 1
    assert await cb.call(fine) == 7
    assert cb.consecutive_failures == 0
    for _ in range(2):
        with pytest.raises(ValueError, match="down"):
            await cb.call(boom)
    with pytest.raises(CircuitOpenError):
        await cb.call(fine)
    cb.reset()
    assert cb.state is CircuitState.CLOSED and await cb.call(fine) == 7


def test_config_is_validated() -> None:
    """Thresholds must be integers >= 1 and the timeout >= 0."""
    for bad in ({"failure_threshold": 0}, {"success_threshold": 1.5}, {"recovery_timeout_ms": -1}):
        with pytest.raises(OnexError):
            CircuitBreakerConfig(**bad)  # type: ignore[arg-type]
    assert CircuitBreakerConfig() == CircuitBreakerConfig(5, 10_000, 2)
