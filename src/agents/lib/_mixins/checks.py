"""Behavioural checks of the mixins, run against generated nodes by the trials (:mod:`agents.lib._mixins.trials`).

One suite per mixin: each check states one guarantee of its mixin (``"caching: a read after an update returns the
updated data"``) and exercises a generated node that has the mixin (and one other) applied. A check knows only
its own mixin; whether the other one breaks the guarantee is what the trial finds out.

This file is copied into the trial's generated service (as ``mixin_trial_checks.py``) and runs there, with only
the service's ``onex_runtime``, pydantic and pytest: it imports the runtime by name when it runs.

On EFFECT nodes, checks call the node's generated operations (``create_trial_item``, ``get_trial_item``,
``update_trial_item``...); on ORCHESTRATOR nodes, operations run through the node's own hooks
(``_wrap_operation`` around ``_wrap_io`` around the store), as its ``run`` does. COMPUTE and REDUCER nodes are
synchronous: their checks use the mixins' APIs on the node.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

__all__ = ["CHECKS", "ENTITY", "CheckFailed", "Subject", "checks_for", "run_check"]

ENTITY = "trial_item"
"""The entity of the trial nodes (``TrialItem``: ``title``, ``copies``)."""
TRUSTED_ROLES = frozenset({"reader", "writer"})
TRIAL_SETTINGS: dict[str, Any] = {
    "retry_base_delay": 0.3,
    "retry_max_delay": 1.0,
    "breaker_failure_threshold": 3,
    "breaker_recovery_seconds": 600.0,
    "timeout_seconds": 0.3,
    "connection_pool_size": 2,
    "rate_limit": 12,
    "rate_window_seconds": 600.0,
}
"""Class settings every trial node gets (short delays, small limits), the same for every pair."""
FAIL_FAST_S = 0.45
"""What ``at once`` means in a check: well under the trial nodes' retry backoffs (0.3 s, then 0.6 s)."""


class CheckFailed(AssertionError):
    """A mixin's guarantee did not hold; the message says how."""


def expect(condition: bool, message: str) -> None:
    """Fail the check with ``message`` unless ``condition``."""
    if not condition:
        raise CheckFailed(message)


def _runtime(module: str) -> Any:
    return importlib.import_module(f"onex_runtime.{module}")


def _code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return str(getattr(code, "value", code)) if code is not None else type(exc).__name__


class TrialStore:
    """An in-memory record store that counts calls and can fail, lose acknowledgements or be slow."""

    def __init__(self) -> None:
        self.inner = _runtime("ports").InMemoryRecordStore()
        self.calls: dict[str, int] = {}
        self.fail_next: dict[str, list[BaseException]] = {}
        self.fail_always: dict[tuple[str, str], BaseException] = {}
        self.down: BaseException | None = None
        """When set, every call to every collection fails with it (the database is down)."""
        self.lose_ack: dict[str, int] = {}
        self.delay: dict[str, float] = {}

    def total_calls(self) -> int:
        """Every call made so far."""
        return sum(n for k, n in self.calls.items() if ":" not in k)

    async def _call(self, method: str, collection: str, *args: Any) -> Any:
        self.calls[method] = self.calls.get(method, 0) + 1
        self.calls[f"{method}:{collection}"] = self.calls.get(f"{method}:{collection}", 0) + 1
        if self.delay.get(method):
            await asyncio.sleep(self.delay[method])
        if self.down is not None:
            raise self.down
        queued = self.fail_next.get(method)
        if queued:
            raise queued.pop(0)
        if (method, collection) in self.fail_always:
            raise self.fail_always[(method, collection)]
        result = await getattr(self.inner, method)(collection, *args)
        if self.lose_ack.get(collection) and method == "insert":
            self.lose_ack[collection] -= 1
            raise _unavailable("acknowledgement lost")
        return result

    async def insert(self, collection: str, key: str, record: dict[str, Any]) -> None:
        """Insert (see :class:`InMemoryRecordStore`)."""
        await self._call("insert", collection, key, record)

    async def get(self, collection: str, key: str) -> dict[str, Any] | None:
        """Get."""
        result: dict[str, Any] | None = await self._call("get", collection, key)
        return result

    async def replace(self, collection: str, key: str, record: dict[str, Any]) -> None:
        """Replace."""
        await self._call("replace", collection, key, record)

    async def delete(self, collection: str, key: str) -> bool:
        """Delete."""
        return bool(await self._call("delete", collection, key))

    async def scan(self, collection: str) -> list[dict[str, Any]]:
        """Scan."""
        result: list[dict[str, Any]] = await self._call("scan", collection)
        return result

    def stored(self, collection: str, key: str) -> dict[str, Any] | None:
        """Return what is stored, without counting a call."""
        record: dict[str, Any] | None = self.inner._data.get(collection, {}).get(key)
        return record


