"""Logging context: the correlation id, session id and component that every logger writes.

``set_global_*`` set process-wide defaults, seen by every thread, executor and task. ``log_context`` and its
relatives set values for a block, carried by :mod:`contextvars`. A logger writes the block's value, else its own,
else the global default; docs/logging.md has the details.
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

_correlation_id: ContextVar[str | None] = ContextVar("agents_correlation_id", default=None)
_session_id: ContextVar[str | None] = ContextVar("agents_session_id", default=None)
_component: ContextVar[str | None] = ContextVar("agents_component", default=None)

# The process-wide defaults, one per variable: plain values that every thread reads (a store is atomic).
_defaults: dict[ContextVar[str | None], str | None] = {_correlation_id: None, _session_id: None, _component: None}


def _text(value: IdLike | None) -> str | None:
    return None if value is None else str(value)


def _value(var: ContextVar[str | None]) -> str | None:
    block = var.get()
    return _defaults[var] if block is None else block


def resolve(var: ContextVar[str | None], own: str | None) -> str | None:
    """Return the value a logger with ``own`` value writes: the block's, else ``own``, else the global default."""
    block = var.get()
    if block is not None:
        return block
    if own is not None:
        return own
    return _defaults[var]


def new_correlation_id() -> str:
    """Return a fresh random correlation id (a UUID4 as text)."""
    return str(uuid4())


def set_global_correlation_id(correlation_id: IdLike | None) -> None:
    """Set the process-wide correlation id (``None`` unsets it).

    Every logger in every thread (executors and ``run_in_executor`` included) writes it, unless a block or the
    logger itself sets another.
    """
    _defaults[_correlation_id] = _text(correlation_id)


def get_correlation_id() -> str | None:
    """Return the correlation id here: the enclosing block's, else the global one, else ``None``."""
    return _value(_correlation_id)


def set_global_session_id(session_id: IdLike | None) -> None:
    """Set the process-wide session id (like :func:`set_global_correlation_id`)."""
    _defaults[_session_id] = _text(session_id)


def get_session_id() -> str | None:
    """Return the session id here: the enclosing block's, else the global one, else ``None``."""
    return _value(_session_id)


def set_global_component(component: str | None) -> None:
    """Set the process-wide component of loggers that have none of their own."""
    _defaults[_component] = component


def get_component() -> str | None:
    """Return the component here: the enclosing block's, else the global one, else ``None``."""
    return _value(_component)


def clear_log_context() -> None:
    """Unset the global defaults, and the block values of the current context."""
    for var in _defaults:
        _defaults[var] = None
        var.set(None)


_Tokens = tuple[
    Token[str | None] | None,
    Token[str | None] | None,
    Token[str | None] | None,
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
                _correlation_id.set(self.correlation_id) if self.correlation_id is not None else None,
                _session_id.set(self.session_id) if self.session_id is not None else None,
                _component.set(self.component) if self.component is not None else None,
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
