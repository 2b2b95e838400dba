"""Initial schema: metrics tables, mixin compatibility, pattern feedback, event outbox, generation sessions.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_MIXIN = sa.String(200).with_variant(postgresql.VARCHAR(200, collation="C"), "postgresql")
_NOW = sa.func.current_timestamp()


def _ts(name: str, nullable: bool = False, default: bool = True) -> sa.Column[object]:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=_NOW if default else None,
    )


def upgrade() -> None:
    """Create every table and index."""
    op.create_table(
        "mixin_compatibility_matrix",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("mixin_a", _MIXIN, nullable=False),
        sa.Column("mixin_b", _MIXIN, nullable=False),
        sa.Column("node_type", sa.String(64), nullable=False),
        sa.Column("success_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failure_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_conflict_reason", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_mixin_compatibility_matrix"),
        sa.UniqueConstraint(
            "mixin_a",
            "mixin_b",
            "node_type",
            name="uq_mixin_compatibility_matrix_mixin_a_mixin_b_node_type",
        ),
        sa.CheckConstraint("mixin_a <= mixin_b", name="ck_mixin_compatibility_matrix_canonical_pair"),
        sa.CheckConstraint(
            "success_count >= 0 AND failure_count >= 0",
            name="ck_mixin_compatibility_matrix_counts_non_negative",
        ),
    )
    op.create_index("ix_mixin_compatibility_matrix_node_type", "mixin_compatibility_matrix", ["node_type"])

    op.create_table(
        "pattern_feedback_log",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(64), nullable=True),
        sa.Column("detected_pattern", sa.String(200), nullable=False),
        sa.Column("detected_confidence", sa.Float(), nullable=True),
        sa.Column("actual_pattern", sa.String(200), nullable=True),
        sa.Column("feedback_type", sa.String(64), nullable=False),
        sa.Column("capabilities_matched", _JSON, nullable=False),
        sa.Column("false_positives", _JSON, nullable=False),
        sa.Column("false_negatives", _JSON, nullable=False),
        sa.Column("user_provided", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("weight", sa.Float(), nullable=False, server_default="1.0"),
        sa.Column("context", _JSON, nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_pattern_feedback_log"),
        sa.CheckConstraint("weight >= 0", name="ck_pattern_feedback_log_weight_non_negative"),
    )
    op.create_index(
        "ix_pattern_feedback_log_pattern_created",
        "pattern_feedback_log",
        ["detected_pattern", "created_at"],
    )
    op.create_index("ix_pattern_feedback_log_created_at", "pattern_feedback_log", ["created_at"])
    op.create_index("ix_pattern_feedback_log_session_id", "pattern_feedback_log", ["session_id"])

    op.create_table(
        "generation_performance_metrics",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(64), nullable=True),
        sa.Column("node_type", sa.String(64), nullable=False),
        sa.Column("phase", sa.String(64), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("parallel", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("worker_count", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("speedup", sa.Float(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("context", _JSON, nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_generation_performance_metrics"),
    )
    op.create_index(
        "ix_generation_performance_metrics_created_at",
        "generation_performance_metrics",
        ["created_at"],
    )
    op.create_index(
        "ix_generation_performance_metrics_node_type_created",
        "generation_performance_metrics",
        ["node_type", "created_at"],
    )
    op.create_index(
        "ix_generation_performance_metrics_session_id",
        "generation_performance_metrics",
        ["session_id"],
    )

    op.create_table(
        "template_cache_metadata",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("template_name", sa.String(255), nullable=False),
        sa.Column("template_type", sa.String(64), nullable=False),
        sa.Column("file_path", sa.String(1024), nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("hit_count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("miss_count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("load_count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("total_load_time_ms", sa.Float(), nullable=False, server_default="0"),
        sa.Column("avg_load_time_ms", sa.Float(), nullable=False, server_default="0"),
        _ts("last_accessed_at", nullable=True, default=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_template_cache_metadata"),
        sa.UniqueConstraint(
            "template_name",
            "template_type",
            "file_path",
            name="uq_template_cache_metadata_key",
        ),
        sa.CheckConstraint(
            "hit_count >= 0 AND miss_count >= 0 AND load_count >= 0 AND (size_bytes IS NULL OR size_bytes >= 0)",
            name="ck_template_cache_metadata_counts_non_negative",
        ),
    )
    op.create_index(
        "ix_template_cache_metadata_last_accessed_at",
        "template_cache_metadata",
        ["last_accessed_at"],
    )

    op.create_table(
        "event_processing_metrics",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("processing_duration_ms", sa.Float(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("queue_wait_ms", sa.Float(), nullable=True),
        sa.Column("retry_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_event_processing_metrics"),
    )
    op.create_index("ix_event_processing_metrics_created_at", "event_processing_metrics", ["created_at"])
    op.create_index(
        "ix_event_processing_metrics_type_created",
        "event_processing_metrics",
        ["event_type", "created_at"],
    )

    op.create_table(
        "event_outbox",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("headers", _JSON, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("retry_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("available_at"),
        _ts("leased_until", nullable=True, default=False),
        _ts("sent_at", nullable=True, default=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_outbox"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'dead')", name="ck_event_outbox_status_known"),
        sa.CheckConstraint("retry_count >= 0", name="ck_event_outbox_retry_count_non_negative"),
    )
    op.create_index("ix_event_outbox_status_available", "event_outbox", ["status", "available_at"])

    op.create_table(
        "generation_sessions",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("prd_path", sa.Text(), nullable=True),
        sa.Column("service_name", sa.String(200), nullable=True),
        sa.Column("status", sa.String(32), nullable=False, server_default="running"),
        sa.Column("node_count", sa.Integer(), nullable=False, server_default="0"),
        _ts("started_at"),
        _ts("finished_at", nullable=True, default=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("context", _JSON, nullable=True),
        sa.PrimaryKeyConstraint("session_id", name="pk_generation_sessions"),
    )
    op.create_index("ix_generation_sessions_started_at", "generation_sessions", ["started_at"])


def downgrade() -> None:
    """Drop every table (and its indexes)."""
    for table in (
        "generation_sessions",
        "event_outbox",
        "event_processing_metrics",
        "template_cache_metadata",
        "generation_performance_metrics",
        "pattern_feedback_log",
        "mixin_compatibility_matrix",
    ):
        op.drop_table(table)
