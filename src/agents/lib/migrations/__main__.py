"""``python -m agents.lib.migrations apply | status | downgrade REV [--dsn DSN]``.

The first line printed names the database (password redacted) and where its DSN came from. Exit status 0 on
success; 2 when the configuration (DSN, credentials) is wrong; 1 for other failures.
"""

from __future__ import annotations

import argparse
import sys

from agents.lib.errors import ErrorCode, OnexError
from agents.lib.migrations import apply, downgrade
from agents.lib.migrations.cli import _database_line, _status_lines

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the command and return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m agents.lib.migrations",
        description="Apply, inspect or revert the framework's database migrations.",
    )
    parser.add_argument(
        "--dsn",
        default=None,
        help="database DSN (default: DATABASE_URL, else POSTGRES_*, else the SQLite file)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("apply", help="upgrade the schema to the newest revision (idempotent)")
    sub.add_parser("status", help="show the current and the newest revision")
    down = sub.add_parser("downgrade", help="revert the schema to REV ('base' removes it)")
    down.add_argument("revision", metavar="REV")
    args = parser.parse_args(argv)
    try:
        dsn, line = _database_line(args.dsn)
        print(line, flush=True)
        if args.command == "apply":
            print(apply(dsn))
        elif args.command == "status":
            print(_status_lines(dsn))
        else:
            print(downgrade(args.revision, dsn))
    except OnexError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        user_error = exc.code in {ErrorCode.CONFIGURATION_ERROR, ErrorCode.VALIDATION_ERROR}
        return 2 if user_error else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
