"""A pool with asyncpg's shape over SQLite, for raw SQL on the embedded database (the guide's Stream 6 queries).

PostgreSQL-only syntax is detected in a query SQLite rejects, and the error says what to do instead.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from agents.lib.errors import ErrorCode, OnexError

__all__ = ["POSTGRES_ONLY_SQL", "SqlitePool"]

POSTGRES_ONLY_SQL = re.compile(r"\bINTERVAL\s+'|::\s*[A-Za-z]|\bNOW\s*\(\s*\)|\bILIKE\b", re.IGNORECASE)
"""Matches the PostgreSQL-only syntax of the guide's queries (``INTERVAL '1 hour'``, ``::float``, ``NOW()``...)."""


class _SqliteConnection:
    """One aiosqlite connection with asyncpg-like ``fetch``/``fetchrow``/``fetchval``/``execute``.

    Parameters are bound with ``?`` placeholders (or asyncpg-style ``$1``, rewritten to ``?N``).
    """

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @staticmethod
    def _sql(query: str) -> str:
        return re.sub(r"\$(\d+)", r"?\1", query)

    @staticmethod
    @contextmanager
    def _errors(query: str) -> Iterator[None]:
        """Turn SQLite's errors into one ``OnexError`` that says what to do about them."""
        try:
            yield
        except sqlite3.Error as exc:
            postgres_only = POSTGRES_ONLY_SQL.search(query)
            hint = (
                f"the query uses PostgreSQL syntax ({postgres_only.group(0).strip()!r}) and the database is the "
                "embedded SQLite file; point DATABASE_URL at PostgreSQL, use SQLite syntax such as "
                "datetime('now', '-1 hour'), or the portable CodegenPersistence analytics methods"
                if postgres_only
                else "check the SQL"
            )
            raise OnexError(
                f"SQLite rejected the query: {exc}; {hint}",
                ErrorCode.OPERATION_FAILED,
                {"backend": "sqlite", "sqlite_error": str(exc), "postgres_syntax": postgres_only is not None},
            ) from exc

    async def fetch(self, query: str, *args: Any) -> list[sqlite3.Row]:
        """Run ``query`` and return every row (rows are addressable by column name and index)."""
        with self._errors(query):
            async with self._conn.execute(self._sql(query), args) as cursor:
                rows: list[sqlite3.Row] = list(await cursor.fetchall())
                return rows

    async def fetchrow(self, query: str, *args: Any) -> sqlite3.Row | None:
        """Run ``query`` and return its first row, or ``None``."""
        with self._errors(query):
            async with self._conn.execute(self._sql(query), args) as cursor:
                row: sqlite3.Row | None = await cursor.fetchone()
                return row

    async def fetchval(self, query: str, *args: Any) -> Any:
        """Run ``query`` and return the first column of its first row, or ``None``."""
        row = await self.fetchrow(query, *args)
        return None if row is None else row[0]

    async def execute(self, query: str, *args: Any) -> str:
        """Run a statement and commit; return a short status like asyncpg (``"OK <rowcount>"``)."""
        with self._errors(query):
            cursor = await self._conn.execute(self._sql(query), args)
            count = cursor.rowcount
            await cursor.close()
            await self._conn.commit()
        return f"OK {count}"


class SqlitePool:
    """The pool :meth:`CodegenPersistence._ensure_pool` returns on SQLite (asyncpg's shape).

    ``acquire()`` yields a connection with ``fetch``/``fetchrow``/``fetchval``/``execute``.

    The SQL is run by SQLite as written: PostgreSQL-only syntax (``NOW() - INTERVAL '1 hour'``, ``::float``
    casts) does not run here. Use the portable analytics methods of :class:`CodegenPersistence`, or SQLite
    syntax such as ``datetime('now', '-1 hour')`` (timestamps are stored as UTC text ``YYYY-MM-DD HH:MM:SS``).
    """

    def __init__(self, path: str) -> None:
        self._path = path

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[_SqliteConnection]:
        """Open a connection for the duration of the ``async with`` block."""
        import aiosqlite

        conn = await aiosqlite.connect(self._path)
        conn.row_factory = sqlite3.Row
        try:
            yield _SqliteConnection(conn)
        finally:
            await conn.close()

    async def close(self) -> None:
        """Nothing to release: connections are closed when their ``acquire()`` block ends."""