def _unavailable(message: str) -> BaseException:
    errors = _runtime("errors")
    exc: BaseException = errors.OnexError(message, errors.ErrorCode.UNAVAILABLE)
    return exc


def _failed(message: str) -> BaseException:
    errors = _runtime("errors")
    exc: BaseException = errors.OnexError(message, errors.ErrorCode.OPERATION_FAILED)
    return exc


class Subject:
    """A generated node under trial, with its store and the operations checks use."""

    def __init__(self, node_class: type[Any], node_type: str, **settings: Any) -> None:
        self.node_type = node_type
        self.store = TrialStore()
        merged = {k: v for k, v in (TRIAL_SETTINGS | settings).items() if hasattr(node_class, k)}
        cls = type(node_class.__name__, (node_class,), merged)
        container = _runtime("container").Container()
        if node_type == "EFFECT":
            container.register(_runtime("ports").RECORD_STORE, self.store)
        self.node: Any = cls(container)
        self.module = sys.modules[node_class.__module__]

    def has(self, attribute: str) -> bool:
        """Whether the node has ``attribute`` (a mixin's API)."""
        return hasattr(self.node, attribute)

    async def _op(self, kind: str, name: str, record_id: str, call: Callable[[], Awaitable[Any]]) -> Any:
        operation = _runtime("node_base").Operation(kind, name, ENTITY, record_id)
        return await self.node._wrap_operation(operation, lambda: self.node._wrap_io(call))

    async def create(self, record_id: str, title: str = "first", *, key: str | None = None) -> None:
        """Create a record."""
        if self.node_type == "EFFECT":
            item = self.module.TrialItem(id=record_id, title=title, copies=1)
            await self.node.create_trial_item(item, idempotency_key=key)
            return
        data = {"id": record_id, "title": title, "copies": 1}
        await self._op("write", "create", record_id, lambda: self.store.insert(ENTITY, record_id, data))

    async def read(self, record_id: str) -> dict[str, Any]:
        """Read a record (NOT_FOUND if missing)."""
        if self.node_type == "EFFECT":
            found = await self.node.get_trial_item(record_id)
            result: dict[str, Any] = found.model_dump(mode="json")
            return result

        async def get() -> dict[str, Any]:
            data = await self.store.get(ENTITY, record_id)
            if data is None:
                errors = _runtime("errors")
                raise errors.OnexError(f"{record_id!r} not found", errors.ErrorCode.NOT_FOUND)
            return data

        data: dict[str, Any] = await self._op("read", "get", record_id, get)
        return data

    async def write(self, record_id: str, title: str) -> None:
        """Change a record's title."""
        if self.node_type == "EFFECT":
            await self.node.update_trial_item(record_id, self.module.TrialItemUpdate(title=title))
            return

        async def replace() -> None:
            await self.store.replace(ENTITY, record_id, {"id": record_id, "title": title, "copies": 1})

        await self._op("write", "update", record_id, replace)

    def stored(self, record_id: str) -> dict[str, Any] | None:
        """Return the record as stored."""
        return self.store.stored(ENTITY, record_id)


async def _fails(call: Awaitable[Any]) -> BaseException | None:
    try:
        await call
    except Exception as exc:
        return exc
    return None


def _anonymous() -> Any:
    return _runtime("mixins").Principal("anonymous", frozenset())


def _as(principal: Any) -> Any:
    return _runtime("mixins").acting_as(principal)


# --- the suites ------------------------------------------------------------------------------------------------


async def retry_transient_write(s: Subject) -> None:
    """Check that a write whose store call fails once with UNAVAILABLE is retried and succeeds."""
    await s.create("r1")
    s.store.fail_next["replace"] = [_unavailable("database restarting")]
    error = await _fails(s.write("r1", "second"))
    expect(error is None, f"the write failed with {_code(error) if error else ''} instead of being retried")
    expect((s.stored("r1") or {}).get("title") == "second", "the retried write did not store its change")


