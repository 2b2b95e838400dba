"""Schema migrations (Alembic) of the framework's database: ``apply``, ``status`` and ``downgrade``.

Run them with ``python -m agents.lib.migrations apply | status | downgrade REV`` or ``agents db migrate`` /
``agents db status``; from Python with :func:`apply`, :func:`status` and :func:`downgrade` (or their ``*_async``
forms inside an event loop). The DSN is the one given, else the framework's settings (``DATABASE_URL``, else
``POSTGRES_*``, else the SQLite file in the data directory).

The revision scripts live in this package (``versions/``), so they ship with the wheel; Alembic is configured
in code and needs no ``alembic.ini``.

``apply`` is idempotent and reports what it did (``applied 0001_initial``, ``applied 0002_event_metrics_covering``,
``already at head 0003_patterns``).
Two processes may run it at once: on PostgreSQL the upgrade runs inside one transaction holding
``pg_advisory_xact_lock(ADVISORY_LOCK_KEY)``; on SQLite it holds an exclusive ``flock`` on a lock file beside the
database file.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from agents.lib.config import redact_dsn
from agents.lib.db import (
    DatabaseError,
    create_engine,
    normalize_dsn,
    resolve_dsn,
    scrub,
    translate_error,
)
from agents.lib.errors import ErrorCode

__all__ = [
    "ADVISORY_LOCK_KEY",
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "MigrationResult",
    "MigrationStatus",
    "alembic_config",
    "apply",
    "apply_async",
    "downgrade",
    "downgrade_async",
    "status",
    "status_async",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent
"""Directory of the Alembic environment (``env.py``) and the revision scripts (``versions/``)."""

HEAD_REVISION = "0003_patterns"
"""The newest revision shipped with this version of the package."""

ADVISORY_LOCK_KEY = 0x6167656E_7473
"""PostgreSQL advisory lock key held while migrations run (the ASCII of ``agents``)."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class MigrationResult:
    """What :func:`apply` or :func:`downgrade` did."""

    action: str
    """``"applied"``, ``"already at head"`` or ``"downgraded"``."""
    revisions: tuple[str, ...]
    """Revisions applied or reverted, in the order they ran."""
    current: str | None
    """The revision the database is at afterwards (``None``: no schema)."""

    def lines(self) -> list[str]:
        """Human-readable lines: ``applied 0001_initial``, ``already at head 0001_initial``, ..."""
        if self.action == "already at head":
            return [f"already at head {self.current}"]
        if not self.revisions:
            return [f"nothing to do; at {self.current or 'base'}"]
        verb = "applied" if self.action == "applied" else "reverted"
        out = [f"{verb} {rev}" for rev in self.revisions]
        if self.action == "downgraded":
            out.append(f"now at {self.current or 'base'}")
        return out

    def __str__(self) -> str:
        """Return the :meth:`lines`, one per line."""
        return "\n".join(self.lines())


@dataclass(frozen=True)
class MigrationStatus:
    """Where a database stands relative to the shipped migrations."""

    dsn: str
    """The DSN with its password redacted."""
    current: str | None
    """The database's revision (``None``: no schema yet)."""
    head: str
    """The newest shipped revision."""
    pending: tuple[str, ...]
    """Revisions :func:`apply` would run, oldest first."""
    known: bool = True
    """Whether this version of the package knows the database's revision (``False``: a newer schema)."""

    @property
    def at_head(self) -> bool:
        """Whether the database is up to date."""
        return self.current == self.head

    def lines(self) -> list[str]:
        """Human-readable lines describing the status."""
        lines = [f"database: {self.dsn}", f"current: {self.current or 'none'}", f"head: {self.head}"]
        if not self.known:
            lines.append("the database revision is unknown to this version of agents (a newer schema?)")
        elif self.at_head:
            lines.append("up to date")
        else:
            lines.append("pending: " + (", ".join(self.pending) or "none"))
        return lines

    def __str__(self) -> str:
        """Return the :meth:`lines`, one per line."""
        return "\n".join(self.lines())


