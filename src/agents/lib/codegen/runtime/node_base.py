"""Base classes of the four ONEX node types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from .container import Container

__all__ = ["IOWrapper", "NodeBase", "NodeCompute", "NodeEffect", "NodeOrchestrator", "NodeReducer", "Operation"]

T = TypeVar("T")


@dataclass(frozen=True)
class Operation:
    """One operation a node runs for a caller: a ``read`` (changes nothing) or a ``write``.

    ``entity`` is what it is about (``book``, ``run``) and ``record_id`` which one (``""`` for a whole collection).
    """

    kind: Literal["read", "write"]
    name: str
    entity: str
    record_id: str = ""

    @property
    def key(self) -> str:
        """``<entity>:<record id>``, the key caches and audit entries use."""
        return f"{self.entity}:{self.record_id}"


class IOWrapper:
    """The two hooks mixins override: each operation (``_wrap_operation``) and each outside call (``_wrap_io``).

    A node runs each of its public operations through ``_wrap_operation`` and, inside it, each call to the
    outside world through ``_wrap_io``; mixins listed before the node base wrap them, the first listed outermost.
    """

    async def _wrap_operation(self, operation: Operation, call: Callable[[], Awaitable[T]]) -> T:
        """Run one operation of the node."""
        return await call()

    async def _wrap_io(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run one call to the outside world."""
        return await call()


class NodeBase(IOWrapper):
    """What every node has: a name, a type and its container."""

    node_type: ClassVar[str] = "BASE"
    node_name: ClassVar[str] = "node"

    def __init__(self, container: Container | None = None) -> None:
        self.container = container if container is not None else Container()

    def describe(self) -> dict[str, Any]:
        """Return the node's name, type and mixins."""
        mixins = [c.__name__ for c in type(self).__mro__ if c.__name__.startswith("Mixin")]
        return {"name": self.node_name, "type": self.node_type, "mixins": mixins}


class NodeEffect(NodeBase):
    """Talks to external systems, only through ports resolved from the container."""

    node_type: ClassVar[str] = "EFFECT"


class NodeCompute(NodeBase):
    """Pure computation: the same input always gives the same output, no I/O."""

    node_type: ClassVar[str] = "COMPUTE"


class NodeReducer(NodeBase):
    """Folds events into state with pure functions and a transition table."""

    node_type: ClassVar[str] = "REDUCER"


class NodeOrchestrator(NodeBase):
    """Runs a graph of steps through an injected step runner."""

    node_type: ClassVar[str] = "ORCHESTRATOR"
