"""Events of the code generator's lifecycle, and how they travel through Kafka.

:class:`BaseEvent` is an immutable record (id, event type, service, timestamp, correlation id, schema version,
metadata, payload). The lifecycle of a generation run is :class:`GenerationStartedEvent`, one
:class:`NodeGeneratedEvent` or :class:`NodeGenerationFailedEvent` per node, then
:class:`GenerationCompletedEvent` or :class:`GenerationFailedEvent`. ``event.to_kafka_topic()`` names the topic
(``[<prefix>.]<service>.<event type>.v<schema version>``), ``event.to_bytes()`` is the message value (JSON by
orjson), :func:`parse_event` reads it back as the right class. The message key is the correlation id (so a
run's events share a partition and keep their order) or, without one, the event id; the ``event_id`` header
always carries the id, for consumers that deduplicate. See docs/events.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

import orjson

from agents.lib._events.topics import TOPIC_SCHEME, default_prefix, topic_name
from agents.lib.errors import ErrorCode, OnexError

__all__ = [
    "CONTENT_TYPE",
    "EVENT_TYPES",
    "TOPIC_SCHEME",
    "BaseEvent",
    "GenerationCompletedEvent",
    "GenerationFailedEvent",
    "GenerationStartedEvent",
    "NodeGeneratedEvent",
    "NodeGenerationFailedEvent",
    "event_headers",
    "event_id_of",
    "parse_event",
    "register_event_type",
]

CONTENT_TYPE = b"application/json"
"""The ``content-type`` header of every event message."""

_EVENT_TYPE = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")
_MAX_TEXT = 200
_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS

E = TypeVar("E", bound="BaseEvent")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _invalid(message: str, **details: Any) -> OnexError:
    return OnexError(message, ErrorCode.VALIDATION_ERROR, details)


def _as_uuid(value: object, name: str) -> UUID:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise _invalid(f"event {name} must be a UUID, got {value!r}", field=name)


def _correlation(value: object) -> UUID | str | None:
    """Return a UUID when the value is one (or spells one), else a short non-empty string."""
    if value is None or isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            if value and len(value) <= _MAX_TEXT:
                return value
    raise _invalid(f"event correlation_id must be a UUID or a short string, got {value!r}", field="correlation_id")


def _json_default(value: Any) -> Any:
    """Values orjson does not encode natively: paths, sets, decimals, enums of non-JSON values."""
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseEvent:
    """One event; subclasses fix ``event_type`` (their ``EVENT_TYPE``), ``BaseEvent`` itself takes any.

    ``id`` and ``timestamp`` default to a new UUID and now (UTC); a naive timestamp is taken as UTC.
    ``correlation_id`` is a UUID (a string spelling one becomes one) or another short string. Invalid values
    raise :class:`~agents.lib.errors.OnexError` (``VALIDATION_ERROR``).
    """

    EVENT_TYPE: ClassVar[str] = ""

    id: UUID = field(default_factory=uuid4)
    event_type: str = ""
    service: str
    timestamp: datetime = field(default_factory=_utcnow)
    correlation_id: UUID | str | None = None
    schema_version: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fixed = type(self).EVENT_TYPE
        if fixed:
            if self.event_type and self.event_type != fixed:
                raise _invalid(
                    f"{type(self).__name__} has event type {fixed!r}, not {self.event_type!r}",
                    field="event_type",
                )
            object.__setattr__(self, "event_type", fixed)
        elif not isinstance(self.event_type, str) or not _EVENT_TYPE.match(self.event_type):
            raise _invalid(
                f"event_type must be dotted lower-case words (node.generated), got {self.event_type!r}",
                field="event_type",
            )
        if not isinstance(self.service, str) or not self.service.strip() or len(self.service) > _MAX_TEXT:
            raise _invalid(f"event service must be a non-empty name, got {self.service!r}", field="service")
        if not isinstance(self.id, UUID):
            object.__setattr__(self, "id", _as_uuid(self.id, "id"))
        if self.correlation_id is not None and not isinstance(self.correlation_id, UUID):
            object.__setattr__(self, "correlation_id", _correlation(self.correlation_id))
        stamp = self.timestamp
        if not isinstance(stamp, datetime):
            raise _invalid(f"event timestamp must be a datetime, got {stamp!r}", field="timestamp")
        if stamp.tzinfo is None:
            object.__setattr__(self, "timestamp", stamp.replace(tzinfo=UTC))
        elif stamp.utcoffset():
            object.__setattr__(self, "timestamp", stamp.astimezone(UTC))
        if type(self.schema_version) is not int or self.schema_version < 1:
            raise _invalid(f"schema_version must be an integer >= 1, got {self.schema_version!r}")
        for name in ("metadata", "payload"):
            value = getattr(self, name)
            if not isinstance(value, dict):
                if not isinstance(value, Mapping):
                    raise _invalid(f"event {name} must be a mapping, got {type(value).__name__}", field=name)
                object.__setattr__(self, name, dict(value))

    # -- how the event travels --
    def to_kafka_topic(self, prefix: str | None = None) -> str:
        """Return the topic of this event: ``[<prefix>.]<service>.<event type>.v<schema version>``.

        ``prefix`` defaults to the configured environment prefix (``KAFKA_TOPIC_PREFIX``, none if unset).
        """
        return topic_name(
            self.service, self.event_type, self.schema_version, default_prefix() if prefix is None else prefix
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the event as JSON-ready values (what :meth:`to_bytes` encodes)."""
        out: dict[str, Any] = orjson.loads(self.to_bytes())
        return out

    def to_bytes(self) -> bytes:
        """Return the message value: the fields as one JSON object (orjson; UUIDs and times as strings)."""
        try:
            return orjson.dumps(self, default=_json_default, option=_JSON_OPTIONS)
        except TypeError as exc:
            raise _invalid(
                f"{type(self).__name__} {self.id} cannot be serialized: {exc}", event_id=str(self.id)
            ) from None

    def kafka_key(self) -> bytes:
        """Return the message key: the correlation id if any (a run's events stay in order), else the id."""
        return str(self.id if self.correlation_id is None else self.correlation_id).encode()

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """Return the message headers: ``event_id``, ``event_type``, ``schema_version``, ``content-type``."""
        return event_headers(str(self.id), self.event_type, self.schema_version)

    def to_message(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """Return ``(value, key, headers)``: :meth:`to_bytes`, :meth:`kafka_key`, :meth:`kafka_headers` in one go.

        The publishing hot path: the id's text is read from the JSON just written (it is the first field)
        instead of formatting the UUID again, and the constant headers are built once per event type.
        """
        value = self.to_bytes()
        event_id = value[7:43] if value.startswith(b'{"id":"') else str(self.id).encode()
        tail = _HEADER_TAILS.get((self.event_type, self.schema_version))
        if tail is None:
            tail = _HEADER_TAILS[(self.event_type, self.schema_version)] = tuple(
                event_headers("", self.event_type, self.schema_version)[1:]
            )
        correlation = self.correlation_id
        key = event_id if correlation is None else str(correlation).encode()
        return value, key, [("event_id", event_id), *tail]


_HEADER_TAILS: dict[tuple[str, int], tuple[tuple[str, bytes], ...]] = {}


def event_headers(event_id: str, event_type: str, schema_version: int) -> list[tuple[str, bytes]]:
    """Return the headers of an event message (the id is there for consumers that deduplicate)."""
    return [
        ("event_id", event_id.encode()),
        ("event_type", event_type.encode()),
        ("schema_version", str(schema_version).encode()),
        ("content-type", CONTENT_TYPE),
    ]


def event_id_of(headers: list[tuple[str, bytes | None]] | None) -> str | None:
    """Return the ``event_id`` header of a consumed message, or ``None``."""
    for name, value in headers or ():
        if name == "event_id" and value is not None:
            return value.decode()
    return None


_REGISTRY: dict[str, type[BaseEvent]] = {}
EVENT_TYPES: Mapping[str, type[BaseEvent]] = _REGISTRY
"""The registered event classes by event type (what :func:`parse_event` builds)."""


def register_event_type(cls: type[E]) -> type[E]:
    """Class decorator: make :func:`parse_event` build ``cls`` for its ``EVENT_TYPE``.

    Apply it outside ``@dataclass(frozen=True, slots=True, kw_only=True)``::

        @register_event_type
        @dataclass(frozen=True, slots=True, kw_only=True)
        class TemplateWarmedEvent(BaseEvent):
            EVENT_TYPE: ClassVar[str] = "template.warmed"
    """
    event_type = cls.EVENT_TYPE
    if not _EVENT_TYPE.match(event_type):
        raise _invalid(f"{cls.__name__}.EVENT_TYPE must be dotted lower-case words, got {event_type!r}")
    existing = _REGISTRY.get(event_type)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise _invalid(f"event type {event_type!r} is already {existing.__name__}")
    _REGISTRY[event_type] = cls
    return cls


@register_event_type
@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationStartedEvent(BaseEvent):
    """A generation run started: the PRD is analysed and its nodes are about to be generated.

    Payload: ``session_id``, ``service_name``, ``domain``, ``prd_path``, ``node_types``.
    """

    EVENT_TYPE: ClassVar[str] = "generation.started"


@register_event_type
@dataclass(frozen=True, slots=True, kw_only=True)
class NodeGeneratedEvent(BaseEvent):
    """A node was generated (and passed verification when it ran).

    Payload (the workflow's): ``node_type``, ``microservice``, ``status``, ``session_id``, ``job_id``,
    ``duration_ms``, ``output_path``, ``files``, ``verification``; the guide's examples use any payload.
    """

    EVENT_TYPE: ClassVar[str] = "node.generated"


@register_event_type
@dataclass(frozen=True, slots=True, kw_only=True)
class NodeGenerationFailedEvent(BaseEvent):
    """A node failed to generate or to pass verification; the payload adds ``error`` and ``error_code``."""

    EVENT_TYPE: ClassVar[str] = "node.failed"


@register_event_type
@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationCompletedEvent(BaseEvent):
    """A generation run produced its results (some nodes may have failed: see ``success`` and ``failed``).

    Payload: ``session_id``, ``service_name``, ``success``, ``total``, ``succeeded``, ``failed``, ``wall_ms``,
    ``speedup``, ``cores_used``, ``verified``, ``output_dir``.
    """

    EVENT_TYPE: ClassVar[str] = "generation.completed"


@register_event_type
@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationFailedEvent(BaseEvent):
    """A generation run stopped with an error; payload ``session_id``, ``error``, ``error_code``."""

    EVENT_TYPE: ClassVar[str] = "generation.failed"


_FIELDS = tuple(f.name for f in fields(BaseEvent))


def parse_event(data: bytes | bytearray | memoryview | str) -> BaseEvent:
    """Read a message value written by :meth:`BaseEvent.to_bytes` back into its event class.

    An event type nobody registered comes back as a :class:`BaseEvent` with that type. Anything that is not
    an event raises :class:`~agents.lib.errors.OnexError` (``VALIDATION_ERROR``).
    """
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _invalid(f"not an event: invalid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise _invalid(f"not an event: expected a JSON object, got {type(raw).__name__}")
    unknown = set(raw) - set(_FIELDS)
    missing = {"id", "event_type", "service", "timestamp"} - set(raw)
    if missing:
        raise _invalid(f"not an event: missing {', '.join(sorted(missing))}", missing=sorted(missing))
    event_type = raw["event_type"]
    cls = _REGISTRY.get(event_type, BaseEvent) if isinstance(event_type, str) else BaseEvent
    stamp = raw["timestamp"]
    try:
        timestamp = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    except ValueError:
        raise _invalid(f"not an event: bad timestamp {stamp!r}") from None
    values = {k: v for k, v in raw.items() if k not in unknown}
    values["timestamp"] = timestamp
    try:
        return cls(**values)
    except TypeError as exc:
        raise _invalid(f"not an event: {exc}") from None
