"""Persistence benchmark: batched metric writes through CodegenPersistence vs raw asyncpg, and analytics
query time as the metrics table grows, on PostgreSQL and SQLite, in one run.

1. ``write``: N event-metric rows recorded through ``CodegenPersistence.record_event_metric`` and written by its
   buffer (batch 500, one transaction and one executemany per batch), against raw ``asyncpg`` ``executemany``
   of the same rows in batches of 500 (one transaction each) into the same table of the same server, each
   into a fresh database, alternating, several repeats. Target: ours >= 0.5x raw throughput.
2. ``query``: ``event_processing_summary(60)`` (count, success rate, averages, nearest-rank p95, the same per
   event type: the analytics a dashboard polls) timed over tables of 100k rows and, with ``--big``, 1M rows,
   on both backends, in two shapes:

   * ``fixed window``: 50k rows in the last hour, the rest spread over the 30 days before (history accumulates,
     the last hour does not). An index-bound query costs about the same at 100k and at 1M rows. (At 100k rows
     the two shapes are the same data, measured once.)
   * ``half in window``: half the rows in the last hour, so the rows to aggregate grow with the table; no index
     can make that sub-linear (every row of the window is counted); the time per window row is what to compare.

   Rows are loaded in random time order (the worst case for an index on ``created_at``: no correlation between
   index order and table order); PostgreSQL tables are loaded with COPY and timed after ``ANALYZE`` (a fresh
   bulk load: the visibility map is not set yet, so even an index-only scan visits the table) and again after
   ``VACUUM`` (the steady state of an append-only table once autovacuum has visited it). The plan of the
   totals query is printed beside each figure. ``--quick`` uses 10k and 100k rows and a window of 5k rows.

   Verdict: with a fixed window, the best time at the biggest table is at most 1.5x the best time at the
   smallest (10x fewer rows), on SQLite and on PostgreSQL after VACUUM (after ANALYZE alone it is reported).

PostgreSQL: ``AGENTS_BENCH_POSTGRES_DSN`` names a server to use (databases ``agents_bench_<random>`` are
created and dropped), else a throwaway local server is started as in the test suite.

Run: ``.venv/bin/python bench/bench_persistence.py [--quick] [--big] [--rows 50000]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.lib.db.schema import event_processing_metrics
from agents.lib.migrations import HEAD_REVISION, apply_async
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import configure_logging

BATCH = 500
COLUMNS = [
    "event_type",
    "processing_duration_ms",
    "success",
    "batch_size",
    "queue_wait_ms",
    "retry_count",
    "error",
    "created_at",
]
INSERT_SQL = f"INSERT INTO event_processing_metrics ({', '.join(COLUMNS)}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
SQLITE_INSERT = f"INSERT INTO event_processing_metrics ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * 8)})"
TOTALS_SQL = (
    "SELECT count(*), sum(CASE WHEN success THEN 1 ELSE 0 END), avg(processing_duration_ms), avg(batch_size),"
    " coalesce(sum(retry_count), 0) FROM event_processing_metrics WHERE created_at >= {}"
)
WRITE_TARGET = 0.5  # ours / raw asyncpg throughput
FLAT_LIMIT = 1.5  # fixed window: best time at the biggest table / at the smallest, to count as index-bound

Row = tuple[str, float, bool, int, float, int, None, datetime]


def write_rows(n: int, now: datetime) -> list[Row]:
    rng = random.Random(42)
    return [
        (
            f"codegen.event.{i % 8}",
            rng.expovariate(1 / 20.0),
            rng.random() > 0.05,
            10,
            rng.random() * 5,
            0,
            None,
            now - timedelta(minutes=30) * rng.random(),
        )
        for i in range(n)
    ]


def query_rows(n: int, in_window: int, now: datetime) -> list[Row]:
    """``in_window`` rows within the last 30 minutes, the others 61 minutes to 30 days old, in random order.

    (The window rows stay inside a 60-minute window for the next 30 minutes, however slow the loads are.)
    """
    rng = random.Random(7)
    rows: list[Row] = []
    for i in range(n):
        if i < in_window:
            created = now - timedelta(minutes=30) * rng.random()
        else:
            created = now - timedelta(minutes=61) - timedelta(days=30) * rng.random()
        rows.append(
            (
                f"codegen.event.{i % 8}",
                rng.expovariate(1 / 20.0),
                rng.random() > 0.05,
                10,
                rng.random() * 5,
                rng.randrange(3),
                None,
                created,
            )
        )
    rng.shuffle(rows)
    return rows


def _with_db(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _fresh_pg(admin_dsn: str) -> tuple[str, str]:
    name = f"agents_bench_{uuid.uuid4().hex[:10]}"
    await _admin(admin_dsn, f'CREATE DATABASE "{name}"')
    dsn = _with_db(admin_dsn, name)
    await apply_async(dsn)
    return name, dsn


async def _drop_pg(admin_dsn: str, name: str) -> None:
    await _admin(admin_dsn, f'DROP DATABASE "{name}" WITH (FORCE)')


# -- 1. writes --------------------------------------------------------------------------------------------


async def _write_raw(admin_dsn: str, rows: list[Row]) -> float:
    name, dsn = await _fresh_pg(admin_dsn)
    try:
        conn = await asyncpg.connect(dsn)
        t0 = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            async with conn.transaction():
                await conn.executemany(INSERT_SQL, rows[i : i + BATCH])
        elapsed = time.perf_counter() - t0
        count = await conn.fetchval("SELECT count(*) FROM event_processing_metrics")
        await conn.close()
        assert count == len(rows), count
        return elapsed
    finally:
        await _drop_pg(admin_dsn, name)


async def _write_ours(admin_dsn: str, rows: list[Row]) -> float:
    n = len(rows)
    name, dsn = await _fresh_pg(admin_dsn)
    try:
        store = CodegenPersistence(dsn, batch_size=BATCH, flush_interval_s=0.05, max_buffered_rows=n + 1)
        await store.list_mixin_compatibility()  # connect and check the schema before timing
        record = store.record_event_metric
        t0 = time.perf_counter()
        for r in rows:
            await record(
                event_type=r[0],
                processing_duration_ms=r[1],
                success=r[2],
                batch_size=r[3],
                queue_wait_ms=r[4],
                retry_count=r[5],
                created_at=r[7],
            )
        await store.flush()
        elapsed = time.perf_counter() - t0
        stats = store.stats()
        await store.close()
        assert (stats.written, stats.dropped, stats.rejected) == (n, 0, 0), stats
        conn = await asyncpg.connect(dsn)
        count = await conn.fetchval("SELECT count(*) FROM event_processing_metrics")
        await conn.close()
        assert count == n, count
        return elapsed
    finally:
        await _drop_pg(admin_dsn, name)


async def bench_write(admin_dsn: str, n: int, repeats: int) -> bool:
    rows = write_rows(n, datetime.now(UTC))
    print(f"\n== write: {n} event-metric rows into PostgreSQL, batches of {BATCH}, {repeats} repeats ==")
    raw_times: list[float] = []
    ours_times: list[float] = []
    for repeat in range(repeats):
        # Alternate which goes first, so drift within a repeat hits both alike.
        if repeat % 2:
            ours = await _write_ours(admin_dsn, rows)
            raw = await _write_raw(admin_dsn, rows)
        else:
            raw = await _write_raw(admin_dsn, rows)
            ours = await _write_ours(admin_dsn, rows)
        raw_times.append(raw)
        ours_times.append(ours)
        print(
            f"  repeat {repeat + 1}: raw asyncpg {n / raw:8.0f} rows/s   CodegenPersistence {n / ours:8.0f} rows/s"
            f"   ours/raw {raw / ours:.2f}x"
        )
    ratios = [r / o for r, o in zip(raw_times, ours_times, strict=True)]
    best_ratio = min(raw_times) / min(ours_times)
    median_ratio = statistics.median(ratios)
    print()
    print("| case | best rows/s | median rows/s |")
    print("|---|---:|---:|")
    print(f"| raw asyncpg executemany | {n / min(raw_times):.0f} | {n / statistics.median(raw_times):.0f} |")
    print(f"| CodegenPersistence | {n / min(ours_times):.0f} | {n / statistics.median(ours_times):.0f} |")
    print(
        f"| ours / raw | {best_ratio:.2f}x (best / best) | {median_ratio:.2f}x (median of the per-repeat ratios) |"
    )
    ok = median_ratio >= WRITE_TARGET
    print(
        f"{'PASS' if ok else 'FAIL'}: batched writes {median_ratio:.2f}x raw asyncpg throughput "
        f"(target >= {WRITE_TARGET}x)"
    )
    return ok


# -- 2. analytics queries ---------------------------------------------------------------------------------


@dataclass
class QueryResult:
    backend: str
    shape: str
    rows: int
    in_window: int
    median_ms: float
    best_ms: float
    plan: str


async def _time_summary(store: CodegenPersistence, in_window: int, repeats: int) -> tuple[float, float]:
    times = []
    summary = await store.event_processing_summary(60)  # warm: connection, statement cache, pages
    for _ in range(repeats):
        t0 = time.perf_counter()
        summary = await store.event_processing_summary(60)
        times.append((time.perf_counter() - t0) * 1000)
    assert summary["total_events"] == in_window, (summary["total_events"], in_window)
    assert summary["p95_latency_ms"] is not None
    return statistics.median(times), min(times)


def _pg_plan_line(lines: list[str]) -> str:
    """The first scan node of an EXPLAIN ANALYZE, with its heap fetches or heap blocks when reported."""
    scans = [line.strip().removeprefix("->").strip() for line in lines if "Scan" in line]
    scan = scans[0].split("  (")[0] if scans else "?"
    heap = [line.strip() for line in lines if "Heap Fetches" in line or "Heap Blocks" in line]
    return f"{scan}; {heap[0]}" if heap else scan


async def _vacuum(conn: asyncpg.Connection) -> None:
    """VACUUM until the visibility map covers the table (what autovacuum reaches on an append-only table).

    A VACUUM right after the load may set no page all-visible: it needs the loading transaction's commit hint
    bits, which are not set until its commit record is flushed, and the throwaway server runs with
    ``synchronous_commit=off``.
    """
    for _ in range(20):
        await conn.execute("VACUUM ANALYZE event_processing_metrics")
        pages, visible = await conn.fetchrow(
            "SELECT relpages, relallvisible FROM pg_class WHERE relname = 'event_processing_metrics'"
        )
        if visible >= 0.99 * pages:
            return
        await asyncio.sleep(0.25)
    print(f"warning: the visibility map covers {visible} of {pages} pages after VACUUM")


async def _pg_query(
    admin_dsn: str, rows: list[Row], in_window: int, repeats: int
) -> list[tuple[str, float, float, str]]:
    name, dsn = await _fresh_pg(admin_dsn)
    results = []
    try:
        conn = await asyncpg.connect(dsn)
        await conn.copy_records_to_table("event_processing_metrics", records=rows, columns=COLUMNS)
        cutoff = datetime.now(UTC) - timedelta(minutes=60)
        store = CodegenPersistence(dsn)
        for state in ("after ANALYZE", "after VACUUM"):
            if state == "after ANALYZE":
                await conn.execute("ANALYZE event_processing_metrics")
            else:
                await _vacuum(conn)
            plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + TOTALS_SQL.format("$1"), cutoff)
            median, best = await _time_summary(store, in_window, repeats)
            results.append((state, median, best, _pg_plan_line([r[0] for r in plan])))
        await store.close()
        await conn.close()
    finally:
        await _drop_pg(admin_dsn, name)
    return results


async def _sqlite_query(rows: list[Row], in_window: int, repeats: int) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store = CodegenPersistence(f"sqlite:///{path}")
        await store.list_mixin_compatibility()  # creates the schema
        db = sqlite3.connect(path)
        db.executemany(
            SQLITE_INSERT,
            [(*r[:7], r[7].astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")) for r in rows],
        )
        db.commit()
        db.execute("ANALYZE")
        cutoff = (datetime.now(UTC) - timedelta(minutes=60)).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        plan = "; ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + TOTALS_SQL.format("?"), (cutoff,)))
        db.close()
        median, best = await _time_summary(store, in_window, repeats)
        await store.close()
    return median, best, plan


async def bench_query(admin_dsn: str, sizes: list[int], window: int, repeats: int) -> bool:
    print(
        f"\n== query: event_processing_summary(60) (totals, p95, per-type), median and best of {repeats}; "
        "rows in random time order =="
    )
    results: list[QueryResult] = []
    for shape in ("fixed window", "half in window"):
        for size in sizes:
            in_window = window if shape == "fixed window" else size // 2
            same = [r for r in results if (r.rows, r.in_window) == (size, in_window)]
            if same:  # the smallest table: both shapes are the same data
                results += [
                    QueryResult(r.backend, shape, size, in_window, r.median_ms, r.best_ms, r.plan) for r in same
                ]
                continue
            rows = query_rows(size, in_window, datetime.now(UTC))
            for state, median, best, plan in await _pg_query(admin_dsn, rows, in_window, repeats):
                results.append(QueryResult(f"postgresql {state}", shape, size, in_window, median, best, plan))
            median, best, plan = await _sqlite_query(rows, in_window, repeats)
            results.append(QueryResult("sqlite", shape, size, in_window, median, best, plan))
            del rows
    print()
    print(
        "| shape | backend | table rows | rows in window | median ms | best ms | µs per window row "
        "| plan (totals) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in sorted(results, key=lambda r: (r.shape != "fixed window", r.backend, r.rows)):
        print(
            f"| {r.shape} | {r.backend} | {r.rows:,} | {r.in_window:,} | {r.median_ms:.1f} | {r.best_ms:.1f} | "
            f"{1000 * r.median_ms / r.in_window:.2f} | {r.plan} |"
        )
    ok = True
    print()
    small, big = min(sizes), max(sizes)
    if small == big:
        print("info: one table size only; run with --big to check how query time grows with the table")
        return ok
    for backend in dict.fromkeys(r.backend for r in results):
        for shape in ("fixed window", "half in window"):
            a = next(r for r in results if (r.backend, r.shape, r.rows) == (backend, shape, small))
            b = next(r for r in results if (r.backend, r.shape, r.rows) == (backend, shape, big))
            growth = b.best_ms / a.best_ms  # best of the repeats: the least disturbed by other work
            growth_median = b.median_ms / a.median_ms
            per_row = (b.best_ms / b.in_window) / (a.best_ms / a.in_window)
            figures = (
                f"{small:,} -> {big:,} rows ({big // small}x): time x{growth:.2f} (medians x{growth_median:.2f})"
            )
            if shape == "fixed window" and backend != "postgresql after ANALYZE":
                passed = growth <= FLAT_LIMIT
                ok &= passed
                print(
                    f"{'PASS' if passed else 'FAIL'}: {backend}, {shape}: {figures}; index-bound: <= x{FLAT_LIMIT}"
                )
            elif shape == "fixed window":
                print(f"info: {backend}, {shape}: {figures} (no visibility map yet: the scan visits the table)")
            else:
                print(f"info: {backend}, {shape}: {figures}, time per window row x{per_row:.2f}")
    return ok


async def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small tables and few repeats (a smoke run)")
    parser.add_argument("--rows", type=int, default=None, help="rows for the write benchmark (default 50000)")
    parser.add_argument("--big", action="store_true", help="time the queries over 100k and 1M rows")
    args = parser.parse_args()
    configure_logging("WARNING")  # keep "schema migrated" lines out of the tables
    if args.quick:
        write_n, write_repeats, sizes, window, query_repeats = 10_000, 2, [10_000, 100_000], 5_000, 5
    else:
        write_n, write_repeats, window, query_repeats = 50_000, 5, 50_000, 15
        sizes = [100_000, 1_000_000] if args.big else [100_000]
    if args.rows:
        write_n = args.rows
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
        conn = await asyncpg.connect(admin_dsn)
        pg_version = await conn.fetchval("SHOW server_version")
        await conn.close()
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(
            f"Python {platform.python_version()} ({os.cpu_count()} CPUs, load {load:.1f}), "
            f"PostgreSQL {pg_version}, SQLite {sqlite3.sqlite_version}, asyncpg {asyncpg.__version__}; "
            f"schema {HEAD_REVISION}; "
            f"indexes on {event_processing_metrics.name}: "
            + ", ".join(sorted(str(ix.name) for ix in event_processing_metrics.indexes))
        )
        write_ok = await bench_write(admin_dsn, write_n, write_repeats)
        query_ok = await bench_query(admin_dsn, sizes, window, query_repeats)
    finally:
        if server is not None:
            server.destroy()
    return 0 if write_ok and query_ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
