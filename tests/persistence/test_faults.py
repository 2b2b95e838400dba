"""A PostgreSQL outage while metrics are recorded, and wrong or unreachable DSNs."""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
import pytest

from agents.lib.db import create_engine, normalize_dsn, scrub, verify_connection
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.persistence import CodegenPersistence
from tests._services.postgres import (
    PASSWORD_ROLE,
    PASSWORD_ROLE_PASSWORD,
    PostgresServer,
    PostgresService,
)

SECRET = "Wr0ng-Secret-Value-42"


async def _count_rows(dsn: str, table: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        value: int = await conn.fetchval(f"SELECT count(*) FROM {table}")  # table is a literal here
        return value
    finally:
        await conn.close()


async def _record(store: CodegenPersistence, n: int, start: int) -> None:
    for i in range(start, start + n):
        await store.record_event_metric(event_type="outage", processing_duration_ms=float(i), success=True)
        if i % 25 == 0:
            await asyncio.sleep(0.01)  # let the background flusher run (and fail while the server is down)


async def test_outage_loses_nothing_below_the_bound(restartable_postgres: PostgresServer) -> None:
    dsn = restartable_postgres.dsn
    store = CodegenPersistence(dsn, batch_size=50, flush_interval_s=0.05, max_buffered_rows=10_000)
    try:
        await _record(store, 120, 0)
        await store.flush()
        assert await _count_rows(dsn, "event_processing_metrics") == 120

        await asyncio.to_thread(restartable_postgres.stop)
        await _record(store, 300, 120)
        await asyncio.sleep(0.2)
        await store.flush()  # does not raise while the server is down
        during = store.stats()
        assert during.buffered == 300
        assert during.failed_flushes >= 1
        assert during.last_error is not None

        await asyncio.to_thread(restartable_postgres.start)
        assert restartable_postgres.dsn == dsn
        await _record(store, 80, 420)
        await store.flush()
        after = store.stats()
        assert (after.recorded, after.written, after.buffered, after.dropped) == (500, 500, 0, 0)
        assert await _count_rows(dsn, "event_processing_metrics") == 500
        values = await _values(dsn)
        assert values == [float(i) for i in range(500)]
    finally:
        await store.close()


async def _values(dsn: str) -> list[float]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT processing_duration_ms FROM event_processing_metrics ORDER BY processing_duration_ms"
        )
        return [float(r[0]) for r in rows]
    finally:
        await conn.close()


async def test_outage_beyond_the_bound_counts_dropped_rows(restartable_postgres: PostgresServer) -> None:
    dsn = restartable_postgres.dsn
    store = CodegenPersistence(dsn, batch_size=20, flush_interval_s=0.05, max_buffered_rows=100)
    try:
        await _record(store, 30, 0)
        await store.flush()
        await asyncio.to_thread(restartable_postgres.stop)
        await _record(store, 250, 30)
        await store.flush()
        assert store.dropped_rows == 150
        assert store.stats().buffered == 100
        await asyncio.to_thread(restartable_postgres.start)
        await store.flush()
        stats = store.stats()
        assert (stats.recorded, stats.written, stats.dropped, stats.buffered) == (280, 130, 150, 0)
        # The oldest rows of the outage were dropped; the newest 100 were kept.
        assert await _values(dsn) == [float(i) for i in range(30)] + [float(i) for i in range(180, 280)]
    finally:
        await store.close()


def _pw_dsn(service: PostgresService, password: str) -> str:
    """A DSN with a password: our role with SCRAM auth, or (external server) a role that does not exist."""
    parts = urlsplit(service.dsn)
    role = PASSWORD_ROLE if service.own_server else f"agents_missing_{uuid.uuid4().hex[:8]}"
    return f"postgresql://{role}:{password}@{parts.hostname}:{parts.port}/postgres"


