"""Data mixins: a cache, transactions over the record store, a connection pool, typed repositories.

The catalogue and the wrapping order are in :mod:`.mixins`; the hook and trait vocabularies in :mod:`.mixin_info`.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from .errors import ErrorCode, OnexError
from .mixin_info import MixinInfo
from .node_base import IOWrapper, Operation

__all__ = ["MixinCaching", "MixinConnection", "MixinRepository", "MixinTransaction", "Repository"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Undo = Callable[[], Awaitable[Any]]


class MixinCaching(IOWrapper):
    """Caches results by key for ``cache_ttl_seconds``, at most ``cache_max_entries`` (least recent go first).

    Every read operation of the node is served from the cache while its entry is fresh; a successful write
    forgets every entry of the entity it wrote. ``cached`` (async) and ``memoize`` (sync) cache anything else.
    """

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="data",
        capabilities=("caching", "cache", "memoization"),
        hooks=("read", "write"),
        modifies_state=True,
        resource_intensive=True,
        external_dependencies=(),
        node_types=("EFFECT", "COMPUTE"),
        traits=("short_circuits", "serves_stored_results", "invalidates_on_write"),
    )
    cache_ttl_seconds: ClassVar[float] = 60.0
    cache_max_entries: ClassVar[int] = 1024

    def _now(self) -> float:
        return time.monotonic()

    def _cache_entries(self) -> OrderedDict[str, tuple[float, Any]]:
        cache: OrderedDict[str, tuple[float, Any]] | None = self.__dict__.get("_mixin_cache")
        if cache is None:
            cache = OrderedDict()
            self.__dict__["_mixin_cache"] = cache
        return cache

    def _cache_lookup(self, key: str) -> tuple[bool, Any]:
        cache = self._cache_entries()
        entry = cache.get(key)
        if entry is not None and self._now() - entry[0] < self.cache_ttl_seconds:
            cache.move_to_end(key)
            return True, entry[1]
        return False, None

    def _cache_put(self, key: str, value: Any) -> None:
        cache = self._cache_entries()
        cache[key] = (self._now(), value)
        cache.move_to_end(key)
        while len(cache) > self.cache_max_entries:
            cache.popitem(last=False)

    async def cached(self, key: str, factory: Callable[[], Awaitable[T]]) -> T:
        """Return the cached value of ``key``, or compute it with ``factory`` and cache it."""
        hit, value = self._cache_lookup(key)
        if hit:
            stored: T = value
            return stored
        result = await factory()
        self._cache_put(key, result)
        return result

    def memoize(self, key: str, factory: Callable[[], T]) -> T:
        """Return the cached value of ``key``, or compute it with ``factory`` (synchronously) and cache it."""
        hit, value = self._cache_lookup(key)
        if hit:
            stored: T = value
            return stored
        result = factory()
        self._cache_put(key, result)
        return result

    def invalidate_cache(self, key: str | None = None, *, prefix: str | None = None) -> None:
        """Forget one key, every key starting with ``prefix``, or (neither given) everything."""
        cache = self._cache_entries()
        if key is None and prefix is None:
            cache.clear()
            return
        if key is not None:
            cache.pop(key, None)
        if prefix is not None:
            for stale in [k for k in cache if k.startswith(prefix)]:
                del cache[stale]

    async def _wrap_operation(self, operation: Operation, call: Callable[[], Awaitable[T]]) -> T:
        if operation.kind == "read":
            return await self.cached(
                f"{operation.key}:{operation.name}",
                lambda: super(MixinCaching, self)._wrap_operation(operation, call),
            )
        result = await super()._wrap_operation(operation, call)
        self.invalidate_cache(prefix=f"{operation.entity}:")
        return result


_JOURNAL: contextvars.ContextVar[tuple[int, list[Undo]] | None] = contextvars.ContextVar(
    "onex_transaction_journal", default=None
)


class _UndoingStore:
    """A record store that notes how to undo each write it passes on."""

    def __init__(self, store: Any, journal: list[Undo]) -> None:
        self._store = store
        self._journal = journal

    async def insert(self, collection: str, key: str, record: dict[str, Any]) -> None:
        await self._store.insert(collection, key, record)
        self._journal.append(lambda: self._store.delete(collection, key))

    async def replace(self, collection: str, key: str, record: dict[str, Any]) -> None:
        old = await self._store.get(collection, key)
        await self._store.replace(collection, key, record)
        if old is not None:
            self._journal.append(lambda: self._store.replace(collection, key, old))

    async def delete(self, collection: str, key: str) -> bool:
        old = await self._store.get(collection, key)
        existed: bool = await self._store.delete(collection, key)
        if existed and old is not None:
            self._journal.append(lambda: self._store.insert(collection, key, old))
        return existed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class MixinTransaction(IOWrapper):
    """Runs each write operation as a unit: when it fails, the record store writes it made are undone.

    The node's ``_record_store`` is seen through a journal while a write runs; on failure the journal's undo
    steps (delete what was inserted, put back what was replaced or deleted) run newest first.
    """

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="data",
        capabilities=("transaction", "transactions", "unit_of_work", "atomicity"),
        hooks=("write",),
        modifies_state=False,
        resource_intensive=False,
        external_dependencies=("record_store",),
        node_types=("EFFECT",),
        traits=("compensates_writes",),
    )

    @property
    def _record_store(self) -> Any:
        store = self.__dict__.get("_mixin_raw_record_store")
        if store is None:
            raise AttributeError("_record_store")
        active = _JOURNAL.get()
        if active is not None and active[0] == id(self):
            return _UndoingStore(store, active[1])
        return store

    @_record_store.setter
    def _record_store(self, store: Any) -> None:
        self.__dict__["_mixin_raw_record_store"] = store

    async def _wrap_operation(self, operation: Operation, call: Callable[[], Awaitable[T]]) -> T:
        if operation.kind != "write" or _JOURNAL.get() is not None:
            return await super()._wrap_operation(operation, call)
        journal: list[Undo] = []
        token = _JOURNAL.set((id(self), journal))
        try:
            result = await super()._wrap_operation(operation, call)
        except BaseException:
            _JOURNAL.reset(token)
            for undo in reversed(journal):
                await undo()
            raise
        _JOURNAL.reset(token)
        return result


class MixinConnection(IOWrapper):
    """A pool of ``connection_pool_size`` connections: each outside call holds one while it runs.

    The pool opens on first use or ``await start()``; after ``await stop()`` every outside call is refused
    (UNAVAILABLE, ``details["reason"] == "closed"``) until ``start()``. ``connection_stats()`` reports it.
    """

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="data",
        capabilities=("connection", "connection_pool", "pooling", "lifecycle"),
        hooks=("wrap_io", "startup", "shutdown"),
        modifies_state=True,
        resource_intensive=True,
        external_dependencies=(),
        node_types=("EFFECT", "ORCHESTRATOR"),
        traits=("limits_calls", "short_circuits", "refuses_calls", "bounds_wait"),
    )
    connection_pool_size: ClassVar[int] = 10

    def _pool(self) -> dict[str, Any]:
        pool: dict[str, Any] | None = self.__dict__.get("_mixin_pool")
        if pool is None:
            pool = {"state": "new", "in_use": 0, "peak": 0, "opened": 0, "slots": None}
            self.__dict__["_mixin_pool"] = pool
        return pool

    async def start(self) -> None:
        """Open the pool (again)."""
        pool = self._pool()
        if pool["state"] != "open":
            pool["state"], pool["slots"] = "open", asyncio.Semaphore(self.connection_pool_size)
            pool["opened"] += 1

    async def stop(self) -> None:
        """Close the pool: calls after this are refused until ``start()``."""
        self._pool()["state"] = "closed"

    def connection_stats(self) -> dict[str, Any]:
        """Return the pool's state (``new``, ``open``, ``closed``), connections in use, the peak, opens so far."""
        pool = self._pool()
        return {k: pool[k] for k in ("state", "in_use", "peak", "opened")}

    async def _wrap_io(self, call: Callable[[], Awaitable[T]]) -> T:
        pool = self._pool()
        if pool["state"] == "new":
            await self.start()
        if pool["state"] != "open":
            raise OnexError("the connection pool is closed", ErrorCode.UNAVAILABLE, {"reason": "closed"})
        async with pool["slots"]:
            pool["in_use"] += 1
            pool["peak"] = max(pool["peak"], pool["in_use"])
            try:
                return await super()._wrap_io(call)
            finally:
                pool["in_use"] -= 1


