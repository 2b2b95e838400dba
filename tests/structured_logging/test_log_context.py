"""log_context, async_log_context, LogContext and with_log_context: set, nest, restore."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import pytest

from agents.lib.log_context import (
    LogContext,
    async_log_context,
    clear_log_context,
    get_component,
    get_correlation_id,
    get_session_id,
    log_context,
    new_correlation_id,
    set_global_component,
    set_global_correlation_id,
    with_log_context,
)
from agents.lib.structured_logger import get_logger
from tests.structured_logging.conftest import CollectingSink


def test_log_context_sets_and_restores(sink: CollectingSink) -> None:
    logger = get_logger("ctx")
    with log_context(correlation_id="outer", session_id="s1", component="comp") as ctx:
        assert isinstance(ctx, LogContext)
        logger.info("inside")
    logger.info("after")
    inside, after = sink.records
    assert (inside["correlation_id"], inside["session_id"], inside["component"]) == (
        "outer",
        "s1",
        "comp",
    )
    assert (after["correlation_id"], after["session_id"], after["component"]) == (None, None, None)


def test_nesting_restores_outer_values_and_none_keeps_them() -> None:
    with log_context(correlation_id="a", session_id="s"):
        with log_context(correlation_id="b"):
            assert (get_correlation_id(), get_session_id()) == ("b", "s")
            with log_context(component="inner"):
                assert (get_correlation_id(), get_component()) == ("b", "inner")
            assert get_component() is None
        assert get_correlation_id() == "a"
    assert get_correlation_id() is None


def test_restored_when_the_block_raises() -> None:
    set_global_correlation_id("before")
    with pytest.raises(RuntimeError), log_context(correlation_id="during"):
        raise RuntimeError("x")
    assert get_correlation_id() == "before"


def test_uuid_ids_are_stored_as_text() -> None:
    cid = uuid4()
    with log_context(correlation_id=cid, session_id=7):
        assert get_correlation_id() == str(cid)
        assert get_session_id() == "7"


async def test_async_log_context_as_in_the_guide(sink: CollectingSink) -> None:
    logger = get_logger("guide")

    async def do_work() -> int:
        await asyncio.sleep(0)
        return 3

    async def process_request(request_id: str) -> None:
        async with async_log_context(correlation_id=request_id):
            logger.info("Processing request", metadata={"request": request_id})
            result = await do_work()
            logger.info("Request completed", metadata={"result": result})

    await asyncio.gather(process_request("r1"), process_request("r2"))
    logger.info("outside")
    pairs = [(r["message"], r["correlation_id"], r["metadata"]) for r in sink.records]
    assert sorted(pairs[:4], key=str) == sorted(
        [
            ("Processing request", "r1", {"request": "r1"}),
            ("Processing request", "r2", {"request": "r2"}),
            ("Request completed", "r1", {"result": 3}),
            ("Request completed", "r2", {"result": 3}),
        ],
        key=str,
    )
    assert pairs[4] == ("outside", None, {})


async def test_log_context_class_sync_and_async_and_reentrant() -> None:
    ctx = LogContext(correlation_id="c")
    async with ctx:
        assert get_correlation_id() == "c"
        with ctx:
            assert get_correlation_id() == "c"
        assert get_correlation_id() == "c"
    assert get_correlation_id() is None
    assert repr(ctx) == "LogContext(correlation_id='c', session_id=None, component=None)"


def test_with_log_context_keyword_and_positional() -> None:
    seen: list[tuple[str | None, str | None, str | None]] = []

    @with_log_context(component="api")
    def handle(payload: str, correlation_id: str | None = None, session_id: str | None = None) -> str:
        seen.append((get_correlation_id(), get_session_id(), get_component()))
        return payload.upper()

    assert handle("a", correlation_id="kw") == "A"
    assert handle("b", "pos", "sess") == "B"
    assert handle("c") == "C"
    assert seen == [("kw", None, "api"), ("pos", "sess", "api"), (None, None, "api")]
    assert get_component() is None
    assert handle.__name__ == "handle"


async def test_with_log_context_on_coroutines_and_bare() -> None:
    @with_log_context
    async def job(correlation_id: UUID) -> str | None:
        await asyncio.sleep(0)
        return get_correlation_id()

    cid = uuid4()
    assert await job(cid) == str(cid)
    assert get_correlation_id() is None


def test_with_log_context_generates_an_id_when_missing() -> None:
    @with_log_context(generate_correlation_id=True, correlation_id_arg="request_id")
    def run(request_id: str | None = None) -> str | None:
        return get_correlation_id()

    assert run("given") == "given"
    generated = run()
    assert generated is not None and str(UUID(generated)) == generated
    assert run() != generated


def test_new_correlation_id_and_clear() -> None:
    value = new_correlation_id()
    assert str(UUID(value)) == value
    set_global_correlation_id(value)
    set_global_component("x")
    clear_log_context()
    assert (get_correlation_id(), get_component(), get_session_id()) == (None, None, None)
