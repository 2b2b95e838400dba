from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from agents.lib.config import redact_dsn
from agents.lib.db import create_engine
from agents.lib.db.schema import ALL_TABLES, metadata
from agents.lib.migrations import (
    HEAD_REVISION,
    alembic_config,
    apply_async,
    downgrade_async,
    status_async,
)
from tests._services.postgres import PASSWORD_ROLE, PostgresService

EXPECTED_TABLES = {t.name for t in ALL_TABLES}
REVISIONS = ("0001_initial", "0002_event_metrics_covering", "0003_patterns")
HEAD = REVISIONS[-1]
APPLIED = "applied 0001_initial\napplied 0002_event_metrics_covering\napplied 0003_patterns"
REVERTED = "reverted 0003_patterns\nreverted 0002_event_metrics_covering\nreverted 0001_initial\nnow at base"


async def _tables(dsn: str) -> set[str]:
    engine = create_engine(dsn)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    return names - {"alembic_version"}


def test_head_constant_matches_the_scripts() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_current_head() == HEAD_REVISION
    assert [r.revision for r in script.walk_revisions()] == list(reversed(REVISIONS))


async def test_apply_on_empty_database_then_again(backend_dsn: str) -> None:
    assert await _tables(backend_dsn) == set()
    first = await apply_async(backend_dsn)
    assert first.action == "applied"
    assert first.revisions == REVISIONS
    assert str(first) == APPLIED
    assert await _tables(backend_dsn) == EXPECTED_TABLES

    second = await apply_async(backend_dsn)
    assert second.action == "already at head"
    assert str(second) == f"already at head {HEAD}"
    assert await _tables(backend_dsn) == EXPECTED_TABLES


async def test_migrated_schema_matches_schema_module(backend_dsn: str) -> None:
    await apply_async(backend_dsn)
    engine = create_engine(backend_dsn)
    try:
        async with engine.connect() as conn:

            def diff(sync_conn: sa.Connection) -> list[object]:
                ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return list(compare_metadata(ctx, metadata))

            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


async def test_downgrade_to_base_and_apply_again(backend_dsn: str) -> None:
    await apply_async(backend_dsn)
    down = await downgrade_async("base", backend_dsn)
    assert down.revisions == tuple(reversed(REVISIONS))
    assert down.current is None
    assert str(down) == REVERTED
    assert await _tables(backend_dsn) == set()
    status = await status_async(backend_dsn)
    assert (status.current, status.pending) == (None, REVISIONS)

    again = await apply_async(backend_dsn)
    assert str(again) == APPLIED
    assert await _tables(backend_dsn) == EXPECTED_TABLES


async def _event_indexes(dsn: str) -> dict[str, list[str]]:
    engine = create_engine(dsn)
    try:
        async with engine.connect() as conn:
            indexes = await conn.run_sync(lambda c: sa.inspect(c).get_indexes("event_processing_metrics"))
    finally:
        await engine.dispose()
    return {str(ix["name"]): [str(c) for c in ix["column_names"]] for ix in indexes}


async def test_covering_index_upgrade_keeps_rows_and_downgrade_restores_indexes(backend_dsn: str) -> None:
    """0002 swaps the two event-metric indexes for one covering index, on a table that already has rows."""
    await apply_async(backend_dsn)
    down = await downgrade_async("0001_initial", backend_dsn)
    assert str(down) == "reverted 0003_patterns\nreverted 0002_event_metrics_covering\nnow at 0001_initial"
    assert await _event_indexes(backend_dsn) == {
        "ix_event_processing_metrics_created_at": ["created_at"],
        "ix_event_processing_metrics_type_created": ["event_type", "created_at"],
    }
    engine = create_engine(backend_dsn)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO event_processing_metrics (event_type, processing_duration_ms, success, created_at)"
                    " VALUES ('a', 1.5, true, CURRENT_TIMESTAMP), ('b', 2.5, false, CURRENT_TIMESTAMP)"
                )
            )
    finally:
        await engine.dispose()
    up = await apply_async(backend_dsn)
    assert str(up) == "applied 0002_event_metrics_covering\napplied 0003_patterns"
    assert await _event_indexes(backend_dsn) == {
        "ix_event_processing_metrics_created_summary": [
            "created_at",
            "event_type",
            "processing_duration_ms",
            "success",
            "batch_size",
            "retry_count",
        ]
    }
    from agents.lib.persistence import CodegenPersistence

    async with CodegenPersistence(backend_dsn) as store:
        summary = await store.event_processing_summary(60)
    assert (summary["total_events"], summary["overall_success_rate"], summary["p95_latency_ms"]) == (2, 0.5, 2.5)


async def test_status_output(backend_dsn: str) -> None:
    before = await status_async(backend_dsn)
    assert before.current is None
    assert before.head == HEAD
    assert not before.at_head
    assert "pending: " + ", ".join(REVISIONS) in str(before)
    await apply_async(backend_dsn)
    after = await status_async(backend_dsn)
    assert after.current == HEAD
    assert after.at_head
    assert after.pending == ()
    assert str(after).splitlines()[1:] == [f"current: {HEAD}", f"head: {HEAD}", "up to date"]


