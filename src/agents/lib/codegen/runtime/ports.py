"""Ports: the only way nodes reach external systems, each with an in-memory reference adapter.

A port is a :class:`typing.Protocol`; production code registers an adapter for the real system (PostgreSQL,
Redis, Kafka, an HTTP API...) in the :class:`~.container.Container`; tests register the in-memory adapters here.
:func:`guarded` puts a :class:`CircuitBreaker` of its own in front of one port, so one failing system does not
stop the calls to the others. The ORCHESTRATOR keeps its runs in a :class:`RunJournalPort`.
"""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from .container import ServiceKey
from .errors import ErrorCode, OnexError

__all__ = [
    "BLOB_STORE",
    "CACHE",
    "EVENT_PUBLISHER",
    "HTTP_CLIENT",
    "NOTIFIER",
    "RECORD_STORE",
    "RUN_JOURNAL",
    "SEARCH_INDEX",
    "BlobStorePort",
    "CachePort",
    "CircuitBreaker",
    "EventPublisherPort",
    "HttpClientPort",
    "InMemoryBlobStore",
    "InMemoryCache",
    "InMemoryEventPublisher",
    "InMemoryHttpClient",
    "InMemoryNotifier",
    "InMemoryRecordStore",
    "InMemoryRunJournal",
    "InMemorySearchIndex",
    "NotifierPort",
    "PortBreakers",
    "RecordStorePort",
    "RunJournalPort",
    "RunRecord",
    "SearchIndexPort",
    "guarded",
]

T = TypeVar("T")

Record = dict[str, Any]


class RecordStorePort(Protocol):
    """Durable records by collection and key (a database table, a document collection...)."""

    async def insert(self, collection: str, key: str, record: Record) -> None:
        """Store a new record; CONFLICT if the key exists."""
        ...

    async def get(self, collection: str, key: str) -> Record | None:
        """Return the record or ``None``."""
        ...

    async def replace(self, collection: str, key: str, record: Record) -> None:
        """Replace an existing record; NOT_FOUND if it does not exist."""
        ...

    async def delete(self, collection: str, key: str) -> bool:
        """Delete a record; return whether it existed."""
        ...

    async def scan(self, collection: str) -> list[Record]:
        """Return every record of the collection, ordered by key."""
        ...


class InMemoryRecordStore:
    """A :class:`RecordStorePort` in a dict; records are copied in and out."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Record]] = {}

    async def insert(self, collection: str, key: str, record: Record) -> None:
        """Store a new record; CONFLICT if the key exists."""
        table = self._data.setdefault(collection, {})
        if key in table:
            raise OnexError(f"{collection} {key!r} already exists", ErrorCode.CONFLICT, {"key": key})
        table[key] = copy.deepcopy(record)

    async def get(self, collection: str, key: str) -> Record | None:
        """Return a copy of the record or ``None``."""
        record = self._data.get(collection, {}).get(key)
        return copy.deepcopy(record) if record is not None else None

    async def replace(self, collection: str, key: str, record: Record) -> None:
        """Replace an existing record; NOT_FOUND if it does not exist."""
        table = self._data.get(collection, {})
        if key not in table:
            raise OnexError(f"{collection} {key!r} does not exist", ErrorCode.NOT_FOUND, {"key": key})
        table[key] = copy.deepcopy(record)

    async def delete(self, collection: str, key: str) -> bool:
        """Delete a record; return whether it existed."""
        return self._data.get(collection, {}).pop(key, None) is not None

    async def scan(self, collection: str) -> list[Record]:
        """Return copies of every record, ordered by key."""
        table = self._data.get(collection, {})
        return [copy.deepcopy(table[k]) for k in sorted(table)]


class CachePort(Protocol):
    """A key-value cache (Redis, Memcached...)."""

    async def get(self, key: str) -> Any | None:
        """Return the cached value or ``None``."""
        ...

    async def set(self, key: str, value: Any) -> None:
        """Cache a value."""
        ...

    async def delete(self, key: str) -> None:
        """Forget a value."""
        ...


class InMemoryCache:
    """A :class:`CachePort` in a dict."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def get(self, key: str) -> Any | None:
        """Return the cached value or ``None``."""
        return self.values.get(key)

    async def set(self, key: str, value: Any) -> None:
        """Cache a value."""
        self.values[key] = value

    async def delete(self, key: str) -> None:
        """Forget a value."""
        self.values.pop(key, None)


class EventPublisherPort(Protocol):
    """Publishes events to topics (Kafka, RabbitMQ...)."""

    async def publish(self, topic: str, key: str, payload: Mapping[str, Any]) -> None:
        """Publish one event."""
        ...


