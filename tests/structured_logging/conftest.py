"""Fixtures for the logging tests: a sink that collects the lines it is given."""

from __future__ import annotations

import pytest

from agents.lib.structured_logger import MemorySink, add_sink

CollectingSink = MemorySink


@pytest.fixture
def sink() -> CollectingSink:
    """A sink registered for every logger."""
    collecting = CollectingSink()
    add_sink(collecting)
    return collecting
