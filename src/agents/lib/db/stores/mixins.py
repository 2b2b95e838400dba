"""Storage of mixin compatibility outcomes (Stream 4): ``mixin_compatibility_matrix``, one row per pair."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from agents.lib.db.schema import mixin_compatibility_matrix, utcnow
from agents.lib.db.stores.base import Store
from agents.lib.db.values import cutoff, text

__all__ = ["MixinCompatibility", "MixinStore"]


@dataclass(frozen=True)
class MixinCompatibility:
    """Observed outcomes of two mixins used together on one node type (``mixin_a <= mixin_b``)."""

    mixin_a: str
    mixin_b: str
    node_type: str
    success_count: int
    failure_count: int
    last_conflict_reason: str | None
    updated_at: datetime

    @property
    def total(self) -> int:
        """Number of recorded outcomes."""
        return self.success_count + self.failure_count

    @property
    def success_rate(self) -> float:
        """Fraction of successful outcomes (0.0 when nothing was recorded)."""
        return self.success_count / self.total if self.total else 0.0


def _pair(mixin_a: str, mixin_b: str) -> tuple[str, str]:
    a, b = sorted((text(mixin_a, "mixin_a", 200), text(mixin_b, "mixin_b", 200)))
    return a, b


def _mixin(row: sa.RowMapping) -> MixinCompatibility:
    return MixinCompatibility(
        mixin_a=row["mixin_a"],
        mixin_b=row["mixin_b"],
        node_type=row["node_type"],
        success_count=int(row["success_count"]),
        failure_count=int(row["failure_count"]),
        last_conflict_reason=row["last_conflict_reason"],
        updated_at=row["updated_at"],
    )


class MixinStore(Store):
    """Success and failure counts of mixin pairs per node type; a pair is stored in code-point order."""

    async def record(
        self,
        mixin_a: str,
        mixin_b: str,
        node_type: str,
        success: bool,
        conflict_reason: str | None = None,
    ) -> MixinCompatibility:
        """Add one outcome for the pair (atomically); return the pair's counts after the update."""
        a, b = _pair(mixin_a, mixin_b)
        node = text(node_type, "node_type", 64)
        now = utcnow()
        t = mixin_compatibility_matrix
        ins = self.db.insert(t).values(
            mixin_a=a,
            mixin_b=b,
            node_type=node,
            success_count=1 if success else 0,
            failure_count=0 if success else 1,
            last_conflict_reason=conflict_reason,
            created_at=now,
            updated_at=now,
        )
        stmt = ins.on_conflict_do_update(
            index_elements=[t.c.mixin_a, t.c.mixin_b, t.c.node_type],
            set_={
                "success_count": t.c.success_count + ins.excluded.success_count,
                "failure_count": t.c.failure_count + ins.excluded.failure_count,
                "last_conflict_reason": sa.func.coalesce(
                    ins.excluded.last_conflict_reason, t.c.last_conflict_reason
                ),
                "updated_at": ins.excluded.updated_at,
            },
        ).returning(*t.c)
        async with self.db.begin("record a mixin compatibility outcome") as conn:
            row = (await conn.execute(stmt)).mappings().one()
        return _mixin(row)

    async def get(self, mixin_a: str, mixin_b: str, node_type: str) -> MixinCompatibility | None:
        """Return the counts of one pair (in either order) on ``node_type``, or ``None``."""
        a, b = _pair(mixin_a, mixin_b)
        t = mixin_compatibility_matrix
        stmt = sa.select(t).where(t.c.mixin_a == a, t.c.mixin_b == b, t.c.node_type == node_type)
        async with self.db.begin("read mixin compatibility") as conn:
            row = (await conn.execute(stmt)).mappings().one_or_none()
        return None if row is None else _mixin(row)

    async def list_pairs(self, node_type: str | None = None) -> list[MixinCompatibility]:
        """Return every recorded pair (optionally of one node type), ordered by node type and pair."""
        t = mixin_compatibility_matrix
        stmt = sa.select(t).order_by(t.c.node_type, t.c.mixin_a, t.c.mixin_b)
        if node_type is not None:
            stmt = stmt.where(t.c.node_type == node_type)
        async with self.db.begin("read mixin compatibility") as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_mixin(r) for r in rows]

    async def summary(self, window_minutes: float = 60) -> dict[str, Any]:
        """Summarize the pairs updated in the window (outcomes are cumulative per pair).

        ``conflict_pairs`` counts pairs with more failures than successes.
        """
        m = mixin_compatibility_matrix
        stmt = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(m.c.success_count), 0),
            sa.func.coalesce(sa.func.sum(m.c.failure_count), 0),
            sa.func.coalesce(sa.func.sum(sa.case((m.c.failure_count > m.c.success_count, 1), else_=0)), 0),
            sa.func.count(sa.distinct(m.c.node_type)),
        ).where(m.c.updated_at >= cutoff(window_minutes))
        async with self.db.begin("summarize mixin compatibility") as conn:
            pairs, ok, failed, conflicts, node_types = (await conn.execute(stmt)).one()
        observations = int(ok) + int(failed)
        return {
            "total_pairs": int(pairs),
            "total_observations": observations,
            "success_rate": int(ok) / observations if observations else 0.0,
            "conflict_pairs": int(conflicts),
            "node_types": int(node_types),
        }
