"""Topic names of events: ``[<prefix>.]<service>.<event type>.v<schema version>``.

For example ``NodeGeneratedEvent(service="codegen")`` goes to ``codegen.node.generated.v1``, and with the
environment prefix ``staging`` (``KAFKA_TOPIC_PREFIX``) to ``staging.codegen.node.generated.v1``. The version is
the event's schema version: a change that old consumers cannot read gets a new version, hence a new topic.
Every segment uses only ``a-z``, ``0-9`` and ``-`` (never ``_``, which Kafka's metrics confuse with ``.``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from agents.lib.config import ConfigError, get_settings
from agents.lib.errors import ErrorCode, OnexError

__all__ = [
    "MAX_TOPIC_LENGTH",
    "TOPIC_SCHEME",
    "default_prefix",
    "normalize_segment",
    "topic_name",
    "validate_prefix",
]

TOPIC_SCHEME = "[<prefix>.]<service>.<event type>.v<schema version>"
"""How topic names are built (see the module docstring)."""

MAX_TOPIC_LENGTH = 249
"""Kafka's limit on a topic name."""

_INVALID = re.compile(r"[^a-z0-9-]+")
_PREFIX = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")
_EVENT_TYPE = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")


def normalize_segment(text: str) -> str:
    """Lower-case ``text`` and replace every run of characters other than ``a-z0-9-`` by ``-``."""
    segment = _INVALID.sub("-", text.strip().lower()).strip("-")
    if not segment:
        raise OnexError(f"{text!r} cannot name a topic segment", ErrorCode.VALIDATION_ERROR, {"text": text})
    return segment


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a valid environment prefix (``prod``, ``eu-1.staging``), else raise."""
    if not _PREFIX.match(prefix):
        raise ConfigError(
            f"KAFKA_TOPIC_PREFIX: {prefix!r} is not a topic prefix; use a-z, 0-9, '-' and '.' between words",
            details={"variable": "KAFKA_TOPIC_PREFIX"},
        )
    return prefix


def default_prefix() -> str | None:
    """Return the configured environment prefix (``KAFKA_TOPIC_PREFIX``), or ``None``."""
    prefix = get_settings().kafka_topic_prefix
    return None if prefix is None else validate_prefix(prefix)


@lru_cache(maxsize=1024)
def topic_name(service: str, event_type: str, schema_version: int, prefix: str | None = None) -> str:
    """Return the topic of events of ``event_type`` from ``service`` at ``schema_version`` (see module doc)."""
    if not _EVENT_TYPE.match(event_type):
        raise OnexError(f"event type {event_type!r} is not dotted lower-case words", ErrorCode.VALIDATION_ERROR)
    parts = [normalize_segment(service), event_type, f"v{int(schema_version)}"]
    if prefix:
        parts.insert(0, validate_prefix(prefix))
    name = ".".join(parts)
    if len(name) > MAX_TOPIC_LENGTH:
        raise OnexError(
            f"topic name {name[:60]}... is longer than {MAX_TOPIC_LENGTH} characters", ErrorCode.VALIDATION_ERROR
        )
    return name
