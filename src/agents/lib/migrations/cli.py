"""The ``agents db`` commands: ``migrate``, ``status`` and ``downgrade``.

Mount with ``app.add_typer(db_app, name="db")``. Each command first prints which database it uses (password
redacted) and why. Failures raise :class:`~agents.lib.errors.OnexError`, which the main command line turns into
one line and an exit status.
"""

from __future__ import annotations

from typing import Annotated

import typer

from agents.lib.config import load_settings, redact_dsn
from agents.lib.migrations import apply, downgrade, status

__all__ = ["db_app"]

db_app = typer.Typer(
    name="db",
    help="Manage the framework's database schema (migrations).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_DSN = typer.Option(
    "--dsn",
    help="Database DSN (default: DATABASE_URL, else POSTGRES_*, else the SQLite file).",
)


def _database_line(dsn: str | None) -> tuple[str, str]:
    """Return the DSN a command uses (``dsn``, else the settings') and the line that names it, redacted.

    The line reads ``database: postgresql://postgres:***@localhost:5432/omniclaude (POSTGRES_* from
    agents/.env)``; see :meth:`~agents.lib.config.Settings.describe_database`.
    """
    if dsn is not None:
        return dsn, f"database: {redact_dsn(dsn)} (given with --dsn)"
    settings = load_settings()
    return settings.database_dsn(), f"database: {settings.describe_database()}"


def _status_lines(dsn: str) -> str:
    """Return the status of the database at ``dsn`` without its ``database:`` line (see :func:`_database_line`)."""
    return "\n".join(line for line in status(dsn).lines() if not line.startswith("database: "))


@db_app.command("migrate")
def migrate_command(dsn: Annotated[str | None, _DSN] = None) -> None:
    """Upgrade the schema to the newest revision (idempotent)."""
    used, line = _database_line(dsn)
    typer.echo(line)
    typer.echo(str(apply(used)))


@db_app.command("status")
def status_command(dsn: Annotated[str | None, _DSN] = None) -> None:
    """Show the database's revision and what is pending."""
    used, line = _database_line(dsn)
    typer.echo(line)
    typer.echo(_status_lines(used))


@db_app.command("downgrade")
def downgrade_command(
    revision: Annotated[str, typer.Argument(help="Target revision; 'base' removes the schema.")],
    dsn: Annotated[str | None, _DSN] = None,
) -> None:
    """Revert the schema to REVISION."""
    used, line = _database_line(dsn)
    typer.echo(line)
    typer.echo(str(downgrade(revision, used)))
