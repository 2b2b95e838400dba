"""The runtime copied into generated services: container, ports, FSM, step graph and every mixin."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import BaseModel

from agents.lib.codegen.runtime.container import Container, ServiceKey
from agents.lib.codegen.runtime.dag import StepGraph
from agents.lib.codegen.runtime.errors import ErrorCode, OnexError
from agents.lib.codegen.runtime.fsm import TransitionTable
from agents.lib.codegen.runtime.mixins import (
    MIXIN_CATALOGUE,
    WRAP_ORDER,
    MixinCaching,
    MixinCircuitBreaker,
    MixinEventBus,
    MixinHealthCheck,
    MixinMetrics,
    MixinRetry,
    MixinTimeout,
    MixinValidation,
)
from agents.lib.codegen.runtime.node_base import NodeEffect
from agents.lib.codegen.runtime.ports import InMemoryHttpClient, InMemoryRecordStore


def test_container_resolves_and_reports_missing() -> None:
    key: ServiceKey[int] = ServiceKey("answer")
    container = Container()
    container.register(key, 42)
    assert container.resolve(key) == 42
    with pytest.raises(OnexError) as caught:
        container.resolve(ServiceKey[str]("other"))
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert caught.value.details == {"key": "other", "registered": ["answer"]}


async def test_record_store_semantics() -> None:
    store = InMemoryRecordStore()
    await store.insert("t", "b", {"v": 1})
    await store.insert("t", "a", {"v": 2})
    with pytest.raises(OnexError) as conflict:
        await store.insert("t", "a", {"v": 3})
    assert conflict.value.code is ErrorCode.CONFLICT
    got = await store.get("t", "a")
    assert got == {"v": 2}
    assert got is not None
    got["v"] = 99
    assert await store.get("t", "a") == {"v": 2}
    assert [r["v"] for r in await store.scan("t")] == [2, 1]
    with pytest.raises(OnexError) as missing:
        await store.replace("t", "zz", {})
    assert missing.value.code is ErrorCode.NOT_FOUND
    assert await store.delete("t", "a") is True
    assert await store.delete("t", "a") is False


async def test_http_client_routes() -> None:
    client = InMemoryHttpClient()
    client.route("get", "/x", {"ok": True})
    assert await client.request("GET", "/x") == {"ok": True}
    with pytest.raises(OnexError):
        await client.request("POST", "/x", {"a": 1})
    assert client.calls == [("GET", "/x", None), ("POST", "/x", {"a": 1})]


def test_transition_table() -> None:
    table = TransitionTable(["a", "b", "c"], "a", {("a", "go"): "b", ("b", "stop"): "c"}, terminal=["c"])
    assert table.apply("a", "go") == "b"
    assert table.events == ("go", "stop")
    with pytest.raises(OnexError) as caught:
        table.apply("a", "stop")
    assert caught.value.code is ErrorCode.INVALID_TRANSITION
    assert caught.value.details == {"state": "a", "event": "stop", "allowed": ["go"]}
    with pytest.raises(OnexError, match="undeclared states"):
        TransitionTable(["a"], "a", {("a", "go"): "nowhere"})


class Runner:
    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.seen: list[tuple[str, list[str]]] = []

    async def run_step(self, step: str, context: Mapping[str, Any]) -> Any:
        self.seen.append((step, sorted(context)))
        if step == self.fail:
            raise ValueError("boom")
        return step.upper()


async def test_step_graph_order_and_failure() -> None:
    graph = StepGraph({"a": [], "b": ["a"], "c": ["b"], "d": ["a"]})
    report = await graph.run(Runner())
    assert report.completed == list(graph.order)
    assert graph.order.index("a") < graph.order.index("b") < graph.order.index("c")
    assert report.results["c"] == "C"
    with pytest.raises(OnexError) as caught:
        await graph.run(Runner(fail="b"))
    assert caught.value.code is ErrorCode.STEP_FAILED
    assert caught.value.details["failed_step"] == "b"
    assert caught.value.details["completed_steps"] == list(graph.order[: graph.order.index("b")])
    assert caught.value.details["cause"] == "ValueError"


def test_step_graph_refuses_cycles_and_unknown_steps() -> None:
    with pytest.raises(OnexError, match="cycle"):
        StepGraph({"a": ["b"], "b": ["a"]})
    with pytest.raises(OnexError, match=r"unknown steps \['zz'\]"):
        StepGraph({"a": ["zz"]})


class Node(MixinRetry, MixinCircuitBreaker, MixinTimeout, MixinMetrics, NodeEffect):
    retry_base_delay = 0.5
    breaker_failure_threshold = 2
    breaker_recovery_seconds = 10.0
    timeout_seconds = 5.0

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.sleeps: list[float] = []

    def _now(self) -> float:
        return self.now

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


class RetryNode(MixinRetry, NodeEffect):
    retry_base_delay = 0.5

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


async def test_retry_retries_only_transient_failures_with_backoff() -> None:
    node = RetryNode()
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("reset")
        return "ok"

    assert await node._wrap_io(flaky) == "ok"
    assert attempts == 3
    assert node.sleeps == [0.5, 1.0]

    async def missing() -> str:
        raise OnexError("nope", ErrorCode.NOT_FOUND)

    node.sleeps.clear()
    with pytest.raises(OnexError):
        await node.with_retry(missing)
    assert node.sleeps == []


async def test_circuit_breaker_opens_and_lets_one_probe_through() -> None:
    node = Node()
    node.retry_attempts = 1

    async def down() -> str:
        raise ConnectionError("down")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            await node.call_with_breaker(down)
    assert node.breaker_state() == "open"
    with pytest.raises(OnexError) as open_error:
        await node.call_with_breaker(down)
    assert open_error.value.code is ErrorCode.UNAVAILABLE
    node.now = 10.0
    release = asyncio.Event()
    entered = 0

    async def slow_ok() -> str:
        nonlocal entered
        entered += 1
        await release.wait()
        return "ok"

    probe = asyncio.ensure_future(node.call_with_breaker(slow_ok))
    await asyncio.sleep(0)
    rejected = await asyncio.gather(*(node.call_with_breaker(slow_ok) for _ in range(5)), return_exceptions=True)
    assert entered == 1
    assert all(isinstance(r, OnexError) and r.code is ErrorCode.UNAVAILABLE for r in rejected)
    release.set()
    assert await probe == "ok"
    assert node.breaker_state() == "closed"


async def test_business_errors_do_not_trip_the_breaker() -> None:
    node = Node()

    async def conflict() -> None:
        raise OnexError("exists", ErrorCode.CONFLICT)

    for _ in range(5):
        with pytest.raises(OnexError):
            await node.call_with_breaker(conflict)
    assert node.breaker_state() == "closed"


async def test_timeout_and_metrics() -> None:
    node = Node()

    async def hang() -> None:
        await asyncio.sleep(10)

    with pytest.raises(OnexError) as caught:
        await node.with_timeout(hang, seconds=0.01)
    assert caught.value.code is ErrorCode.TIMEOUT

    async def fine() -> int:
        return 1

    await node._wrap_io(fine)
    snapshot = node.metrics_snapshot()
    assert snapshot["counters"] == {"io_calls": 1}
    assert snapshot["summaries"]["io_duration_ms"]["count"] == 1


class Cached(MixinCaching):
    cache_ttl_seconds = 10.0
    cache_max_entries = 2

    def __init__(self) -> None:
        self.now = 0.0
        self.calls = 0

    def _now(self) -> float:
        return self.now

    async def load(self, key: str) -> str:
        async def factory() -> str:
            self.calls += 1
            return f"{key}-{self.calls}"

        return await self.cached(key, factory)


async def test_caching_ttl_and_lru() -> None:
    cache = Cached()
    assert await cache.load("a") == "a-1"
    assert await cache.load("a") == "a-1"
    cache.now = 10.0
    assert await cache.load("a") == "a-2"
    await cache.load("b")
    await cache.load("c")
    assert await cache.load("a") == "a-5"
    cache.invalidate_cache()
    assert await cache.load("c") == "c-6"


class Payment(BaseModel):
    amount: int
    currency: str


def test_validation_lists_every_problem() -> None:
    assert MixinValidation().validate_input(Payment, {"amount": 3, "currency": "EUR"}).amount == 3
    with pytest.raises(OnexError) as caught:
        MixinValidation().validate_input(Payment, {"amount": "x"})
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert [e["field"] for e in caught.value.details["errors"]] == ["amount", "currency"]


async def test_health_check_statuses() -> None:
    health = MixinHealthCheck()

    async def ok() -> bool:
        return True

    async def broken() -> bool:
        raise RuntimeError("x")

    health.register_health_check("db", ok)
    assert await health.health_check() == {"status": "healthy", "checks": {"db": True}}
    health.register_health_check("kafka", broken)
    assert (await health.health_check())["status"] == "degraded"


async def test_event_bus_delivers() -> None:
    bus = MixinEventBus()
    got: list[tuple[str, Mapping[str, Any]]] = []

    async def handler(topic: str, payload: Mapping[str, Any]) -> None:
        got.append((topic, payload))

    bus.subscribe("loan.created", handler)
    assert await bus.emit("loan.created", {"id": 1}) == 1
    assert await bus.emit("other", {}) == 0
    assert got == [("loan.created", {"id": 1})]


def test_catalogue_is_the_source_of_truth() -> None:
    assert set(MIXIN_CATALOGUE) == set(WRAP_ORDER)
    for name, cls in MIXIN_CATALOGUE.items():
        assert cls.__name__ == name
        assert cls.INFO.capabilities
        assert set(cls.INFO.node_types) <= {"EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"}
    assert MIXIN_CATALOGUE["MixinCaching"].INFO.capability == "caching"
    assert MIXIN_CATALOGUE["MixinHealthCheck"].INFO.capability == "health_check"
