"""The HTTP server of ``agents serve`` (aiohttp): ``/metrics``, ``/health`` and a dashboard page at ``/``.

``create_app(monitoring)`` builds the application: a background task collects the database's figures and checks
health every ``refresh_interval_s`` (so charts grow and thresholds are evaluated), ``/api/dashboard`` serves the
latest result as JSON, and the page's script and style ship in this package (``agents/_static``; no CDN). The
server only reads: nothing it serves can change the system. ``run_server`` binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from agents.lib._monitoring.dashboard import build_dashboard
from agents.lib.config import get_settings
from agents.lib.db.stores import GenerationStore
from agents.lib.monitoring import HealthChecker, MonitoringSystem, get_monitoring_system
from agents.lib.structured_logger import get_logger

__all__ = ["DashboardState", "create_app", "run_server"]

_log = get_logger(__name__, component="monitoring-server")

_STATIC = {
    "dashboard.js": "application/javascript",
    "dashboard.css": "text/css",
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _asset(name: str) -> bytes:
    return resources.files("agents").joinpath("_static", name).read_bytes()


class DashboardState:
    """What the server shows: the latest health check and dashboard data, refreshed in the background."""

    def __init__(
        self,
        monitoring: MonitoringSystem,
        *,
        window_minutes: float,
        kafka_bootstrap_servers: str | None,
        health_max_age_s: float,
    ) -> None:
        self.monitoring = monitoring
        self.window_minutes = window_minutes
        self.checker = HealthChecker(
            monitoring, kafka_bootstrap_servers=kafka_bootstrap_servers, window_minutes=window_minutes
        )
        self.health_max_age_s = health_max_age_s
        self.health: dict[str, Any] | None = None
        self.health_at = 0.0
        self.dashboard: dict[str, Any] | None = None
        self.refreshes = 0
        self._lock = asyncio.Lock()

    async def refresh(self) -> dict[str, Any]:
        """Check health (which collects the database's figures), read the last nodes, build the dashboard."""
        async with self._lock:
            health = await self.checker.check_all()
            try:
                recent = await self.monitoring.persistence.store(GenerationStore).recent_node_durations(
                    self.window_minutes
                )
            except Exception as exc:  # the page still shows what it has
                _log.warning("could not read the last generated nodes", metadata={"error": str(exc)})
                recent = []
            self.health, self.health_at = health, time.monotonic()
            self.dashboard = build_dashboard(self.monitoring, health, recent, self.window_minutes)
            self.refreshes += 1
            return self.dashboard

    async def current_health(self) -> dict[str, Any]:
        """Return the last health check, or a new one when it is older than ``health_max_age_s``."""
        if self.health is None or time.monotonic() - self.health_at > self.health_max_age_s:
            await self.refresh()
        assert self.health is not None
        return self.health


def _json(data: Any, status: int = 200) -> web.Response:
    body = orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS)
    return web.Response(body=body, status=status, content_type="application/json")


@web.middleware
async def _headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


_STATE: web.AppKey[DashboardState] = web.AppKey("dashboard_state", DashboardState)


async def _index(request: web.Request) -> web.Response:
    return web.Response(body=_asset("dashboard.html"), content_type="text/html", charset="utf-8")


async def _static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _STATIC:
        raise web.HTTPNotFound()
    return web.Response(body=_asset(name), content_type=_STATIC[name], charset="utf-8")


async def _metrics(request: web.Request) -> web.Response:
    text = await request.app[_STATE].monitoring.export_prometheus_metrics()
    return web.Response(body=text.encode("utf-8"), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _health(request: web.Request) -> web.Response:
    health = await request.app[_STATE].current_health()
    body = {k: v for k, v in health.items() if k != "metrics"}
    body["status"] = health["overall_status"]
    return _json(body, status=503 if health["overall_status"] == "critical" else 200)


async def _dashboard(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    data = state.dashboard if state.dashboard is not None else await state.refresh()
    return _json(data)


def create_app(
    monitoring: MonitoringSystem | None = None,
    *,
    window_minutes: float = 60.0,
    refresh_interval_s: float = 10.0,
    kafka_bootstrap_servers: str | None = None,
    health_max_age_s: float = 2.0,
    close_monitoring: bool | None = None,
) -> web.Application:
    """Build the application (see the module docstring); ``monitoring`` defaults to the process's system.

    The background refresh starts with the application and stops with it. The system is closed at shutdown
    when ``close_monitoring`` says so (default: when this function took the process's system).
    """
    owned = monitoring is None if close_monitoring is None else close_monitoring
    system = monitoring if monitoring is not None else get_monitoring_system()
    state = DashboardState(
        system,
        window_minutes=window_minutes,
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        health_max_age_s=health_max_age_s,
    )
    app = web.Application(middlewares=[_headers])
    app[_STATE] = state
    app.router.add_get("/", _index)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/health", _health)
    app.router.add_get("/api/dashboard", _dashboard)

    async def refresher(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                try:
                    await state.refresh()
                except Exception as exc:  # keep serving; the next round may work
                    _log.warning("dashboard refresh failed", metadata={"error": f"{type(exc).__name__}: {exc}"})
                await asyncio.sleep(refresh_interval_s)

        task = asyncio.create_task(loop(), name="agents-dashboard-refresh")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if owned:
            await system.close()

    app.cleanup_ctx.append(refresher)
    return app


def run_server(host: str | None = None, port: int | None = None, **options: Any) -> None:
    """Serve :func:`create_app` on ``host``:``port`` (default: the ``PROMETHEUS_HOST``/``_PORT`` settings)."""
    settings = get_settings()
    host = host or settings.prometheus_host
    port = port or settings.prometheus_port
    _log.info("monitoring server starting", metadata={"host": host, "port": port})
    web.run_app(create_app(**options), host=host, port=port, print=None, access_log=None)
