"""Mixins at the node's boundary: input validation, authorization of callers, and the event bus.

The catalogue and the wrapping order are in :mod:`.mixins`; the hook and trait vocabularies in :mod:`.mixin_info`.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import ErrorCode, OnexError
from .mixin_info import MixinInfo
from .node_base import IOWrapper, Operation

__all__ = ["CALLER", "MixinEventBus", "MixinSecurity", "MixinValidation", "Principal", "acting_as"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[str, Mapping[str, Any]], Awaitable[None]]


class MixinValidation:
    """Validates input against pydantic models; failures are VALIDATION_ERROR with every problem listed."""

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="validation",
        capabilities=("validation", "input_validation", "schema"),
        hooks=("process",),
        modifies_state=False,
        resource_intensive=False,
        external_dependencies=(),
        node_types=("EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"),
        traits=(),
    )

    def validate_input(self, model: type[M], data: Mapping[str, Any] | M) -> M:
        """Return ``data`` as a ``model``; VALIDATION_ERROR listing each invalid field."""
        if isinstance(data, model):
            return data
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()]
            raise OnexError(
                f"invalid {model.__name__}: " + "; ".join(f"{p['field']}: {p['problem']}" for p in problems),
                ErrorCode.VALIDATION_ERROR,
                {"errors": problems},
            ) from None


@dataclass(frozen=True)
class Principal:
    """Who calls: a name and the roles granted to it."""

    name: str
    roles: frozenset[str] = frozenset()


CALLER: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("onex_caller", default=None)
"""The principal the current operation runs for (set it with :func:`acting_as`)."""


@contextlib.contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    """Run the block's operations (and the tasks it starts) for ``principal``."""
    token = CALLER.set(principal)
    try:
        yield principal
    finally:
        CALLER.reset(token)


class MixinSecurity(IOWrapper):
    """Authorizes every operation: the caller (:data:`CALLER`) needs the role ``required_roles`` names for it.

    Reads need ``reader``, writes ``writer`` by default; no caller, or one without the role, is FORBIDDEN and the
    operation does not run.
    """

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="security",
        capabilities=("authorization", "security", "access_control", "permissions"),
        hooks=("read", "write"),
        modifies_state=False,
        resource_intensive=False,
        external_dependencies=(),
        node_types=("EFFECT", "ORCHESTRATOR"),
        traits=("short_circuits", "refuses_callers", "refuses_calls"),
    )
    required_roles: ClassVar[Mapping[str, str]] = {"read": "reader", "write": "writer"}

    def current_caller(self) -> Principal | None:
        """Return the principal the current operation runs for, if any."""
        return CALLER.get()

    def authorize(self, operation: Operation) -> Principal:
        """Return the caller if it may run ``operation``; FORBIDDEN otherwise."""
        caller, role = CALLER.get(), self.required_roles[operation.kind]
        if caller is None or role not in caller.roles:
            who = "no caller" if caller is None else f"{caller.name!r}"
            raise OnexError(
                f"{who} may not {operation.name} (needs role {role!r})",
                ErrorCode.FORBIDDEN,
                {"operation": operation.name, "role": role},
            )
        return caller

    async def _wrap_operation(self, operation: Operation, call: Callable[[], Awaitable[T]]) -> T:
        self.authorize(operation)
        return await super()._wrap_operation(operation, call)


class MixinEventBus(IOWrapper):
    """An in-process event bus: ``subscribe(topic, handler)``, ``await emit(topic, payload)``.

    Every successful write operation emits ``<entity>.<operation>`` with ``{"id": record id}``.
    """

    INFO: ClassVar[MixinInfo] = MixinInfo(
        category="messaging",
        capabilities=("events", "event_bus", "publish_subscribe", "messaging"),
        hooks=("write", "process"),
        modifies_state=False,
        resource_intensive=False,
        external_dependencies=(),
        node_types=("EFFECT", "REDUCER", "ORCHESTRATOR"),
        traits=("emits_events",),
    )

    def _subscribers(self) -> dict[str, list[Handler]]:
        subs: dict[str, list[Handler]] | None = self.__dict__.get("_mixin_subscribers")
        if subs is None:
            subs = {}
            self.__dict__["_mixin_subscribers"] = subs
        return subs

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call ``handler(topic, payload)`` for every event emitted on ``topic``."""
        self._subscribers().setdefault(topic, []).append(handler)

    async def emit(self, topic: str, payload: Mapping[str, Any]) -> int:
        """Deliver ``payload`` to the subscribers of ``topic``; return how many received it."""
        handlers = list(self._subscribers().get(topic, ()))
        for handler in handlers:
            await handler(topic, dict(payload))
        return len(handlers)

    async def _wrap_operation(self, operation: Operation, call: Callable[[], Awaitable[T]]) -> T:
        result = await super()._wrap_operation(operation, call)
        if operation.kind == "write":
            await self.emit(f"{operation.entity}.{operation.name}", {"id": operation.record_id})
        return result
