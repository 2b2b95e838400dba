"""Errors of ONEX nodes: ``OnexError`` with a machine-readable ``code`` and structured ``details``."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

__all__ = ["ErrorCode", "OnexError"]


class ErrorCode(StrEnum):
    """What kind of failure an :class:`OnexError` reports."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    TIMEOUT = "TIMEOUT"
    OPERATION_FAILED = "OPERATION_FAILED"
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    STEP_FAILED = "STEP_FAILED"
    UNAVAILABLE = "UNAVAILABLE"
    FORBIDDEN = "FORBIDDEN"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class OnexError(Exception):
    """An error with a message, a code and details."""

    def __init__(
        self,
        message: str,
        code: ErrorCode = ErrorCode.OPERATION_FAILED,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details: dict[str, Any] = dict(details) if details else {}

    def __str__(self) -> str:
        """Return ``[CODE] message``."""
        return f"[{self.code.value}] {self.message}"
