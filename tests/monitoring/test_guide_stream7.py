"""Every Stream 7 example of the user guide runs as written, and prints and returns what the database holds.

The blocks are read from the guide (see ``tests._guide``) and run in order in one namespace, with top-level
``await`` as in the guide. The database is the configured one (the embedded SQLite file of this test's data
directory) holding known rows. The reader supplies ``datetime`` (the dashboard block uses it without importing
it). ``web.run_app(app, port=9090)`` would block the test: it is replaced by a stand-in that keeps the app, which
the test then serves on a free port and queries.
"""

from __future__ import annotations

import ast
import inspect
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from agents.lib.monitoring import get_monitoring_system
from agents.lib.persistence import CodegenPersistence
from tests._guide import code_blocks
from tests.monitoring.test_collect import seed


async def run_block(code: str, heading: str, namespace: dict[str, Any]) -> None:
    compiled = compile(code, f"<guide: {heading}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)
    if inspect.iscoroutine(result):
        await result


async def test_stream7_examples_run_as_written(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with CodegenPersistence() as p:
        await seed(p)
    served: list[tuple[web.Application, int]] = []
    monkeypatch.setattr(web, "run_app", lambda app, port: served.append((app, port)))
    blocks = code_blocks("Stream 7: Monitoring", "python")
    assert [h for h, _ in blocks] == [
        "Recording Metrics",
        "Collecting System Metrics",
        "Health Status Tracking",
        "Alert Management",
        "Custom Thresholds",
        "Prometheus Integration",
        "Dashboard Integration",
    ]
    namespace: dict[str, Any] = {"__name__": "guide_stream7", "datetime": datetime}
    printed: dict[str, str] = {}
    for heading, code in blocks:
        await run_block(code, heading, namespace)
        printed[heading] = capsys.readouterr().out
        if heading == "Alert Management":
            first = namespace["monitoring"]
            assert first is get_monitoring_system()
            assert [m["sum"] for m in first.list_series("generation_count")] == [1.0]
            assert first.get_metric_history("cache_hit_rate", {"cache": "template"})[-1].value == 0.85
            assert (
                first.get_metric_history("template_load_duration_ms", {"template_type": "EFFECT"})[0].value == 45.2
            )

    lines = printed["Collecting System Metrics"].splitlines()
    assert lines[0].startswith("Collection completed in ") and lines[0].endswith("ms")
    assert lines[1:] == [
        "",
        "Template Cache:",
        "  Hit rate: 85.0%",
        "  Avg load time: 10.0ms",
        "  Total templates: 1",
        "",
        "Parallel Generation:",
        "  Parallel usage: 66.7%",
        "  Avg speedup: 1.80x",
        "",
        "Event Processing:",
        "  Success rate: 95.0%",
        "  P95 latency: 19ms",
    ]
    assert printed["Health Status Tracking"] == ""  # the only component reported is healthy
    assert printed["Alert Management"].splitlines() == [
        "2 critical alerts:",
        "  [critical] generation: Verification pass rate 66.7% is below the critical threshold 80.0% "
        "(database, last 60 min)",
        "    Threshold: 0.8, Actual: 0.6666666666666666",
        "  [critical] pattern_matching: Pattern precision 58.3% is below the critical threshold 80.0% "
        "(database, last 60 min)",
        "    Threshold: 0.8, Actual: 0.5833333333333334",
        "",
        "0 alerts resolved in last 24 hours",
    ]

    custom = namespace["monitoring"]  # the Custom Thresholds block made a new system
    assert custom is not get_monitoring_system()
    assert custom.thresholds.pattern_precision_critical == 0.82
    assert namespace["prom_metrics"] == ""  # nothing recorded in the new system yet

    [(app, port)] = served
    assert port == 9090
    await custom.record_metric("generation_duration_ms", 1234.0, "histogram", {"node_type": "EFFECT"})
    client: TestClient[object, object] = TestClient(TestServer(app))
    await client.start_server()
    try:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(await response.text())}
        count = [s for s in families["generation_duration_ms"].samples if s.name.endswith("_count")]
        assert [(s.labels, s.value) for s in count] == [({"node_type": "EFFECT"}, 1.0)]
    finally:
        await client.close()

    dashboard = namespace["dashboard_data"]
    assert datetime.fromisoformat(dashboard["timestamp"])
    assert dashboard["metrics"]["template_cache"]["overall_hit_rate"] == 0.85
    assert dashboard["summary"]["overall_status"] == "critical"
    assert sorted(a["component"] for a in dashboard["critical_alerts"]) == ["generation", "pattern_matching"]
    assert all(datetime.fromisoformat(a["created_at"]) for a in dashboard["critical_alerts"])
    await custom.close()
    await get_monitoring_system().close()
