"""The mixins a node can use, and the catalogue that declares them: the one source of truth.

Each mixin class carries one ``INFO`` (:class:`~.mixin_info.MixinInfo`: category, capabilities, hooks, traits,
node types...; the vocabularies are documented in :mod:`.mixin_info`). ``MIXIN_CATALOGUE`` lists every mixin by
name; the generator only uses mixins listed here, and the mixin learner learns from their ``INFO``.

A node runs each public operation through ``_wrap_operation`` and each outside call through ``_wrap_io``
(:class:`~.node_base.IOWrapper`); the mixins that take part override them. A node lists its mixins before the node
base class in ``WRAP_ORDER`` (the first listed wraps outermost). The mixins live in :mod:`.mixins_resilience`,
:mod:`.mixins_observability`, :mod:`.mixins_data` and :mod:`.mixins_boundary`; all are importable from here.
"""

from __future__ import annotations

from typing import Any

from .mixin_info import MixinInfo
from .mixins_boundary import CALLER, MixinEventBus, MixinSecurity, MixinValidation, Principal, acting_as
from .mixins_data import MixinCaching, MixinConnection, MixinRepository, MixinTransaction, Repository
from .mixins_observability import AUDIT_COLLECTION, MixinAudit, MixinHealthCheck, MixinLogging, MixinMetrics
from .mixins_resilience import MixinCircuitBreaker, MixinRateLimiter, MixinRetry, MixinTimeout, is_transient

__all__ = [
    "AUDIT_COLLECTION",
    "CALLER",
    "MIXIN_CATALOGUE",
    "WRAP_ORDER",
    "MixinAudit",
    "MixinCaching",
    "MixinCircuitBreaker",
    "MixinConnection",
    "MixinEventBus",
    "MixinHealthCheck",
    "MixinInfo",
    "MixinLogging",
    "MixinMetrics",
    "MixinRateLimiter",
    "MixinRepository",
    "MixinRetry",
    "MixinSecurity",
    "MixinTimeout",
    "MixinTransaction",
    "MixinValidation",
    "Principal",
    "Repository",
    "UnknownMixinError",
    "acting_as",
    "is_transient",
    "mixin_info",
]

WRAP_ORDER: tuple[str, ...] = (
    "MixinRetry",
    "MixinCircuitBreaker",
    "MixinTimeout",
    "MixinConnection",
    "MixinMetrics",
    "MixinLogging",
    "MixinAudit",
    "MixinSecurity",
    "MixinRateLimiter",
    "MixinCaching",
    "MixinValidation",
    "MixinTransaction",
    "MixinHealthCheck",
    "MixinEventBus",
    "MixinRepository",
)
"""The order mixins are listed in a node's bases (outermost wrapper first).

Outside calls (``wrap_io``): retry, circuit breaker, timeout, connection pool, metrics. Operations (``read`` /
``write``): logging and audit first (they see every attempt, refused or served from the cache), then
authorization (an unauthorized caller uses no quota and is never served a cached result), rate limiter, caching,
validation, transaction, event bus.
"""

MIXIN_CATALOGUE: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        MixinRetry,
        MixinCircuitBreaker,
        MixinTimeout,
        MixinConnection,
        MixinMetrics,
        MixinLogging,
        MixinAudit,
        MixinSecurity,
        MixinRateLimiter,
        MixinCaching,
        MixinValidation,
        MixinTransaction,
        MixinHealthCheck,
        MixinEventBus,
        MixinRepository,
    )
}
"""Every mixin by name, in ``WRAP_ORDER``; each class has ``INFO``."""


class UnknownMixinError(KeyError):
    """A mixin name the catalogue does not list; the message names the known ones."""

    def __str__(self) -> str:
        """Return the message (not ``KeyError``'s quoted repr)."""
        return str(self.args[0]) if self.args else "unknown mixin"


def mixin_info(name: str) -> MixinInfo:
    """Return the ``INFO`` of the mixin ``name``; :class:`UnknownMixinError` naming the known mixins if none."""
    cls = MIXIN_CATALOGUE.get(name)
    if cls is None:
        raise UnknownMixinError(f"unknown mixin {name!r}; known: {', '.join(sorted(MIXIN_CATALOGUE))}")
    info: MixinInfo = cls.INFO
    return info
