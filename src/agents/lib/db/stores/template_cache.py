"""Storage of the template cache's counters (Stream 2): buffered increments of kind ``"template_cache"``.

They are added to the cumulative per-template rows of ``template_cache_metadata``; with their summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from agents.lib.db.buffer import Row
from agents.lib.db.database import Database
from agents.lib.db.schema import template_cache_metadata, utcnow
from agents.lib.db.sink import TEMPLATE_CACHE_METRICS
from agents.lib.db.stores.base import MetricKind, Store
from agents.lib.db.values import cutoff, non_negative_int, number, rate, text, timestamp

__all__ = ["TemplateCacheDelta", "TemplateCacheStore", "template_cache_row"]


@dataclass(frozen=True)
class TemplateCacheDelta:
    """Counter increments for one template (key: name, type and file path) since the last report."""

    template_name: str
    template_type: str
    file_path: str
    hits: int = 0
    misses: int = 0
    loads: int = 0
    load_time_ms: float = 0.0
    size_bytes: int | None = None
    content_hash: str | None = None
    last_accessed_at: datetime | None = None


def template_cache_row(row: Mapping[str, Any] | TemplateCacheDelta) -> Row:
    """Check one ``"template_cache"`` row (a :class:`TemplateCacheDelta` or a mapping of its fields)."""
    delta = row if isinstance(row, TemplateCacheDelta) else TemplateCacheDelta(**row)
    size = delta.size_bytes
    return {
        "template_name": text(delta.template_name, "template_name", 255),
        "template_type": text(delta.template_type, "template_type", 64),
        "file_path": text(str(delta.file_path), "file_path", 1024),
        "hits": non_negative_int(delta.hits, "hits"),
        "misses": non_negative_int(delta.misses, "misses"),
        "loads": non_negative_int(delta.loads, "loads"),
        "load_time_ms": number(delta.load_time_ms, "load_time_ms"),
        "size_bytes": None if size is None else non_negative_int(size, "size_bytes"),
        "content_hash": delta.content_hash,
        "last_accessed_at": timestamp(delta.last_accessed_at),
    }


async def _upsert_templates(db: Database, conn: AsyncConnection, rows: list[Row]) -> None:
    """Merge the increments per template, then add them to the stored counters (one upsert)."""
    merged: dict[tuple[str, str, str], Row] = {}
    for row in rows:
        key = (row["template_name"], row["template_type"], row["file_path"])
        current = merged.get(key)
        if current is None:
            merged[key] = dict(row)
            continue
        for name in ("hits", "misses", "loads", "load_time_ms"):
            current[name] += row[name]
        for name in ("size_bytes", "content_hash"):
            if row[name] is not None:
                current[name] = row[name]
        current["last_accessed_at"] = max(current["last_accessed_at"], row["last_accessed_at"])
    now = utcnow()
    params = [
        {
            "template_name": r["template_name"],
            "template_type": r["template_type"],
            "file_path": r["file_path"],
            "content_hash": r["content_hash"],
            "size_bytes": r["size_bytes"],
            "hit_count": r["hits"],
            "miss_count": r["misses"],
            "load_count": r["loads"],
            "total_load_time_ms": r["load_time_ms"],
            "avg_load_time_ms": r["load_time_ms"] / r["loads"] if r["loads"] else 0.0,
            "last_accessed_at": r["last_accessed_at"],
            "created_at": now,
            "updated_at": now,
        }
        for r in merged.values()
    ]
    t = template_cache_metadata
    ins = db.insert(t)
    ex = ins.excluded
    loads = t.c.load_count + ex.load_count
    total = t.c.total_load_time_ms + ex.total_load_time_ms
    stmt = ins.on_conflict_do_update(
        index_elements=[t.c.template_name, t.c.template_type, t.c.file_path],
        set_={
            "hit_count": t.c.hit_count + ex.hit_count,
            "miss_count": t.c.miss_count + ex.miss_count,
            "load_count": loads,
            "total_load_time_ms": total,
            "avg_load_time_ms": sa.case((loads > 0, total / loads), else_=0.0),
            "size_bytes": sa.func.coalesce(ex.size_bytes, t.c.size_bytes),
            "content_hash": sa.func.coalesce(ex.content_hash, t.c.content_hash),
            "last_accessed_at": ex.last_accessed_at,
            "updated_at": ex.updated_at,
        },
    )
    await conn.execute(stmt, params)


class TemplateCacheStore(Store):
    """Cumulative per-template counters of the template cache (hits, misses, loads, load time, size)."""

    metric_kinds = (MetricKind(TEMPLATE_CACHE_METRICS, template_cache_row, _upsert_templates),)

    async def list_metadata(self) -> list[dict[str, Any]]:
        """Return the stored counters of every template, most accessed first."""
        t = template_cache_metadata
        stmt = sa.select(t).order_by((t.c.hit_count + t.c.miss_count).desc(), t.c.template_name, t.c.file_path)
        async with self.db.begin("read template cache metadata") as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [dict(r) for r in rows]

    async def summary(self, window_minutes: float = 60) -> dict[str, Any]:
        """Summarize the template cache counters of templates accessed in the last ``window_minutes``.

        Counters are cumulative per template, so the window selects templates (by last access), not hits.
        Keys: ``total_templates``, ``total_hits``, ``total_misses``, ``total_loads``, ``overall_hit_rate``,
        ``avg_load_time_ms`` (``None`` when there is nothing to divide), ``total_size_bytes``,
        ``window_minutes``.
        """
        await self._flush()
        t = template_cache_metadata
        where = t.c.last_accessed_at >= cutoff(window_minutes)
        stmt = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(t.c.hit_count), 0),
            sa.func.coalesce(sa.func.sum(t.c.miss_count), 0),
            sa.func.coalesce(sa.func.sum(t.c.load_count), 0),
            sa.func.coalesce(sa.func.sum(t.c.total_load_time_ms), 0.0),
            sa.func.coalesce(sa.func.sum(t.c.size_bytes), 0),
        ).where(where)
        async with self.db.begin("summarize template cache metrics") as conn:
            count, hits, misses, loads, load_ms, size = (await conn.execute(stmt)).one()
        return {
            "window_minutes": window_minutes,
            "total_templates": int(count),
            "total_hits": int(hits),
            "total_misses": int(misses),
            "total_loads": int(loads),
            "overall_hit_rate": rate(hits, int(hits) + int(misses)),
            "avg_load_time_ms": rate(load_ms, loads),
            "total_size_bytes": int(size),
        }
