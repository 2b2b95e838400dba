"""Finite state machines as transition tables; an illegal transition raises INVALID_TRANSITION."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .errors import ErrorCode, OnexError

__all__ = ["TransitionTable"]


class TransitionTable:
    """``(state, event) -> next state``, checked when built: every state named must be declared."""

    def __init__(
        self,
        states: Iterable[str],
        initial: str,
        transitions: Mapping[tuple[str, str], str],
        terminal: Iterable[str] = (),
    ) -> None:
        self.states = tuple(states)
        self.initial = initial
        self.terminal = frozenset(terminal)
        self.transitions = dict(transitions)
        known = set(self.states)
        named = {initial, *self.terminal, *(s for s, _ in self.transitions), *self.transitions.values()}
        unknown = sorted(named - known)
        if unknown:
            raise OnexError(f"undeclared states {unknown}", ErrorCode.VALIDATION_ERROR)

    @property
    def events(self) -> tuple[str, ...]:
        """Every event some transition accepts, sorted."""
        return tuple(sorted({event for _, event in self.transitions}))

    def can_apply(self, state: str, event: str) -> bool:
        """Return whether ``event`` is legal in ``state``."""
        return (state, event) in self.transitions

    def apply(self, state: str, event: str) -> str:
        """Return the state after ``event``; INVALID_TRANSITION if it is not legal in ``state``."""
        try:
            return self.transitions[(state, event)]
        except KeyError:
            allowed = sorted(e for s, e in self.transitions if s == state)
            raise OnexError(
                f"event {event!r} is not allowed in state {state!r}",
                ErrorCode.INVALID_TRANSITION,
                {"state": state, "event": event, "allowed": allowed},
            ) from None
