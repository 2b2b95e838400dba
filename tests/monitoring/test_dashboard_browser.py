"""The dashboard page in a real browser (Debian's chromium through playwright): what it renders, and a screenshot.

The server runs in the test's event loop on a free port, over a SQLite database with known rows; the page must
show the overall status, the components, the active alert and a chart with one point per recorded value, load
nothing from outside the server, and draw the chart in the chart's colour (checked on the screenshot's pixels).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from aiohttp import web
from playwright.async_api import async_playwright

from agents.lib.monitoring import MetricType, MonitoringSystem
from agents.lib.persistence import CodegenPersistence, TemplateCacheDelta
from agents.server import create_app
from tests.monitoring.conftest import free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]
ACCENT = (26, 115, 232)  # --accent in dashboard.css: the chart's line and points
CRITICAL = "rgb(197, 34, 31)"  # --critical


def decode_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, interlace) == (8, 0) and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for y in range(height):
        row_start = y * (stride + 1)
        kind, line = raw[row_start], bytearray(raw[row_start + 1 : row_start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, up_left = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                line[i] = (line[i] + pred) & 0xFF
        pixels.extend(tuple(line[x : x + 3]) for x in range(0, stride, channels))  # type: ignore[misc]
        previous = line
    return width, height, pixels


async def test_dashboard_renders_health_alerts_and_charts(tmp_path: Path) -> None:
    async with CodegenPersistence(f"sqlite:///{tmp_path / 'dash.db'}") as p:
        await p.record_template_cache_stats(
            [TemplateCacheDelta("t", "EFFECT", "/t.j2", hits=9, misses=1, loads=1)]
        )
        m = MonitoringSystem(persistence=p)
        durations = [4200.0, 6100.0, 5300.0, 7900.0, 6600.0]
        for ms in durations:
            await m.record_metric("generation_duration_ms", ms, MetricType.HISTOGRAM, {"node_type": "EFFECT"})
        await m.record_metric("cache_hit_rate", 0.6, MetricType.GAUGE, {"cache": "template"})
        await m.update_health_status("event_processor", False, "critical", error_message="<b>Kafka</b> down")
        runner = web.AppRunner(create_app(m, refresh_interval_s=60))
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        requests: list[str] = []
        problems: list[str] = []
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                page = await browser.new_page(viewport={"width": 1280, "height": 1400})
                page.on("request", lambda r: requests.append(r.url))
                page.on("pageerror", lambda e: problems.append(str(e)))
                page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
                await page.goto(base + "/")
                await page.wait_for_selector('body[data-loaded="true"]', timeout=15_000)

                overall = page.locator("#overall")
                assert await overall.inner_text() == "CRITICAL"  # upper-cased by the style sheet
                assert await overall.get_attribute("data-status") == "critical"
                assert await overall.evaluate("e => getComputedStyle(e).backgroundColor") == CRITICAL

                rows = page.locator("#components tbody tr")
                names = [await rows.nth(i).get_attribute("data-component") for i in range(await rows.count())]
                assert names == ["database", "event_processor", "events", "generation", "outbox", "template_cache"]
                kafka_row = page.locator('#components tr[data-component="event_processor"]')
                assert (await kafka_row.locator(".status").inner_text()).lower() == "critical"
                assert "<b>Kafka</b> down" in await kafka_row.inner_text()  # shown as text, not markup
                assert await kafka_row.locator("b").count() == 0
                database = page.locator('#components tr[data-component="database"] .status')
                assert (await database.inner_text()).lower() == "healthy"

                alert = page.locator('#alerts tr[data-metric="cache_hit_rate"]')
                assert await alert.count() == 1
                assert (
                    "Template cache hit rate 60.0% is below the critical threshold 70.0%"
                    in await alert.inner_text()
                )
                assert await page.locator("#no-alerts").is_hidden()

                figure = page.locator('.figure[data-key="template_cache.overall_hit_rate"] .value')
                assert await figure.inner_text() == "90.0%"

                chart = page.locator('.chart[data-chart-id="generation_duration_ms{node_type=EFFECT}"]')
                assert await chart.locator("svg").get_attribute("data-points") == "5"
                points = chart.locator("circle.point")
                assert await points.count() == len(durations)
                heights = [float(await points.nth(i).get_attribute("cy") or "nan") for i in range(5)]
                # SVG y grows downwards: the ranks of the heights are the reverse ranks of the values
                assert sorted(range(5), key=lambda i: heights[i]) == sorted(range(5), key=lambda i: -durations[i])
                assert "last 6600.0 ms" in await chart.inner_text()

                shot = tmp_path / "dashboard.png"
                await page.screenshot(path=str(shot))
                chart_shot = tmp_path / "chart.png"
                await chart.screenshot(path=str(chart_shot))
                await browser.close()
        finally:
            await runner.cleanup()
    width, height, _ = decode_png(shot.read_bytes())
    assert (width, height) == (1280, 1400)
    _, _, chart_pixels = decode_png(chart_shot.read_bytes())
    drawn = sum(1 for px in chart_pixels if all(abs(a - b) <= 8 for a, b in zip(px, ACCENT, strict=True)))
    assert drawn > 100, "the chart's line and points are not in the screenshot"
    assert problems == []
    assert requests and all(url.startswith(base + "/") for url in requests)
    assert {url.removeprefix(base) for url in requests} == {
        "/",
        "/static/dashboard.css",
        "/static/dashboard.js",
        "/api/dashboard",
    }
