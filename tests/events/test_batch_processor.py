"""BatchProcessor: size and time triggers (injected clock), own lists, order, and errors that are never silent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agents.lib._events.clock import ManualClock
from agents.lib.batch_processor import BatchConfig, BatchProcessingError, BatchProcessor
from agents.lib.errors import OnexError
from agents.lib.structured_logger import MemorySink, add_sink, remove_sink


class Recorder:
    def __init__(self, clock: ManualClock | None = None) -> None:
        self.batches: list[list[int]] = []
        self.at: list[float] = []
        self.clock = clock

    async def __call__(self, events: list[int]) -> None:
        self.batches.append(events)
        if self.clock is not None:
            self.at.append(self.clock.monotonic())


async def test_a_full_batch_is_flushed_by_add_event() -> None:
    """The max_batch_size-th event flushes at once; add_event returns after the processor ran."""
    clock = ManualClock()
    seen = Recorder()
    processor: BatchProcessor[int] = BatchProcessor(
        seen, BatchConfig(max_batch_size=3, max_wait_ms=100), clock=clock
    )
    for i in range(7):
        await processor.add_event(i)
    assert seen.batches == [[0, 1, 2], [3, 4, 5]]
    assert processor.pending == 1
    stats = processor.stats()
    assert (stats.size_flushes, stats.timed_flushes, stats.batches, stats.events_processed) == (2, 0, 2, 6)
    await processor.cleanup()
    assert seen.batches[-1] == [6]


async def test_the_oldest_event_waits_max_wait_ms_and_the_timer_restarts_after_a_flush() -> None:
    """Timed flush exactly at max_wait_ms after the first event of a batch, not counted from later events."""
    clock = ManualClock(start=0.0)
    seen = Recorder(clock)
    processor: BatchProcessor[int] = BatchProcessor(
        seen, BatchConfig(max_batch_size=10, max_wait_ms=125), clock=clock
    )
    await processor.add_event(1)
    await clock.advance(0.0625)
    await processor.add_event(2)  # does not restart the timer
    await clock.advance(0.03125)
    await clock.advance(0.015625)  # 0.109375
    assert seen.batches == []
    await clock.advance(0.015625)  # 0.125: the first event has waited max_wait_ms
    assert seen.batches == [[1, 2]]
    assert seen.at == [0.125]
    await clock.advance(0.5)  # nothing pending: no timer, no flush
    assert seen.batches == [[1, 2]]
    await processor.add_event(3)  # a new batch: a new timer from now (0.625)
    await clock.advance(0.0625)
    assert len(seen.batches) == 1
    await clock.advance(0.0625)
    assert seen.batches == [[1, 2], [3]]
    assert seen.at[1] == 0.75
    assert processor.stats().timed_flushes == 2
    await processor.cleanup()


async def test_a_size_flush_cancels_the_timer_of_its_batch() -> None:
    """After a full batch is flushed, the old deadline does not flush the next batch early."""
    clock = ManualClock(start=0.0)
    seen = Recorder(clock)
    processor: BatchProcessor[int] = BatchProcessor(
        seen, BatchConfig(max_batch_size=2, max_wait_ms=125), clock=clock
    )
    await processor.add_event(1)
    await clock.advance(0.0625)
    await processor.add_event(2)  # full: flushed at 0.0625
    await processor.add_event(3)  # timer from 0.0625, deadline 0.1875
    await clock.advance(0.09375)  # 0.15625: the first batch's deadline (0.125) has passed, the second's not
    assert seen.batches == [[1, 2]]
    await clock.advance(0.03125)  # 0.1875
    assert seen.batches == [[1, 2], [3]]
    assert seen.at == [0.0625, 0.1875]
    await processor.cleanup()


async def test_events_beyond_a_full_batch_form_the_next_batch_with_their_own_deadline() -> None:
    """Events added while a flush runs are never put into an oversized batch; their wait counts from their arrival."""
    clock = ManualClock(start=0.0)
    release = asyncio.Event()
    batches: list[list[int]] = []

    async def gated(events: list[int]) -> None:
        batches.append(events)
        await release.wait()

    processor: BatchProcessor[int] = BatchProcessor(
        gated, BatchConfig(max_batch_size=2, max_wait_ms=125), clock=clock
    )
    first = asyncio.create_task(processor.add_event(0))
    adds = [asyncio.create_task(processor.add_event(i)) for i in range(1, 6)]
    await asyncio.sleep(0)
    assert batches == [[0, 1]]  # the flush of the first full batch is running
    release.set()
    await asyncio.gather(first, *adds)
    assert batches == [[0, 1], [2, 3], [4, 5]]
    assert processor.pending == 0
    await processor.cleanup()


async def test_the_processor_gets_a_list_of_its_own_in_order() -> None:
    """Changing the list the processor got changes nothing in the processor; batches run one at a time."""
    clock = ManualClock()
    kept: list[list[int]] = []
    running = 0
    overlap = False

    async def slow(events: list[int]) -> None:
        nonlocal running, overlap
        running += 1
        overlap = overlap or running > 1
        kept.append(events)
        await asyncio.sleep(0.01)
        events.append(-1)
        running -= 1

    processor: BatchProcessor[int] = BatchProcessor(
        slow, BatchConfig(max_batch_size=2, max_wait_ms=50), clock=clock
    )
    await asyncio.gather(*(processor.add_event(i) for i in range(6)))
    await processor.cleanup()
    assert [e[:-1] for e in kept] == [[0, 1], [2, 3], [4, 5]]
    assert not overlap
    assert processor.pending == 0


async def test_a_sync_processor_function_works_too() -> None:
    """A plain function is called like a coroutine function."""
    got: list[list[str]] = []
    processor: BatchProcessor[str] = BatchProcessor(got.append, BatchConfig(max_batch_size=2, max_wait_ms=10))
    await processor.add_event("a")
    await processor.add_event("b")
    await processor.add_event("c")
    assert await processor.flush() == 1
    assert got == [["a", "b"], ["c"]]
    await processor.cleanup()


async def test_an_error_in_a_timed_flush_goes_to_on_error_and_is_logged_and_counted() -> None:
    """The failing batch's events reach the error callback with the exception; the log says so."""
    clock = ManualClock()
    handed: list[tuple[list[int], str]] = []

    async def failing(events: list[int]) -> None:
        raise ConnectionError("kafka down")

    async def on_error(events: list[int], exc: BaseException) -> None:
        handed.append((events, str(exc)))

    sink = MemorySink()
    add_sink(sink)
    try:
        processor: BatchProcessor[int] = BatchProcessor(
            failing, BatchConfig(max_batch_size=10, max_wait_ms=20), on_error=on_error, clock=clock
        )
        await processor.add_event(1)
        await processor.add_event(2)
        await clock.advance(0.02)
    finally:
        remove_sink(sink)
    assert handed == [([1, 2], "kafka down")]
    stats = processor.stats()
    assert (stats.errors, stats.batches, stats.last_error) == (1, 0, "ConnectionError: kafka down")
    lines = [r for r in sink.records if r["message"] == "Batch processing failed"]
    assert [line["metadata"]["events"] for line in lines] == [2]
    assert lines[0]["level"] == "ERROR" and lines[0]["metadata"]["timed"] is True
    await processor.add_event(3)  # the processor keeps working
    with pytest.raises(ConnectionError, match="kafka down"):  # cleanup's flush is explicit: it raises
        await processor.cleanup()
    assert handed[-1] == ([3], "kafka down")


