"""A pool of confluent-kafka producers that asyncio code can await: :class:`ProducerPool`.

Messages at or above the compression threshold go to producers with ``compression.type`` set to the codec,
smaller ones to uncompressed producers; within a class a message's key picks the producer (``crc32(key) % n``),
so messages with one key keep their order. Producers are created on first use, at most ``pool_size`` per class.

Each producer has a thread that polls it, so delivery reports are served while the event loop keeps
producing; a send's future resolves (through ``call_soon_threadsafe``) once every message of the send has its
report. Every producer is idempotent with ``acks=all``.

Outages: when librdkafka reports that all brokers are down, messages still queued (never sent, so not on the
broker) are purged at once, which fails them fast instead of after ``message.timeout.ms``; messages in flight
wait for their report. A producer that saw an outage is replaced by a fresh one the next time it is idle, and a
producer in a fatal state (an idempotence error after a broker lost its state) is replaced at once; the old one
is polled until its last report, then dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from confluent_kafka import KafkaError, KafkaException, Producer

from agents.lib.errors import OnexError
from agents.lib.structured_logger import get_logger

__all__ = [
    "CODECS",
    "PERMANENT_ERRORS",
    "Delivery",
    "DeliveryFailure",
    "Outgoing",
    "ProducerPool",
    "is_availability_error",
]

_log = get_logger("agents.lib.event_optimizer", component="events")

CODECS: tuple[str, ...] = ("zstd", "lz4", "gzip", "snappy")
"""Compression codecs a compressing producer can use."""

PERMANENT_ERRORS: frozenset[str] = frozenset(
    {
        "MSG_SIZE_TOO_LARGE",
        "_MSG_SIZE_TOO_LARGE",
        "INVALID_RECORD",
        "CORRUPT_MESSAGE",
        "RECORD_LIST_TOO_LARGE",
        "INVALID_TOPIC_EXCEPTION",
        "TOPIC_AUTHORIZATION_FAILED",
        "_INVALID_ARG",
        "_UNKNOWN_TOPIC",
        "UNKNOWN_TOPIC_OR_PART",
        "_UNKNOWN_PARTITION",
        "_BAD_MSG",
        "_KEY_SERIALIZATION",
        "_VALUE_SERIALIZATION",
        "VALIDATION_ERROR",
    }
)
"""Delivery errors that retrying cannot fix: the message (or its topic) is refused, the broker is fine."""

T = TypeVar("T")

_POLL_S = 0.05
_SERVE_EVERY = 1000
_YIELD_EVERY = 2000


def is_availability_error(code: str) -> bool:
    """Whether a delivery error means the broker is unreachable or unhealthy (not the message's fault)."""
    return code not in PERMANENT_ERRORS


class Outgoing(NamedTuple):
    """One message to produce."""

    topic: str
    value: bytes
    key: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    """A message of a send that was not acknowledged: its index in the send, the error name and text."""

    index: int
    code: str
    message: str

    @property
    def availability(self) -> bool:
        """True when the broker was unreachable or unhealthy (retry later), False when the message was refused."""
        return is_availability_error(self.code)


@dataclass(slots=True)
class Delivery:
    """What a send got back: its failures (empty when all were acknowledged), and where the last one landed."""

    sent: int
    failures: list[DeliveryFailure] = field(default_factory=list)
    partition: int | None = None
    offset: int | None = None

    @property
    def ok(self) -> bool:
        """Whether every message was acknowledged."""
        return not self.failures


class _Tracker:
    """Counts the delivery reports of one send on one producer (called on that producer's poll thread).

    One bound method serves every message of the send: a callable per message would cost an allocation each
    (and the garbage collector's attention); a failed message is matched back to its index by its content.
    """

    __slots__ = ("done", "expected", "failures", "future", "last", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.expected = -1
        self.done = 0
        self.failures: list[tuple[KafkaError, Any]] = []
        self.last: Any = None

    def report(self, err: KafkaError | None, msg: Any) -> None:
        if err is None:
            self.last = msg
        else:
            self.failures.append((err, msg))
        self.done += 1
        if self.done == self.expected:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                self.loop.call_soon_threadsafe(self.finish)

    def seal(self, produced: int) -> None:
        """Set how many reports to wait for, once every message is handed over (on the loop thread)."""
        self.expected = produced
        if self.done == produced:
            self.finish()

    def finish(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class _Entry:
    """The messages of one send that went to one producer."""

    __slots__ = ("callback", "compressed", "handle", "indices", "produce", "tracker")

    def __init__(self, handle: _Handle, tracker: _Tracker, compressed: bool) -> None:
        self.handle = handle
        self.tracker = tracker
        self.compressed = compressed
        self.produce = handle.producer.produce
        self.callback = tracker.report
        self.indices: list[int] = []


class _KafkaLog:
    """Receives librdkafka's log lines (on the poll thread) and passes them to the structured log at DEBUG."""

    def __init__(self, name: str) -> None:
        self.name = name

    def log(self, level: int, fmt: str, *args: Any) -> None:
        try:
            text = fmt % args
        except (TypeError, ValueError):
            text = " ".join(str(a) for a in (fmt, *args))
        _log.debug("librdkafka", metadata={"producer": self.name, "level": level, "line": text[:500]})


class _Handle:
    """One producer and the thread that polls it."""

    def __init__(self, config: Mapping[str, Any], name: str) -> None:
        self.name = name
        self.down = False
        self.had_outage = False
        self.fatal = False
        self.retiring = False
        self._purge = False
        self._producing = 0
        self._polling = threading.Lock()  # held while a thread is inside poll(): one thread serves reports
        self._may_poll = threading.Event()
        self._may_poll.set()
        self._stop = threading.Event()
        self._flush_timeout = 0.0
        conf = dict(config)
        conf["client.id"] = name
        conf["error_cb"] = self._on_error
        conf["logger"] = _KafkaLog(name)
        self.producer = Producer(conf)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def __len__(self) -> int:
        return len(self.producer)

    def _on_error(self, err: KafkaError) -> None:
        code = err.code()
        if err.fatal():
            self.fatal = True
            _log.warning("Kafka producer is in a fatal state; replacing it", metadata={"error": err.str()})
        if code == KafkaError._ALL_BROKERS_DOWN:
            if not self.down:
                _log.warning("All Kafka brokers are down", metadata={"producer": self.name})
            self.down = self.had_outage = True
            self._purge = True
        elif self.down and code in (KafkaError._TRANSPORT, KafkaError._RESOLVE):
            self._purge = True

    def _run(self) -> None:
        poll = self.producer.poll
        may_poll = self._may_poll.wait
        try:
            while not self._stop.is_set():
                may_poll()
                try:
                    with self._polling:
                        poll(_POLL_S)
                except Exception as exc:  # a callback raised, or the producer is fatal: keep serving reports
                    _log.warning(
                        "Kafka producer poll failed", metadata={"producer": self.name, "error": repr(exc)}
                    )
                if self._purge:
                    self._purge = False
                    self._purge_queue(in_flight=False)
                if self.retiring and len(self.producer) == 0:
                    return
            remaining = self.producer.flush(self._flush_timeout)
            if remaining:
                self._purge_queue(in_flight=True)
                self.producer.flush(1.0)
        except Exception as exc:
            _log.warning("Kafka producer flush failed", metadata={"producer": self.name, "error": repr(exc)})
        finally:
            self._close()

    def _close(self) -> None:
        """Destroy the librdkafka handle now (its threads and sockets), not whenever the object is collected."""
        try:
            self.producer.close()
        except Exception as exc:
            _log.debug("Kafka producer close failed", metadata={"producer": self.name, "error": repr(exc)})

    def _purge_queue(self, *, in_flight: bool) -> None:
        try:
            self.producer.purge(in_queue=True, in_flight=in_flight, blocking=False)
        except Exception as exc:
            _log.debug("Kafka purge failed", metadata={"producer": self.name, "error": repr(exc)})

    def serve(self) -> None:
        """Serve the delivery reports waiting now, on the calling thread, unless the poll thread is serving."""
        if self._polling.acquire(blocking=False):
            try:
                self.producer.poll(0)
            except Exception as exc:
                _log.warning("Kafka producer poll failed", metadata={"producer": self.name, "error": repr(exc)})
            finally:
                self._polling.release()

    def pause(self) -> None:
        """Park the poll thread while the loop thread produces (which serves the reports itself, see serve)."""
        self._producing += 1
        self._may_poll.clear()

    def resume(self) -> None:
        """Let the poll thread serve delivery reports again once no send is producing."""
        self._producing -= 1
        if self._producing <= 0:
            self._producing = 0
            self._may_poll.set()

    def stop(self, flush_timeout: float) -> None:
        """Ask the poll thread to flush (up to ``flush_timeout``), fail what is left, and end."""
        self._flush_timeout = max(flush_timeout, 0.0)
        self._stop.set()
        self._may_poll.set()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)


def _local_error(handle: _Handle, exc: KafkaException) -> tuple[str, str]:
    """``(code, text)`` of a message librdkafka refused in ``produce()``; a fatal one marks the producer."""
    err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    if err is None:
        return ("_FAIL", str(exc))
    if err.fatal() or err.code() == KafkaError._FATAL:
        handle.fatal = True
        return ("_FATAL", err.str())
    return (err.name(), err.str())


class ProducerPool:
    """Producers by compression class and key; see the module docstring."""

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        pool_size: int,
        codec: str | None,
        threshold_bytes: int,
        delivery_timeout_s: float,
        name: str = "agents-events",
    ) -> None:
        self._config = dict(config)
        self._pool_size = pool_size
        self._codec = codec
        self._threshold = threshold_bytes if codec is not None else None
        self._delivery_timeout_s = delivery_timeout_s
        self._name = name
        self._slots: dict[tuple[bool, int], _Handle] = {}
        self._retired: list[_Handle] = []
        self._created = 0
        self._closed = False
        self.sent = {"plain": 0, "compressed": 0}

    @property
    def producers(self) -> int:
        """Producers alive in the pool now."""
        return len(self._slots)

    @property
    def created(self) -> int:
        """Producers created so far (replacements included)."""
        return self._created

    def outstanding(self) -> int:
        """Messages handed to producers and not yet reported."""
        return sum(len(h) for h in (*self._slots.values(), *self._retired))

    def compressed(self, value: bytes) -> bool:
        """Whether a message value of this size goes to a compressing producer."""
        return self._threshold is not None and len(value) >= self._threshold

    def _new(self, compressed: bool, index: int) -> _Handle:
        config = dict(self._config)
        config["compression.type"] = self._codec if compressed and self._codec else "none"
        self._created += 1
        kind = "z" if compressed else "p"
        return _Handle(config, f"{self._name}-{kind}{index}-{self._created}")

    def _handle(self, compressed: bool, index: int) -> _Handle:
        slot = (compressed, index)
        handle = self._slots.get(slot)
        if handle is not None and (handle.fatal or (handle.had_outage and len(handle) == 0)):
            self._retire(handle)
            handle = None
        if handle is None:
            handle = self._slots[slot] = self._new(compressed, index)
        return handle

    def _retire(self, handle: _Handle) -> None:
        handle.retiring = True
        self._retired.append(handle)
        self._retired = [h for h in self._retired if h.thread.is_alive()]

    async def send(self, items: Sequence[T], encode: Callable[[T], Outgoing]) -> Delivery:
        """Produce ``encode(item)`` for each item and wait for every report; never raises for delivery failures.

        Messages are encoded as they are produced and not kept (keeping thousands of containers alive costs the
        garbage collector more than encoding): a failed one is found again by encoding its item again, so
        ``encode`` must be deterministic. An item ``encode`` refuses (:class:`OnexError`) is a failure of its own.
        """
        if self._closed:
            raise RuntimeError("the producer pool is closed")
        loop = asyncio.get_running_loop()
        entries: list[_Entry] = []
        pool_size = self._pool_size
        current: list[_Entry | None] = [None] * (2 * pool_size)  # plain producers, then compressing ones
        delivery = Delivery(sent=len(items))
        threshold = self._threshold
        try:
            # the hot loop: one produce() call per message and as little else as possible
            for index, item in enumerate(items):
                try:
                    message = encode(item)
                except OnexError as exc:
                    delivery.failures.append(DeliveryFailure(index, exc.code.value, exc.message))
                    continue
                topic, value, key, headers = message
                compressed = threshold is not None and len(value) >= threshold
                number = 0 if pool_size == 1 or key is None else zlib.crc32(key) % pool_size
                if compressed:
                    number += pool_size
                entry = current[number]
                if entry is None:
                    entry = current[number] = self._entry((compressed, number % pool_size), loop)
                    entries.append(entry)
                try:
                    entry.produce(topic, value=value, key=key, headers=headers, on_delivery=entry.callback)  # type: ignore[arg-type]
                except BufferError:
                    error = await self._produce(entry, index, message)
                except KafkaException as exc:
                    error = _local_error(entry.handle, exc)
                else:
                    entry.indices.append(index)
                    error = None
                if error is not None and error[0] == "_FATAL":
                    # the producer turned fatal before this message reached it: a fresh one can send it
                    slot = (compressed, number % pool_size)
                    self._slots.pop(slot, None)
                    self._retire(entry.handle)
                    entry = current[number] = self._entry(slot, loop)
                    entries.append(entry)
                    error = await self._produce(entry, index, message)
                if error is not None:
                    delivery.failures.append(DeliveryFailure(index, *error))
                if index % _SERVE_EVERY == _SERVE_EVERY - 1:
                    for entry in entries:  # reports that came back meanwhile, like a plain producer loop does
                        entry.handle.serve()
                    if index % _YIELD_EVERY == _YIELD_EVERY - 1:
                        await asyncio.sleep(0)
        finally:
            for entry in entries:  # the poll threads serve the reports from here on
                entry.handle.resume()
                kind = "compressed" if entry.compressed else "plain"
                self.sent[kind] += len(entry.indices)
        for entry in entries:
            entry.tracker.seal(len(entry.indices))
        await self._wait(entries)
        failed = [entry for entry in entries if entry.tracker.failures]
        if failed:
            delivery.failures.extend(self._failures(items, encode, failed))
        for entry in entries:
            if entry.tracker.last is not None:
                delivery.partition, delivery.offset = entry.tracker.last.partition(), entry.tracker.last.offset()
        if len(delivery.failures) > 1:
            delivery.failures.sort(key=lambda f: f.index)
        return delivery

    @staticmethod
    def _failures(
        items: Sequence[T], encode: Callable[[T], Outgoing], entries: list[_Entry]
    ) -> list[DeliveryFailure]:
        """Match failed reports back to the items they were for (by topic, key and value)."""
        positions: dict[tuple[str, bytes | None, bytes], list[int]] = {}
        for entry in entries:
            for index in entry.indices:
                m = encode(items[index])
                positions.setdefault((m.topic, m.key, m.value), []).append(index)
        out: list[DeliveryFailure] = []
        for entry in entries:
            for err, msg in entry.tracker.failures:
                if msg is None:  # no report at all (see _wait): every message of the entry not matched yet
                    matched = {f.index for f in out}
                    unmatched = [i for i in entry.indices if i not in matched]
                    out.extend(DeliveryFailure(i, err.name(), err.str()) for i in unmatched)
                    continue
                slots = positions.get((msg.topic(), msg.key(), msg.value() or b""))
                if slots:
                    out.append(DeliveryFailure(slots.pop(0), err.name(), err.str()))
        return out

    def _entry(self, slot: tuple[bool, int], loop: asyncio.AbstractEventLoop) -> _Entry:
        entry = _Entry(self._handle(*slot), _Tracker(loop), slot[0])
        entry.handle.pause()
        return entry

    async def _produce(self, entry: _Entry, index: int, message: Outgoing) -> tuple[str, str] | None:
        """Hand one message over, waiting while the producer's queue is full (its reports must be served)."""
        handle = entry.handle
        while True:
            try:
                handle.producer.produce(
                    message.topic,
                    value=message.value,
                    key=message.key,
                    headers=message.headers,  # type: ignore[arg-type]  # list is invariant; bytes values are fine
                    on_delivery=entry.callback,
                )
                entry.indices.append(index)
                return None
            except BufferError:  # the producer's queue is full: let the poll thread drain it
                handle.resume()
                try:
                    await asyncio.sleep(0.005)
                finally:
                    handle.pause()
            except KafkaException as exc:
                return _local_error(handle, exc)

    async def _wait(self, entries: list[_Entry]) -> None:
        futures = [entry.tracker.future for entry in entries]
        if not futures:
            return
        # librdkafka reports every message within message.timeout.ms; the margin only guards against a hang
        _, pending = await asyncio.wait(futures, timeout=self._delivery_timeout_s + 15.0)
        if not pending:
            return
        _log.error("Kafka delivery reports are overdue; purging", metadata={"sends": len(pending)})
        for entry in entries:
            if not entry.tracker.future.done():
                entry.handle._purge_queue(in_flight=True)  # purged messages are reported as failed
        await asyncio.wait(pending, timeout=5.0)
        for entry in entries:
            tracker = entry.tracker
            if not tracker.future.done():  # still nothing: count the entry's unreported messages as failed
                tracker.failures.append((KafkaError(KafkaError._TIMED_OUT, "no delivery report"), None))
                tracker.finish()

    async def close(self, timeout_s: float) -> None:
        """Flush every producer (up to ``timeout_s``), fail what is left, stop the poll threads."""
        if self._closed:
            return
        self._closed = True
        handles = [*self._slots.values(), *self._retired]
        self._slots.clear()
        self._retired.clear()
        for handle in handles:
            handle.stop(timeout_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s + 5.0
        for handle in handles:
            while handle.thread.is_alive() and loop.time() < deadline:
                await asyncio.sleep(0.01)