async def test_wrong_password_gives_one_clear_error(
    postgres_service: PostgresService, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = _pw_dsn(postgres_service, SECRET)
    store = CodegenPersistence(dsn)
    try:
        with pytest.raises(OnexError) as info:
            await store.record_mixin_compatibility("A", "B", "EFFECT", True)
        error = info.value
        assert error.code is ErrorCode.CONFIGURATION_ERROR
        assert SECRET not in str(error)
        assert SECRET not in repr(error)
        assert SECRET not in repr(error.details)
        assert ":***@" in error.message
        assert urlsplit(dsn).username in error.message
        if postgres_service.own_server:
            assert "the password was rejected" in error.message
        assert error.__cause__ is None
        assert error.__suppress_context__ is True

        # Metrics never raise; the failure is reported without the password.
        await store.record_event_metric(event_type="e", processing_duration_ms=1.0, success=True)
        assert await store.flush() == 0
        assert store.stats().buffered == 1
        last_error = store.stats().last_error
        assert last_error is not None
        assert SECRET not in last_error
    finally:
        await store.close()
    captured = capsys.readouterr()
    assert SECRET not in captured.err
    assert SECRET not in captured.out
    assert "metrics cannot be written" in captured.err


async def test_right_password_works(postgres_service: PostgresService) -> None:
    dsn = (
        _pw_dsn(postgres_service, PASSWORD_ROLE_PASSWORD) if postgres_service.own_server else postgres_service.dsn
    )
    engine = create_engine(dsn)
    try:
        await verify_connection(engine, dsn)
    finally:
        await engine.dispose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_unreachable_server_is_unavailable() -> None:
    dsn = f"postgresql://someone:{SECRET}@127.0.0.1:{_closed_port()}/db"
    engine = create_engine(dsn)
    try:
        with pytest.raises(OnexError) as info:
            await verify_connection(engine, dsn)
    finally:
        await engine.dispose()
    assert info.value.code is ErrorCode.UNAVAILABLE
    assert SECRET not in str(info.value)
    assert "someone:***@127.0.0.1" in info.value.message


async def test_unknown_database_is_a_configuration_error(postgres_dsn: str) -> None:
    parts = urlsplit(postgres_dsn)
    dsn = f"postgresql://postgres@{parts.hostname}:{parts.port}/no_such_database_here"
    store = CodegenPersistence(dsn)
    try:
        with pytest.raises(OnexError) as info:
            await store.list_mixin_compatibility()
    finally:
        await store.close()
    assert info.value.code is ErrorCode.CONFIGURATION_ERROR
    assert "does not exist" in info.value.message


@pytest.mark.parametrize(
    "dsn",
    [f"mysql://u:{SECRET}@host/db", "not a dsn at all", f"oracle+cx://u:{SECRET}@h/x"],
)
def test_unsupported_dsn_is_a_configuration_error(dsn: str) -> None:
    with pytest.raises(OnexError) as info:
        CodegenPersistence(dsn)
    assert info.value.code is ErrorCode.CONFIGURATION_ERROR
    assert SECRET not in str(info.value)


def test_scheme_mapping() -> None:
    assert normalize_dsn("postgresql://u:p@h:5/d").drivername == "postgresql+asyncpg"
    assert normalize_dsn("postgres://u@h/d").drivername == "postgresql+asyncpg"
    assert normalize_dsn("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert normalize_dsn("sqlite+aiosqlite:///x.db").database == "x.db"


def test_scrub_masks_plain_and_encoded_passwords() -> None:
    dsn = "postgresql://u:p%40ss%2Fword@h/d"
    assert scrub("boom p@ss/word and p%40ss%2Fword in " + dsn, dsn) == (
        "boom *** and *** in postgresql://u:***@h/d"
    )


async def test_sqlite_file_created_on_first_use_in_data_dir(data_dir: Path) -> None:
    store = CodegenPersistence()
    try:
        assert store.backend == "sqlite"
        assert not (data_dir / "agents.db").exists()
        await store.record_mixin_compatibility("A", "B", "EFFECT", True)
        assert (data_dir / "agents.db").is_file()
    finally:
        await store.close()


async def test_postgres_settings_are_used(postgres_db_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.lib.config import reset_settings

    parts = urlsplit(postgres_db_dsn)
    monkeypatch.setenv("POSTGRES_HOST", str(parts.hostname))
    monkeypatch.setenv("POSTGRES_PORT", str(parts.port))
    monkeypatch.setenv("POSTGRES_DATABASE", parts.path.lstrip("/"))
    monkeypatch.setenv("POSTGRES_USER", "postgres")
    reset_settings()
    store = CodegenPersistence()
    try:
        assert store.backend == "postgresql"
        await store.record_mixin_compatibility("A", "B", "EFFECT", True)
    finally:
        await store.close()
    assert await _count_rows(postgres_db_dsn, "mixin_compatibility_matrix") == 1
