"""The stores: one module per concern, each owning its tables' queries, record types and metric kinds.

:data:`STORES` lists the store classes a :class:`~agents.lib.persistence.CodegenPersistence` creates (one
instance each, sharing its database and metrics buffer). A stream adds its storage as a new module here and one
line in :data:`STORES`; see docs/persistence.md, "How a stream adds its storage".
"""

from __future__ import annotations

from agents.lib.db.stores.base import MetricKind, Store
from agents.lib.db.stores.events import EventMetricsStore
from agents.lib.db.stores.generation import GenerationStore
from agents.lib.db.stores.mixins import MixinStore
from agents.lib.db.stores.outbox import OutboxStore
from agents.lib.db.stores.pattern_feedback import PatternFeedbackStore
from agents.lib.db.stores.template_cache import TemplateCacheStore

__all__ = [
    "STORES",
    "EventMetricsStore",
    "GenerationStore",
    "MetricKind",
    "MixinStore",
    "OutboxStore",
    "PatternFeedbackStore",
    "Store",
    "TemplateCacheStore",
]

STORES: tuple[type[Store], ...] = (
    GenerationStore,
    EventMetricsStore,
    TemplateCacheStore,
    MixinStore,
    PatternFeedbackStore,
    OutboxStore,
)
"""Every store class, in the order a persistence creates them; a new stream's store is added here."""
