"""What a mixin is: the one declaration (``INFO``) each mixin class carries, and its fixed vocabularies.

Hooks (where a mixin takes part in a node's life):

- ``wrap_io``: wraps every call to the outside world (``_wrap_io``);
- ``read`` / ``write``: wraps the node's read / write operations (``_wrap_operation``);
- ``process``: offers an API the node calls while handling a request (validation, logging, events);
- ``startup`` / ``shutdown``: has ``start()`` / ``stop()``;
- ``health``: reports health.

Traits (what its behaviour does to the calls it wraps):

- ``replays_calls``: runs a failed call again (retry);
- ``short_circuits``: may answer or refuse without running the wrapped call (breaker, cache hit, rate limiter,
  authorization, a closed connection pool);
- ``serves_stored_results``: answers from results stored earlier (cache);
- ``cancels_calls``: abandons a call that takes too long (timeout);
- ``refuses_callers``: refuses a call because of who makes it (authorization);
- ``refuses_calls``: refuses a call the caller asked for, by a policy on that call (who makes it, a quota, a
  stopped pool); a breaker's refusal protects the system behind it instead, so it is not one;
- ``bounds_wait``: promises the caller an answer within a bound (refuses at once, or fails within a time limit);
- ``limits_calls``: refuses calls beyond a quota (rate limiter) or beyond a capacity (connection pool);
- ``records_calls``: keeps a record of every call it sees (audit, logging, metrics);
- ``writes_records``: writes records of its own through the record store (audit);
- ``compensates_writes``: undoes a failed operation's writes (transaction);
- ``emits_events``: publishes an event for what the node did (event bus);
- ``invalidates_on_write``: forgets what a write makes stale (cache);
- ``times_calls``: measures how long calls take (metrics).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["CATEGORIES", "HOOKS", "NODE_TYPES", "TRAITS", "MixinInfo"]

CATEGORIES: tuple[str, ...] = ("resilience", "observability", "data", "security", "messaging", "validation")
"""The categories a mixin belongs to (one each)."""
HOOKS: tuple[str, ...] = ("wrap_io", "read", "write", "process", "startup", "shutdown", "health")
"""The lifecycle points a mixin can take part in (see the module docstring)."""
TRAITS: tuple[str, ...] = (
    "replays_calls",
    "short_circuits",
    "serves_stored_results",
    "cancels_calls",
    "refuses_callers",
    "refuses_calls",
    "bounds_wait",
    "limits_calls",
    "records_calls",
    "writes_records",
    "compensates_writes",
    "emits_events",
    "invalidates_on_write",
    "times_calls",
)
"""The behaviour traits a mixin can declare (see the module docstring)."""
NODE_TYPES: tuple[str, ...] = ("EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR")
"""The four ONEX node types."""


@dataclass(frozen=True)
class MixinInfo:
    """What a mixin is, for the generator and the learner (the catalogue's one declaration)."""

    category: str
    capabilities: tuple[str, ...]
    hooks: tuple[str, ...]
    modifies_state: bool
    resource_intensive: bool
    external_dependencies: tuple[str, ...]
    node_types: tuple[str, ...]
    traits: tuple[str, ...]

    def __post_init__(self) -> None:
        """Refuse values outside the vocabularies."""
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}; known: {list(CATEGORIES)}")
        if not self.capabilities:
            raise ValueError("a mixin needs at least one capability")
        for name, values, known in (
            ("hooks", self.hooks, HOOKS),
            ("node_types", self.node_types, NODE_TYPES),
            ("traits", self.traits, TRAITS),
        ):
            unknown = sorted(set(values) - set(known))
            if unknown:
                raise ValueError(f"unknown {name} {unknown}; known: {list(known)}")
        if not self.hooks or not self.node_types:
            raise ValueError("a mixin needs at least one hook and one node type")

    @property
    def capability(self) -> str:
        """The canonical capability (the first one)."""
        return self.capabilities[0]

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-ready values (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
