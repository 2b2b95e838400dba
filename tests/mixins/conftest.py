"""Fixtures of the mixin tests: a database of each backend (SQLite, and a real PostgreSQL started by the session)."""

from __future__ import annotations

from tests._services.postgres import backend_dsn, postgres_db_dsn, postgres_dsn, postgres_service
from tests.workflow.conftest import log_capture

__all__ = ["backend_dsn", "log_capture", "postgres_db_dsn", "postgres_dsn", "postgres_service"]