def alembic_config(dsn: str | None = None) -> Config:
    """Return an Alembic :class:`~alembic.config.Config` for this package (no ``alembic.ini`` needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if dsn is not None:
        # ConfigParser interpolation treats "%" specially.
        cfg.set_main_option("sqlalchemy.url", resolve_dsn(dsn).replace("%", "%%"))
    return cfg


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _path(script: ScriptDirectory, upper: str | None, lower: str | None) -> tuple[str, ...]:
    """Revisions strictly above ``lower`` up to ``upper``, oldest first."""
    if upper is None or upper == lower:
        return ()
    revs = [r.revision for r in script.iterate_revisions(upper, lower or "base") if r is not None]
    revs = [r for r in revs if r != lower]
    return tuple(reversed(revs))


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@asynccontextmanager
async def _sqlite_file_lock(dsn: str) -> AsyncIterator[None]:
    url = normalize_dsn(dsn)
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).expanduser().with_name(Path(database).name + ".migrate-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # Non-blocking attempts, with short sleeps while another process migrates: no thread is needed (a
        # blocking flock in asyncio.to_thread left the loop's default executor thread behind).
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.1)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


async def _locked(dsn: str, action: str, work: Callable[[Connection], _T]) -> _T:
    engine: AsyncEngine = create_engine(dsn)
    try:
        async with _sqlite_file_lock(dsn), engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            result = await conn.run_sync(work)
            await conn.commit()
            return result
    except DatabaseError:
        raise
    except CommandError as exc:
        raise DatabaseError(
            f"cannot {action} at {redact_dsn(dsn)}: {scrub(str(exc), dsn)}",
            code=ErrorCode.OPERATION_FAILED,
            details={"dsn": redact_dsn(dsn)},
        ) from None
    except Exception as exc:
        raise translate_error(exc, dsn, action) from None
    finally:
        await engine.dispose()


async def apply_async(dsn: str | None = None) -> MigrationResult:
    """Upgrade the database to :data:`HEAD_REVISION` (idempotent; safe when run by two processes at once)."""
    url = resolve_dsn(dsn)
    script = _script()
    head = script.get_current_head() or HEAD_REVISION

    def work(connection: Connection) -> MigrationResult:
        before = _current(connection)
        if before == head:
            return MigrationResult("already at head", (), before)
        cfg = alembic_config(url)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
        after = _current(connection)
        return MigrationResult("applied", _path(script, after, before), after)

    return await _locked(url, "apply migrations", work)


async def downgrade_async(revision: str, dsn: str | None = None) -> MigrationResult:
    """Downgrade the database to ``revision`` (``"base"`` removes every table of the framework)."""
    url = resolve_dsn(dsn)
    script = _script()

    def work(connection: Connection) -> MigrationResult:
        before = _current(connection)
        cfg = alembic_config(url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)
        after = _current(connection)
        reverted = tuple(reversed(_path(script, before, after)))
        return MigrationResult("downgraded", reverted, after)

    return await _locked(url, f"downgrade the schema to {revision!r}", work)


async def status_async(dsn: str | None = None) -> MigrationStatus:
    """Return the database's revision, the head revision and what is pending."""
    url = resolve_dsn(dsn)
    script = _script()
    head = script.get_current_head() or HEAD_REVISION
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(_current)
    except DatabaseError:
        raise
    except Exception as exc:
        raise translate_error(exc, url, "read the schema version") from None
    finally:
        await engine.dispose()
    known = current is None or any(r.revision == current for r in script.walk_revisions())
    pending = _path(script, head, current) if known and current != head else ()
    return MigrationStatus(dsn=redact_dsn(url), current=current, head=head, pending=pending, known=known)


def apply(dsn: str | None = None) -> MigrationResult:
    """Run :func:`apply_async` in a new event loop (not from inside a running loop)."""
    return asyncio.run(apply_async(dsn))


def downgrade(revision: str, dsn: str | None = None) -> MigrationResult:
    """Run :func:`downgrade_async` in a new event loop (not from inside a running loop)."""
    return asyncio.run(downgrade_async(revision, dsn))


def status(dsn: str | None = None) -> MigrationStatus:
    """Run :func:`status_async` in a new event loop (not from inside a running loop)."""
    return asyncio.run(status_async(dsn))