class Repository(Generic[M]):
    """Typed access to one collection of the node's record store; each call is an operation of the node."""

    def __init__(self, node: IOWrapper, store: Any, model: type[M], collection: str) -> None:
        self._node, self._store, self.model, self.collection = node, store, model, collection

    async def get(self, record_id: str) -> M | None:
        """Return the record with this id, or None."""
        operation = Operation("read", f"{self.collection}.get", self.collection, record_id)

        async def run() -> M | None:
            data = await self._node._wrap_io(lambda: self._store.get(self.collection, record_id))
            return None if data is None else self.model.model_validate(data)

        return await self._node._wrap_operation(operation, run)

    async def save(self, record_id: str, record: M) -> M:
        """Insert or replace the record with this id; return it."""
        operation = Operation("write", f"{self.collection}.save", self.collection, record_id)
        data = record.model_dump(mode="json", by_alias=True)

        async def run() -> M:
            if await self._node._wrap_io(lambda: self._store.get(self.collection, record_id)) is None:
                await self._node._wrap_io(lambda: self._store.insert(self.collection, record_id, data))
            else:
                await self._node._wrap_io(lambda: self._store.replace(self.collection, record_id, data))
            return record

        return await self._node._wrap_operation(operation, run)

    async def remove(self, record_id: str) -> bool:
        """Delete the record with this id; return whether it existed."""
        operation = Operation("write", f"{self.collection}.remove", self.collection, record_id)

        async def run() -> bool:
            existed: bool = await self._node._wrap_io(lambda: self._store.delete(self.collection, record_id))
            return existed

        return await self._node._wrap_operation(operation, run)

    async def find(self, **equal: Any) -> list[M]:
        """Return the records whose fields equal the given values, ordered by id."""
        operation = Operation("read", f"{self.collection}.find", self.collection, "")

        async def run() -> list[M]:
            rows = await self._node._wrap_io(lambda: self._store.scan(self.collection))
            return [self.model.model_validate(r) for r in rows if all(r.get(k) == v for k, v in equal.items())]

        return await self._node._wrap_operation(operation, run)


class MixinRepository(IOWrapper):
    """Typed repositories over the record store: ``self.repository(Book, "book")`` -> get/save/remove/find."""

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="data",
        capabilities=("repository", "data_access", "persistence"),
        hooks=("read", "write"),
        modifies_state=False,
        resource_intensive=False,
        external_dependencies=("record_store",),
        node_types=("EFFECT",),
        traits=(),
    )

    def repository(self, model: type[M], collection: str) -> Repository[M]:
        """Return the repository of ``model`` records in ``collection``."""
        store = getattr(self, "_record_store", None)
        if store is None:
            raise OnexError("this node has no record store", ErrorCode.NOT_FOUND, {"port": "record_store"})
        return Repository(self, _Live(self), model, collection)


class _Live:
    """The node's record store as it is at each call (inside a transaction: the journalled one)."""

    def __init__(self, node: object) -> None:
        self._node = node

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node._record_store, name)  # type: ignore[attr-defined]
