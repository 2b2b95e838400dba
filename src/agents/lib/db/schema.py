"""The framework's tables, as SQLAlchemy Core definitions shared by SQLite and PostgreSQL.

Migrations (:mod:`agents.lib.migrations`) create exactly these tables; a test compares the two.

Conventions:

- timestamps are :class:`UTCDateTime`: ``timestamptz`` on PostgreSQL, and on SQLite a fixed-format UTC string
  (so comparisons and ``ORDER BY`` work); values read back are timezone-aware UTC datetimes;
- JSON columns are ``JSONB`` on PostgreSQL and JSON text on SQLite;
- CHECK constraints only state what every writer respects (non-negative counters, the canonical order of a mixin
  pair, the outbox states); free-form names such as template types or feedback types are not restricted;
- mixin names use the ``"C"`` collation on PostgreSQL, so that ``mixin_a <= mixin_b`` compares code points, the
  same order Python's ``sorted`` uses (SQLite's default ``BINARY`` collation does the same).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

__all__ = [
    "ALL_TABLES",
    "OUTBOX_STATUSES",
    "JSONType",
    "UTCDateTime",
    "event_outbox",
    "event_processing_metrics",
    "generation_performance_metrics",
    "generation_sessions",
    "metadata",
    "mixin_compatibility_matrix",
    "pattern_feedback_log",
    "template_cache_metadata",
    "utcnow",
]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
"""The metadata holding every table of the framework."""

OUTBOX_STATUSES: tuple[str, ...] = ("pending", "sent", "dead")
"""States of an outbox row: waiting to be published, published, given up after too many retries."""


def utcnow() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both backends.

    Naive datetimes are taken to be UTC. SQLite stores the UTC wall time as text in one fixed format.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC (naive UTC on SQLite, which cannot store an offset)."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):  # rows written by raw SQL on SQLite
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
"""A JSON column type: ``JSONB`` on PostgreSQL, JSON text on SQLite; Python ``None`` is SQL ``NULL``."""

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_MIXIN_NAME = sa.String(200).with_variant(postgresql.VARCHAR(200, collation="C"), "postgresql")


def _created_at() -> sa.Column[datetime]:
    return sa.Column("created_at", UTCDateTime(), nullable=False, server_default=sa.func.current_timestamp())


mixin_compatibility_matrix = sa.Table(
    "mixin_compatibility_matrix",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("mixin_a", _MIXIN_NAME, nullable=False),
    sa.Column("mixin_b", _MIXIN_NAME, nullable=False),
    sa.Column("node_type", sa.String(64), nullable=False),
    sa.Column("success_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("failure_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_conflict_reason", sa.Text(), nullable=True),
    _created_at(),
    sa.Column("updated_at", UTCDateTime(), nullable=False, server_default=sa.func.current_timestamp()),
    sa.UniqueConstraint("mixin_a", "mixin_b", "node_type"),
    sa.CheckConstraint("mixin_a <= mixin_b", name="canonical_pair"),
    sa.CheckConstraint("success_count >= 0 AND failure_count >= 0", name="counts_non_negative"),
)
"""Outcomes of using two mixins together on a node type; the pair is stored in code-point order."""

sa.Index("ix_mixin_compatibility_matrix_node_type", mixin_compatibility_matrix.c.node_type)

pattern_feedback_log = sa.Table(
    "pattern_feedback_log",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(64), nullable=True),
    sa.Column("detected_pattern", sa.String(200), nullable=False),
    sa.Column("detected_confidence", sa.Float(), nullable=True),
    sa.Column("actual_pattern", sa.String(200), nullable=True),
    sa.Column("feedback_type", sa.String(64), nullable=False),
    sa.Column("capabilities_matched", JSONType, nullable=False),
    sa.Column("false_positives", JSONType, nullable=False),
    sa.Column("false_negatives", JSONType, nullable=False),
    sa.Column("user_provided", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("weight", sa.Float(), nullable=False, server_default="1.0"),
    sa.Column("context", JSONType, nullable=True),
    _created_at(),
    sa.Column("feedback_id", sa.String(36), nullable=True),
    sa.CheckConstraint("weight >= 0", name="weight_non_negative"),
)
"""One piece of feedback on a detected pattern (user-provided feedback carries more weight).

