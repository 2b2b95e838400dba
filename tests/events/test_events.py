"""Events: construction and validation, topic names, the wire format, and parse_event round trips."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import ClassVar
from uuid import UUID, uuid4

import orjson
import pytest

from agents.lib.codegen_events import (
    EVENT_TYPES,
    BaseEvent,
    GenerationCompletedEvent,
    GenerationFailedEvent,
    GenerationStartedEvent,
    NodeGeneratedEvent,
    NodeGenerationFailedEvent,
    event_id_of,
    parse_event,
    register_event_type,
)
from agents.lib.config import reset_settings
from agents.lib.errors import ErrorCode, OnexError

LIFECYCLE = [
    (GenerationStartedEvent, "generation.started"),
    (NodeGeneratedEvent, "node.generated"),
    (NodeGenerationFailedEvent, "node.failed"),
    (GenerationCompletedEvent, "generation.completed"),
    (GenerationFailedEvent, "generation.failed"),
]


@pytest.mark.parametrize(("cls", "event_type"), LIFECYCLE)
def test_every_lifecycle_event_round_trips_through_bytes(cls: type[BaseEvent], event_type: str) -> None:
    """to_bytes then parse_event gives an equal event of the same class, with every field kept."""
    correlation = uuid4()
    event = cls(
        service="codegen",
        correlation_id=correlation,
        metadata={"host": "ci", "attempt": 2},
        payload={"node_type": "EFFECT", "files": 7, "ratio": 0.5, "ok": True, "nested": {"a": [1, None]}},
    )
    back = parse_event(event.to_bytes())
    assert type(back) is cls
    assert back == event
    assert back.event_type == event_type
    assert back.correlation_id == correlation
    assert back.timestamp == event.timestamp and back.timestamp.tzinfo is not None
    assert EVENT_TYPES[event_type] is cls


def test_the_guides_node_generated_event_and_its_wire_format() -> None:
    """The guide's constructor call works; the value is JSON with the documented fields; key and headers carry ids."""
    correlation = uuid4()
    event = NodeGeneratedEvent(
        service="codegen",
        correlation_id=correlation,
        payload={"node_type": "EFFECT", "microservice": "UserService", "status": "generated"},
    )
    value = orjson.loads(event.to_bytes())
    assert list(value) == [
        "id",
        "event_type",
        "service",
        "timestamp",
        "correlation_id",
        "schema_version",
        "metadata",
        "payload",
    ]
    assert value["id"] == str(event.id)
    assert value["event_type"] == "node.generated"
    assert value["correlation_id"] == str(correlation)
    assert value["timestamp"].endswith("Z")
    assert value["schema_version"] == 1
    assert event.kafka_key() == str(correlation).encode()
    headers = dict(event.kafka_headers())
    assert headers == {
        "event_id": str(event.id).encode(),
        "event_type": b"node.generated",
        "schema_version": b"1",
        "content-type": b"application/json",
    }
    assert event_id_of(event.kafka_headers()) == str(event.id)
    assert event_id_of([("other", b"x")]) is None
    without = NodeGeneratedEvent(service="codegen", payload={"task": 1})
    assert without.kafka_key() == str(without.id).encode()


def test_topics_follow_the_documented_versioned_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    """<service>.<event type>.v<version>, with the environment prefix from KAFKA_TOPIC_PREFIX or an argument."""
    event = NodeGeneratedEvent(service="codegen", payload={})
    assert event.to_kafka_topic() == "codegen.node.generated.v1"
    assert event.to_kafka_topic(prefix="prod") == "prod.codegen.node.generated.v1"
    v2 = NodeGeneratedEvent(service="Billing Service_API", schema_version=2)
    assert v2.to_kafka_topic() == "billing-service-api.node.generated.v2"
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", "staging")
    reset_settings()
    assert event.to_kafka_topic() == "staging.codegen.node.generated.v1"
    assert event.to_kafka_topic(prefix="eu-1.dev") == "eu-1.dev.codegen.node.generated.v1"
    with pytest.raises(OnexError, match="KAFKA_TOPIC_PREFIX"):
        event.to_kafka_topic(prefix="Bad Prefix!")


def test_invalid_events_are_refused_with_a_validation_error() -> None:
    """Wrong event type, empty service, bad ids, bad versions and non-mapping payloads raise VALIDATION_ERROR."""
    cases = [
        lambda: NodeGeneratedEvent(service="codegen", event_type="node.failed"),
        lambda: NodeGeneratedEvent(service=""),
        lambda: NodeGeneratedEvent(service="codegen", id="not-a-uuid"),  # type: ignore[arg-type]
        lambda: NodeGeneratedEvent(service="codegen", schema_version=0),
        lambda: NodeGeneratedEvent(service="codegen", payload=[1, 2]),  # type: ignore[arg-type]
        lambda: NodeGeneratedEvent(service="codegen", timestamp="yesterday"),  # type: ignore[arg-type]
        lambda: BaseEvent(service="codegen"),
        lambda: BaseEvent(service="codegen", event_type="Not Dotted!"),
        lambda: NodeGeneratedEvent(service="codegen", correlation_id=""),
    ]
    for case in cases:
        with pytest.raises(OnexError) as info:
            case()
        assert info.value.code is ErrorCode.VALIDATION_ERROR