class InMemoryEventPublisher:
    """An :class:`EventPublisherPort` that keeps what was published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, Any]]] = []

    async def publish(self, topic: str, key: str, payload: Mapping[str, Any]) -> None:
        """Keep the event."""
        self.published.append((topic, key, dict(payload)))


class HttpClientPort(Protocol):
    """Calls an HTTP API."""

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Send a request; return the decoded JSON response.

        A request repeated with the same ``idempotency_key`` (an ``Idempotency-Key`` header for most APIs)
        must not act twice: the API answers it with the first response.
        """
        ...


Responder = Callable[[str, str, Mapping[str, Any] | None], Awaitable[dict[str, Any]]]


class InMemoryHttpClient:
    """An :class:`HttpClientPort` answering from registered routes; unknown routes are NOT_FOUND."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str, dict[str, Any] | None]] = []
        self.replies: dict[str, dict[str, Any]] = {}

    def route(self, method: str, path: str, response: Mapping[str, Any]) -> None:
        """Answer ``method path`` with ``response``."""
        self.routes[(method.upper(), path)] = dict(response)

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Record the call and return the registered response; a repeated idempotency key is answered again."""
        if idempotency_key is not None and idempotency_key in self.replies:
            return dict(self.replies[idempotency_key])
        self.calls.append((method.upper(), path, dict(body) if body is not None else None))
        try:
            response = dict(self.routes[(method.upper(), path)])
        except KeyError:
            raise OnexError(f"no route for {method.upper()} {path}", ErrorCode.NOT_FOUND) from None
        if idempotency_key is not None:
            self.replies[idempotency_key] = dict(response)
        return response


class BlobStorePort(Protocol):
    """Stores binary objects by key (S3, GCS, a file system...)."""

    async def put(self, key: str, data: bytes) -> None:
        """Store an object."""
        ...

    async def get(self, key: str) -> bytes | None:
        """Return an object or ``None``."""
        ...


class InMemoryBlobStore:
    """A :class:`BlobStorePort` in a dict."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(self, key: str, data: bytes) -> None:
        """Store an object."""
        self.objects[key] = bytes(data)

    async def get(self, key: str) -> bytes | None:
        """Return an object or ``None``."""
        return self.objects.get(key)


class NotifierPort(Protocol):
    """Sends notifications (e-mail, SMS, chat...)."""

    async def send(self, recipient: str, subject: str, body: str) -> None:
        """Send one notification."""
        ...


class InMemoryNotifier:
    """A :class:`NotifierPort` that keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, recipient: str, subject: str, body: str) -> None:
        """Keep the notification."""
        self.sent.append((recipient, subject, body))


class SearchIndexPort(Protocol):
    """A full-text index (Elasticsearch, OpenSearch...)."""

    async def index(self, key: str, document: Mapping[str, Any]) -> None:
        """Index a document."""
        ...

    async def search(self, text: str) -> list[str]:
        """Return the keys of documents containing ``text``."""
        ...

    async def remove(self, key: str) -> None:
        """Remove a document (nothing happens when there is none)."""
        ...


class InMemorySearchIndex:
    """A :class:`SearchIndexPort` with case-insensitive substring search."""

    def __init__(self) -> None:
        self.documents: dict[str, str] = {}

    async def index(self, key: str, document: Mapping[str, Any]) -> None:
        """Index a document's values as text."""
        self.documents[key] = " ".join(str(v) for v in document.values()).lower()

    async def search(self, text: str) -> list[str]:
        """Return the keys of documents containing ``text``, sorted."""
        needle = text.lower()
        return sorted(k for k, v in self.documents.items() if needle in v)

    async def remove(self, key: str) -> None:
        """Remove a document (nothing happens when there is none)."""
        self.documents.pop(key, None)


@dataclass
class RunRecord:
    """What a run journal knows of one ORCHESTRATOR run: its status and the steps it completed, in order."""

    run_id: str
    status: str = "running"
    completed: dict[str, Any] = field(default_factory=dict)
    failed_step: str | None = None
    error: str | None = None


class RunJournalPort(Protocol):
    """Where an ORCHESTRATOR keeps its runs, so a retried run resumes after its last completed step."""

    async def load(self, run_id: str) -> RunRecord | None:
        """Return the run's record, or ``None`` for a run never started."""
        ...

    async def step_completed(self, run_id: str, step: str, result: Any) -> None:
        """Record that ``step`` of the run completed with ``result`` (JSON-compatible)."""
        ...

    async def finish(
        self, run_id: str, status: str, failed_step: str | None = None, error: str | None = None
    ) -> None:
        """Record how the run ended: ``completed`` or ``failed`` (with the step and the error)."""
        ...


