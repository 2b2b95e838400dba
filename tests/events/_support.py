"""Helpers of the event tests: consumers that read real topics, and a log capture."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from agents.lib.codegen_events import event_id_of


@dataclass(frozen=True)
class Record:
    """One consumed message."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]

    @property
    def event_id(self) -> str | None:
        return self.headers["event_id"].decode() if "event_id" in self.headers else None


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"agents-events-test-{time.monotonic_ns()}",
            "enable.auto.commit": False,
        }
    )


def _assign_from_start(consumer: Consumer, topic: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        metadata = consumer.list_topics(topic, timeout=5)
        info = metadata.topics.get(topic)
        if info is not None and info.error is None and info.partitions:
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(info.partitions)])
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"topic {topic} did not appear within {timeout} s")
        time.sleep(0.1)


def _record(message: object) -> Record:
    headers = {name: value or b"" for name, value in (message.headers() or [])}  # type: ignore[attr-defined]
    return Record(
        message.partition(),  # type: ignore[attr-defined]
        message.offset(),  # type: ignore[attr-defined]
        message.key(),  # type: ignore[attr-defined]
        message.value() or b"",  # type: ignore[attr-defined]
        headers,
    )


def consume(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[Record]:
    """Every message of ``topic`` from the beginning (with headers), until ``expected`` or ``timeout``."""
    consumer = _consumer(bootstrap)
    try:
        _assign_from_start(consumer, topic, timeout)
        out: list[Record] = []
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.2):
                if message.error() is None:
                    out.append(_record(message))
        return out
    finally:
        consumer.close()


async def aconsume(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[Record]:
    """:func:`consume` on a thread, so the test's event loop (relay, producers) keeps running meanwhile."""
    return await asyncio.to_thread(consume, bootstrap, topic, expected, timeout)


class TopicCollector(threading.Thread):
    """Reads a topic from its beginning on a thread until stopped; each record is read once (one assignment)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True, name=f"collector-{topic}")
        self.bootstrap = bootstrap
        self.topic = topic
        self.records: list[Record] = []
        self.error: BaseException | None = None
        self._stop_flag = threading.Event()

    def run(self) -> None:
        consumer = _consumer(self.bootstrap)
        try:
            _assign_from_start(consumer, self.topic, 60.0)
            while not self._stop_flag.is_set():
                for message in consumer.consume(1000, 0.1):
                    if message.error() is None:
                        self.records.append(_record(message))
        except BaseException as exc:
            self.error = exc
        finally:
            consumer.close()

    def ids(self) -> list[str | None]:
        return [r.event_id for r in list(self.records)]

    def wait_for(self, ids: set[str], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ids <= set(self.ids()):
                return
            if self.error is not None:
                raise AssertionError(f"the collector failed: {self.error!r}")
            time.sleep(0.05)
        missing = len(ids - set(self.ids()))
        raise AssertionError(f"{missing} of {len(ids)} events did not arrive on {self.topic} in {timeout} s")

    def stop(self) -> None:
        self._stop_flag.set()
        self.join(30)


def event_ids(records: list[Record]) -> list[str | None]:
    """The ``event_id`` header of each record."""
    return [event_id_of(list(r.headers.items())) for r in records]
