"""Persistence benchmark: batched metric writes through CodegenPersistence vs raw asyncpg, and analytics
query time as the metrics table grows, on PostgreSQL and SQLite, in one run.

1. ``write``: N event-metric rows recorded through ``CodegenPersistence.record_event_metric`` and written by its
   buffer (batch 500, one transaction and one executemany per batch), against raw ``asyncpg`` ``executemany``
   of the same rows in batches of 500 into the same table of the same server. Target: ours >= 0.5x raw.
2. ``query``: ``event_processing_summary(60)`` (count, success rate, avg, p95 over the last hour) timed over
   tables of 100k rows (and 1M with ``--big``), on both backends; half the rows are older than the window,
   so the index on ``created_at`` matters.

PostgreSQL: ``AGENTS_BENCH_POSTGRES_DSN`` names a server to use (a database ``agents_bench_<random>`` is
created and dropped), else a throwaway local server is started as in the test suite.

Run: ``.venv/bin/python bench/bench_persistence.py [--rows 50000] [--big]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.lib.migrations import apply_async
from agents.lib.persistence import CodegenPersistence

BATCH = 500
INSERT_SQL = (
    "INSERT INTO event_processing_metrics (event_type, processing_duration_ms, success, batch_size,"
    " queue_wait_ms, retry_count, error, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)


def _rows(n: int, now: datetime, spread: timedelta) -> list[tuple[object, ...]]:
    rng = random.Random(42)
    types = [f"codegen.event.{i}" for i in range(8)]
    return [
        (
            types[i % 8],
            rng.expovariate(1 / 20.0),
            rng.random() > 0.05,
            10,
            rng.random() * 5,
            0,
            None,
            now - spread * rng.random(),
        )
        for i in range(n)
    ]


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


async def bench_write(admin_dsn: str, n: int) -> None:
    now = datetime.now(UTC)
    rows = _rows(n, now, timedelta(minutes=30))
    print(f"\n== write: {n} event-metric rows, PostgreSQL ==")
    results: dict[str, float] = {}
    for repeat in range(3):
        # raw asyncpg executemany
        name, dsn = await _fresh_pg(admin_dsn)
        conn = await asyncpg.connect(dsn)
        t0 = time.perf_counter()
        for i in range(0, n, BATCH):
            async with conn.transaction():
                await conn.executemany(INSERT_SQL, rows[i : i + BATCH])
        raw = time.perf_counter() - t0
        await conn.close()
        await _admin(admin_dsn, f'DROP DATABASE "{name}" WITH (FORCE)')

        # ours
        name, dsn = await _fresh_pg(admin_dsn)
        store = CodegenPersistence(dsn, batch_size=BATCH, flush_interval_s=0.05, max_buffered_rows=n + 1)
        await store.list_mixin_compatibility()  # connect and check the schema before timing
        t0 = time.perf_counter()
        for r in rows:
            await store.record_event_metric(
                event_type=r[0],  # type: ignore[arg-type]
                processing_duration_ms=r[1],  # type: ignore[arg-type]
                success=r[2],  # type: ignore[arg-type]
                batch_size=r[3],  # type: ignore[arg-type]
                queue_wait_ms=r[4],  # type: ignore[arg-type]
                retry_count=r[5],  # type: ignore[arg-type]
                created_at=r[7],  # type: ignore[arg-type]
            )
        await store.flush()
        ours = time.perf_counter() - t0
        assert store.stats().written == n, store.stats()
        await store.close()
        await _admin(admin_dsn, f'DROP DATABASE "{name}" WITH (FORCE)')
        results.setdefault("raw", float("inf"))
        results.setdefault("ours", float("inf"))
        results["raw"] = min(results["raw"], raw)
        results["ours"] = min(results["ours"], ours)
        print(
            f"  repeat {repeat + 1}: raw asyncpg {n / raw:10.0f} rows/s"
            f"   CodegenPersistence {n / ours:10.0f} rows/s"
        )
    ratio = results["raw"] / results["ours"]
    print(
        f"  best: raw {n / results['raw']:.0f} rows/s, ours {n / results['ours']:.0f} rows/s -> "
        f"ours/raw = {ratio:.2f}x (target >= 0.5x)"
    )


async def _query_times(store: CodegenPersistence, repeats: int = 15) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        summary = await store.event_processing_summary(60)
        times.append((time.perf_counter() - t0) * 1000)
    assert summary["total_events"] > 0
    times.sort()
    return statistics.median(times), times[0]


async def bench_query(admin_dsn: str, sizes: list[int]) -> None:
    print("\n== query: event_processing_summary(60), half the rows older than the window ==")
    print(f"  {'backend':<11}{'rows':>10}{'median ms':>12}{'best ms':>10}")
    for size in sizes:
        now = datetime.now(UTC)
        rows = _rows(size, now, timedelta(hours=2))
        # PostgreSQL
        name, dsn = await _fresh_pg(admin_dsn)
        conn = await asyncpg.connect(dsn)
        await conn.copy_records_to_table(
            "event_processing_metrics",
            records=rows,
            columns=[
                "event_type",
                "processing_duration_ms",
                "success",
                "batch_size",
                "queue_wait_ms",
                "retry_count",
                "error",
                "created_at",
            ],
        )
        await conn.execute("ANALYZE event_processing_metrics")
        await conn.close()
        store = CodegenPersistence(dsn)
        median, best = await _query_times(store)
        await store.close()
        await _admin(admin_dsn, f'DROP DATABASE "{name}" WITH (FORCE)')
        print(f"  {'postgresql':<11}{size:>10}{median:>12.1f}{best:>10.1f}")
        # SQLite
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.db"
            store = CodegenPersistence(f"sqlite:///{path}")
            await store.list_mixin_compatibility()  # creates the schema
            db = sqlite3.connect(path)
            db.executemany(
                re.sub(r"\$\d", "?", INSERT_SQL),
                [
                    (*r[:7], r[7].astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"))  # type: ignore[union-attr]
                    for r in rows
                ],
            )
            db.commit()
            db.execute("ANALYZE")
            db.close()
            median, best = await _query_times(store)
            await store.close()
            print(f"  {'sqlite':<11}{size:>10}{median:>12.1f}{best:>10.1f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows for the write benchmark")
    parser.add_argument("--big", action="store_true", help="also time the query over 1M rows")
    args = parser.parse_args()
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
        await bench_write(admin_dsn, args.rows)
        await bench_query(admin_dsn, [100_000, 1_000_000] if args.big else [100_000])
    finally:
        if server is not None:
            server.destroy()


if __name__ == "__main__":
    asyncio.run(main())
