"""Parallel generation benchmark: a 4-node microservice generated and verified with 1, 2 and 4 workers.

Each run generates the EFFECT, COMPUTE, REDUCER and ORCHESTRATOR nodes of one service (from
``examples/prd/marketplace_payouts.md``, whose analysis recommends all four; any PRD works since every node type
is asked for) into a fresh directory with :class:`~agents.lib.parallel_generator.ParallelGenerator` and
verifies each (imports, the node's tests, ``mypy --strict``, ruff), exactly as ``agents generate`` does. Worker
counts are interleaved within each repeat so that a change in the machine's load hits them alike.

mypy runs from a **warm seed cache** (see :mod:`agents.lib.codegen.mypy_seed`): the bench keeps its seed in its
scratch directory (``AGENTS_MYPY_SEED_DIR``), builds it before any measured run (a one-node warm-up, also with
``--quick``) and prints how long that took; every measured run then copies the seed, as every verification in a
long-lived process or after the first one on a machine does. The measured runs fail if a verification did not
use the seed. The imports and tests checks share one subprocess; the split below gives the import phase to
``imports`` and the rest of that process to ``tests``.

The table gives the median and best wall time per worker count, the speedup of the median against 1 worker
(target on 2 cores: >= 1.8x with 2 workers), the generator's own estimate of it (``last_batch.speedup``, from
CPU time) beside ``last_batch.concurrency`` (sum of job durations / wall time, which is not a speedup), and
the cores kept busy. A second table splits the 1-worker runs' time by step (generation and each check), which
is where to look when the speedup is low.

Run: ``.venv/bin/python bench/bench_parallel.py [--repeats 3] [--workers 1 2 4] [--quick] [--prd PATH]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

from agents.lib.codegen.mypy_seed import SEED_DIR_VARIABLE
from agents.lib.config import reset_settings
from agents.lib.parallel_generator import GenerationJob, ParallelGenerator
from agents.lib.prd_analyzer import PRDAnalysis, analyze_prd
from agents.lib.structured_logger import configure_logging

ROOT = Path(__file__).resolve().parent.parent

NODE_TYPES = ("EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR")
DEFAULT_PRD = ROOT / "examples" / "prd" / "marketplace_payouts.md"
FALLBACK_PRD = ROOT / "examples" / "prd" / "library_loans.md"


def _prepare_environment(scratch: Path) -> None:
    # Nothing of the bench reaches the user's data or cache directory; only warnings are logged.
    os.environ["AGENTS_DATA_DIR"] = str(scratch / "data")
    os.environ[SEED_DIR_VARIABLE] = str(scratch / "mypy-seed")
    reset_settings()
    configure_logging("WARNING")


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the verification subprocesses)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class Run:
    wall_s: float
    estimated_speedup: float
    concurrency: float
    cores: float
    steps: dict[str, float]


async def _run_once(
    analysis: PRDAnalysis, workers: int, out: Path, node_types: tuple[str, ...] = NODE_TYPES, seeded: bool = True
) -> Run:
    jobs = [
        GenerationJob(
            job_id=uuid4(),
            node_type=node_type,
            microservice_name=analysis.service_name,
            domain=analysis.domain,
            analysis_result=analysis,
            output_directory=out,
        )
        for node_type in node_types
    ]
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    async with ParallelGenerator(max_workers=workers, timeout_seconds=600, enable_metrics=False) as generator:
        results = await generator.generate_nodes_parallel(jobs, uuid4())
        batch = generator.last_batch
    wall_s = time.perf_counter() - started
    cores = (_cpu_seconds() - cpu_before) / wall_s
    failed = [f"{r.node_type}: {r.error}" for r in results if not r.success]
    if failed:
        raise SystemExit("generation failed:\n  " + "\n  ".join(failed))
    steps: dict[str, float] = defaultdict(float)
    for result in results:
        assert result.verification is not None
        checks = result.verification.checks
        mypy = result.verification.check("mypy").message
        if seeded and not mypy.endswith("[seeded cache]"):
            raise SystemExit(f"{result.node_type}: mypy did not run from the seed: {mypy}")
        steps["generate+static checks"] += (result.duration_ms - sum(c.duration_ms for c in checks)) / 1000
        for check in checks:
            if check.duration_ms:
                steps[check.name] += check.duration_ms / 1000
    assert batch is not None
    return Run(wall_s, batch.speedup, batch.concurrency, cores, dict(steps))


def _print_tables(runs: dict[int, list[Run]]) -> None:
    base = statistics.median(r.wall_s for r in runs[1])
    columns = (
        f"{'workers':>7} | {'runs (s)':<20} | {'median s':>8} | {'speedup':>7} | {'estimate':>8} | "
        f"{'at once':>7} | {'cores':>5}"
    )
    print()
    print(columns)
    print(re.sub(r"[^|]", "-", columns).replace("|", "+"))
    for workers, items in sorted(runs.items()):
        median = statistics.median(r.wall_s for r in items)
        listed = " ".join(f"{r.wall_s:.2f}" for r in items)
        print(
            f"{workers:>7} | {listed:<20} | {median:>8.2f} | {base / median:>6.2f}x | "
            f"{statistics.median(r.estimated_speedup for r in items):>7.2f}x | "
            f"{statistics.median(r.concurrency for r in items):>7.2f} | "
            f"{statistics.median(r.cores for r in items):>5.2f}"
        )
    print(
        "\nspeedup: median wall time with 1 worker / median wall time; estimate: last_batch.speedup (the"
        "\ngenerator's own, from CPU time); at once: last_batch.concurrency (sum of job durations / wall time);"
        "\ncores: CPU seconds of the process and its subprocesses / wall time"
    )
    totals: dict[str, float] = defaultdict(float)
    for run in runs[1]:
        for step, seconds in run.steps.items():
            totals[step] += seconds / len(runs[1])
    whole = sum(totals.values())
    print("\nwhere the time goes (1 worker, 4 nodes, per run):")
    for step, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {step:<24} {seconds:>6.2f} s  {100 * seconds / whole:>5.1f}%")


TARGET_SPEEDUP = 1.8
"""Issue 5: 2 workers at least 1.8x faster than 1 on this 2-core machine (the limit is 2x)."""


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3, help="runs per worker count (default 3)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="worker counts (default 1 2 4)")
    parser.add_argument("--quick", action="store_true", help="one run each of 1 and 2 workers, no warm-up")
    parser.add_argument("--prd", type=Path, default=None, help="the PRD to generate from")
    args = parser.parse_args(argv)
    repeats, worker_counts = args.repeats, sorted(set(args.workers) | {1})
    if args.quick:
        repeats, worker_counts = 1, [1, 2]
    prd = args.prd or (DEFAULT_PRD if DEFAULT_PRD.is_file() else FALLBACK_PRD)

    scratch = Path(tempfile.mkdtemp(prefix="agents-bench-parallel-"))
    try:
        _prepare_environment(scratch)
        analysis = analyze_prd(prd)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(
            f"PRD {prd.name} -> {analysis.service_name}: {', '.join(NODE_TYPES)}; "
            f"{os.cpu_count()} CPUs, load average {load:.2f}; {repeats} repeat(s) of workers {worker_counts}"
        )
        # Build the seed mypy cache (one node, one worker): every measured run starts from a warm seed.
        seed = await _run_once(analysis, 1, scratch / "seed", node_types=NODE_TYPES[:1], seeded=False)
        print(f"seed mypy cache built and used once: mypy {seed.steps['mypy']:.2f} s (one node, cold seed)")
        if not args.quick:  # warm the disk cache and the interpreter's imports
            await _run_once(analysis, max(worker_counts), scratch / "warmup")
        runs: dict[int, list[Run]] = defaultdict(list)
        for repeat in range(repeats):
            for workers in worker_counts:
                out = scratch / f"run-{repeat}-{workers}"
                run = await _run_once(analysis, workers, out)
                runs[workers].append(run)
                shutil.rmtree(out, ignore_errors=True)
                print(
                    f"  repeat {repeat + 1}, {workers} worker(s): {run.wall_s:.2f} s, {run.cores:.2f} cores used"
                )
        _print_tables(runs)
        if hasattr(os, "getloadavg"):
            print(f"\nload average at the end: {os.getloadavg()[0]:.2f} (a shared machine: mind the spread)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if 2 not in runs:
        return 0
    speedup = statistics.median(r.wall_s for r in runs[1]) / statistics.median(r.wall_s for r in runs[2])
    met = speedup >= TARGET_SPEEDUP
    verdict = "PASS" if met else "FAIL"
    print(f"{verdict}: 2 workers {speedup:.2f}x faster than 1 (medians; target >= {TARGET_SPEEDUP}x)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
