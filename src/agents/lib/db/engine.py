"""Database engines: DSN resolution and parsing, SQLite/PostgreSQL engines, error translation.

Every failure to reach the database becomes one :class:`DatabaseError` whose message names the DSN with its
password masked (see docs/persistence.md, "Passwords and errors").
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from agents.lib.config import Settings, get_settings, redact_dsn
from agents.lib.errors import ErrorCode, OnexError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DatabaseError",
    "backend_name",
    "create_engine",
    "is_postgres",
    "is_sqlite",
    "normalize_dsn",
    "plain_postgres_dsn",
    "resolve_dsn",
    "scrub",
    "translate_error",
    "verify_connection",
]

CONNECT_TIMEOUT_S = 10.0
"""Seconds to wait for a PostgreSQL connection before reporting the server unreachable."""

_PG_SCHEMES = {"postgresql", "postgres", "postgresql+asyncpg"}
_SQLITE_SCHEMES = {"sqlite", "sqlite+aiosqlite"}


class DatabaseError(OnexError):
    """A database failure, with the DSN (password redacted) in ``details['dsn']``."""


def resolve_dsn(dsn: str | None = None, settings: Settings | None = None) -> str:
    """Return ``dsn``, or the configured DSN when it is ``None`` (see :mod:`agents.lib.config`)."""
    if dsn is not None:
        return dsn
    return (settings or get_settings()).database_dsn()


def _password_of(dsn: str) -> str | None:
    try:
        return make_url(dsn).password
    except (ArgumentError, ValueError):
        return None


def scrub(text: str, dsn: str) -> str:
    """Return ``text`` with the password of ``dsn`` (plain or URL-encoded) and the raw DSN masked."""
    redacted = redact_dsn(dsn)
    if dsn and dsn != redacted:
        text = text.replace(dsn, redacted)
    password = _password_of(dsn)
    if password:
        for form in {password, quote(password, safe=""), quote(password)}:
            if form:
                text = text.replace(form, "***")
    return text


def normalize_dsn(dsn: str) -> URL:
    """Parse ``dsn`` and return the SQLAlchemy URL with the async driver of its backend.

    Raises :class:`DatabaseError` (``CONFIGURATION_ERROR``) for a DSN that cannot be parsed or names an
    unsupported backend.
    """
    try:
        url = make_url(dsn)
    except (ArgumentError, ValueError):
        raise DatabaseError(
            f"the database DSN {redact_dsn(dsn)!r} cannot be parsed; expected "
            "postgresql://user:password@host:port/database or sqlite:///path/to/file.db",
            code=ErrorCode.CONFIGURATION_ERROR,
            details={"dsn": redact_dsn(dsn)},
        ) from None
    driver = url.drivername
    if driver in _PG_SCHEMES:
        return url.set(drivername="postgresql+asyncpg")
    if driver in _SQLITE_SCHEMES:
        return url.set(drivername="sqlite+aiosqlite")
    raise DatabaseError(
        f"unsupported database DSN scheme {driver!r} in {redact_dsn(dsn)!r}; use postgresql:// "
        "(asyncpg) or sqlite:/// (aiosqlite)",
        code=ErrorCode.CONFIGURATION_ERROR,
        details={"dsn": redact_dsn(dsn)},
    )


def backend_name(dsn: str) -> str:
    """Return ``"postgresql"`` or ``"sqlite"`` for ``dsn``."""
    return normalize_dsn(dsn).get_backend_name()


def is_postgres(dsn: str) -> bool:
    """Whether ``dsn`` names a PostgreSQL database."""
    return backend_name(dsn) == "postgresql"


def is_sqlite(dsn: str) -> bool:
    """Whether ``dsn`` names a SQLite database."""
    return backend_name(dsn) == "sqlite"


def plain_postgres_dsn(dsn: str) -> str:
    """Return ``dsn`` as a libpq/asyncpg ``postgresql://`` DSN (no SQLAlchemy driver suffix)."""
    url = normalize_dsn(dsn)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_path(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


def create_engine(dsn: str | None = None, *, settings: Settings | None = None, **kwargs: Any) -> AsyncEngine:
    """Create the async engine for ``dsn`` (or the configured DSN).

    For SQLite the file's directory is created. For PostgreSQL connections are checked before use
    (``pool_pre_ping``) so a restarted server is reconnected to transparently, and a connection attempt gives up
    after :data:`CONNECT_TIMEOUT_S`. Extra keyword arguments go to
    :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    """
    raw = resolve_dsn(dsn, settings)
    url = normalize_dsn(raw)
    if url.get_backend_name() == "sqlite":
        path = _sqlite_path(url)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(
                    f"cannot create the directory of the SQLite database {str(path)!r}: {exc.strerror or exc}",
                    code=ErrorCode.UNAVAILABLE,
                    details={"dsn": redact_dsn(raw)},
                ) from None
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        return engine
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10}
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("timeout", CONNECT_TIMEOUT_S)
    options.update(kwargs)
    return create_async_engine(url, connect_args=connect_args, **options)