async def retry_create_once(s: Subject) -> None:
    """Check that a create whose acknowledgement is lost once is retried and creates exactly one record."""
    s.store.lose_ack[ENTITY] = 1
    error = await _fails(s.create("r1", key="k1"))
    expect(error is None, f"the create failed with {_code(error) if error else ''}")
    expect(len(s.store.inner._data.get(ENTITY, {})) == 1, "the retried create did not store exactly one record")


def _take_down(s: Subject) -> None:
    s.store.down = _unavailable("database down")  # every collection: the node's entities and its audit log


async def breaker_opens(s: Subject) -> None:
    """Check that after the threshold of failed calls, calls are refused without reaching the store."""
    await s.create("r1")
    _take_down(s)
    for _ in range(3):
        await _fails(s.write("r1", "x"))
    before = s.store.total_calls()
    error = await _fails(s.write("r1", "y"))
    expect(error is not None and _code(error) == "UNAVAILABLE", "an open breaker did not refuse the call")
    failing = sum(n for k, n in s.store.calls.items() if k.endswith(f":{ENTITY}")) - 2
    expect(failing <= 3, "the breaker let more failing calls through than its threshold")
    expect(s.store.total_calls() == before, "a call reached the store while the breaker was open")


async def breaker_fails_fast(s: Subject) -> None:
    """Check that an open breaker refuses at once."""
    await s.create("r1")
    _take_down(s)
    for _ in range(3):
        await _fails(s.write("r1", "x"))
    started = time.monotonic()
    await _fails(s.write("r1", "y"))
    expect(time.monotonic() - started < FAIL_FAST_S, "a call to an open breaker was not refused at once")


async def timeout_bounds_latency(s: Subject) -> None:
    """Check that a read from a store that hangs fails with TIMEOUT within the limit."""
    await s.create("r1")
    s.store.delay["get"] = 5.0
    started = time.monotonic()
    error = await _fails(s.read("r1"))
    elapsed = time.monotonic() - started
    expect(error is not None and _code(error) == "TIMEOUT", "a hanging call did not fail with TIMEOUT")
    limit = float(s.node.timeout_seconds)
    expect(elapsed < limit + FAIL_FAST_S, f"the caller waited well past the {limit} s limit for the TIMEOUT")


async def rate_limit_refuses(s: Subject) -> None:
    """Check that with a limit of 4 per window, the fifth operation is refused."""
    s.node.rate_limit = 4
    s.node.rate_window_seconds = 600.0
    await s.create("r1")
    for _ in range(3):
        await s.read("r1")
    error = await _fails(s.read("r1"))
    expect(error is not None and _code(error) == "UNAVAILABLE", "the operation past the limit was not refused")


async def security_refuses(s: Subject) -> None:
    """Check that an unauthorized caller is refused, is served nothing and writes nothing."""
    await s.create("r1")
    await s.read("r1")
    with _as(_anonymous()):
        read_error = await _fails(s.read("r1"))
        write_error = await _fails(s.write("r1", "stolen"))
    expect(read_error is not None and _code(read_error) == "FORBIDDEN", "an unauthorized caller was served a read")
    expect(write_error is not None and _code(write_error) == "FORBIDDEN", "an unauthorized write was not refused")
    expect((s.stored("r1") or {}).get("title") == "first", "an unauthorized write changed the record")


class _Item(BaseModel):
    title: str
    copies: int


async def validation_lists_problems(s: Subject) -> None:
    """Check that invalid input is VALIDATION_ERROR listing every invalid field."""
    error: BaseException | None = None
    try:
        s.node.validate_input(_Item, {"copies": "many"})
    except Exception as exc:
        error = exc
    expect(error is not None and _code(error) == "VALIDATION_ERROR", "invalid input was not refused")
    fields = sorted(p["field"] for p in getattr(error, "details", {}).get("errors", []))
    expect(fields == ["copies", "title"], f"the problems listed were {fields}, not copies and title")
    expect(s.node.validate_input(_Item, {"title": "t", "copies": 2}) == _Item(title="t", copies=2), "valid input")


async def _attempts(s: Subject) -> tuple[list[str], str]:
    """Run 20 operation attempts (a burst of reads, one anonymous, one of a missing record).

    Return what they were and the error code the caller got for the last one: ``NOT_FOUND``, or the refusal of
    a mixin that stopped it first (a rate limiter's ``RATE_LIMITED`` after the burst).
    """
    await s.create("r1")
    for _ in range(17):
        await _fails(s.read("r1"))
    with _as(_anonymous()):
        await _fails(s.read("r1"))
    last = await _fails(s.read("missing"))
    if last is None:
        raise CheckFailed("reading a missing record succeeded")
    return ["create"] + ["read"] * 19, _code(last)


