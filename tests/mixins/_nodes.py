"""Small nodes for the runtime mixin tests: an EFFECT over a record store whose operations go through the hooks."""

from __future__ import annotations

from typing import Any

from agents.lib.codegen.runtime.container import Container
from agents.lib.codegen.runtime.errors import ErrorCode, OnexError
from agents.lib.codegen.runtime.node_base import NodeEffect, Operation
from agents.lib.codegen.runtime.ports import RECORD_STORE, InMemoryRecordStore


class FlakyStore(InMemoryRecordStore):
    """A record store that fails the next ``failures`` calls with ``code`` and counts calls."""

    def __init__(self, failures: int = 0, code: ErrorCode = ErrorCode.UNAVAILABLE) -> None:
        super().__init__()
        self.failures, self.code, self.calls = failures, code, 0

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise OnexError("store down", self.code)

    async def insert(self, collection: str, key: str, record: dict[str, Any]) -> None:
        self._maybe_fail()
        await super().insert(collection, key, record)

    async def get(self, collection: str, key: str) -> dict[str, Any] | None:
        self._maybe_fail()
        return await super().get(collection, key)

    async def replace(self, collection: str, key: str, record: dict[str, Any]) -> None:
        self._maybe_fail()
        await super().replace(collection, key, record)


class Items(NodeEffect):
    """Reads and writes items; each operation through ``_wrap_operation``, each store call through ``_wrap_io``."""

    def __init__(self, store: InMemoryRecordStore | None = None) -> None:
        container = Container()
        container.register(RECORD_STORE, store if store is not None else InMemoryRecordStore())
        super().__init__(container)
        self._record_store = container.resolve(RECORD_STORE)

    async def put(self, key: str, value: str) -> None:
        async def run() -> None:
            if await self._wrap_io(lambda: self._record_store.get("item", key)) is None:
                await self._wrap_io(lambda: self._record_store.insert("item", key, {"value": value}))
            else:
                await self._wrap_io(lambda: self._record_store.replace("item", key, {"value": value}))

        await self._wrap_operation(Operation("write", "put", "item", key), run)

    async def get(self, key: str) -> str:
        async def run() -> str:
            data = await self._wrap_io(lambda: self._record_store.get("item", key))
            if data is None:
                raise OnexError(f"{key} not found", ErrorCode.NOT_FOUND)
            return str(data["value"])

        return await self._wrap_operation(Operation("read", "get", "item", key), run)