def test_values_are_normalized() -> None:
    """String ids become UUIDs, naive and offset timestamps become UTC, a non-UUID correlation id stays text."""
    event_id = uuid4()
    naive = datetime(2026, 1, 2, 3, 4, 5)
    event = NodeGeneratedEvent(service="codegen", id=str(event_id), timestamp=naive, correlation_id="req-42")  # type: ignore[arg-type]
    assert event.id == event_id
    assert event.timestamp == naive.replace(tzinfo=UTC)
    assert event.correlation_id == "req-42"
    assert parse_event(event.to_bytes()).correlation_id == "req-42"
    shifted = NodeGeneratedEvent(
        service="codegen", timestamp=datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    )
    assert shifted.timestamp == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert shifted.timestamp.utcoffset() == timedelta(0)
    spelled = NodeGeneratedEvent(service="codegen", correlation_id=str(event_id))
    assert spelled.correlation_id == event_id and isinstance(spelled.correlation_id, UUID)
    with pytest.raises(FrozenInstanceError):
        event.service = "other"  # type: ignore[misc]


def test_payload_values_json_cannot_hold_natively_are_converted_or_refused() -> None:
    """Paths, sets, tuples and decimals are written as JSON; an arbitrary object is a VALIDATION_ERROR."""
    event = NodeGeneratedEvent(
        service="codegen",
        payload={"path": Path("/tmp/x"), "tags": {"b", "a"}, "pair": (1, 2), "cost": Decimal("1.5")},
    )
    assert parse_event(event.to_bytes()).payload == {
        "path": "/tmp/x",
        "tags": ["a", "b"],
        "pair": [1, 2],
        "cost": "1.5",
    }
    bad = NodeGeneratedEvent(service="codegen", payload={"obj": object()})
    with pytest.raises(OnexError, match="cannot be serialized") as info:
        bad.to_bytes()
    assert info.value.code is ErrorCode.VALIDATION_ERROR


def test_parse_event_refuses_what_is_not_an_event_and_keeps_unknown_types() -> None:
    """Invalid JSON, non-objects and missing fields raise; an unregistered type comes back as a BaseEvent."""
    for data in (
        b"{not json",
        b"[1, 2]",
        b'{"id": "x"}',
        orjson.dumps({"id": str(uuid4()), "event_type": "a.b", "service": "s", "timestamp": "never"}),
    ):
        with pytest.raises(OnexError) as info:
            parse_event(data)
        assert info.value.code is ErrorCode.VALIDATION_ERROR
    raw = orjson.loads(NodeGeneratedEvent(service="codegen", payload={"k": 1}).to_bytes())
    raw["event_type"] = "template.warmed"
    raw["added_in_v2"] = "ignored"
    unknown = parse_event(orjson.dumps(raw))
    assert type(unknown) is BaseEvent
    assert (unknown.event_type, unknown.payload, str(unknown.id)) == ("template.warmed", {"k": 1}, raw["id"])
    assert parse_event(orjson.dumps(raw).decode()).id == unknown.id


def test_custom_event_types_register_and_round_trip() -> None:
    """A registered subclass is what parse_event builds for its type; a clashing registration is refused."""

    @register_event_type
    @dataclass(frozen=True, slots=True, kw_only=True)
    class CacheWarmedEvent(BaseEvent):
        EVENT_TYPE: ClassVar[str] = "cache.warmed"

    event = CacheWarmedEvent(service="cache", payload={"templates": 4})
    assert event.to_kafka_topic() == "cache.cache.warmed.v1"
    back = parse_event(event.to_bytes())
    assert type(back) is CacheWarmedEvent and back == event

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Clash(BaseEvent):
        EVENT_TYPE: ClassVar[str] = "node.generated"

    with pytest.raises(OnexError, match="already NodeGeneratedEvent"):
        register_event_type(Clash)
    assert EVENT_TYPES["node.generated"] is NodeGeneratedEvent


@pytest.mark.parametrize("correlation", [None, uuid4(), "req-42"])
def test_to_message_is_value_key_and_headers_in_one_go(correlation: UUID | str | None) -> None:
    """The publishing hot path gives exactly what to_bytes, kafka_key and kafka_headers give."""
    for _ in range(2):  # the second time from the caches
        event = NodeGenerationFailedEvent(service="codegen", correlation_id=correlation, payload={"e": "x"})
        assert event.to_message() == (event.to_bytes(), event.kafka_key(), event.kafka_headers())