def _run_module(args: list[str], dsn: str, cwd: Path) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = dsn
    env["AGENTS_DATA_DIR"] = str(cwd / "data")
    return subprocess.Popen(
        [sys.executable, "-m", "agents.lib.migrations", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_apply_from_two_processes_at_once(backend_dsn: str, tmp_path: Path) -> None:
    procs = [_run_module(["apply"], backend_dsn, tmp_path) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [0, 0], outputs
    named = f"database: {redact_dsn(backend_dsn)} (DATABASE_URL from the environment)"
    assert [out.splitlines()[0] for out, _ in outputs] == [named, named]
    lines = sorted(out.split("\n", 1)[1].strip() for out, _ in outputs)
    assert lines == [f"already at head {HEAD}", APPLIED]
    assert asyncio.run(_tables(backend_dsn)) == EXPECTED_TABLES


def test_module_cli_status_and_downgrade(backend_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    from agents.lib.migrations.__main__ import main

    named = f"database: {redact_dsn(backend_dsn)} (given with --dsn)"
    assert main(["--dsn", backend_dsn, "status"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [named, "current: none", f"head: {HEAD}", "pending: " + ", ".join(REVISIONS)]
    assert main(["--dsn", backend_dsn, "apply"]) == 0
    assert capsys.readouterr().out.strip() == f"{named}\n{APPLIED}"
    assert main(["--dsn", backend_dsn, "downgrade", "base"]) == 0
    assert capsys.readouterr().out.strip() == f"{named}\n{REVERTED}"


def test_typer_db_app(backend_dsn: str) -> None:
    from typer.testing import CliRunner

    from agents.lib.migrations.cli import db_app

    runner = CliRunner()
    named = f"database: {redact_dsn(backend_dsn)} (given with --dsn)"
    result = runner.invoke(db_app, ["migrate", "--dsn", backend_dsn])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{named}\n{APPLIED}"
    result = runner.invoke(db_app, ["status", "--dsn", backend_dsn])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_default_dsn_is_sqlite_file_in_data_dir(data_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    proc = subprocess.run(
        [sys.executable, "-m", "agents.lib.migrations", "apply"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        f"database: sqlite:///{data_dir / 'agents.db'} (the embedded default: neither DATABASE_URL nor "
        f"POSTGRES_HOST is set; .env files read: none)\n{APPLIED}"
    )
    assert (data_dir / "agents.db").is_file()


@pytest.mark.parametrize("command", [["apply"], ["status"], ["downgrade", "base"]])
def test_wrong_password_cli_error(
    postgres_service: PostgresService, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    from agents.lib.migrations.__main__ import main

    parts = urlsplit(postgres_service.dsn)
    role = PASSWORD_ROLE if postgres_service.own_server else "agents_missing_role"
    secret = "Wr0ng-Secret-Value-42"
    dsn = f"postgresql://{role}:{secret}@{parts.hostname}:{parts.port}/postgres"
    assert main(["--dsn", dsn, *command]) == 2
    out, err = capsys.readouterr()
    assert out == f"database: {redact_dsn(dsn)} (given with --dsn)\n"
    assert f"{role}:***@" in out
    assert secret not in err
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1
    assert f"{role}:***@" in err


def test_wrong_password_via_database_url_in_a_subprocess(
    postgres_service: PostgresService, tmp_path: Path
) -> None:
    parts = urlsplit(postgres_service.dsn)
    role = PASSWORD_ROLE if postgres_service.own_server else "agents_missing_role"
    secret = "Wr0ng-Secret-Value-42"
    dsn = f"postgresql://{role}:{secret}@{parts.hostname}:{parts.port}/postgres"
    proc = _run_module(["apply"], dsn, tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    named = f"database: {redact_dsn(dsn)} (DATABASE_URL from the environment)\n"
    assert (out, secret in err, len(err.strip().splitlines())) == (named, False, 1)
    assert f"{role}:***@" in err


def test_env_runs_on_its_own_async_engine(backend_dsn: str) -> None:
    """Alembic's own command (no connection handed in) runs env.py's async path on both drivers."""
    from alembic import command

    command.upgrade(alembic_config(backend_dsn), "head")
    assert asyncio.run(_tables(backend_dsn)) == EXPECTED_TABLES
    command.downgrade(alembic_config(backend_dsn), "base")
    assert asyncio.run(_tables(backend_dsn)) == set()


async def test_apply_waits_for_the_advisory_lock(postgres_db_dsn: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    from agents.lib.migrations import ADVISORY_LOCK_KEY

    holder = await asyncpg.connect(postgres_db_dsn)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        task = asyncio.create_task(apply_async(postgres_db_dsn))
        waiting = 0
        for _ in range(400):
            waiting = await holder.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            if waiting:
                break
            await asyncio.sleep(0.025)
        assert waiting == 1
        assert not task.done()
        assert await _tables(postgres_db_dsn) == set()
        await holder.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
        result = await task
    finally:
        await holder.close()
    assert str(result) == APPLIED
    assert await _tables(postgres_db_dsn) == EXPECTED_TABLES
