"""The framework's error type, :class:`OnexError`, and its error codes.

The user guide imports ``OnexError`` from ``omnibase_core.errors``; that package is not a dependency of
``agents``. Import it from here instead: ``from agents.lib.errors import OnexError``. It has the same
``.message``, ``.code`` and ``.details`` attributes.
"""

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
    CONFIGURATION_ERROR = "CONFIGURATION_ERROR"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    CANCELLED = "CANCELLED"
    """Stopped on request before it finished (a generator's ``cleanup()``, a cancelled run), not by a timeout."""


class OnexError(Exception):
    """An error with a human-readable message, a machine-readable code and structured details.

    ``code`` accepts an :class:`ErrorCode` or its name as a string; ``details`` is copied into a new dict
    so later changes to the caller's mapping do not alter the error.
    """

    message: str
    code: ErrorCode
    details: dict[str, Any]

    def __init__(
        self,
        message: str,
        code: ErrorCode | str = ErrorCode.OPERATION_FAILED,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            resolved = ErrorCode(code)
        except ValueError:
            valid = ", ".join(c.value for c in ErrorCode)
            raise ValueError(f"unknown error code {code!r}; expected one of: {valid}") from None
        self.message = message
        self.code = resolved
        self.details = dict(details) if details else {}
        super().__init__(message)

    def __str__(self) -> str:
        """Return ``[CODE] message``, followed by the details as ``key=value`` pairs when there are any."""
        text = f"[{self.code.value}] {self.message}"
        if self.details:
            pairs = ", ".join(f"{key}={value!r}" for key, value in self.details.items())
            text = f"{text} ({pairs})"
        return text

    def __repr__(self) -> str:
        """Return a constructor-like representation."""
        return f"OnexError({self.message!r}, code={self.code.value!r}, details={self.details!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Keep code and details when the error crosses a process boundary."""
        return (type(self), (self.message, self.code, self.details))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict with ``code``, ``message`` and ``details``."""
        return {"code": self.code.value, "message": self.message, "details": dict(self.details)}
