"""A typed dependency container: ports are registered and resolved by typed keys."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from .errors import ErrorCode, OnexError

__all__ = ["Container", "ServiceKey"]

T = TypeVar("T")


class ServiceKey(Generic[T]):
    """A typed name for a dependency: ``RECORD_STORE: ServiceKey[RecordStorePort]``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        """Show the key's name."""
        return f"ServiceKey({self.name!r})"


class Container:
    """Holds the implementations a node depends on."""

    def __init__(self) -> None:
        self._services: dict[str, Any] = {}

    def register(self, key: ServiceKey[T], implementation: T) -> None:
        """Register ``implementation`` under ``key`` (replacing any earlier one)."""
        self._services[key.name] = implementation

    def resolve(self, key: ServiceKey[T]) -> T:
        """Return what is registered under ``key``; NOT_FOUND if nothing is."""
        try:
            service: T = self._services[key.name]
        except KeyError:
            raise OnexError(
                f"no implementation registered for {key.name!r}",
                ErrorCode.NOT_FOUND,
                {"key": key.name, "registered": sorted(self._services)},
            ) from None
        return service

    def has(self, key: ServiceKey[Any]) -> bool:
        """Return whether something is registered under ``key``."""
        return key.name in self._services