async def audit_every_attempt(s: Subject) -> None:
    """Check that every operation attempt, whoever makes it and however it ends, has one audit entry."""
    attempts, last = await _attempts(s)
    entries = await s.node.audit_trail()
    expect(len(entries) == len(attempts), f"{len(attempts)} operation attempts left {len(entries)} audit entries")
    outcome = entries[-1]["outcome"]
    expect(outcome == last, f"the failed attempt's audit entry says {outcome}, not {last}")


async def audit_once_per_operation(s: Subject) -> None:
    """Check that an operation whose audit entry's acknowledgement is lost still has exactly one entry."""
    await s.create("r1")
    s.store.lose_ack[_runtime("mixins").AUDIT_COLLECTION] = 1
    await _fails(s.write("r1", "second"))
    entries = [e for e in await s.node.audit_trail() if e["kind"] == "write" and e["key"].endswith(":r1")]
    expect(len(entries) == 2, f"2 writes left {len(entries)} audit entries")


async def transaction_undoes(s: Subject) -> None:
    """Check that a write that fails part-way leaves nothing written."""
    s.store.fail_always[("insert", "idempotency_keys")] = _failed("disk full")
    error = await _fails(s.create("r1", key="k1"))
    expect(error is not None, "the create did not fail")
    expect(s.stored("r1") is None, "a failed create left its record written")


async def connection_pool_bounds(s: Subject) -> None:
    """Check that at most ``connection_pool_size`` outside calls run at once, and every call is served."""
    await s.create("r1")
    s.store.delay["get"] = 0.02
    results = await asyncio.gather(*(s.read("r1") for _ in range(5)), return_exceptions=True)
    stats = s.node.connection_stats()
    expect(all(not isinstance(r, BaseException) for r in results), "a call failed while waiting for a connection")
    expect(stats["peak"] <= s.node.connection_pool_size, f"{stats['peak']} connections were in use at once")


async def connection_stop_refuses(s: Subject) -> None:
    """Check that after ``stop()`` calls are refused at once, off the store, and ``start()`` serves again."""
    await s.create("r1")
    await s.read("r1")
    await s.node.stop()
    before = s.store.total_calls()
    started = time.monotonic()
    error = await _fails(s.read("r1"))
    elapsed = time.monotonic() - started
    expect(error is not None and _code(error) == "UNAVAILABLE", "an operation was served after stop()")
    expect(s.store.total_calls() == before, "a call reached the store after stop()")
    expect(elapsed < FAIL_FAST_S, "a call after stop() was not refused at once")
    await s.node.start()
    expect((await s.read("r1"))["title"] == "first", "start() did not serve again")


async def repository_round_trip(s: Subject) -> None:
    """Check that a repository saves, reads back, changes and finds records."""
    repo = s.node.repository(_Item, "item")
    await repo.save("a", _Item(title="a", copies=1))
    await repo.save("b", _Item(title="b", copies=2))
    expect(await repo.get("a") == _Item(title="a", copies=1), "a saved record did not read back")
    await repo.save("a", _Item(title="a", copies=2))
    expect(await repo.get("a") == _Item(title="a", copies=2), "a changed record read back unchanged")
    found = await repo.find(copies=2)
    expect([i.title for i in found] == ["a", "b"], f"find(copies=2) returned {[i.title for i in found]}")
    expect(await repo.remove("b") and await repo.get("b") is None, "a removed record is still there")


async def health_summarises(s: Subject) -> None:
    """Check that health is healthy, degraded or unhealthy from the registered checks."""

    async def ok() -> bool:
        return True

    async def broken() -> bool:
        raise ConnectionError("down")

    s.node.register_health_check("a", ok)
    expect((await s.node.health_check())["status"] == "healthy", "all checks pass but health is not healthy")
    s.node.register_health_check("b", broken)
    report = await s.node.health_check()
    expect(report == {"status": "degraded", "checks": {"a": True, "b": False}}, f"health reported {report}")