class InMemoryRunJournal:
    """A :class:`RunJournalPort` in a dict; records are copied in and out."""

    def __init__(self) -> None:
        self.runs: dict[str, RunRecord] = {}

    async def load(self, run_id: str) -> RunRecord | None:
        """Return a copy of the run's record, or ``None``."""
        record = self.runs.get(run_id)
        return copy.deepcopy(record) if record is not None else None

    async def step_completed(self, run_id: str, step: str, result: Any) -> None:
        """Record a completed step."""
        record = self.runs.setdefault(run_id, RunRecord(run_id))
        record.status, record.failed_step, record.error = "running", None, None
        record.completed[step] = copy.deepcopy(result)

    async def finish(
        self, run_id: str, status: str, failed_step: str | None = None, error: str | None = None
    ) -> None:
        """Record how the run ended."""
        record = self.runs.setdefault(run_id, RunRecord(run_id))
        record.status, record.failed_step, record.error = status, failed_step, error


_BUSINESS_CODES = frozenset({ErrorCode.NOT_FOUND, ErrorCode.CONFLICT, ErrorCode.VALIDATION_ERROR})


class CircuitBreaker:
    """Stops calling one failing system: opens after ``failure_threshold`` failures in a row.

    After ``recovery_seconds`` one probe call is let through (half-open); its success closes the breaker, its
    failure opens it again. Business errors (not found, conflict, validation) are answers, not failures.
    """

    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        recovery_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_seconds = recovery_seconds
        self.clock = clock
        self.state = "closed"
        self.failures = 0
        self._opened_at = 0.0
        self._probing = False

    def _refuse(self) -> OnexError:
        return OnexError(
            f"circuit breaker of {self.name!r} is {self.state.replace('_', '-')}",
            ErrorCode.UNAVAILABLE,
            {"port": self.name, "state": self.state},
        )

    async def call(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call`` unless the breaker is open; UNAVAILABLE when it is."""
        if self.state == "open":
            if self.clock() - self._opened_at < self.recovery_seconds:
                raise self._refuse()
            self.state = "half_open"
        probe = self.state == "half_open"
        if probe:
            if self._probing:
                raise self._refuse()
            self._probing = True
        try:
            result = await call()
        except Exception as exc:
            if isinstance(exc, OnexError) and exc.code in _BUSINESS_CODES:
                if probe:
                    self.state, self.failures = "closed", 0
                raise
            self.failures += 1
            if probe or self.failures >= self.failure_threshold:
                self.state, self._opened_at = "open", self.clock()
            raise
        finally:
            if probe:
                self._probing = False
        self.state, self.failures = "closed", 0
        return result


class PortBreakers:
    """One :class:`CircuitBreaker` per port, created on first use with the same settings."""

    def __init__(self, failure_threshold: int = 5, recovery_seconds: float = 30.0) -> None:
        self.failure_threshold = failure_threshold
        self.recovery_seconds = recovery_seconds
        self.breakers: dict[str, CircuitBreaker] = {}

    def for_port(self, port: str) -> CircuitBreaker:
        """Return the breaker of ``port``."""
        breaker = self.breakers.get(port)
        if breaker is None:
            breaker = CircuitBreaker(port, self.failure_threshold, self.recovery_seconds)
            self.breakers[port] = breaker
        return breaker

    def state(self, port: str) -> str:
        """Return ``closed``, ``open`` or ``half_open`` for ``port``."""
        return self.for_port(port).state


class _Guarded:
    """Every coroutine method of the adapter called through the breaker; other attributes as they are."""

    def __init__(self, adapter: object, breaker: CircuitBreaker) -> None:
        self._adapter = adapter
        self._breaker = breaker

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._adapter, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute
        breaker = self._breaker

        async def through_breaker(*args: Any, **kwargs: Any) -> Any:
            return await breaker.call(lambda: attribute(*args, **kwargs))

        return through_breaker


def guarded(adapter: T, breaker: CircuitBreaker) -> T:
    """Return ``adapter`` with every async method called through ``breaker`` (same type for the caller)."""
    return cast(T, _Guarded(adapter, breaker))


RECORD_STORE: ServiceKey[RecordStorePort] = ServiceKey("record_store")
CACHE: ServiceKey[CachePort] = ServiceKey("cache")
EVENT_PUBLISHER: ServiceKey[EventPublisherPort] = ServiceKey("event_publisher")
HTTP_CLIENT: ServiceKey[HttpClientPort] = ServiceKey("http_client")
BLOB_STORE: ServiceKey[BlobStorePort] = ServiceKey("blob_store")
NOTIFIER: ServiceKey[NotifierPort] = ServiceKey("notifier")
SEARCH_INDEX: ServiceKey[SearchIndexPort] = ServiceKey("search_index")
RUN_JOURNAL: ServiceKey[RunJournalPort] = ServiceKey("run_journal")
