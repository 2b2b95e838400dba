"""The ``agents`` command line (also ``python -m agents``).

Errors are printed as one readable line and a hint, with exit code 2 for bad input or configuration and 1 for
other failures; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agents import __version__
from agents.lib.config import load_settings
from agents.lib.errors import ErrorCode, OnexError

__all__ = ["app", "main"]

app = typer.Typer(
    name="agents",
    help="Turn a product requirements document (PRD) into a verified microservice of ONEX nodes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state: dict[str, bool] = {"debug": False}
_USER_ERRORS = {ErrorCode.VALIDATION_ERROR, ErrorCode.CONFIGURATION_ERROR, ErrorCode.NOT_FOUND}
_HINTS = {
    ErrorCode.CONFIGURATION_ERROR: "check the environment and the .env file; `agents config` shows the settings",
    ErrorCode.VALIDATION_ERROR: "fix the input named above and run the command again",
    ErrorCode.NOT_FOUND: "check the path or name given",
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agents {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Turn a product requirements document (PRD) into a verified microservice of ONEX nodes."""
    _state["debug"] = debug


@app.command("config")
def config_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show the effective settings (environment and .env), secrets masked."""
    settings = load_settings()
    values = settings.as_safe_dict()
    values["DATABASE_DSN"] = settings.redacted_dsn()
    if as_json:
        typer.echo(orjson.dumps(values, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table("setting", "value", title="agents settings")
    for key, value in values.items():
        table.add_row(key, "" if value is None else str(value))
    Console().print(table)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; turn framework errors into one line and an exit code."""
    try:
        app(args=argv)  # standalone mode: usage errors, --help and exit codes are handled by typer
    except OnexError as exc:
        if _state["debug"]:
            raise
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(f"[bold red]error:[/] {escape(exc.message)}", markup=True)
        hint = _HINTS.get(exc.code)
        if hint:
            err.print(f"[dim]hint: {escape(hint)}[/]", markup=True)
        sys.exit(2 if exc.code in _USER_ERRORS else 1)
    except Exception as exc:
        if _state["debug"]:
            raise
        typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        typer.echo("hint: run again with --debug to see the traceback", err=True)
        sys.exit(1)