async def metrics_count_io(s: Subject) -> None:
    """Check that every outside call is counted and timed; a failed one is counted as an error."""
    await s.create("r1")
    await s.read("r1")
    s.store.fail_next["get"] = [_failed("disk error")]
    await _fails(s.read("r2"))
    snapshot = s.node.metrics_snapshot()
    calls = snapshot["counters"].get("io_calls", 0)
    expect(calls == s.store.total_calls(), f"{s.store.total_calls()} outside calls were counted as {calls}")
    expect(snapshot["counters"].get("io_errors", 0) == 1, "the failed call was not counted as an error")
    expect(snapshot["summaries"]["io_duration_ms"]["count"] == calls, "not every call was timed")


async def metrics_api(s: Subject) -> None:
    """Check that counters add up and observations are summarised."""
    s.node.increment("events")
    s.node.increment("events", 2)
    s.node.observe("size", 3.0)
    s.node.observe("size", 5.0)
    snapshot = s.node.metrics_snapshot()
    expect(snapshot["counters"] == {"events": 3}, f"counters are {snapshot['counters']}")
    expect(snapshot["summaries"]["size"]["mean"] == 4.0, "the mean of 3 and 5 is not 4")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _capture(s: Subject) -> tuple[logging.Logger, _Capture]:
    logger = logging.getLogger(f"onex.{s.node.node_name}")
    handler = _Capture()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return logger, handler


async def logging_every_operation(s: Subject) -> None:
    """Check that every operation attempt is logged once, with its outcome."""
    logger, handler = _capture(s)
    try:
        attempts, last = await _attempts(s)
    finally:
        logger.removeHandler(handler)
    ops = [r for r in handler.records if r.getMessage() == "operation"]
    expect(len(ops) == len(attempts), f"{len(attempts)} operation attempts were logged {len(ops)} times")
    logged = getattr(ops[-1], "metadata", {}).get("outcome")
    expect(logged == last, f"the failed attempt was logged with outcome {logged}, not {last}")


async def logging_api(s: Subject) -> None:
    """``log_event`` logs the message with its metadata."""
    logger, handler = _capture(s)
    try:
        s.node.log_event(logging.INFO, "hello", n=1)
    finally:
        logger.removeHandler(handler)
    expect(
        [(r.getMessage(), getattr(r, "metadata", None)) for r in handler.records] == [("hello", {"n": 1})], "log"
    )


async def events_per_write(s: Subject) -> None:
    """Check that every successful write emits one event; a failed one emits none."""
    got: list[str] = []

    async def handler(topic: str, payload: Any) -> None:
        got.append(f"{topic}:{payload['id']}")

    for topic in ("create", "update", "create_trial_item", "update_trial_item"):
        s.node.subscribe(f"{ENTITY}.{topic}", handler)
    await s.create("r1")
    await s.write("r1", "second")
    await _fails(s.write("missing", "x"))
    expect(len(got) == 2 and all(g.endswith(":r1") for g in got), f"two writes and a failed one emitted {got}")


async def events_api(s: Subject) -> None:
    """Check that subscribers of a topic get what is emitted on it."""
    got: list[Any] = []

    async def handler(topic: str, payload: Any) -> None:
        got.append((topic, payload))

    s.node.subscribe("t", handler)
    expect(await s.node.emit("t", {"n": 1}) == 1 and got == [("t", {"n": 1})], "an event was not delivered")


async def caching_fresh_after_update(s: Subject) -> None:
    """Check that a read after an update returns the updated data."""
    await s.create("r1")
    await s.read("r1")
    await s.write("r1", "second")
    expect((await s.read("r1"))["title"] == "second", "a read after an update returned stale data")


async def caching_serves_repeats(s: Subject) -> None:
    """Check that a repeated read is served from the cache."""
    await s.create("r1")
    await s.read("r1")
    before = s.store.calls.get(f"get:{ENTITY}", 0)
    await s.read("r1")
    expect(s.store.calls.get(f"get:{ENTITY}", 0) == before, "a repeated read went to the store again")


async def caching_memoize(s: Subject) -> None:
    """``memoize`` computes once per key until invalidated."""
    made: list[int] = []

    def make() -> int:
        made.append(1)
        return len(made)

    expect(s.node.memoize("k", make) == 1 and s.node.memoize("k", make) == 1, "memoize computed twice")
    s.node.invalidate_cache("k")
    expect(s.node.memoize("k", make) == 2, "an invalidated key was not computed again")


Check = Callable[[Subject], Awaitable[None]]
IO_TYPES = ("EFFECT", "ORCHESTRATOR")
ALL_TYPES = ("EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR")


