"""One database as the stores see it: the engine (opened and migrated on first use), transactions, bulk writes.

A :class:`Database` is shared by every store of a :class:`~agents.lib.persistence.CodegenPersistence`; errors
come out as :class:`~agents.lib.db.engine.DatabaseError` with the password masked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agents.lib.config import redact_dsn
from agents.lib.db.engine import (
    create_engine,
    normalize_dsn,
    plain_postgres_dsn,
    resolve_dsn,
    scrub,
    translate_error,
)
from agents.lib.db.sqlite_pool import SqlitePool
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.structured_logger import get_logger

__all__ = ["Database"]

_log = get_logger("agents.lib.persistence", component="persistence")


class Database:
    """The engine of one DSN, created (and the schema migrated, with ``auto_migrate``) on first use.

    ``dsn`` ``None`` means the configured one. Nothing is opened by the constructor.
    """

    def __init__(self, dsn: str | None = None, *, auto_migrate: bool = True) -> None:
        self._dsn = resolve_dsn(dsn)
        self._url = normalize_dsn(self._dsn)
        self._backend = self._url.get_backend_name()
        self._auto_migrate = auto_migrate
        self._engine: AsyncEngine | None = None
        self._ready = False
        self._init_lock: asyncio.Lock | None = None
        self._init_loop: asyncio.AbstractEventLoop | None = None
        self._pool: Any = None
        self._closed = False

    def __repr__(self) -> str:
        """Show the backend and the DSN without its password."""
        return f"Database(backend={self._backend!r}, dsn={self.dsn!r})"

    @property
    def dsn(self) -> str:
        """The DSN with its password replaced by ``***``."""
        return redact_dsn(self._dsn)

    @property
    def raw_dsn(self) -> str:
        """The DSN with its password (never log it; see :meth:`describe`)."""
        return self._dsn

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._backend

    @property
    def is_postgres(self) -> bool:
        """Whether this is a PostgreSQL database."""
        return self._backend == "postgresql"

    def describe(self, exc: BaseException) -> str:
        """One line saying what went wrong, without the password."""
        if isinstance(exc, OnexError):
            return scrub(exc.message, self._dsn)
        return scrub(f"{type(exc).__name__}: {exc}".splitlines()[0], self._dsn)

    # -- the engine --
    async def engine(self) -> AsyncEngine:
        """Return the engine, creating it (and migrating the schema) on first use."""
        if self._closed:
            raise OnexError("CodegenPersistence is closed", code=ErrorCode.OPERATION_FAILED)
        if self._ready and self._engine is not None:
            return self._engine
        loop = asyncio.get_running_loop()
        if self._init_lock is None or self._init_loop is not loop:
            self._init_lock = asyncio.Lock()
            self._init_loop = loop
        async with self._init_lock:
            if self._engine is None:
                self._engine = create_engine(self._dsn)
            if not self._ready:
                if self._auto_migrate:
                    await self._ensure_schema(self._engine)
                self._ready = True
        return self._engine

    async def _ensure_schema(self, engine: AsyncEngine) -> None:
        from agents.lib.migrations import HEAD_REVISION, apply_async

        try:
            async with engine.connect() as conn:
                has_version = await conn.run_sync(lambda c: sa.inspect(c).has_table("alembic_version"))
                version = None
                if has_version:
                    version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
        except OnexError:
            raise
        except Exception as exc:
            raise translate_error(exc, self._dsn, "connect to the database") from None
        if version is not None and version != HEAD_REVISION and not _known_revision(version):
            _log.warning(
                "the database schema is newer than this version of agents; not migrating",
                metadata={"dsn": self.dsn, "database_revision": version, "head": HEAD_REVISION},
            )
            return
        if version != HEAD_REVISION:
            result = await apply_async(self._dsn)
            _log.info("database schema migrated", metadata={"dsn": self.dsn, "result": result.lines()})

    async def ping(self) -> None:
        """Run ``SELECT 1`` (raises ``DatabaseError`` when the database cannot be reached)."""
        async with self.begin("check the database") as conn:
            await conn.execute(sa.select(sa.literal(1)))

    @asynccontextmanager
    async def begin(self, action: str) -> AsyncIterator[AsyncConnection]:
        """Run the block in one transaction; a failure is raised as a ``DatabaseError`` "cannot <action>"."""
        engine = await self.engine()
        try:
            async with engine.begin() as conn:
                yield conn
        except OnexError:
            raise
        except Exception as exc:
            raise translate_error(exc, self._dsn, action) from None

    # -- statements --
    def insert(self, table: sa.Table) -> Any:
        """Return a dialect ``INSERT`` that supports ``on_conflict_do_update`` on both backends."""
        if self.is_postgres:
            return pg_dialect.insert(table)
        return sqlite_dialect.insert(table)

    async def bulk_insert(self, conn: AsyncConnection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows``: ``COPY`` on PostgreSQL (one streamed round trip), ``executemany`` on SQLite.

        The values go through the columns' own bind processors first (UTC timestamps, JSON text), so COPY
        writes exactly what an ``INSERT`` would; constraints and defaults apply the same way. The COPY runs on
        the transaction's connection, inside the transaction (a ``SELECT 1`` starts it first: SQLAlchemy's
        asyncpg adapter begins lazily), so a failed batch leaves nothing behind.
        """
        if not self.is_postgres:
            await conn.execute(sa.insert(table), rows)
            return
        dialect = conn.dialect
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            by_columns.setdefault(tuple(row), []).append(row)
        await conn.exec_driver_sql("SELECT 1")
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        for columns, group in by_columns.items():
            processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
            records = [
                tuple(
                    value if proc is None or value is None else proc(value)
                    for proc, value in zip(processors, (row[name] for name in columns), strict=True)
                )
                for row in group
            ]
            await driver.copy_records_to_table(table.name, records=records, columns=list(columns))

    # -- raw SQL --
    async def pool(self) -> Any:
        """Return a connection pool for raw SQL (asyncpg on PostgreSQL, :class:`SqlitePool` on SQLite).

        Created once; the schema is migrated first (unless ``auto_migrate=False``).
        """
        if self._pool is not None:
            return self._pool
        await self.engine()
        if not self.is_postgres:
            self._pool = SqlitePool(self._url.database or ":memory:")
            return self._pool
        import asyncpg  # type: ignore[import-untyped]

        try:
            self._pool = await asyncpg.create_pool(
                plain_postgres_dsn(self._dsn), min_size=1, max_size=5, timeout=10
            )
        except Exception as exc:
            raise translate_error(exc, self._dsn, "open a connection pool") from None
        return self._pool

    # -- lifecycle --
    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def close(self) -> None:
        """Release the raw-SQL pool and every connection; later use raises ``OPERATION_FAILED``."""
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await pool.close()
            except Exception as exc:
                _log.warning("closing the connection pool failed", metadata={"error": self.describe(exc)})
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    from agents.lib.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    return any(r.revision == revision for r in script.walk_revisions())
