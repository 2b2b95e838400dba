"""The guide's "Common Patterns, Pattern 1: End-to-End Code Generation", run as written.

The block is read from the guide (see ``tests._guide``). It names things the guide leaves to the reader; we supply
real ones: ``analyze_prd`` is our :func:`~agents.lib.prd_analyzer.analyze_prd_async` (the block awaits it),
``create_jobs`` is :func:`agents.lib.codegen_workflow.create_jobs`, ``TEMPLATES_DIR`` the generator's templates.
``get_monitoring_system`` and ``MetricType`` are the monitoring stream's own (a fresh system for the test), and
the test reads back what the block recorded through it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

from agents.lib.codegen.engine import TEMPLATES_DIR
from agents.lib.codegen_workflow import create_jobs
from agents.lib.monitoring import MetricType, MonitoringSystem
from agents.lib.parallel_generator import ParallelGenerator
from agents.lib.prd_analyzer import analyze_prd_async
from agents.lib.structured_logger import get_logger
from agents.lib.template_cache import TemplateCache
from tests._guide import code_blocks
from tests.workflow.conftest import EXAMPLES, LogCapture


def pattern_1() -> str:
    blocks = code_blocks("Common Patterns", "python")
    [code] = [code for heading, code in blocks if heading == "Pattern 1: End-to-End Code Generation"]
    return code


async def test_pattern_1_generates_verifies_and_records(tmp_path: Path, log_capture: LogCapture) -> None:
    monitoring = MonitoringSystem()
    namespace: dict[str, Any] = {
        "Path": Path,
        "uuid4": uuid4,
        "get_logger": get_logger,
        "TemplateCache": TemplateCache,
        "ParallelGenerator": ParallelGenerator,
        "TEMPLATES_DIR": TEMPLATES_DIR,
        "ALL_TYPES": ["EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"],
        "analyze_prd": analyze_prd_async,
        "create_jobs": create_jobs,
        "get_monitoring_system": lambda: monitoring,
        "MetricType": MetricType,
        "__name__": "guide_pattern_1",
    }
    exec(compile(pattern_1(), "<guide: Pattern 1>", "exec"), namespace)
    out = tmp_path / "loans"
    results = await namespace["generate_microservice"](EXAMPLES / "library_loans.md", out)

    assert [r.node_type for r in results] == ["EFFECT", "COMPUTE"]
    assert all(r.success for r in results), [r.error for r in results]
    assert all(r.verification is not None and r.verification.passed for r in results)
    assert sorted(p.name for p in out.glob("node_*")) == [
        "node_library_loans_compute",
        "node_library_loans_effect",
    ]
    series = {s["labels"]["node_type"]: s for s in monitoring.list_series("generation_duration_ms")}
    assert sorted(series) == ["COMPUTE", "EFFECT"]
    for r in results:
        assert series[r.node_type]["type"] == MetricType.HISTOGRAM.value
        assert (series[r.node_type]["count"], series[r.node_type]["sum"]) == (1, r.duration_ms)
    exported = await monitoring.export_prometheus_metrics()
    assert 'generation_duration_ms_count{node_type="EFFECT"} 1.0' in exported
    complete = [r for r in log_capture.records() if r["message"] == "Generation complete"]
    assert [c["metadata"] for c in complete] == [{"total": 2, "successful": 2, "failed": 0}]
    assert complete[0]["component"] == "codegen-e2e"
    analyzing = [r for r in log_capture.records() if r["message"] == "Analyzing PRD"]
    assert analyzing[0]["correlation_id"] == complete[0]["correlation_id"]
