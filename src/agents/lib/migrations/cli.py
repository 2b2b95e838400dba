"""The ``agents db`` commands: ``migrate``, ``status`` and ``downgrade``.

Mount with ``app.add_typer(db_app, name="db")``. Failures raise :class:`~agents.lib.errors.OnexError`, which the
main command line turns into one line and an exit status.
"""

from __future__ import annotations

from typing import Annotated

import typer

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


@db_app.command("migrate")
def migrate_command(dsn: Annotated[str | None, _DSN] = None) -> None:
    """Upgrade the schema to the newest revision (idempotent)."""
    typer.echo(str(apply(dsn)))


@db_app.command("status")
def status_command(dsn: Annotated[str | None, _DSN] = None) -> None:
    """Show the database's revision and what is pending."""
    typer.echo(str(status(dsn)))


@db_app.command("downgrade")
def downgrade_command(
    revision: Annotated[str, typer.Argument(help="Target revision; 'base' removes the schema.")],
    dsn: Annotated[str | None, _DSN] = None,
) -> None:
    """Revert the schema to REVISION."""
    typer.echo(str(downgrade(revision, dsn)))
