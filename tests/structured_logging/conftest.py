"""Fixtures for the logging tests: a sink that collects the lines it is given."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest

from agents.lib.structured_logger import add_sink


class CollectingSink:
    """A real sink that keeps every line (thread-safe) for assertions."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self._lock = threading.Lock()

    def write_line(self, line: bytes) -> None:
        with self._lock:
            self.raw.append(line)

    @property
    def records(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.raw]

    @property
    def messages(self) -> list[str]:
        return [r["message"] for r in self.records]


@pytest.fixture
def sink() -> CollectingSink:
    """A sink registered for every logger."""
    collecting = CollectingSink()
    add_sink(collecting)
    return collecting