@dataclass(frozen=True)
class _Entry:
    mixin: str
    name: str
    node_types: tuple[str, ...]
    check: Check


CHECKS: tuple[_Entry, ...] = (
    _Entry("MixinRetry", "retry: a transiently failing write is retried", IO_TYPES, retry_transient_write),
    _Entry(
        "MixinRetry", "retry: a create retried after a lost ack creates one record", ("EFFECT",), retry_create_once
    ),
    _Entry("MixinCircuitBreaker", "circuit breaker: opens and keeps calls off the store", IO_TYPES, breaker_opens),
    _Entry(
        "MixinCircuitBreaker", "circuit breaker: an open breaker refuses at once", IO_TYPES, breaker_fails_fast
    ),
    _Entry(
        "MixinTimeout",
        "timeout: a hanging call fails with TIMEOUT within the limit",
        IO_TYPES,
        timeout_bounds_latency,
    ),
    _Entry("MixinRateLimiter", "rate limiter: the call past the limit is refused", IO_TYPES, rate_limit_refuses),
    _Entry(
        "MixinSecurity",
        "security: an unauthorized caller is refused and writes nothing",
        IO_TYPES,
        security_refuses,
    ),
    _Entry(
        "MixinValidation", "validation: invalid input lists every problem", ALL_TYPES, validation_lists_problems
    ),
    _Entry("MixinAudit", "audit: every operation attempt has an audit entry", IO_TYPES, audit_every_attempt),
    _Entry(
        "MixinAudit", "audit: one entry per operation when an ack is lost", ("EFFECT",), audit_once_per_operation
    ),
    _Entry(
        "MixinTransaction", "transaction: a failed write leaves nothing written", ("EFFECT",), transaction_undoes
    ),
    _Entry("MixinConnection", "connection: the pool bounds concurrent calls", IO_TYPES, connection_pool_bounds),
    _Entry(
        "MixinConnection", "connection: after stop() calls are refused at once", IO_TYPES, connection_stop_refuses
    ),
    _Entry(
        "MixinRepository", "repository: saves, reads back and finds records", ("EFFECT",), repository_round_trip
    ),
    _Entry("MixinHealthCheck", "health check: summarises the registered checks", ALL_TYPES, health_summarises),
    _Entry("MixinMetrics", "metrics: every outside call is counted and timed", IO_TYPES, metrics_count_io),
    _Entry("MixinMetrics", "metrics: counters and summaries add up", ("COMPUTE", "REDUCER"), metrics_api),
    _Entry("MixinLogging", "logging: every operation attempt is logged once", IO_TYPES, logging_every_operation),
    _Entry("MixinLogging", "logging: log_event logs with metadata", ("COMPUTE", "REDUCER"), logging_api),
    _Entry("MixinEventBus", "event bus: every successful write emits one event", IO_TYPES, events_per_write),
    _Entry("MixinEventBus", "event bus: subscribers get what is emitted", ("REDUCER",), events_api),
    _Entry(
        "MixinCaching",
        "caching: a read after an update returns the updated data",
        ("EFFECT",),
        caching_fresh_after_update,
    ),
    _Entry(
        "MixinCaching", "caching: a repeated read is served from the cache", ("EFFECT",), caching_serves_repeats
    ),
    _Entry("MixinCaching", "caching: memoize computes once per key", ("COMPUTE",), caching_memoize),
)
"""Every check: its mixin, its name (the conflict reason's prefix), the node types it runs on, and the check."""


async def _run(check: Check, subject: Subject) -> None:
    await check(subject)


def checks_for(mixin: str, node_type: str) -> list[str]:
    """Return the names of ``mixin``'s checks that run on ``node_type`` nodes, in suite order."""
    return [e.name for e in CHECKS if e.mixin == mixin and node_type in e.node_types]


def run_check(name: str, node_class: type[Any], node_type: str) -> None:
    """Run the check ``name`` against a fresh ``node_class`` node; :class:`CheckFailed` when it does not hold.

    The check runs as a caller with every role (so an authorizing mixin lets the trial's own operations through).
    """
    entry = next(e for e in CHECKS if e.name == name)
    subject = Subject(node_class, node_type)
    trusted = _runtime("mixins").Principal("trial", TRUSTED_ROLES)
    with _as(trusted):
        asyncio.run(_run(entry.check, subject))
