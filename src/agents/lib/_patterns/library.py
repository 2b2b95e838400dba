"""The pattern library: the business-logic shapes the generator recognises, their evidence and their code.

Each :class:`Pattern` names the evidence that speaks for it in a :class:`~agents.lib.prd_analyzer.PRDAnalysis`
(stemmed keywords and phrases of the PRD's text, the kinds of operations and external systems found, words of
entity names, how strongly the analysis calls for the pattern's node type) with a weight in (0, 1) each, and
evidence that speaks against it. :mod:`agents.lib._patterns.detect` turns that into a confidence. Each pattern
also says what the generator emits for it (:class:`PatternCode`) and its default confidence threshold.
The weights and thresholds were set on the labelled corpus in tests/patterns/ (docs/patterns.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from agents.lib._patterns.text import stem_phrase

__all__ = ["PATTERNS", "PATTERN_NAMES", "Pattern", "PatternCode", "get_pattern"]


@dataclass(frozen=True)
class PatternCode:
    """What the generator emits for a detected pattern.

    ``node_types``: node types the service gets (added when the caller did not choose the node types);
    ``mixins``: node type -> runtime mixins added to that node; ``hooks``: node type -> ``(name, description)``
    of hooks left for humans (a method that raises NOT_IMPLEMENTED, listed in the contract).
    """

    node_types: tuple[str, ...] = ()
    mixins: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    hooks: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: what the generator emits (``REDUCER node``, ``MixinCaching on EFFECT``...)."""
        parts = [f"{t} node" for t in self.node_types]
        parts += [f"{m} on {t}" for t, names in self.mixins.items() for m in names]
        parts += [f"{name}() hook on {t}" for t, hooks in self.hooks.items() for name, _ in hooks]
        return ", ".join(parts)


@dataclass(frozen=True)
class Pattern:
    """One pattern: its evidence and weights, default threshold and code (see the module docstring).

    ``keywords`` and ``against`` map words or short phrases (stemmed when the library loads) to weights;
    ``operations`` and ``systems`` map :class:`~agents.lib.prd_analyzer.OperationKind` /
    :class:`~agents.lib.prd_analyzer.ExternalSystemKind` values to weights; ``entities`` maps words of entity
    names; ``node_type_weight`` multiplies the analysis's score for ``node_type``; ``workflow_steps_weight``
    counts when the PRD itself lists workflow steps.
    """

    name: str
    description: str
    node_type: str
    default_threshold: float
    code: PatternCode
    keywords: Mapping[str, float] = field(default_factory=dict)
    against: Mapping[str, float] = field(default_factory=dict)
    operations: Mapping[str, float] = field(default_factory=dict)
    systems: Mapping[str, float] = field(default_factory=dict)
    entities: Mapping[str, float] = field(default_factory=dict)
    node_type_weight: float = 0.0
    workflow_steps_weight: float = 0.0

    def stemmed(self, words: Mapping[str, float]) -> dict[tuple[str, ...], tuple[str, float]]:
        """``words`` keyed by stemmed phrase, each with its original spelling and weight (highest kept)."""
        out: dict[tuple[str, ...], tuple[str, float]] = {}
        for word, weight in words.items():
            key = stem_phrase(word)
            if key and (key not in out or out[key][1] < weight):
                out[key] = (word, weight)
        return out


PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        name="crud",
        description="create, read, update and delete records of the service's entities",
        node_type="EFFECT",
        default_threshold=0.55,
        code=PatternCode(node_types=("EFFECT",)),
        keywords={
            "crud": 0.6,
            "create": 0.25,
            "update": 0.2,
            "delete": 0.3,
            "remove": 0.2,
            "store": 0.2,
            "edit": 0.25,
            "record": 0.15,
            "look up": 0.15,
        },
        operations={"create": 0.35, "read": 0.25, "update": 0.3, "delete": 0.35, "list": 0.25},
        systems={"database": 0.25},
    ),
    Pattern(
        name="aggregation",
        description="fold events or records into totals, counters, balances or statistics",
        node_type="REDUCER",
        default_threshold=0.5,
        code=PatternCode(node_types=("REDUCER",)),
        keywords={
            "aggregate": 0.45,
            "aggregation": 0.45,
            "running total": 0.5,
            "totals": 0.25,
            "sum": 0.3,
            "median": 0.3,
            "counter": 0.25,
            "statistics": 0.4,
            "average": 0.3,
            "roll up": 0.4,
            "rollup": 0.4,
            "accumulate": 0.4,
            "time window": 0.4,
            "tally": 0.35,
            "balance": 0.35,
            "fold": 0.35,
            "leaderboard": 0.45,
        },
        operations={"aggregate": 0.5, "summarize": 0.45},
        node_type_weight=0.35,
    ),
    Pattern(
        name="calculation",
        description="compute a value from inputs by the PRD's rules (fees, prices, taxes, scores)",
        node_type="COMPUTE",
        default_threshold=0.55,
        code=PatternCode(node_types=("COMPUTE",)),
        keywords={
            "calculate": 0.45,
            "calculation": 0.45,
            "compute": 0.35,
            "fee": 0.2,
            "price": 0.2,
            "pricing": 0.3,
            "tax": 0.3,
            "discount": 0.3,
            "interest": 0.25,
            "formula": 0.35,
            "score": 0.2,
            "rounded": 0.15,
        },
        operations={"calculate": 0.5},
    ),
    Pattern(
        name="transformation",
        description="convert records from one shape or format to another (map, normalize, enrich, parse)",
        node_type="COMPUTE",
        default_threshold=0.5,
        code=PatternCode(node_types=("COMPUTE",)),
        keywords={
            "transform": 0.5,
            "transformation": 0.5,
            "convert": 0.45,
            "conversion": 0.45,
            "decode": 0.35,
            "format": 0.15,
            "normalize": 0.4,
            "normalization": 0.4,
            "enrich": 0.35,
            "parse": 0.3,
            "flatten": 0.35,
            "reformat": 0.4,
            "mapping": 0.25,
            "csv": 0.15,
            "translate": 0.25,
        },
        operations={"transform": 0.5},
    ),
    Pattern(
        name="validation",
        description="check inputs against business rules and reject what breaks them",
        node_type="COMPUTE",
        default_threshold=0.5,
        code=PatternCode(node_types=("COMPUTE",), mixins={"EFFECT": ("MixinValidation",)}),
        keywords={
            "validate": 0.45,
            "validation": 0.45,
            "invalid": 0.35,
            "reject": 0.5,
            "refuse": 0.3,
            "cannot": 0.2,
            "unique": 0.2,
            "rule": 0.2,
            "business rule": 0.4,
            "constraint": 0.25,
            "eligible": 0.35,
            "eligibility": 0.35,
            "at most": 0.25,
            "limit": 0.15,
            "verify": 0.2,
        },
        operations={"validate": 0.5},
    ),
    Pattern(
        name="workflow",
        description="coordinate a multi-step process across services, with ordering, fallbacks or compensation",
        node_type="ORCHESTRATOR",
        default_threshold=0.6,
        code=PatternCode(node_types=("ORCHESTRATOR",)),
        keywords={
            "workflow": 0.4,
            "orchestrate": 0.5,
            "orchestration": 0.5,
            "saga": 0.5,
            "multi step": 0.4,
            "coordinate": 0.4,
            "compensate": 0.4,
            "compensation": 0.4,
            "rollback": 0.3,
            "fallback": 0.3,
            "approval": 0.25,
            "pipeline": 0.25,
            "escalate": 0.25,
        },
        operations={"coordinate": 0.5, "schedule": 0.25},
        node_type_weight=0.35,
        workflow_steps_weight=0.45,
    ),
    Pattern(
        name="event_publishing",
        description="publish domain events to a bus or broker for other services",
        node_type="EFFECT",
        default_threshold=0.6,
        code=PatternCode(node_types=("EFFECT",), mixins={"EFFECT": ("MixinEventBus",)}),
        keywords={
            "publish": 0.35,
            "publish to": 0.3,
            "emit": 0.5,
            "event bus": 0.5,
            "domain event": 0.5,
            "broadcast": 0.3,
            "subscriber": 0.3,
            "webhook": 0.3,
            "message queue": 0.35,
            "topic": 0.25,
            "event": 0.25,
        },
        against={"consume": 0.5, "ingest": 0.35},
        operations={"publish": 0.35},
        systems={"message_broker": 0.3},
    ),
    Pattern(
        name="caching",
        description="keep recently read results in a cache with a time to live",
        node_type="EFFECT",
        default_threshold=0.55,
        code=PatternCode(node_types=("EFFECT",), mixins={"EFFECT": ("MixinCaching",)}),
        keywords={
            "cache": 0.55,
            "memcached": 0.45,
            "redis": 0.3,
            "ttl": 0.35,
            "time to live": 0.35,
            "memoize": 0.45,
            "hit rate": 0.3,
            "invalidate": 0.3,
            "stale": 0.2,
        },
        systems={"cache": 0.5},
    ),
    Pattern(
        name="authentication",
        description="authenticate callers and authorize what they may do",
        node_type="COMPUTE",
        default_threshold=0.55,
        code=PatternCode(
            node_types=("COMPUTE",),
            hooks={
                "COMPUTE": (
                    (
                        "authorize_request",
                        "Check that the caller is authenticated and allowed to perform the requested operation.",
                    ),
                )
            },
        ),
        keywords={
            "authenticate": 0.5,
            "authentication": 0.5,
            "auth": 0.4,
            "log in": 0.35,
            "login": 0.4,
            "sign in": 0.4,
            "password": 0.35,
            "credential": 0.4,
            "jwt": 0.5,
            "oauth": 0.5,
            "oauth2": 0.5,
            "sso": 0.45,
            "token": 0.2,
            "authorize": 0.35,
            "authorization": 0.35,
            "permission": 0.3,
            "rbac": 0.45,
            "access control": 0.4,
            "api key": 0.35,
            "mfa": 0.45,
            "two factor": 0.45,
        },
        entities={"session": 0.2, "credential": 0.3, "token": 0.2, "permission": 0.2, "role": 0.15},
    ),
)
"""Every pattern the generator knows, in a fixed order."""

PATTERN_NAMES: tuple[str, ...] = tuple(p.name for p in PATTERNS)
"""The names of :data:`PATTERNS`, in order."""

_BY_NAME = {p.name: p for p in PATTERNS}


def get_pattern(name: str) -> Pattern | None:
    """Return the library's pattern called ``name``, or ``None`` (feedback may name patterns it does not know)."""
    return _BY_NAME.get(name)
