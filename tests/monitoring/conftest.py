"""Fixtures of the monitoring tests: both database backends, the Kafka broker, a clock tests can move."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from agents.lib.monitoring import reset_monitoring_system
from agents.lib.structured_logger import MemorySink, add_sink, remove_sink
from tests._services.kafka import kafka_bootstrap
from tests._services.postgres import backend_dsn, postgres_db_dsn, postgres_dsn, postgres_service

__all__ = [
    "Clock",
    "WebhookReceiver",
    "backend_dsn",
    "clock",
    "free_port",
    "kafka_bootstrap",
    "log_sink",
    "postgres_db_dsn",
    "postgres_dsn",
    "postgres_service",
    "webhook",
]


class Clock:
    """A clock for MonitoringSystem(clock=...): starts at a fixed time and moves only when told."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def _fresh_singleton() -> Iterator[None]:
    """Every test starts without a process-wide MonitoringSystem (and leaves none behind)."""
    reset_monitoring_system()
    yield
    reset_monitoring_system()


@pytest.fixture
def log_sink() -> Iterator[MemorySink]:
    """The structured log lines of the test."""
    sink = MemorySink()
    add_sink(sink)
    yield sink
    remove_sink(sink)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class WebhookReceiver:
    """A real HTTP server that records the JSON bodies POSTed to it."""

    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.bodies) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookReceiver]:
    port = free_port()
    receiver = WebhookReceiver(url=f"http://user:hook-secret@127.0.0.1:{port}/hooks/T0K3N-secret-path")

    async def handle(request: web.Request) -> web.Response:
        receiver.bodies.append(orjson.loads(await request.read()))
        return web.Response(status=receiver.status)

    app = web.Application()
    app.router.add_post("/hooks/{token}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield receiver
    await runner.cleanup()
