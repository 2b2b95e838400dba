"""The base of the stores: one concern's queries and records on the shared database.

A store may own kinds of buffered metric rows (:class:`MetricKind`). See docs/persistence.md, "Stores".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncConnection

from agents.lib.db.buffer import Row
from agents.lib.db.database import Database

__all__ = ["MetricKind", "Store"]


@dataclass(frozen=True)
class MetricKind:
    """A kind of buffered metric rows: its name, how one row is checked, how a batch of rows is written.

    ``normalize`` turns one row as producers write it (a mapping of the kind's fields, defaults allowed) into
    the row stored in the buffer, raising ``OnexError(VALIDATION_ERROR)`` for an invalid one. ``write``
    writes a batch of normalized rows on the open transaction of the metrics batch.
    """

    name: str
    normalize: Callable[[Mapping[str, Any]], Row]
    write: Callable[[Database, AsyncConnection, list[Row]], Awaitable[None]]


class Store:
    """Base of the per-concern stores.

    ``db`` is the shared database; ``flush`` writes the buffered metrics (summaries call it first, so they
    see what was just recorded). ``metric_kinds`` lists the kinds of buffered rows the store owns (none for
    stores of low-volume records, which write at once).
    """

    metric_kinds: ClassVar[tuple[MetricKind, ...]] = ()

    def __init__(self, db: Database, flush: Callable[[], Awaitable[int]]) -> None:
        self.db = db
        self._flush = flush
