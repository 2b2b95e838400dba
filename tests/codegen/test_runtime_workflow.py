"""The runtime's workflow runner, run journal, per-port circuit breakers, idempotent ports and SQL record store."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from agents.lib.codegen.runtime.dag import StepGraph
from agents.lib.codegen.runtime.errors import ErrorCode, OnexError
from agents.lib.codegen.runtime.ports import (
    CircuitBreaker,
    InMemoryHttpClient,
    InMemoryRecordStore,
    InMemoryRunJournal,
    InMemorySearchIndex,
    PortBreakers,
    guarded,
)
from agents.lib.codegen.runtime.sql import TABLE_NAME, SqlRecordStore
from agents.lib.codegen.runtime.workflow import StepContext, StepPolicy, Workflow

GRAPH = StepGraph({"reserve": [], "charge": ["reserve"], "ship": ["charge"], "notify": ["ship"]})


class Steps:
    """Runs steps by recording them; ``failures`` maps a step to the errors its next attempts raise."""

    def __init__(self, failures: Mapping[str, list[BaseException]] | None = None) -> None:
        self.failures = {k: list(v) for k, v in (failures or {}).items()}
        self.ran: list[tuple[str, int, str]] = []

    async def __call__(self, step: str, context: StepContext) -> Any:
        pending = self.failures.get(step)
        if pending:
            raise pending.pop(0)
        self.ran.append((step, context.attempt, context.idempotency_key))
        return {"step": step, "after": sorted(context.results), "order": context.payload.get("order")}


def unavailable() -> OnexError:
    return OnexError("down", ErrorCode.UNAVAILABLE)


def workflow(policies: Mapping[str, StepPolicy] | None = None) -> tuple[Workflow, InMemoryRunJournal, list[float]]:
    journal = InMemoryRunJournal()
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    return Workflow(GRAPH, policies or {}, journal, sleep=sleep), journal, pauses


async def test_steps_run_in_order_with_the_runs_input_and_the_results_before_them() -> None:
    flow, journal, _ = workflow()
    steps = Steps()
    report = await flow.run("r1", {"order": "o-1"}, steps)
    assert report.completed == report.ran == ["reserve", "charge", "ship", "notify"]
    assert report.results["ship"] == {"step": "ship", "after": ["charge", "reserve"], "order": "o-1"}
    assert [key for _, _, key in steps.ran] == ["r1:reserve", "r1:charge", "r1:ship", "r1:notify"]
    record = await journal.load("r1")
    assert record is not None
    assert (record.status, list(record.completed)) == ("completed", ["reserve", "charge", "ship", "notify"])


async def test_a_failed_run_resumes_after_its_last_completed_step_and_never_repeats_one() -> None:
    flow, journal, _ = workflow()
    steps = Steps({"ship": [ValueError("label printer jammed")]})
    with pytest.raises(OnexError) as caught:
        await flow.run("r1", {}, steps)
    assert caught.value.code is ErrorCode.STEP_FAILED
    assert caught.value.details == {
        "failed_step": "ship",
        "completed_steps": ["reserve", "charge"],
        "progress_percent": 50.0,
        "attempts": 1,
        "cause": "ValueError",
        "code": None,
        "run_id": "r1",
    }
    record = await journal.load("r1")
    assert record is not None
    assert (record.status, record.failed_step, record.error) == ("failed", "ship", "label printer jammed")
    report = await flow.run("r1", {}, steps)
    assert (report.resumed, report.ran) == (["reserve", "charge"], ["ship", "notify"])
    assert [s for s, _, _ in steps.ran] == ["reserve", "charge", "ship", "notify"]
    assert report.results["reserve"]["step"] == "reserve"  # the first attempt's result, from the journal
    assert (await flow.run("r1", {}, steps)).ran == []


async def test_an_unavailable_step_is_retried_with_exponential_backoff_up_to_its_attempts() -> None:
    policy = StepPolicy(attempts=4, backoff_seconds=0.5, max_backoff_seconds=1.5)
    flow, _, pauses = workflow({"charge": policy})
    steps = Steps({"charge": [unavailable(), TimeoutError(), ConnectionError()]})
    report = await flow.run("r1", {}, steps)
    assert report.attempts == {"reserve": 1, "charge": 4, "ship": 1, "notify": 1}
    assert pauses == [0.5, 1.0, 1.5]
    assert ("charge", 4, "r1:charge") in steps.ran


async def test_a_step_failing_at_every_attempt_or_with_a_business_error_stops_the_run() -> None:
    flow, _, pauses = workflow({"charge": StepPolicy(attempts=3, backoff_seconds=0.0)})
    with pytest.raises(OnexError) as exhausted:
        await flow.run("r1", {}, Steps({"charge": [unavailable(), unavailable(), unavailable()]}))
    assert (exhausted.value.details["attempts"], exhausted.value.details["code"]) == (3, "UNAVAILABLE")
    with pytest.raises(OnexError) as business:
        await flow.run("r2", {}, Steps({"charge": [OnexError("card declined", ErrorCode.VALIDATION_ERROR)]}))
    assert (business.value.details["attempts"], business.value.details["code"]) == (1, "VALIDATION_ERROR")
    assert pauses == [0.0, 0.0]


async def test_a_step_over_its_timeout_is_a_timeout_and_is_retried() -> None:
    flow, _, _ = workflow({"reserve": StepPolicy(attempts=2, backoff_seconds=0.0, timeout_seconds=0.01)})
    calls: list[int] = []

    async def stuck(step: str, context: StepContext) -> Any:
        calls.append(context.attempt)
        await asyncio.Event().wait()

    with pytest.raises(OnexError) as caught:
        await flow.run("r1", {}, stuck)
    assert caught.value.details["code"] == "TIMEOUT"
    assert calls == [1, 2]


def test_policies_of_unknown_steps_are_refused() -> None:
    with pytest.raises(OnexError, match=r"unknown steps \['pay'\]"):
        Workflow(GRAPH, {"pay": StepPolicy()}, InMemoryRunJournal())


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_circuit_breaker_opens_probes_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker("bank", failure_threshold=2, recovery_seconds=10.0, clock=clock)

    async def fail() -> None:
        raise unavailable()

    async def ok() -> str:
        return "ok"

    async def missing() -> None:
        raise OnexError("no such account", ErrorCode.NOT_FOUND)

    with pytest.raises(OnexError):
        await breaker.call(missing)  # an answer, not a failure
    assert (breaker.state, breaker.failures) == ("closed", 0)
    for _ in range(2):
        with pytest.raises(OnexError):
            await breaker.call(fail)
    assert breaker.state == "open"
    with pytest.raises(OnexError) as refused:
        await breaker.call(ok)
    assert refused.value.details == {"port": "bank", "state": "open"}
    clock.now = 10.0
    with pytest.raises(OnexError):
        await breaker.call(fail)  # the probe failed: open again
    assert breaker.state == "open"
    clock.now = 20.0
    assert await breaker.call(ok) == "ok"
    assert (breaker.state, breaker.failures) == ("closed", 0)


class DownStore(InMemoryRecordStore):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def insert(self, collection: str, key: str, record: dict[str, Any]) -> None:
        self.calls += 1
        raise unavailable()


async def test_one_failing_port_opens_only_its_own_breaker() -> None:
    breakers = PortBreakers(failure_threshold=2, recovery_seconds=60.0)
    down = DownStore()
    store = guarded(down, breakers.for_port("record_store"))
    index = guarded(InMemorySearchIndex(), breakers.for_port("search_index"))
    for _ in range(2):
        with pytest.raises(OnexError):
            await store.insert("t", "k", {})
    with pytest.raises(OnexError) as refused:
        await store.insert("t", "k", {})
    assert refused.value.details == {"port": "record_store", "state": "open"}
    assert down.calls == 2
    await index.index("t:k", {"text": "hello"})
    assert await index.search("hello") == ["t:k"]
    assert (breakers.state("record_store"), breakers.state("search_index")) == ("open", "closed")
    with pytest.raises(OnexError):
        await store.get("t", "k")  # every method of the open port is refused, not only the failing one


async def test_guarded_keeps_plain_attributes() -> None:
    client = InMemoryHttpClient()
    proxy = guarded(client, CircuitBreaker("http"))
    assert proxy.calls is client.calls
    proxy.route("GET", "/x", {"ok": True})
    assert await proxy.request("GET", "/x") == {"ok": True}


async def test_http_client_answers_a_repeated_idempotency_key_without_acting_again() -> None:
    client = InMemoryHttpClient()
    client.route("POST", "/transfers", {"transfer": "t-1"})
    first = await client.request("POST", "/transfers", {"amount": 10}, idempotency_key="run-1:send")
    again = await client.request("POST", "/transfers", {"amount": 10}, idempotency_key="run-1:send")
    other = await client.request("POST", "/transfers", {"amount": 10}, idempotency_key="run-2:send")
    assert first == again == other == {"transfer": "t-1"}
    assert len(client.calls) == 2


async def test_search_index_removes_documents() -> None:
    index = InMemorySearchIndex()
    await index.index("book:1", {"title": "Dune"})
    await index.remove("book:1")
    await index.remove("book:1")
    assert await index.search("dune") == []


async def test_sql_record_store_round_trips_on_sqlite(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    store = SqlRecordStore(url)
    await store.insert("book", "b", {"title": "Dune", "copies": 2, "tags": ["sf"]})
    await store.insert("book", "a", {"title": "Emma", "copies": 1, "tags": []})
    await store.insert("loan", "a", {"book": "a"})
    with pytest.raises(OnexError) as conflict:
        await store.insert("book", "a", {})
    assert conflict.value.code is ErrorCode.CONFLICT
    assert await store.get("book", "b") == {"title": "Dune", "copies": 2, "tags": ["sf"]}
    assert await store.get("book", "zz") is None
    assert [r["title"] for r in await store.scan("book")] == ["Emma", "Dune"]
    await store.replace("book", "a", {"title": "Emma", "copies": 0, "tags": []})
    with pytest.raises(OnexError) as missing:
        await store.replace("book", "zz", {})
    assert missing.value.code is ErrorCode.NOT_FOUND
    assert await store.delete("book", "a") is True
    assert await store.delete("book", "a") is False
    store.close()
    reopened = SqlRecordStore(url)  # durable: a second store on the same file reads what the first wrote
    assert await reopened.scan("book") == [{"title": "Dune", "copies": 2, "tags": ["sf"]}]
    assert await reopened.get("loan", "a") == {"book": "a"}
    with reopened.engine.connect() as connection:
        tables = reopened._sa.inspect(connection).get_table_names()
    assert tables == [TABLE_NAME]
    reopened.close()
