"""Fixtures of the workflow and CLI tests."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from agents.lib.structured_logger import configure_logging
from tests._services.postgres import postgres_db_dsn, postgres_dsn, postgres_service

__all__ = ["EXAMPLES", "LogCapture", "log_capture", "postgres_db_dsn", "postgres_dsn", "postgres_service"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prd"


class LogCapture:
    """The JSON lines every logger wrote while the fixture was active."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def records(self) -> list[dict[str, Any]]:
        """Every line, decoded."""
        return [orjson.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def log_capture() -> Iterator[LogCapture]:
    """Capture the structured log lines of the test (DEBUG and up)."""
    capture = LogCapture()
    configure_logging("DEBUG", stream=capture.stream)
    yield capture
    configure_logging(stream=None)
