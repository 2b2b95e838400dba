"""A :class:`~.ports.RecordStorePort` on a SQL database through SQLAlchemy (the service's optional extra ``sql``).

Records are JSON documents in one table, ``onex_records(collection, key, data)``, keyed by collection and key;
every statement is parameterized. SQLAlchemy is imported when a store is created, so the runtime imports
without it. Calls run on a worker thread (``asyncio.to_thread``) so the event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from .errors import ErrorCode, OnexError

__all__ = ["TABLE_NAME", "SqlRecordStore"]

TABLE_NAME = "onex_records"
"""The table records are kept in."""

Record = dict[str, Any]


class SqlRecordStore:
    """Durable records in a SQL database; ``url`` is a SQLAlchemy URL (default: a private in-memory SQLite)."""

    def __init__(self, url: str = "sqlite://", *, engine: Any = None) -> None:
        import sqlalchemy as sa
        from sqlalchemy.pool import StaticPool

        if engine is None:
            if url.startswith("sqlite"):
                # one connection shared by the worker threads: an in-memory database lives in its connection
                engine = sa.create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
            else:
                engine = sa.create_engine(url, pool_pre_ping=True)
        self.engine: Any = engine
        metadata = sa.MetaData()
        self.table: Any = sa.Table(
            TABLE_NAME,
            metadata,
            sa.Column("collection", sa.String(200), primary_key=True),
            sa.Column("key", sa.String(200), primary_key=True),
            sa.Column("data", sa.Text(), nullable=False),
        )
        metadata.create_all(self.engine)
        self._sa: Any = sa

    def _insert(self, collection: str, key: str, record: Record) -> None:
        try:
            with self.engine.begin() as connection:
                connection.execute(self.table.insert().values(collection=collection, key=key, data=_dumps(record)))
        except self._sa.exc.IntegrityError:
            raise OnexError(f"{collection} {key!r} already exists", ErrorCode.CONFLICT, {"key": key}) from None

    def _get(self, collection: str, key: str) -> Record | None:
        t = self.table
        with self.engine.connect() as connection:
            row = connection.execute(
                self._sa.select(t.c.data).where(t.c.collection == collection, t.c.key == key)
            ).first()
        if row is None:
            return None
        record: Record = json.loads(row[0])
        return record

    def _replace(self, collection: str, key: str, record: Record) -> None:
        t = self.table
        with self.engine.begin() as connection:
            changed = connection.execute(
                t.update().where(t.c.collection == collection, t.c.key == key).values(data=_dumps(record))
            ).rowcount
        if not changed:
            raise OnexError(f"{collection} {key!r} does not exist", ErrorCode.NOT_FOUND, {"key": key})

    def _delete(self, collection: str, key: str) -> bool:
        t = self.table
        with self.engine.begin() as connection:
            removed = connection.execute(t.delete().where(t.c.collection == collection, t.c.key == key)).rowcount
        return bool(removed)

    def _scan(self, collection: str) -> list[Record]:
        t = self.table
        with self.engine.connect() as connection:
            rows = connection.execute(
                self._sa.select(t.c.data).where(t.c.collection == collection).order_by(t.c.key)
            ).all()
        records: list[Record] = [json.loads(row[0]) for row in rows]
        return records

    async def insert(self, collection: str, key: str, record: Record) -> None:
        """Store a new record; CONFLICT if the key exists."""
        await asyncio.to_thread(self._insert, collection, key, record)

    async def get(self, collection: str, key: str) -> Record | None:
        """Return the record or ``None``."""
        return await asyncio.to_thread(self._get, collection, key)

    async def replace(self, collection: str, key: str, record: Record) -> None:
        """Replace an existing record; NOT_FOUND if it does not exist."""
        await asyncio.to_thread(self._replace, collection, key, record)

    async def delete(self, collection: str, key: str) -> bool:
        """Delete a record; return whether it existed."""
        return await asyncio.to_thread(self._delete, collection, key)

    async def scan(self, collection: str) -> list[Record]:
        """Return every record of the collection, ordered by key."""
        return await asyncio.to_thread(self._scan, collection)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()


def _dumps(record: Record) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"))
