"""The guide's Stream 3 examples and Quick Start Example 2 run as written, and print or log what they should.

The code blocks are read from the guide itself (see ``tests._guide``) and run with top-level ``await`` in one
namespace per example. Only what the guide leaves to the reader is supplied: ``prd_analysis`` (the analysis of
an example PRD), ``jobs``, ``session_id`` and, for the progress loop, a ``generator`` whose batch is running
and the ``asyncio`` module it uses without importing it; ``/output`` becomes a temporary directory, and ``from omnibase_core.errors import OnexError`` becomes
``from agents.lib.errors import OnexError`` (the substitution our design documents).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import itertools
import os
import re
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa

from agents.lib.db import create_engine, resolve_dsn
from agents.lib.parallel_generator import ParallelGenerator
from agents.lib.prd_analyzer import PRDAnalysis
from tests._guide import code_blocks
from tests.parallel._support import CollectingSink, Gates, HookedGenerator, job, wait_until

GUIDE_NODES = [("EFFECT", "authentication"), ("COMPUTE", "validation"), ("REDUCER", "persistence")]
PACKAGES = [f"node_{domain}_user_service_{node_type.lower()}" for node_type, domain in GUIDE_NODES]


async def run_block(code: str, namespace: dict[str, Any], name: str) -> None:
    compiled = compile(code, f"<guide: {name}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    outcome = eval(compiled, namespace)
    if outcome is not None:
        await outcome


async def metric_rows() -> list[Any]:
    """The generation metrics in the test's default database (SQLite in its data directory)."""
    engine = create_engine(resolve_dsn(None))
    try:
        async with engine.connect() as conn:
            query = (
                "SELECT session_id, node_type, phase, worker_count, success FROM generation_performance_metrics"
            )
            return list((await conn.execute(sa.text(query + " ORDER BY id"))).all())
    finally:
        await engine.dispose()


async def test_stream3_examples_run_as_written(analysis: PRDAnalysis, tmp_path: Path) -> None:
    blocks = code_blocks("Stream 3: Parallel Generation", "python")
    assert [heading for heading, _ in blocks] == [
        "Simple Parallel Generation",
        "Progress Tracking",
        "Error Handling",
        "Custom Worker Count",
        "Timeout Configuration",
        "Resource Cleanup",
    ]
    code = {heading: text for heading, text in blocks}
    assert code["Simple Parallel Generation"].count('"/output"') == 1
    out = tmp_path / "output"
    namespace: dict[str, Any] = {"__name__": "guide_stream3", "prd_analysis": analysis}
    stdout = io.StringIO()

    # Simple Parallel Generation: three verified nodes.
    with contextlib.redirect_stdout(stdout):
        await run_block(
            code["Simple Parallel Generation"].replace('"/output"', repr(str(out))), namespace, "simple"
        )
    lines = stdout.getvalue().splitlines()
    assert len(lines) == 3, lines
    for line, (node_type, _) in zip(lines, GUIDE_NODES, strict=True):
        assert re.fullmatch(rf"✅ {node_type} generated in \d+ms", line), line
    simple = namespace["generator"]
    guide_jobs = namespace["jobs"]
    assert [r.success for r in namespace["results"]] == [True, True, True]
    assert all(r.verification is not None and r.verification.passed for r in namespace["results"])
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("node_")) == sorted(PACKAGES)

    # Progress Tracking: the loop runs beside a batch of ours, which moves on only when the loop has seen it.
    gates = Gates("EFFECT", "COMPUTE", "REDUCER")
    hooked = HookedGenerator(before=gates.hook)
    tracked = ParallelGenerator(max_workers=3, enable_metrics=False, generator=hooked)
    namespace["generator"] = tracked
    namespace["asyncio"] = asyncio  # the block uses asyncio without importing it
    progress_out = io.StringIO()
    batch = asyncio.create_task(
        tracked.generate_nodes_parallel([job(analysis, t, tmp_path / "tracked") for t in gates.gates], uuid4())
    )
    await wait_until(lambda: all(e.is_set() for e in gates.started.values()), "the tracked batch started")
    with contextlib.redirect_stdout(progress_out):
        loop_task = asyncio.create_task(run_block(code["Progress Tracking"], namespace, "progress"))
        await wait_until(lambda: "(0/3)" in progress_out.getvalue() or loop_task.done(), "the loop printed 0/3")
        gates.open("EFFECT")
        await wait_until(lambda: "(1/3)" in progress_out.getvalue() or loop_task.done(), "the loop printed 1/3")
        assert not loop_task.done(), loop_task
        gates.open_all()
        await batch
        await asyncio.wait_for(loop_task, 30)
    await tracked.cleanup()
    hooked.close()
    printed = progress_out.getvalue().splitlines()
    assert printed[:1] == ["Progress: 0.0% (0/3)"]
    assert "Progress: 33.3% (1/3)" in printed
    assert set(printed) <= {"Progress: 0.0% (0/3)", "Progress: 33.3% (1/3)", "Progress: 66.7% (2/3)"}

    # Error Handling, with the guide's generator: a partial failure, then a complete one.
    handling = code["Error Handling"]
    assert "from omnibase_core.errors import OnexError" in handling
    handling = handling.replace(
        "from omnibase_core.errors import OnexError", "from agents.lib.errors import OnexError"
    )
    namespace["generator"] = simple
    namespace["session_id"] = uuid4()
    namespace["jobs"] = [job(analysis, "EFFECT", tmp_path / "partial"), job(analysis, "GATEWAY", tmp_path)]
    partial_out = io.StringIO()
    with contextlib.redirect_stdout(partial_out):
        await run_block(handling, namespace, "errors")
    assert partial_out.getvalue().splitlines() == [
        "Warning: 1 jobs failed:",
        "  - GATEWAY: unknown node type 'GATEWAY'; use one of EFFECT, COMPUTE, REDUCER, ORCHESTRATOR",
    ]
    assert [r.success for r in namespace["successful"]] == [True]
    namespace["jobs"] = guide_jobs  # again: every node now exists, so every job fails
    failure_out = io.StringIO()
    with contextlib.redirect_stdout(failure_out):
        await run_block(handling, namespace, "errors")
    failure = failure_out.getvalue().splitlines()
    assert failure[0] == "Complete failure: all 3 generation jobs failed"
    assert failure[1].startswith("Details: {'errors': {")
    assert all(str(j.job_id) in failure[1] for j in guide_jobs)
    assert failure[1].count("already exists") == 3
    await simple.cleanup()

    # The rows the guide's generator wrote to the default metrics database (it owns it).
    rows = await metric_rows()
    assert [(r.node_type, r.phase) for r in rows[:4]] == [
        ("EFFECT", "job"),
        ("COMPUTE", "job"),
        ("REDUCER", "job"),
        ("BATCH", "batch"),
    ]
    assert {r.worker_count for r in rows} == {3}
    assert [r.phase for r in rows].count("batch") == 3

    # Custom Worker Count and Timeout Configuration.
    await run_block(code["Custom Worker Count"], namespace, "workers")
    assert namespace["optimal_workers"] == min(os.cpu_count() or 1, 4)
    assert namespace["generator"].max_workers == namespace["optimal_workers"]
    await run_block(code["Timeout Configuration"], namespace, "timeout")
    assert namespace["generator"].timeout_seconds == 300

    # Resource Cleanup.
    namespace["jobs"] = [job(analysis, t, tmp_path / "cleanup") for t in ("EFFECT", "ORCHESTRATOR")]
    namespace["session_id"] = uuid4()
    await run_block(code["Resource Cleanup"], namespace, "cleanup")
    assert [r.success for r in namespace["results"]] == [True, True]
    assert namespace["generator"]._executor is None and namespace["generator"]._closed
    assert (tmp_path / "cleanup" / "node_library_loans_orchestrator" / "node.py").is_file()