_CONFIG_SQLSTATES = {
    "28P01": "the password was rejected",
    "28000": "the user is not allowed to connect",
    "3D000": "the database does not exist",
    "42704": "the role does not exist",
}


_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P", "53")
"""SQLSTATE classes of a server that is going away, starting up or out of resources."""


def _sqlstate(exc: BaseException) -> str | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for attr in ("sqlstate", "pgcode"):
            value = getattr(current, attr, None)
            if isinstance(value, str):
                return value
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return None


def _root(exc: BaseException) -> BaseException:
    current = exc
    orig = getattr(current, "orig", None)
    if isinstance(orig, BaseException):
        current = orig
    while current.__cause__ is not None and current.__cause__ is not current:
        current = current.__cause__
    return current


def _is_connection_problem(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    root = _root(exc)
    if isinstance(root, OSError | TimeoutError | socket.gaierror | ConnectionError):
        return True
    name = type(root).__name__
    return name in {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "ConnectionFailureError",
        "InterfaceError",
        "AdminShutdownError",
        "ConnectionRejectionError",
        "TooManyConnectionsError",
    }


def translate_error(exc: BaseException, dsn: str, action: str = "use the database") -> DatabaseError:
    """Turn a driver or SQLAlchemy exception into one :class:`DatabaseError` without the password.

    Wrong credentials, an unknown database or role give ``CONFIGURATION_ERROR``; a server that cannot be
    reached gives ``UNAVAILABLE``; anything else ``OPERATION_FAILED``.
    """
    if isinstance(exc, DatabaseError):
        return exc
    redacted = redact_dsn(dsn)
    root = _root(exc)
    detail = scrub(f"{type(root).__name__}: {root}".strip().splitlines()[0], dsn)
    state = _sqlstate(exc)
    if state in _CONFIG_SQLSTATES:
        code = ErrorCode.CONFIGURATION_ERROR
        message = f"cannot {action} at {redacted}: {_CONFIG_SQLSTATES[state]} ({detail})"
    elif state is not None and state.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
        code = ErrorCode.UNAVAILABLE
        message = f"cannot {action} at {redacted}: the database server is unavailable ({detail})"
    elif isinstance(root, _sqlite_errors()) and "unable to open" in str(root):
        code = ErrorCode.UNAVAILABLE
        message = f"cannot {action} at {redacted}: the SQLite file cannot be opened ({detail})"
    elif _is_connection_problem(exc):
        code = ErrorCode.UNAVAILABLE
        message = f"cannot {action} at {redacted}: the database server cannot be reached ({detail})"
    else:
        code = ErrorCode.OPERATION_FAILED
        message = f"cannot {action} at {redacted}: {detail}"
    details: dict[str, Any] = {"dsn": redacted, "error_type": type(root).__name__}
    if state:
        details["sqlstate"] = state
    return DatabaseError(message, code=code, details=details)


def _sqlite_errors() -> tuple[type[BaseException], ...]:
    import sqlite3

    return (sqlite3.Error,)


async def verify_connection(engine: AsyncEngine, dsn: str) -> None:
    """Open a connection and run ``SELECT 1``; raise one :class:`DatabaseError` when that fails."""
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise translate_error(exc, dsn, "connect to the database") from None
    except Exception as exc:  # asyncpg raises its own exception types on connect
        raise translate_error(exc, dsn, "connect to the database") from None
