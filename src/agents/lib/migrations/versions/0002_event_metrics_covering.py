"""Event metrics: one covering index for the time-window summaries.

``event_processing_summary`` aggregates the rows of a time window (count, success rate, averages, p95, the same
per event type). With an index on ``created_at`` alone every row of the window is fetched from the table, one
table page per row when the rows are not stored in time order, so the cost grew with the table's size, not the
window's. The index ``(created_at, event_type, processing_duration_ms, success, batch_size, retry_count)``
holds every column those queries read: PostgreSQL answers them with an index-only scan and SQLite with a
covering-index search. It replaces ``ix_event_processing_metrics_created_at`` and
``ix_event_processing_metrics_type_created`` (on a large table, building it holds a write lock for a while).

Revision ID: 0002_event_metrics_covering
Revises: 0001_initial
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0002_event_metrics_covering"
down_revision: str | None = "0001_initial"
branch_labels: str | None = None
depends_on: str | None = None

_TABLE = "event_processing_metrics"
_SUMMARY = "ix_event_processing_metrics_created_summary"
_SUMMARY_COLUMNS = ["created_at", "event_type", "processing_duration_ms", "success", "batch_size", "retry_count"]


def upgrade() -> None:
    """Create the covering index, then drop the two indexes it replaces."""
    op.create_index(_SUMMARY, _TABLE, _SUMMARY_COLUMNS)
    op.drop_index("ix_event_processing_metrics_created_at", table_name=_TABLE)
    op.drop_index("ix_event_processing_metrics_type_created", table_name=_TABLE)


def downgrade() -> None:
    """Restore the indexes of ``0001_initial``."""
    op.create_index("ix_event_processing_metrics_created_at", _TABLE, ["created_at"])
    op.create_index("ix_event_processing_metrics_type_created", _TABLE, ["event_type", "created_at"])
    op.drop_index(_SUMMARY, table_name=_TABLE)