def quick_start_example_2() -> str:
    blocks = dict(code_blocks("Quick Start Examples", "python"))
    return blocks["Example 2: Parallel Node Generation"]


async def test_quick_start_example_2_runs_as_written(
    analysis: PRDAnalysis, tmp_path: Path, log_sink: CollectingSink
) -> None:
    assert quick_start_example_2().count('"/output/user_service"') == 3
    code = quick_start_example_2().replace('"/output/user_service"', repr(str(tmp_path / "user_service")))
    namespace: dict[str, Any] = {"__name__": "guide_quick_start", "prd_analysis": analysis}

    # A ticker beside the example: the loop must keep running while the nodes are verified.
    ticks: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            ticks.append(loop.time())
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    await run_block(code, namespace, "example 2")
    stop.set()
    await ticking

    results = namespace["results"]
    assert [r.node_type for r in results] == ["EFFECT", "COMPUTE", "REDUCER"]
    assert all(r.success and r.verification is not None and r.verification.passed for r in results)
    assert sorted(p.name for p in (tmp_path / "user_service").glob("node_*")) == sorted(PACKAGES)
    assert namespace["generator"]._closed

    correlation_id = namespace["correlation_id"]
    assert isinstance(correlation_id, UUID)
    (done,) = [r for r in log_sink.records if r["message"] == "Parallel generation complete"]
    assert done["component"] == "codegen-parallel"
    assert done["correlation_id"] == str(correlation_id)
    assert done["metadata"]["total"] == 3
    assert (done["metadata"]["successful"], done["metadata"]["failed"]) == (3, 0)
    assert done["metadata"]["avg_duration_ms"] == sum(r.duration_ms for r in results) / 3

    # The default generator records metrics, under the session id the example passes.
    rows = await metric_rows()
    assert {r.session_id for r in rows} == {str(correlation_id)}
    assert sorted((r.node_type, r.phase) for r in rows) == [
        ("BATCH", "batch"),
        ("COMPUTE", "job"),
        ("EFFECT", "job"),
        ("REDUCER", "job"),
    ]

    # The loop kept ticking: its longest pause is far below the shortest job.
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    shortest_job_s = min(r.duration_ms for r in results) / 1000
    assert len(ticks) > 10
    assert max(gaps) < shortest_job_s / 5, (max(gaps), shortest_job_s)
