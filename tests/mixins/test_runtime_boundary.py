"""Validation, authorization and the event bus do their job on a node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import BaseModel

from agents.lib.codegen.runtime.errors import ErrorCode, OnexError
from agents.lib.codegen.runtime.mixins import MixinEventBus, MixinSecurity, MixinValidation, Principal, acting_as

from ._nodes import FlakyStore, Items


class Book(BaseModel):
    title: str
    copies: int


class Validating(MixinValidation, Items):
    pass


def test_validation_lists_every_invalid_field() -> None:
    with pytest.raises(OnexError) as caught:
        Validating().validate_input(Book, {"copies": "many"})
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert [p["field"] for p in caught.value.details["errors"]] == ["title", "copies"]
    assert Validating().validate_input(Book, {"title": "Dune", "copies": 1}) == Book(title="Dune", copies=1)


class Secured(MixinSecurity, Items):
    pass


async def test_security_refuses_callers_without_the_role_and_runs_nothing() -> None:
    store = FlakyStore()
    node = Secured(store)
    with acting_as(Principal("ada", frozenset({"reader", "writer"}))):
        await node.put("a", "1")
    calls = store.calls
    with pytest.raises(OnexError) as anonymous:
        await node.get("a")
    with acting_as(Principal("bob", frozenset({"reader"}))):
        assert await node.get("a") == "1"
        with pytest.raises(OnexError) as reader:
            await node.put("a", "2")
    assert anonymous.value.code is ErrorCode.FORBIDDEN and reader.value.code is ErrorCode.FORBIDDEN
    assert reader.value.details == {"operation": "put", "role": "writer"}
    assert store.calls == calls + 1  # only bob's read ran


class Eventful(MixinEventBus, Items):
    pass


async def test_event_bus_emits_one_event_per_successful_write() -> None:
    node = Eventful()
    got: list[tuple[str, Mapping[str, Any]]] = []

    async def handler(topic: str, payload: Mapping[str, Any]) -> None:
        got.append((topic, payload))

    node.subscribe("item.put", handler)
    await node.put("a", "1")
    with pytest.raises(OnexError):
        await node.get("missing")
    assert got == [("item.put", {"id": "a"})]
    assert await node.emit("other", {}) == 0
