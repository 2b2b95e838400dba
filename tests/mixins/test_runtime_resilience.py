"""Retry, circuit breaker, timeout and rate limiter do their job on a node."""

from __future__ import annotations

import asyncio

import pytest

from agents.lib.codegen.runtime.errors import ErrorCode, OnexError
from agents.lib.codegen.runtime.mixins import MixinCircuitBreaker, MixinRateLimiter, MixinRetry, MixinTimeout

from ._nodes import FlakyStore, Items


class Retrying(MixinRetry, Items):
    retry_base_delay = 0.0


async def test_retry_replays_a_transient_failure_and_stops_at_the_attempts() -> None:
    store = FlakyStore(failures=2)
    node = Retrying(store)
    await node.put("a", "1")
    assert await node.get("a") == "1"
    assert store.calls == 5  # get failed twice, then get + insert, then the read
    failing = Retrying(FlakyStore(failures=3))
    with pytest.raises(OnexError) as caught:
        await failing.put("a", "1")
    assert caught.value.code is ErrorCode.UNAVAILABLE


async def test_retry_does_not_replay_a_business_error() -> None:
    store = FlakyStore(failures=1, code=ErrorCode.CONFLICT)
    with pytest.raises(OnexError):
        await Retrying(store).put("a", "1")
    assert store.calls == 1


class Breaking(MixinCircuitBreaker, Items):
    breaker_failure_threshold = 2
    breaker_recovery_seconds = 60.0


async def test_breaker_opens_after_the_threshold_and_keeps_calls_off_the_store() -> None:
    store = FlakyStore(failures=10)
    node = Breaking(store)
    for _ in range(2):
        with pytest.raises(OnexError):
            await node.get("a")
    assert node.breaker_state() == "open"
    with pytest.raises(OnexError) as caught:
        await node.get("a")
    assert caught.value.details == {"state": "open"}
    assert store.calls == 2


class Timed(MixinTimeout, Items):
    timeout_seconds = 0.05


class HangingStore(FlakyStore):
    async def get(self, collection: str, key: str) -> dict[str, object] | None:
        await asyncio.sleep(30)
        return None


async def test_timeout_fails_a_hanging_call_with_timeout() -> None:
    with pytest.raises(OnexError) as caught:
        await Timed(HangingStore()).get("a")
    assert caught.value.code is ErrorCode.TIMEOUT
    assert caught.value.details == {"seconds": 0.05}


class Limited(MixinRateLimiter, Items):
    rate_limit = 3
    rate_window_seconds = 10.0

    now = 100.0

    def _now(self) -> float:
        return self.now


async def test_rate_limiter_refuses_past_the_limit_until_the_window_moves() -> None:
    store = FlakyStore()
    node = Limited(store)
    await node.put("a", "1")
    assert [await node.get("a") for _ in range(2)] == ["1", "1"]
    calls = store.calls
    with pytest.raises(OnexError) as caught:
        await node.get("a")
    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert caught.value.details == {"reason": "rate_limited", "operation": "get"}
    assert store.calls == calls  # a refused operation does not run
    node.now = 110.0
    assert await node.get("a") == "1"