``feedback_id`` is the UUID :meth:`agents.lib.pattern_feedback.PatternFeedbackCollector.record_feedback` returns
(``NULL`` for rows written without one).
"""

sa.Index(
    "ix_pattern_feedback_log_pattern_created",
    pattern_feedback_log.c.detected_pattern,
    pattern_feedback_log.c.created_at,
)
sa.Index("ix_pattern_feedback_log_created_at", pattern_feedback_log.c.created_at)
sa.Index("ix_pattern_feedback_log_session_id", pattern_feedback_log.c.session_id)
sa.Index("ix_pattern_feedback_log_feedback_id", pattern_feedback_log.c.feedback_id, unique=True)
# Covering indexes of the precision/recall aggregations (one pattern's detections; the rows that missed it).
sa.Index(
    "ix_pattern_feedback_log_detected_scores",
    *(
        pattern_feedback_log.c[n]
        for n in ("detected_pattern", "detected_confidence", "feedback_type", "weight", "user_provided")
    ),
)
sa.Index(
    "ix_pattern_feedback_log_actual_scores",
    *(pattern_feedback_log.c[n] for n in ("actual_pattern", "detected_pattern", "feedback_type", "weight")),
)

generation_performance_metrics = sa.Table(
    "generation_performance_metrics",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(64), nullable=True),
    sa.Column("node_type", sa.String(64), nullable=False),
    sa.Column("phase", sa.String(64), nullable=False),
    sa.Column("duration_ms", sa.Float(), nullable=False),
    sa.Column("parallel", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("worker_count", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("speedup", sa.Float(), nullable=True),
    sa.Column("success", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("context", JSONType, nullable=True),
    _created_at(),
)
"""Duration of one generation phase of one node (and the speedup of parallel runs)."""

sa.Index("ix_generation_performance_metrics_created_at", generation_performance_metrics.c.created_at)
sa.Index(
    "ix_generation_performance_metrics_node_type_created",
    generation_performance_metrics.c.node_type,
    generation_performance_metrics.c.created_at,
)
sa.Index("ix_generation_performance_metrics_session_id", generation_performance_metrics.c.session_id)

template_cache_metadata = sa.Table(
    "template_cache_metadata",
    metadata,
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
    sa.Column("last_accessed_at", UTCDateTime(), nullable=True),
    _created_at(),
    sa.Column("updated_at", UTCDateTime(), nullable=False, server_default=sa.func.current_timestamp()),
    sa.UniqueConstraint(
        "template_name", "template_type", "file_path", name=sa.schema.conv("uq_template_cache_metadata_key")
    ),
    sa.CheckConstraint(
        "hit_count >= 0 AND miss_count >= 0 AND load_count >= 0 AND (size_bytes IS NULL OR size_bytes >= 0)",
        name="counts_non_negative",
    ),
)
"""Per-template cache counters, keyed by name, type and file path."""

sa.Index("ix_template_cache_metadata_last_accessed_at", template_cache_metadata.c.last_accessed_at)

event_processing_metrics = sa.Table(
    "event_processing_metrics",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("event_type", sa.String(200), nullable=False),
    sa.Column("processing_duration_ms", sa.Float(), nullable=False),
    sa.Column("success", sa.Boolean(), nullable=False),
    sa.Column("batch_size", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("queue_wait_ms", sa.Float(), nullable=True),
    sa.Column("retry_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("error", sa.Text(), nullable=True),
    _created_at(),
)
"""One processed (published or consumed) event or batch: duration, outcome, batch size, waits, retries."""

_EVENT_SUMMARY_COLUMNS: tuple[str, ...] = (
    "created_at",
    "event_type",
    "processing_duration_ms",
    "success",
    "batch_size",
    "retry_count",
)

# One covering index, led by created_at: the time-window summaries (totals, per-type groups, p95) read only the
# index entries of their window, in index order, and never the table, so their cost follows the rows in the
# window and not the table's size or its physical order (an index-only scan on PostgreSQL once the visibility
# map is set by (auto)vacuum; a covering-index search on SQLite). It replaces the indexes on (created_at) and
# (event_type, created_at) of the first revision: every query of this table has a time window.
sa.Index(
    "ix_event_processing_metrics_created_summary",
    *(event_processing_metrics.c[name] for name in _EVENT_SUMMARY_COLUMNS),
)

event_outbox = sa.Table(
    "event_outbox",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(255), nullable=False),
    sa.Column("key", sa.LargeBinary(), nullable=True),
    sa.Column("payload", sa.LargeBinary(), nullable=False),
    sa.Column("headers", JSONType, nullable=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("retry_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text(), nullable=True),
    _created_at(),
    sa.Column("available_at", UTCDateTime(), nullable=False, server_default=sa.func.current_timestamp()),
    sa.Column("leased_until", UTCDateTime(), nullable=True),
    sa.Column("sent_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in OUTBOX_STATUSES) + ")", name="status_known"),
    sa.CheckConstraint("retry_count >= 0", name="retry_count_non_negative"),
)
"""Events waiting to be published to Kafka (written when Kafka is absent or down)."""

sa.Index("ix_event_outbox_status_available", event_outbox.c.status, event_outbox.c.available_at)

generation_sessions = sa.Table(
    "generation_sessions",
    metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("prd_path", sa.Text(), nullable=True),
    sa.Column("service_name", sa.String(200), nullable=True),
    sa.Column("status", sa.String(32), nullable=False, server_default="running"),
    sa.Column("node_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("started_at", UTCDateTime(), nullable=False, server_default=sa.func.current_timestamp()),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("duration_ms", sa.Float(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("context", JSONType, nullable=True),
)
"""One run of the generator over a PRD."""

sa.Index("ix_generation_sessions_started_at", generation_sessions.c.started_at)

ALL_TABLES: tuple[sa.Table, ...] = (
    mixin_compatibility_matrix,
    pattern_feedback_log,
    generation_performance_metrics,
    template_cache_metadata,
    event_processing_metrics,
    event_outbox,
    generation_sessions,
)
"""Every table of the schema, in creation order."""