async def test_without_on_error_a_timed_failure_is_raised_by_the_next_call() -> None:
    """Nobody awaits a timed flush: its failure (with the events) is raised by the next add_event, flush or cleanup."""
    clock = ManualClock()
    calls: list[list[int]] = []

    async def failing_once(events: list[int]) -> None:
        calls.append(events)
        if len(calls) <= 2:
            raise ValueError(f"bad batch {len(calls)}")

    processor: BatchProcessor[int] = BatchProcessor(
        failing_once, BatchConfig(max_batch_size=10, max_wait_ms=10), clock=clock
    )
    await processor.add_event(1)
    await clock.advance(0.01)
    await clock.advance(0.0)
    with pytest.raises(BatchProcessingError) as info:
        await processor.add_event(2)
    assert info.value.events == [1]
    assert isinstance(info.value.cause, ValueError)
    await processor.add_event(3)
    await clock.advance(0.01)
    with pytest.raises(BatchProcessingError) as second:
        await processor.cleanup()
    assert second.value.events == [3]
    assert calls == [[1], [3]]


async def test_an_explicit_flush_raises_the_processors_error() -> None:
    """flush() raises what the processor raised, after handing the events to on_error."""
    handed: list[list[int]] = []

    def failing(events: list[int]) -> Any:
        raise RuntimeError("nope")

    processor: BatchProcessor[int] = BatchProcessor(
        failing, BatchConfig(max_batch_size=5, max_wait_ms=1000), on_error=lambda ev, exc: handed.append(ev)
    )
    await processor.add_event(1)
    with pytest.raises(RuntimeError, match="nope"):
        await processor.flush()
    assert handed == [[1]]
    assert processor.stats().errors == 1
    await processor.cleanup()


async def test_cleanup_flushes_and_closes() -> None:
    """cleanup() processes what is pending and refuses new events; a second cleanup does nothing."""
    seen = Recorder()
    async with BatchProcessor(seen, BatchConfig(max_batch_size=100, max_wait_ms=10_000)) as processor:
        for i in range(3):
            await processor.add_event(i)
    assert seen.batches == [[0, 1, 2]]
    with pytest.raises(OnexError, match="closed"):
        await processor.add_event(9)
    await processor.cleanup()
    assert seen.batches == [[0, 1, 2]]


def test_batch_config_is_validated() -> None:
    """Sizes are integers >= 1, waits are > 0; the defaults are the guide's."""
    for bad in ({"max_batch_size": 0}, {"max_batch_size": 2.5}, {"max_wait_ms": 0}):
        with pytest.raises(OnexError):
            BatchConfig(**bad)  # type: ignore[arg-type]
    assert BatchConfig() == BatchConfig(max_batch_size=10, max_wait_ms=100)
