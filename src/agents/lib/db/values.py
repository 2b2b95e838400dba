"""Checks and conversions of the values the stores write and read (invalid input is a VALIDATION_ERROR)."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson

from agents.lib.db.schema import utcnow
from agents.lib.errors import ErrorCode, OnexError

__all__ = [
    "as_bytes",
    "cutoff",
    "decode_headers",
    "encode_headers",
    "json_safe",
    "non_negative_int",
    "number",
    "optional_float",
    "optional_id",
    "rate",
    "string_list",
    "text",
    "timestamp",
]


def text(value: object, name: str, max_len: int) -> str:
    """Return ``value`` (a UUID becomes its string) if it is a non-empty string of at most ``max_len`` chars."""
    if isinstance(value, UUID):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise OnexError(f"{name} must be a non-empty string", code=ErrorCode.VALIDATION_ERROR)
    if len(value) > max_len:
        raise OnexError(f"{name} is longer than {max_len} characters", code=ErrorCode.VALIDATION_ERROR)
    return value


def optional_id(value: object, name: str = "session_id") -> str | None:
    """Return ``None``, or ``value`` checked as an id (:func:`text`, at most 64 characters)."""
    if value is None:
        return None
    return text(value, name, 64)


def number(value: object, name: str, *, minimum: float | None = 0.0) -> float:
    """Return ``value`` as a finite float of at least ``minimum`` (``None``: no lower bound)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OnexError(f"{name} must be a number", code=ErrorCode.VALIDATION_ERROR)
    result = float(value)
    if not math.isfinite(result) or (minimum is not None and result < minimum):
        raise OnexError(f"{name} must be a finite number >= {minimum}", code=ErrorCode.VALIDATION_ERROR)
    return result


def non_negative_int(value: object, name: str) -> int:
    """Return ``value`` if it is an integer >= 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OnexError(f"{name} must be a non-negative integer", code=ErrorCode.VALIDATION_ERROR)
    return value


def string_list(values: Iterable[object] | None, name: str) -> list[str]:
    """Return the items of ``values`` as strings (``None``: an empty list); a bare string is refused."""
    if values is None:
        return []
    if isinstance(values, str | bytes):
        raise OnexError(f"{name} must be a list of strings", code=ErrorCode.VALIDATION_ERROR)
    return [str(v) for v in values]


def json_safe(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Return a copy of ``value`` made of JSON types (UUIDs, datetimes... become text); ``None`` stays."""
    if value is None:
        return None
    decoded: dict[str, Any] = orjson.loads(orjson.dumps(dict(value), default=str, option=orjson.OPT_NON_STR_KEYS))
    return decoded


def cutoff(window_minutes: float) -> datetime:
    """Return the UTC time ``window_minutes`` ago (the start of a summary's window)."""
    minutes = number(window_minutes, "window_minutes")
    return utcnow() - timedelta(minutes=minutes)


def timestamp(value: datetime | None) -> datetime:
    """Return ``value``, or now (UTC) when it is ``None``."""
    return utcnow() if value is None else value


def as_bytes(value: str | bytes | bytearray | memoryview) -> bytes:
    """Return ``value`` as bytes (a string is encoded as UTF-8)."""
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def encode_headers(
    headers: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]] | None,
) -> list[list[str]] | None:
    """Return message headers as JSON-storable ``[name, base64 value]`` pairs (``None`` stays)."""
    if headers is None:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [[str(k), base64.b64encode(as_bytes(v)).decode("ascii")] for k, v in pairs]


def decode_headers(value: Any) -> list[tuple[str, bytes]]:
    """Return the ``(name, bytes)`` pairs stored by :func:`encode_headers`."""
    if not value:
        return []
    return [(str(k), base64.b64decode(v)) for k, v in value]


def rate(numerator: Any, denominator: Any) -> float | None:
    """Return ``numerator / denominator`` as a float, or ``None`` when the denominator is 0 or ``None``."""
    if not denominator:
        return None
    return float(numerator or 0) / float(denominator)


def optional_float(value: Any) -> float | None:
    """Return ``value`` as a float, ``None`` staying ``None`` (database aggregates may be decimals)."""
    return None if value is None else float(value)
