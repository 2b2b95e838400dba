"""Monitoring benchmark: record_metric and the export against prometheus_client, and collect_all_metrics over 1M
rows on PostgreSQL, in one run.

1. ``record``: ``await monitoring.record_metric(name, value, type, {label: value})`` (which also keeps the
   series' history and checks its threshold) against prometheus_client's ``metric.labels(label=value).inc()``,
   ``.set()`` and ``.observe()`` on the same kind of metric, in the same kind of loop (inside a coroutine), for a
   counter, a watched gauge (``cache_hit_rate``: threshold checked on every value), a watched histogram
   (``template_load_duration_ms``: mean over the evaluation window) and an unwatched histogram. Cases run
   round-robin; the table gives the best round per case and the median of the per-round ratios.
   Target: every ratio <= 2.0x.
2. ``export``: ``await monitoring.export_prometheus_metrics()`` against ``generate_latest(registry)`` of a plain
   prometheus_client registry holding the same 200 series (100 counter label sets, 50 gauges, 50 histograms).
   Target: <= 1.2x.
3. ``collect``: ``collect_all_metrics(60)`` over 1M metric rows on PostgreSQL (360k job and 90k batch rows of
   generation metrics, 500k event metrics, 50k pattern feedback rows, 1,000 templates, 500 mixin pairs), one row
   in 50 in the last hour and the rest spread over the 30 days before, generated with ``generate_series`` and
   timed after ``VACUUM ANALYZE``; beside it, the three ``CodegenPersistence`` summaries it builds on, called one
   after the other. Target: the guide's "Metrics collection slow (>1s)": best collection <= 1 s.

PostgreSQL: ``AGENTS_BENCH_POSTGRES_DSN`` names a server to use (a database ``agents_bench_<random>`` is created
and dropped), else a throwaway local server is started as in the test suite.

Run: ``.venv/bin/python bench/bench_monitoring.py [--quick] [--rows 1000000]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.lib.monitoring import MetricType, MonitoringSystem
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import configure_logging

RECORD_TARGET = 2.0
EXPORT_TARGET = 1.2
COLLECT_TARGET_MS = 1000.0


# -- record_metric -----------------------------------------------------------------------------------------------


def _record_cases(n: int) -> dict[str, tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]]:
    m = MonitoringSystem(enabled=True)
    registry = CollectorRegistry()
    counter = Counter("generation_count", "nodes", ["node_type"], registry=registry)
    gauge = Gauge("cache_hit_rate", "hit rate", ["cache"], registry=registry)
    histogram = Histogram("template_load_duration_ms", "ms", ["template_type"], registry=registry,
                          buckets=(1, 2.5, 5, 10, 25, 50, 75, 100, 250, 500, 1000, 2500, 5000, 10000))  # fmt: skip
    plain = Histogram("render_ms", "ms", ["node_type"], registry=registry)
    record = m.record_metric
    counter_t, gauge_t, hist_t = MetricType.COUNTER, MetricType.GAUGE, MetricType.HISTOGRAM

    async def ours_counter() -> None:
        for _ in range(n):
            await record("generation_count", 1, counter_t, {"node_type": "EFFECT"})

    async def peer_counter() -> None:
        for _ in range(n):
            counter.labels(node_type="EFFECT").inc()

    async def ours_gauge() -> None:
        for _ in range(n):
            await record("cache_hit_rate", 0.85, gauge_t, {"cache": "template"})

    async def peer_gauge() -> None:
        for _ in range(n):
            gauge.labels(cache="template").set(0.85)

    async def ours_watched() -> None:
        for _ in range(n):
            await record("template_load_duration_ms", 45.2, hist_t, {"template_type": "EFFECT"})

    async def peer_watched() -> None:
        for _ in range(n):
            histogram.labels(template_type="EFFECT").observe(45.2)

    async def ours_plain() -> None:
        for _ in range(n):
            await record("render_ms", 12.5, hist_t, {"node_type": "EFFECT"})

    async def peer_plain() -> None:
        for _ in range(n):
            plain.labels(node_type="EFFECT").observe(12.5)

    return {
        "counter inc": (ours_counter, peer_counter),
        "gauge set (threshold checked)": (ours_gauge, peer_gauge),
        "histogram observe (threshold, window mean)": (ours_watched, peer_watched),
        "histogram observe (no threshold)": (ours_plain, peer_plain),
    }


async def _time(fn: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter_ns()
    await fn()
    return (time.perf_counter_ns() - started) / 1e3


async def bench_record(n: int, rounds: int) -> bool:
    cases = _record_cases(n)
    for ours, peer in cases.values():  # warm-up (creates the series)
        await ours()
        await peer()
    best: dict[str, list[float]] = {name: [float("inf"), float("inf")] for name in cases}
    ratios: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (ours, peer) in cases.items():
            ours_us = await _time(ours) / n
            peer_us = await _time(peer) / n
            best[name][0] = min(best[name][0], ours_us)
            best[name][1] = min(best[name][1], peer_us)
            ratios[name].append(ours_us / peer_us)
    print(f"\n## record_metric vs prometheus_client labels() ({n:,} calls x {rounds} rounds)\n")
    print("| case | ours µs | prometheus_client µs | median ratio |")
    print("|---|---:|---:|---:|")
    ok = True
    for name in cases:
        median = statistics.median(ratios[name])
        ok = ok and median <= RECORD_TARGET
        print(f"| {name} | {best[name][0]:.2f} | {best[name][1]:.2f} | {median:.2f}x |")
    worst = max(statistics.median(r) for r in ratios.values())
    print(
        f"\n{'PASS' if ok else 'FAIL'}: record_metric worst median ratio {worst:.2f}x (target <= {RECORD_TARGET}x)"
    )
    return ok


# -- export ------------------------------------------------------------------------------------------------------


async def bench_export(repeats: int) -> bool:
    m = MonitoringSystem(enabled=True)
    registry = CollectorRegistry()
    peer_counter = Counter("requests", "requests", ["route"], registry=registry)
    peer_gauge = Gauge("inflight", "inflight", ["route"], registry=registry)
    peer_hist = Histogram("latency_ms", "latency", ["route"], registry=registry,
                          buckets=(1, 2.5, 5, 10, 25, 50, 75, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
                                   60000, 120000, 300000))  # fmt: skip
    for i in range(100):
        await m.record_metric("requests", i + 1, MetricType.COUNTER, {"route": f"/r{i}"})
        peer_counter.labels(route=f"/r{i}").inc(i + 1)
    for i in range(50):
        await m.record_metric("inflight", i, MetricType.GAUGE, {"route": f"/r{i}"})
        peer_gauge.labels(route=f"/r{i}").set(i)
        await m.record_metric("latency_ms", i * 3.5, MetricType.HISTOGRAM, {"route": f"/r{i}"})
        peer_hist.labels(route=f"/r{i}").observe(i * 3.5)
    ours_text = await m.export_prometheus_metrics()
    peer_text = generate_latest(registry).decode()
    assert len(m.list_series()) == 200
    assert ours_text.count("\n") == peer_text.count("\n"), "the two registries must hold the same samples"
    ours_ms: list[float] = []
    peer_ms: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        await m.export_prometheus_metrics()
        ours_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        generate_latest(registry)
        peer_ms.append((time.perf_counter() - started) * 1000)
    ratio = statistics.median(o / p for o, p in zip(ours_ms, peer_ms, strict=True))
    ok = ratio <= EXPORT_TARGET
    print(f"\n## export of 200 series ({repeats} repeats, {len(ours_text):,} bytes)\n")
    print("| case | best ms | median ms |")
    print("|---|---:|---:|")
    print(f"| export_prometheus_metrics() | {min(ours_ms):.2f} | {statistics.median(ours_ms):.2f} |")
    print(f"| generate_latest() | {min(peer_ms):.2f} | {statistics.median(peer_ms):.2f} |")
    print(f"\n{'PASS' if ok else 'FAIL'}: export {ratio:.2f}x generate_latest (target <= {EXPORT_TARGET}x)")
    return ok


# -- collect_all_metrics on PostgreSQL ----------------------------------------------------------------------------

_WHEN = (
    "CASE WHEN random() < 0.02 THEN now() - random() * interval '55 minutes' "
    "ELSE now() - interval '1 hour' - random() * interval '30 days' END"
)


def _load_sql(rows: int) -> list[str]:
    jobs, batches, events, feedback = rows * 36 // 100, rows * 9 // 100, rows // 2, rows // 20
    return [
        f"""INSERT INTO generation_performance_metrics
            (node_type, phase, duration_ms, parallel, worker_count, speedup, success, context, created_at)
            SELECT (ARRAY['EFFECT','COMPUTE','REDUCER','ORCHESTRATOR'])[1 + i % 4], 'job', 1000 + i % 9000,
                   i % 3 <> 0, 2, NULL, i % 10 <> 0, jsonb_build_object('job_id', i), {_WHEN}
            FROM generate_series(1, {jobs}) AS s(i)""",
        f"""INSERT INTO generation_performance_metrics
            (node_type, phase, duration_ms, parallel, worker_count, speedup, success, context, created_at)
            SELECT 'BATCH', 'batch', 20000 + i % 9000, i % 4 <> 0, CASE WHEN i % 4 <> 0 THEN 2 ELSE 1 END,
                   1 + random() * 3, i % 10 <> 0,
                   jsonb_build_object('jobs', 4, 'cores_used', round((0.9 + random())::numeric, 3)), {_WHEN}
            FROM generate_series(1, {batches}) AS s(i)""",
        f"""INSERT INTO event_processing_metrics
            (event_type, processing_duration_ms, success, batch_size, retry_count, created_at)
            SELECT 'agents.event.' || (i % 20), random() * 200, i % 50 <> 0, 1 + i % 10, i % 3, {_WHEN}
            FROM generate_series(1, {events}) AS s(i)""",
        f"""INSERT INTO pattern_feedback_log
            (detected_pattern, detected_confidence, feedback_type, capabilities_matched, false_positives,
             false_negatives, user_provided, weight, created_at)
            SELECT 'pattern_' || (i % 40), random(),
                   (ARRAY['correct','incorrect','partial','adjusted'])[1 + i % 4],
                   '[]'::jsonb, '[]'::jsonb, '[]'::jsonb, i % 5 = 0, 1.0, {_WHEN}
            FROM generate_series(1, {feedback}) AS s(i)""",
        f"""INSERT INTO template_cache_metadata
            (template_name, template_type, file_path, size_bytes, hit_count, miss_count, load_count,
             total_load_time_ms, avg_load_time_ms, last_accessed_at)
            SELECT 'template_' || i, 'EFFECT', '/templates/t' || i || '.j2', 4096, 90 + i % 10, 10, 10,
                   50.0, 5.0, {_WHEN}
            FROM generate_series(1, 1000) AS s(i)""",
        f"""INSERT INTO mixin_compatibility_matrix (mixin_a, mixin_b, node_type, success_count, failure_count,
                                                   updated_at)
            SELECT 'Mixin' || lpad(i::text, 4, '0') || 'A', 'Mixin' || lpad(i::text, 4, '0') || 'B', 'EFFECT',
                   10 + i % 7, i % 5, {_WHEN}
            FROM generate_series(1, 500) AS s(i)""",
        "VACUUM ANALYZE",
    ]


def _with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


async def bench_collect(admin_dsn: str, rows: int, repeats: int) -> bool:
    name = f"agents_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = _with_database(admin_dsn, name)
    try:
        async with CodegenPersistence(dsn) as p:
            await p.flush()  # migrates the new database
            await p.outbox_counts()
            started = time.perf_counter()
            conn = await asyncpg.connect(dsn)
            try:
                for statement in _load_sql(rows):
                    await conn.execute(statement)
                total = sum(
                    [
                        await conn.fetchval("SELECT count(*) FROM generation_performance_metrics"),
                        await conn.fetchval("SELECT count(*) FROM event_processing_metrics"),
                        await conn.fetchval("SELECT count(*) FROM pattern_feedback_log"),
                    ]
                )
                in_window = await conn.fetchval(
                    "SELECT count(*) FROM event_processing_metrics WHERE created_at >= now() - interval '1 hour'"
                )
            finally:
                await conn.close()
            load_s = time.perf_counter() - started
            m = MonitoringSystem(persistence=p, enabled=True)
            first = await m.collect_all_metrics(60)
            assert first["errors"] == {}, first["errors"]
            ours: list[float] = []
            peer: list[float] = []
            for _ in range(repeats):
                started = time.perf_counter()
                metrics = await m.collect_all_metrics(60)
                ours.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                await p.template_cache_summary(60)
                await p.generation_summary(60)
                await p.event_processing_summary(60)
                peer.append((time.perf_counter() - started) * 1000)
            day: list[float] = []
            for _ in range(max(repeats // 2, 1)):
                started = time.perf_counter()
                await m.collect_all_metrics(24 * 60)
                day.append((time.perf_counter() - started) * 1000)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(
        f"\n## collect_all_metrics on PostgreSQL, {total:,} metric rows "
        f"({load_s:.1f} s to load, {repeats} repeats)\n"
    )
    print(f"{in_window:,} event rows in the last hour; sections: {', '.join(metrics['section_times_ms'])}\n")
    print("| case | best ms | median ms |")
    print("|---|---:|---:|")
    print(f"| collect_all_metrics(60) | {min(ours):.1f} | {statistics.median(ours):.1f} |")
    print(f"| the three summaries one after another (60) | {min(peer):.1f} | {statistics.median(peer):.1f} |")
    print(f"| collect_all_metrics(1440) | {min(day):.1f} | {statistics.median(day):.1f} |")
    speedup = metrics["parallel_generation"]["avg_speedup"]
    print(
        f"\navg_speedup {speedup:.2f}x, p95 event latency {metrics['event_processing']['p95_latency_ms']:.1f} ms"
    )
    ok = min(ours) <= COLLECT_TARGET_MS
    ratio = statistics.median(ours) / statistics.median(peer)
    print(
        f"{'PASS' if ok else 'FAIL'}: collect_all_metrics(60) best {min(ours):.0f} ms over {total:,} rows "
        f"(target <= {COLLECT_TARGET_MS:.0f} ms); {ratio:.2f}x the three summaries in sequence"
    )
    return ok


async def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls, 100k rows (a smoke run)")
    parser.add_argument("--rows", type=int, default=None, help="metric rows for the collection (default 1M)")
    args = parser.parse_args()
    configure_logging("CRITICAL")  # alerts about the generated data are not the point
    n, rounds, export_repeats, rows, repeats = (
        (20_000, 3, 30, 100_000, 3) if args.quick else (200_000, 5, 200, 1_000_000, 7)
    )
    rows = args.rows or rows
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    version = getattr(prometheus_client, "__version__", None) or _dist_version("prometheus-client")
    print(
        f"Python {platform.python_version()} ({os.cpu_count()} CPUs, load {load:.1f}), prometheus_client {version}"
    )
    record_ok = await bench_record(n, rounds)
    export_ok = await bench_export(export_repeats)
    external = os.environ.get("AGENTS_BENCH_POSTGRES_DSN")
    server = None
    if external:
        admin_dsn = external
    else:
        from tests._services.postgres import PostgresServer

        server = PostgresServer()
        server.start()
        admin_dsn = server.dsn
    try:
        collect_ok = await bench_collect(admin_dsn, rows, repeats)
    finally:
        if server is not None:
            server.destroy()
    return 0 if record_ok and export_ok and collect_ok else 1


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
