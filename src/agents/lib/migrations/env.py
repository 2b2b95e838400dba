"""Alembic environment of the framework's schema; runs on aiosqlite and asyncpg.

:mod:`agents.lib.migrations` passes an open (sync-facing) connection in ``config.attributes["connection"]``;
then the migrations run on it, inside the caller's transaction and lock. Without one (for example when someone
runs the ``alembic`` command with this directory as its script location), the DSN comes from the option
``sqlalchemy.url`` or the framework's settings, and an async engine is created here, using the usual async
pattern ``await connection.run_sync(do_run_migrations)``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from agents.lib.db import create_engine
from agents.lib.db.schema import metadata

__all__ = ["do_run_migrations", "run_async_migrations"]

config = context.config


def do_run_migrations(connection: Connection) -> None:
    """Run the pending migrations on ``connection``."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Create an async engine for the configured DSN and run the migrations through ``run_sync``."""
    dsn = config.get_main_option("sqlalchemy.url") or None
    engine = create_engine(dsn)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def _run() -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (SQL script) migrations are not supported; run them online")
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    else:
        do_run_migrations(connection)


_run()
