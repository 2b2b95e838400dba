"""Caching, transactions, the connection pool and repositories do their job on a node."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from agents.lib.codegen.runtime.errors import ErrorCode, OnexError
from agents.lib.codegen.runtime.mixins import MixinCaching, MixinConnection, MixinRepository, MixinTransaction
from agents.lib.codegen.runtime.node_base import Operation

from ._nodes import FlakyStore, Items


class Cached(MixinCaching, Items):
    pass


async def test_caching_serves_repeated_reads_and_forgets_on_write() -> None:
    store = FlakyStore()
    node = Cached(store)
    await node.put("a", "1")
    assert await node.get("a") == "1"
    calls = store.calls
    assert await node.get("a") == "1"
    assert store.calls == calls
    await node.put("a", "2")
    assert await node.get("a") == "2"


def test_memoize_computes_once_per_key() -> None:
    node = Cached()
    made: list[int] = []
    assert node.memoize("k", lambda: made.append(1) or len(made)) == 1
    assert node.memoize("k", lambda: made.append(1) or len(made)) == 1
    node.invalidate_cache(prefix="k")
    assert node.memoize("k", lambda: made.append(1) or len(made)) == 2


class Transactional(MixinTransaction, Items):
    async def put_two(self, first: str, second: str) -> None:
        async def run() -> None:
            await self._wrap_io(lambda: self._record_store.insert("item", first, {"value": "1"}))
            await self._wrap_io(lambda: self._record_store.replace("item", "kept", {"value": "changed"}))
            await self._wrap_io(lambda: self._record_store.insert("item", second, {"value": "2"}))

        await self._wrap_operation(Operation("write", "put_two", "item", first), run)


async def test_transaction_undoes_every_write_of_a_failed_operation() -> None:
    node = Transactional()
    await node.put("kept", "original")
    await node.put("taken", "x")
    with pytest.raises(OnexError) as caught:
        await node.put_two("new", "taken")  # the second insert is a CONFLICT
    assert caught.value.code is ErrorCode.CONFLICT
    assert await node.get("kept") == "original"
    with pytest.raises(OnexError):
        await node.get("new")
    await node.put_two("new", "other")
    assert await node.get("kept") == "changed"


class Pooled(MixinConnection, Items):
    connection_pool_size = 2


class SlowStore(FlakyStore):
    async def get(self, collection: str, key: str) -> dict[str, Any] | None:
        await asyncio.sleep(0.01)
        return await super().get(collection, key)


async def test_connection_pool_bounds_calls_and_follows_its_lifecycle() -> None:
    store = SlowStore()
    node = Pooled(store)
    await node.put("a", "1")
    assert await asyncio.gather(*(node.get("a") for _ in range(6))) == ["1"] * 6
    assert node.connection_stats() == {"state": "open", "in_use": 0, "peak": 2, "opened": 1}
    await node.stop()
    calls = store.calls
    with pytest.raises(OnexError) as caught:
        await node.get("a")
    assert caught.value.details == {"reason": "closed"}
    assert store.calls == calls
    await node.start()
    assert await node.get("a") == "1"
    assert node.connection_stats()["opened"] == 2


class Book(BaseModel):
    title: str
    copies: int


class Stored(MixinRepository, Items):
    pass


async def test_repository_saves_gets_finds_and_removes() -> None:
    repo = Stored().repository(Book, "book")
    await repo.save("b1", Book(title="Dune", copies=1))
    await repo.save("b2", Book(title="Emma", copies=2))
    await repo.save("b1", Book(title="Dune", copies=2))
    assert await repo.get("b1") == Book(title="Dune", copies=2)
    assert [b.title for b in await repo.find(copies=2)] == ["Dune", "Emma"]
    assert await repo.remove("b2") is True
    assert await repo.get("b2") is None
    assert await repo.remove("b2") is False
