"""Logging context: correlation id, session id and component carried by :mod:`contextvars`.

Values set here follow the code that runs: each thread and each asyncio task sees its own values (a task
starts with a copy of its creator's context, and what it sets never leaks back or into another task). Every
:class:`~agents.lib.structured_logger.StructuredLogger` reads them when it writes a line.

Precedence, when a logger has its own value (``logger.set_correlation_id(...)``): a value set for a block
(``log_context``, ``async_log_context``, :class:`LogContext`, :func:`with_log_context`) wins over the logger's
own value, which wins over an ambient value set with ``set_global_correlation_id`` and friends. So a request
scope always shows its id, and a logger bound to a job keeps its id outside request scopes.

``log_context`` / ``async_log_context`` / :class:`LogContext` set values for a block and restore the outer ones
on exit, however the block ends; :func:`with_log_context` does the same around a function call, taking the ids
from the call's arguments.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast, overload
from uuid import UUID, uuid4

__all__ = [
    "LogContext",
    "async_log_context",
    "clear_log_context",
    "get_component",
    "get_correlation_id",
    "get_session_id",
    "log_context",
    "new_correlation_id",
    "set_global_component",
    "set_global_correlation_id",
    "set_global_session_id",
    "with_log_context",
]

P = ParamSpec("P")
R = TypeVar("R")

IdLike = UUID | str | int
"""Types accepted as an id: they are stored as text."""

Scoped = tuple[str, bool]
"""A context value and whether it was set for a block (True) or ambiently (False)."""

_correlation_id: ContextVar[Scoped | None] = ContextVar("agents_correlation_id", default=None)
_session_id: ContextVar[Scoped | None] = ContextVar("agents_session_id", default=None)
_component: ContextVar[Scoped | None] = ContextVar("agents_component", default=None)


def _text(value: IdLike | None) -> str | None:
    return None if value is None else str(value)


def _ambient(value: IdLike | None) -> Scoped | None:
    return None if value is None else (str(value), False)


def _value(var: ContextVar[Scoped | None]) -> str | None:
    current = var.get()
    return None if current is None else current[0]


def resolve(var: ContextVar[Scoped | None], own: str | None) -> str | None:
    """Return the value a logger with ``own`` value writes: block value, else own, else ambient."""
    current = var.get()
    if current is None:
        return own
    if current[1] or own is None:
        return current[0]
    return own


def new_correlation_id() -> str:
    """Return a fresh random correlation id (a UUID4 as text)."""
    return str(uuid4())


def set_global_correlation_id(correlation_id: IdLike | None) -> None:
    """Set the correlation id of every logger in the current context (this thread or task and its children)."""
    _correlation_id.set(_ambient(correlation_id))


def get_correlation_id() -> str | None:
    """Return the correlation id of the current context, or ``None``."""
    return _value(_correlation_id)


def set_global_session_id(session_id: IdLike | None) -> None:
    """Set the session id of every logger in the current context."""
    _session_id.set(_ambient(session_id))


def get_session_id() -> str | None:
    """Return the session id of the current context, or ``None``."""
    return _value(_session_id)


def set_global_component(component: str | None) -> None:
    """Set the component of loggers that have none of their own, in the current context."""
    _component.set(_ambient(component))


def get_component() -> str | None:
    """Return the component of the current context, or ``None``."""
    return _value(_component)


def clear_log_context() -> None:
    """Unset the correlation id, session id and component of the current context."""
    _correlation_id.set(None)
    _session_id.set(None)
    _component.set(None)


_Tokens = tuple[
    Token[Scoped | None] | None,
    Token[Scoped | None] | None,
    Token[Scoped | None] | None,
]


class LogContext:
    """Sets correlation id, session id and/or component for a ``with`` or ``async with`` block.

    Only the values given are changed; ``None`` keeps the outer value. On exit the outer values come back,
    whether the block returned or raised. One instance may be entered again, also while it is active.
    """

    __slots__ = ("_stack", "component", "correlation_id", "session_id")

    def __init__(
        self,
        correlation_id: IdLike | None = None,
        session_id: IdLike | None = None,
        component: str | None = None,
    ) -> None:
        self.correlation_id = _text(correlation_id)
        self.session_id = _text(session_id)
        self.component = component
        self._stack: list[_Tokens] = []

    def __repr__(self) -> str:
        """Show the values this context sets."""
        return (
            f"LogContext(correlation_id={self.correlation_id!r}, session_id={self.session_id!r}, "
            f"component={self.component!r})"
        )

    def __enter__(self) -> LogContext:
        """Set the values; return this context."""
        self._stack.append(
            (
                _correlation_id.set((self.correlation_id, True)) if self.correlation_id is not None else None,
                _session_id.set((self.session_id, True)) if self.session_id is not None else None,
                _component.set((self.component, True)) if self.component is not None else None,
            )
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Restore the outer values."""
        cid, sid, comp = self._stack.pop()
        if comp is not None:
            _component.reset(comp)
        if sid is not None:
            _session_id.reset(sid)
        if cid is not None:
            _correlation_id.reset(cid)

    async def __aenter__(self) -> LogContext:
        """Set the values; return this context."""
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Restore the outer values."""
        self.__exit__(exc_type, exc, tb)


@contextmanager
def log_context(
    correlation_id: IdLike | None = None,
    session_id: IdLike | None = None,
    component: str | None = None,
) -> Iterator[LogContext]:
    """Set logging context values for a ``with`` block; the outer values return on exit."""
    with LogContext(correlation_id, session_id, component) as ctx:
        yield ctx


@asynccontextmanager
async def async_log_context(
    correlation_id: IdLike | None = None,
    session_id: IdLike | None = None,
    component: str | None = None,
) -> AsyncIterator[LogContext]:
    """Set logging context values for an ``async with`` block; the outer values return on exit."""
    with LogContext(correlation_id, session_id, component) as ctx:
        yield ctx


@overload
def with_log_context(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def with_log_context(
    func: None = None,
    /,
    *,
    correlation_id_arg: str | None = "correlation_id",
    session_id_arg: str | None = "session_id",
    component: str | None = None,
    generate_correlation_id: bool = False,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def with_log_context(
    func: Callable[P, R] | None = None,
    /,
    *,
    correlation_id_arg: str | None = "correlation_id",
    session_id_arg: str | None = "session_id",
    component: str | None = None,
    generate_correlation_id: bool = False,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Run a function (sync or async) inside a :class:`LogContext` built from its arguments.

    The correlation id is the value of the parameter named ``correlation_id_arg`` (default
    ``"correlation_id"``), passed by keyword or by position; likewise the session id. A parameter that is
    absent or ``None`` leaves the outer value, unless ``generate_correlation_id`` asks for a fresh id.
    Use it bare (``@with_log_context``) or with options (``@with_log_context(component="api")``).
    """

    def decorate(target: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(target)
        names = set(signature.parameters)
        wants_cid = correlation_id_arg is not None and correlation_id_arg in names
        wants_sid = session_id_arg is not None and session_id_arg in names

        def context_for(args: tuple[Any, ...], kwargs: dict[str, Any]) -> LogContext:
            cid: Any = None
            sid: Any = None
            if wants_cid or wants_sid:
                bound = signature.bind_partial(*args, **kwargs).arguments
                cid = bound.get(cast(str, correlation_id_arg)) if wants_cid else None
                sid = bound.get(cast(str, session_id_arg)) if wants_sid else None
            if cid is None and generate_correlation_id:
                cid = new_correlation_id()
            return LogContext(cid, sid, component)

        if inspect.iscoroutinefunction(target):

            @functools.wraps(target)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                with context_for(args, kwargs):
                    return await cast(Any, target)(*args, **kwargs)

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(target)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with context_for(args, kwargs):
                return target(*args, **kwargs)

        return wrapper

    if func is not None:
        return decorate(func)
    return decorate
