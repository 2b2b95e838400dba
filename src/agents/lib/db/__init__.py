"""The storage layer's package: engines and DSNs (re-exported here from :mod:`agents.lib.db.engine`).

The names below load SQLAlchemy on first use, not on import, so that the light parts of the package (the
metrics sink, the buffer) cost nothing to import. The layout is described in docs/persistence.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.lib.db.engine import (
        CONNECT_TIMEOUT_S,
        DatabaseError,
        backend_name,
        create_engine,
        is_postgres,
        is_sqlite,
        normalize_dsn,
        plain_postgres_dsn,
        resolve_dsn,
        scrub,
        translate_error,
        verify_connection,
    )

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


def __getattr__(name: str) -> Any:
    """Load the engine module on first access to one of its names."""
    if name in __all__:
        from agents.lib.db import engine

        value = getattr(engine, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
