"""Ports: the only way nodes reach external systems, each with an in-memory reference adapter.

A port is a :class:`typing.Protocol`; production code registers an adapter for the real system (PostgreSQL,
Redis, Kafka, an HTTP API...) in the :class:`~.container.Container`; tests register the in-memory adapters here.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from .container import ServiceKey
from .errors import ErrorCode, OnexError

__all__ = [
    "BLOB_STORE",
    "CACHE",
    "EVENT_PUBLISHER",
    "HTTP_CLIENT",
    "NOTIFIER",
    "RECORD_STORE",
    "SEARCH_INDEX",
    "BlobStorePort",
    "CachePort",
    "EventPublisherPort",
    "HttpClientPort",
    "InMemoryBlobStore",
    "InMemoryCache",
    "InMemoryEventPublisher",
    "InMemoryHttpClient",
    "InMemoryNotifier",
    "InMemoryRecordStore",
    "InMemorySearchIndex",
    "NotifierPort",
    "RecordStorePort",
    "SearchIndexPort",
]

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

    async def request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Send a request; return the decoded JSON response."""
        ...


Responder = Callable[[str, str, Mapping[str, Any] | None], Awaitable[dict[str, Any]]]


class InMemoryHttpClient:
    """An :class:`HttpClientPort` answering from registered routes; unknown routes are NOT_FOUND."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str, dict[str, Any] | None]] = []

    def route(self, method: str, path: str, response: Mapping[str, Any]) -> None:
        """Answer ``method path`` with ``response``."""
        self.routes[(method.upper(), path)] = dict(response)

    async def request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Record the call and return the registered response."""
        self.calls.append((method.upper(), path, dict(body) if body is not None else None))
        try:
            return dict(self.routes[(method.upper(), path)])
        except KeyError:
            raise OnexError(f"no route for {method.upper()} {path}", ErrorCode.NOT_FOUND) from None


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


RECORD_STORE: ServiceKey[RecordStorePort] = ServiceKey("record_store")
CACHE: ServiceKey[CachePort] = ServiceKey("cache")
EVENT_PUBLISHER: ServiceKey[EventPublisherPort] = ServiceKey("event_publisher")
HTTP_CLIENT: ServiceKey[HttpClientPort] = ServiceKey("http_client")
BLOB_STORE: ServiceKey[BlobStorePort] = ServiceKey("blob_store")
NOTIFIER: ServiceKey[NotifierPort] = ServiceKey("notifier")
SEARCH_INDEX: ServiceKey[SearchIndexPort] = ServiceKey("search_index")
