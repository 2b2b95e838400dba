"""StructuredLogger: the JSON line, ids, levels, metadata encoding, routing and stdlib integration."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from uuid import UUID, uuid4

import orjson
import pydantic
import pytest

from agents.lib.log_context import async_log_context, log_context
from agents.lib.log_rotation import RotatingJsonFileHandler
from agents.lib.structured_logger import (
    JsonFormatter,
    StreamSink,
    StructuredHandler,
    add_sink,
    configure_logging,
    encode_record,
    get_correlation_id,
    get_log_level,
    get_logger,
    get_session_id,
    remove_sink,
    set_global_correlation_id,
    set_global_session_id,
)
from tests.structured_logging.conftest import CollectingSink

KEYS = [
    "timestamp",
    "level",
    "logger_name",
    "message",
    "correlation_id",
    "session_id",
    "component",
    "metadata",
]


def test_line_has_every_field_in_order(sink: CollectingSink) -> None:
    logger = get_logger("svc.worker", component="codegen-workflow")
    cid = uuid4()
    logger.set_correlation_id(cid)
    logger.set_session_id("s-1")
    logger.info("Task started", metadata={"task_id": "123", "node_type": "EFFECT"})
    assert len(sink.raw) == 1
    assert sink.raw[0].endswith(b"\n") and sink.raw[0].count(b"\n") == 1
    record = sink.records[0]
    assert list(record) == KEYS
    assert record["level"] == "INFO"
    assert record["logger_name"] == "svc.worker"
    assert record["message"] == "Task started"
    assert record["correlation_id"] == str(cid)
    assert record["session_id"] == "s-1"
    assert record["component"] == "codegen-workflow"
    assert record["metadata"] == {"task_id": "123", "node_type": "EFFECT"}


def test_timestamp_is_iso_utc_of_the_record(sink: CollectingSink) -> None:
    before = datetime.now(UTC)
    get_logger("t").info("x")
    after = datetime.now(UTC)
    stamp = sink.records[0]["timestamp"]
    assert stamp.endswith("Z")
    parsed = datetime.fromisoformat(stamp)
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)
    assert before - timedelta(microseconds=1) <= parsed <= after + timedelta(microseconds=1)


def test_each_level_and_filtering(sink: CollectingSink) -> None:
    logger = get_logger("levels")
    logger.debug("d")
    logger.info("i")
    logger.warning("w")
    logger.error("e")
    logger.critical("c")
    assert [(r["level"], r["message"]) for r in sink.records] == [
        ("INFO", "i"),
        ("WARNING", "w"),
        ("ERROR", "e"),
        ("CRITICAL", "c"),
    ]


def test_set_level_per_logger_and_globally(sink: CollectingSink) -> None:
    quiet = get_logger("quiet")
    loud = get_logger("loud")
    quiet.set_level("ERROR")
    configure_logging(level="DEBUG")
    quiet.warning("hidden")
    loud.debug("shown")
    quiet.error("shown too")
    assert sink.messages == ["shown", "shown too"]
    assert quiet.is_enabled_for("WARNING") is False
    assert loud.is_enabled_for(logging.DEBUG) is True
    quiet.set_level(None)
    assert quiet.level == logging.DEBUG


def test_log_level_comes_from_environment(sink: CollectingSink, monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.lib.config import reset_settings
    from agents.lib.structured_logger import reset_logging

    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    reset_settings()
    reset_logging()
    add_sink(sink)
    logger = get_logger("env")
    logger.info("no")
    logger.warning("yes")
    assert sink.messages == ["yes"]
    assert get_log_level() == logging.WARNING


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        get_logger("x").set_level("LOUD")


def test_ids_on_one_logger_never_change_another(sink: CollectingSink) -> None:
    first = get_logger("same.name", component="a")
    second = get_logger("same.name", component="b")
    first.set_correlation_id("cid-1")
    first.set_session_id("sid-1")
    first.set_component("changed")
    second.info("from second")
    first.info("from first")
    second_record, first_record = sink.records
    assert (second_record["correlation_id"], second_record["session_id"]) == (None, None)
    assert second_record["component"] == "b"
    assert (first_record["correlation_id"], first_record["session_id"]) == ("cid-1", "sid-1")
    assert first_record["component"] == "changed"


def test_global_correlation_id_reaches_every_logger(sink: CollectingSink) -> None:
    cid = uuid4()
    set_global_correlation_id(cid)
    set_global_session_id("session-9")
    get_logger("one").info("a")
    get_logger("two").info("b")
    assert [r["correlation_id"] for r in sink.records] == [str(cid), str(cid)]
    assert [r["session_id"] for r in sink.records] == ["session-9", "session-9"]
    assert get_correlation_id() == str(cid)
    assert get_session_id() == "session-9"


def test_precedence_block_then_own_then_ambient(sink: CollectingSink) -> None:
    logger = get_logger("prio")
    set_global_correlation_id("ambient")
    logger.info("ambient only")
    logger.set_correlation_id("own")
    logger.info("own beats ambient")
    with log_context(correlation_id="block"):
        logger.info("block beats own")
        assert logger.get_correlation_id() == "block"
    logger.set_correlation_id(None)
    logger.info("back to ambient")
    assert [r["correlation_id"] for r in sink.records] == ["ambient", "own", "block", "ambient"]


def test_global_correlation_id_reaches_threads_executors_and_run_in_executor(tmp_path: Path) -> None:
    """The guide's "Global Context": set once, every thread's lines carry it (read back from the JSON file)."""
    handler = RotatingJsonFileHandler(tmp_path / "workflow.log")
    add_sink(handler)
    cid = uuid4()
    set_global_correlation_id(cid)
    set_global_session_id("session-g")

    def work(label: str) -> str | None:
        get_logger(f"worker.{label}", component="w").info(label)
        return get_correlation_id()

    thread = threading.Thread(target=work, args=("thread",))
    thread.start()
    thread.join()
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(work, ["pool-1", "pool-2"])) == [str(cid), str(cid)]

    async def main() -> str | None:
        loop = asyncio.get_running_loop()
        seen = await loop.run_in_executor(None, work, "run_in_executor")
        await asyncio.create_task(asyncio.to_thread(work, "to_thread"))
        return seen

    assert asyncio.run(main()) == str(cid)
    handler.close()
    records = [orjson.loads(line) for line in (tmp_path / "workflow.log").read_bytes().splitlines()]
    assert sorted(r["message"] for r in records) == sorted(
        ["thread", "pool-1", "pool-2", "run_in_executor", "to_thread"]
    )
    assert {r["correlation_id"] for r in records} == {str(cid)}
    assert {r["session_id"] for r in records} == {"session-g"}


def test_global_id_changes_are_seen_by_running_threads(sink: CollectingSink) -> None:
    logger = get_logger("live")
    set_global_correlation_id("first")
    ready, go, done = threading.Event(), threading.Event(), threading.Event()

    def work() -> None:
        logger.info("before")
        ready.set()
        go.wait(10)
        logger.info("after")
        done.set()

    thread = threading.Thread(target=work)
    thread.start()
    ready.wait(10)
    set_global_correlation_id("second")
    go.set()
    thread.join(10)
    assert [(r["message"], r["correlation_id"]) for r in sink.records] == [
        ("before", "first"),
        ("after", "second"),
    ]


def test_in_a_thread_block_beats_logger_own_beats_global(sink: CollectingSink) -> None:
    set_global_correlation_id("global")
    own = get_logger("own")
    own.set_correlation_id("own")
    plain = get_logger("plain")
    barrier = threading.Barrier(2)

    def blocked(n: int) -> None:
        with log_context(correlation_id=f"block-{n}"):
            barrier.wait(10)  # both threads are inside their blocks at once
            own.info(f"own in block {n}")
            plain.info(f"plain in block {n}")
            barrier.wait(10)
        own.info(f"own after block {n}")
        plain.info(f"plain after block {n}")

    threads = [threading.Thread(target=blocked, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    plain.info("main")
    by_message = {r["message"]: r["correlation_id"] for r in sink.records}
    assert by_message == {
        "own in block 0": "block-0",
        "plain in block 0": "block-0",
        "own in block 1": "block-1",
        "plain in block 1": "block-1",
        "own after block 0": "own",
        "plain after block 0": "global",
        "own after block 1": "own",
        "plain after block 1": "global",
        "main": "global",
    }


async def test_asyncio_tasks_see_the_global_id_and_blocks_do_not_leak(sink: CollectingSink) -> None:
    logger = get_logger("tasks")
    started = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        set_global_correlation_id("global-from-task")
        async with async_log_context(correlation_id="block-1"):
            started.set()
            await release.wait()
            logger.info("first")

    async def second() -> None:
        await started.wait()
        logger.info("second")
        release.set()

    await asyncio.gather(first(), second())
    logger.info("parent")
    by_message = {r["message"]: r["correlation_id"] for r in sink.records}
    assert by_message == {"second": "global-from-task", "first": "block-1", "parent": "global-from-task"}


# --- metadata that JSON cannot encode ---


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Model(pydantic.BaseModel):
    name: str
    at: datetime


class Colour(Enum):
    RED = "red"


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque thing>"


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_metadata_of_every_awkward_type_keeps_the_line(sink: CollectingSink) -> None:
    uid = UUID("550e8400-e29b-41d4-a716-446655440000")
    when = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)
    get_logger("meta").info(
        "awkward",
        metadata={
            "uuid": uid,
            "datetime": when,
            "date": date(2025, 1, 15),
            "path": Path("/var/log/agents"),
            "decimal": Decimal("12.50"),
            "set": {3, 1, 2},
            "frozenset": frozenset({"b", "a"}),
            "dataclass": Point(1, 2),
            "model": Model(name="m", at=when),
            "enum": Colour.RED,
            "bytes": b"ab\xff",
            "timedelta": timedelta(seconds=1.5),
            "object": Opaque(),
            "tuple": (1, "two"),
        },
    )
    metadata = sink.records[0]["metadata"]
    assert metadata == {
        "uuid": "550e8400-e29b-41d4-a716-446655440000",
        "datetime": "2025-01-15T09:30:00+00:00",
        "date": "2025-01-15",
        "path": "/var/log/agents",
        "decimal": "12.50",
        "set": [1, 2, 3],
        "frozenset": ["a", "b"],
        "dataclass": {"x": 1, "y": 2},
        "model": {"name": "m", "at": "2025-01-15T09:30:00Z"},
        "enum": "red",
        "bytes": "ab\\xff",
        "timedelta": 1.5,
        "object": "<Opaque thing>",
        "tuple": [1, "two"],
    }


def test_metadata_orjson_refuses_still_keeps_the_line(sink: CollectingSink) -> None:
    circular: dict[str, object] = {"name": "loop"}
    circular["self"] = circular
    when = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)
    get_logger("meta").info(
        "bad \ud800 text",
        metadata={
            "huge": 2**80,
            "circular": circular,
            "when": when,
            (1, 2): "tuple key",
            7: "int key",
            "broken": BrokenRepr(),
        },
    )
    record = sink.records[0]
    assert record["message"] == "bad \\ud800 text"
    metadata = record["metadata"]
    assert metadata["huge"] == str(2**80)
    assert metadata["circular"]["name"] == "loop"
    assert metadata["circular"]["self"].startswith("{'name': 'loop'")
    assert metadata["when"] == "2025-01-15T09:30:00+00:00"
    assert metadata["(1, 2)"] == "tuple key"
    assert metadata["7"] == "int key"
    assert metadata["broken"] == "<BrokenRepr object (repr failed: RuntimeError)>"


def test_encode_record_never_raises() -> None:
    line = encode_record({"a": {1, 2}, "b": object.__new__(BrokenRepr)})
    assert orjson.loads(line) == {
        "a": [1, 2],
        "b": "<BrokenRepr object (repr failed: RuntimeError)>",
    }


# --- exceptions ---


def test_exception_fields(sink: CollectingSink) -> None:
    logger = get_logger("exc")
    try:
        raise ValueError("bad input 42")
    except ValueError as exc:
        logger.error("Validation failed", metadata={"operation": "validate_input"}, exc_info=exc)
    record = sink.records[0]
    assert record["exception"]["type"] == "ValueError"
    assert record["exception"]["message"] == "bad input 42"
    assert record["exception"]["traceback"].startswith("Traceback (most recent call last):")
    assert 'raise ValueError("bad input 42")' in record["exception"]["traceback"]
    assert record["metadata"] == {"operation": "validate_input"}


def test_exc_info_true_and_exception_method(sink: CollectingSink) -> None:
    logger = get_logger("exc")
    try:
        {}["missing"]
    except KeyError:
        logger.critical("crit", exc_info=True)
        logger.exception("err")
    logger.error("no exception", exc_info=True)
    records = sink.records
    assert [r["exception"]["type"] for r in records[:2]] == ["KeyError", "KeyError"]
    assert records[1]["level"] == "ERROR"
    assert "exception" not in records[2]


# --- routing ---


def test_sinks_by_logger_prefix(sink: CollectingSink) -> None:
    from agents.lib.structured_logger import add_sink

    workflow = CollectingSink()
    add_sink(workflow, "workflow")
    get_logger("workflow").info("a")
    get_logger("workflow.phase").info("b")
    get_logger("workflowish").info("c")
    get_logger("other").info("d")
    assert workflow.messages == ["a", "b"]
    assert sink.messages == ["a", "b", "c", "d"]
    assert remove_sink(workflow) is True
    assert remove_sink(workflow) is False
    get_logger("workflow").info("e")
    assert workflow.messages == ["a", "b"]


def test_without_sinks_lines_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    get_logger("fallback", component="c").warning("to stderr", metadata={"n": 1})
    err = capsys.readouterr().err
    record = orjson.loads(err)
    assert (record["message"], record["component"], record["metadata"]) == (
        "to stderr",
        "c",
        {"n": 1},
    )


def test_configure_logging_stream_adds_and_removes() -> None:
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    get_logger("s").info("one")
    configure_logging(stream=None)
    get_logger("s").info("two")
    lines = buffer.getvalue().splitlines()
    assert [orjson.loads(line)["message"] for line in lines] == ["one"]


def test_stream_sink_on_binary_stream() -> None:
    buffer = io.BytesIO()
    StreamSink(buffer).write_line(b'{"a":1}\n')
    assert buffer.getvalue() == b'{"a":1}\n'


def test_add_sink_rejects_objects_without_write_line() -> None:
    from agents.lib.structured_logger import add_sink

    with pytest.raises(TypeError, match="has no write_line"):
        add_sink(object())  # type: ignore[arg-type]


# --- stdlib ---


def test_json_formatter_gives_stdlib_records_the_same_format() -> None:
    record = logging.LogRecord("lib.mod", logging.WARNING, __file__, 10, "disk %s%%", (91,), None)
    record.metadata = {"disk": "/"}
    record.user = "alice"
    with log_context(correlation_id="ctx-7", session_id="s", component="stdlib"):
        line = JsonFormatter().format(record)
    parsed = orjson.loads(line)
    assert list(parsed) == KEYS
    assert parsed["message"] == "disk 91%"
    assert parsed["level"] == "WARNING"
    assert parsed["logger_name"] == "lib.mod"
    assert (parsed["correlation_id"], parsed["session_id"], parsed["component"]) == (
        "ctx-7",
        "s",
        "stdlib",
    )
    assert parsed["metadata"] == {"disk": "/", "user": "alice"}
    assert parsed["timestamp"] == datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_json_formatter_exception_and_bad_format_args() -> None:
    try:
        raise OSError("disk full")
    except OSError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    parsed = orjson.loads(JsonFormatter().format(record))
    assert parsed["exception"]["type"] == "OSError"
    bad = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("many",), None)
    assert "formatting failed" in orjson.loads(JsonFormatter().format(bad))["message"]


def test_capture_stdlib_routes_records_to_sinks(sink: CollectingSink) -> None:
    configure_logging(capture_stdlib=True)
    root = logging.getLogger()
    assert sum(isinstance(h, StructuredHandler) for h in root.handlers) == 1
    configure_logging(capture_stdlib=True)
    assert sum(isinstance(h, StructuredHandler) for h in root.handlers) == 1
    stdlib_logger = logging.getLogger("third.party")
    stdlib_logger.warning("from stdlib %s", "lib", extra={"metadata": {"k": "v"}})
    configure_logging(capture_stdlib=False)
    stdlib_logger.warning("not captured")
    assert [(r["logger_name"], r["message"], r["metadata"]) for r in sink.records] == [
        ("third.party", "from stdlib lib", {"k": "v"})
    ]
    assert not any(isinstance(h, StructuredHandler) for h in root.handlers)


def test_memory_sink_keeps_lines_in_order_and_clears() -> None:
    from agents.lib.structured_logger import MemorySink, add_sink, get_logger, remove_sink

    memory = MemorySink()
    add_sink(memory, "memtest")
    try:
        log = get_logger("memtest.part")
        log.info("one", metadata={"n": 1})
        log.warning("two")
        get_logger("elsewhere").info("not routed here")
        assert memory.messages == ["one", "two"]
        assert memory.records[0]["metadata"] == {"n": 1}
        assert repr(memory) == "MemorySink(2 lines)"
        memory.clear()
        assert memory.records == []
    finally:
        remove_sink(memory)


def test_numbers_of_subclasses_of_float_and_int_stay_numbers(sink: CollectingSink) -> None:
    """A float subclass (the template cache's time_saved_ms) and an int subclass are logged as JSON numbers."""

    class Ms(float):
        pass

    class Count(int):
        pass

    get_logger("meta").info("cache", metadata={"time_saved_ms": Ms(0.0123), "hits": Count(7)})
    metadata = sink.records[0]["metadata"]
    assert metadata == {"time_saved_ms": 0.0123, "hits": 7}
    assert type(metadata["time_saved_ms"]) is float
