"""The aiohttp server: /metrics, /health (200 or 503), /api/dashboard, the page and its assets, headers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from agents.lib.monitoring import MetricType, MonitoringSystem
from agents.lib.persistence import CodegenPersistence, TemplateCacheDelta
from agents.server import create_app
from tests.monitoring.conftest import free_port


@pytest.fixture
async def persistence(tmp_path: Path) -> AsyncIterator[CodegenPersistence]:
    async with CodegenPersistence(f"sqlite:///{tmp_path / 'server.db'}") as p:
        await p.record_template_cache_stats(
            [TemplateCacheDelta("t", "EFFECT", "/t.j2", hits=9, misses=1, loads=1)]
        )
        for node_type, ms in (("EFFECT", 8000.0), ("COMPUTE", 6000.0)):
            await p.record_generation_metric(node_type=node_type, phase="job", duration_ms=ms)
        yield p


async def client_for(monitoring: MonitoringSystem, **options: float) -> TestClient[object, object]:
    client: TestClient[object, object] = TestClient(TestServer(create_app(monitoring, **options)))
    await client.start_server()
    return client


async def test_metrics_health_and_dashboard(persistence: CodegenPersistence) -> None:
    m = MonitoringSystem(persistence=persistence)
    for ms in (20.0, 35.0, 50.0):
        await m.record_metric("generation_duration_ms", ms, MetricType.HISTOGRAM, {"node_type": "EFFECT"})
    await m.record_metric("cache_hit_rate", 0.6, MetricType.GAUGE, {"cache": "template"})
    client = await client_for(m)
    try:
        health = await client.get("/health")
        assert health.status == 200
        body = await health.json()
        assert body["status"] == "healthy"
        assert list(body["components"]) == ["database", "template_cache", "generation", "events", "outbox"]
        assert body["components"]["template_cache"]["metadata"]["cache_hit_rate"] == 0.9

        metrics = await client.get("/metrics")
        assert metrics.status == 200
        assert metrics.headers["Content-Type"].startswith("text/plain; version=")
        families = {f.name: f for f in text_string_to_metric_families(await metrics.text())}
        assert families["generation_duration_ms"].type == "histogram"
        assert families["agents_template_cache_overall_hit_rate"].samples[0].value == 0.9
        healthy = {s.labels["component"]: s.value for s in families["agents_component_healthy"].samples}
        assert healthy == {"database": 1.0, "template_cache": 1.0, "generation": 1.0, "events": 1.0, "outbox": 1.0}

        data = await (await client.get("/api/dashboard")).json()
        assert data["overall_status"] == "critical"  # the 60% hit rate alert
        assert [a["metric_name"] for a in data["alerts"]] == ["cache_hit_rate"]
        charts = {c["id"]: c for c in data["charts"]}
        recorded = charts["generation_duration_ms{node_type=EFFECT}"]
        assert [p[1] for p in recorded["points"]] == [20.0, 35.0, 50.0]
        assert (recorded["warning"], recorded["critical"], recorded["unit"]) == (60000.0, 120000.0, "ms")
        assert [p[1] for p in charts["recent_nodes"]["points"]] == [8000.0, 6000.0]
        assert charts["recent_nodes"]["labels"] == ["EFFECT", "COMPUTE"]
        hit_rate = [p[1] for p in charts["agents_template_cache_overall_hit_rate"]["points"]]
        assert hit_rate and set(hit_rate) == {0.9}  # one point per collection (startup, /health)
        figures = {f["key"]: f["value"] for f in data["figures"]}
        assert (figures["overall_hit_rate"], figures["total_nodes"]) == (0.9, 2)
        assert set(data["components"]) >= {"database", "outbox"}
    finally:
        await client.close()


async def test_health_is_503_when_critical() -> None:
    async with CodegenPersistence(f"postgresql://postgres@127.0.0.1:{free_port()}/x") as p:
        client = await client_for(MonitoringSystem(persistence=p))
        try:
            response = await client.get("/health")
            assert response.status == 503
            body = await response.json()
            assert body["status"] == "critical"
            assert body["components"]["database"]["healthy"] is False
            assert "metrics" not in body
            dashboard = await (await client.get("/api/dashboard")).json()
            assert set(dashboard["collection_errors"]) >= {"template_cache", "event_processing"}
        finally:
            await client.close()


async def test_the_page_and_its_assets_ship_in_the_package(persistence: CodegenPersistence) -> None:
    client = await client_for(MonitoringSystem(persistence=persistence))
    try:
        page = await client.get("/")
        html = await page.text()
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert '<script src="/static/dashboard.js" defer></script>' in html
        assert "http://" not in html.replace('href="/metrics"', "") and "https://" not in html
        for name, kind in (("dashboard.js", "application/javascript"), ("dashboard.css", "text/css")):
            asset = await client.get(f"/static/{name}")
            assert asset.status == 200
            assert asset.headers["Content-Type"] == f"{kind}; charset=utf-8"
            text = await asset.text()
            assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
        assert (await client.get("/static/dashboard.html")).status == 404
        assert (await client.get("/static/..%2Fserver.py")).status == 404
        headers = page.headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert (await client.post("/api/dashboard")).status == 405  # the server only reads
    finally:
        await client.close()


async def test_the_background_refresh_grows_the_charts(persistence: CodegenPersistence) -> None:
    m = MonitoringSystem(persistence=persistence)
    app = create_app(m, refresh_interval_s=0.05)
    client: TestClient[object, object] = TestClient(TestServer(app))
    await client.start_server()
    try:
        for _ in range(200):  # bounded wait for three refreshes
            if len(m.get_metric_history("agents_template_cache_overall_hit_rate")) >= 3:
                break
            await asyncio.sleep(0.02)
        history = m.get_metric_history("agents_template_cache_overall_hit_rate")
        assert len(history) >= 3
        assert {p.value for p in history} == {0.9}
        for _ in range(200):  # the page's data is the last refresh's: wait (bounded) until it shows three points
            data = await (await client.get("/api/dashboard")).json()
            chart = next(c for c in data["charts"] if c["id"] == "agents_template_cache_overall_hit_rate")
            if len(chart["points"]) >= 3:
                break
            await asyncio.sleep(0.02)
        assert len(chart["points"]) >= 3
    finally:
        await client.close()
    assert m.persistence is persistence  # a system the caller passed in is not closed by the app
