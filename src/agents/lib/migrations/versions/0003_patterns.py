"""Pattern feedback: a UUID per feedback row, and covering indexes for the precision/recall aggregations.

``PatternFeedbackCollector.record_feedback`` returns a UUID (the guide prints it): the new nullable column
``feedback_id`` holds it, unique (rows written before, or through
``CodegenPersistence.record_pattern_feedback``, have none). The analyses aggregate one pattern's rows
(``detected_pattern``, ``detected_confidence``, ``feedback_type``, ``weight``, ``user_provided``) and the rows
that missed it (``actual_pattern``, ``detected_pattern``, ``feedback_type``, ``weight``); the two indexes hold
every column those queries read, so both backends answer them from the index alone (an index-only scan on
PostgreSQL once the visibility map is set by (auto)vacuum; a covering-index search on SQLite).

Revision ID: 0003_patterns
Revises: 0002_event_metrics_covering
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0003_patterns"
down_revision: str | None = "0002_event_metrics_covering"
branch_labels: str | None = None
depends_on: str | None = None

_TABLE = "pattern_feedback_log"
_FEEDBACK_ID = "ix_pattern_feedback_log_feedback_id"
_DETECTED = "ix_pattern_feedback_log_detected_scores"
_ACTUAL = "ix_pattern_feedback_log_actual_scores"


def upgrade() -> None:
    """Add ``feedback_id`` (unique) and the two covering indexes."""
    op.add_column(_TABLE, sa.Column("feedback_id", sa.String(36), nullable=True))
    op.create_index(_FEEDBACK_ID, _TABLE, ["feedback_id"], unique=True)
    op.create_index(
        _DETECTED, _TABLE, ["detected_pattern", "detected_confidence", "feedback_type", "weight", "user_provided"]
    )
    op.create_index(_ACTUAL, _TABLE, ["actual_pattern", "detected_pattern", "feedback_type", "weight"])


def downgrade() -> None:
    """Drop the indexes and the column."""
    op.drop_index(_ACTUAL, table_name=_TABLE)
    op.drop_index(_DETECTED, table_name=_TABLE)
    op.drop_index(_FEEDBACK_ID, table_name=_TABLE)
    op.drop_column(_TABLE, "feedback_id")
