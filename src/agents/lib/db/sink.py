"""The one metrics seam: :class:`MetricsSink` (``write(kind, rows)``: non-blocking, batched) and its sinks.

Producers (the template cache, the parallel generator, next monitoring and events) write rows of a named kind;
the database sinks buffer them for the store that owns the kind. Every sink here honours ``ENABLE_METRICS``.
Importing this module does not load SQLAlchemy. The kinds and their rows: docs/persistence.md.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from agents.lib.config import get_settings
from agents.lib.structured_logger import get_logger

if TYPE_CHECKING:
    from agents.lib.db.buffer import MetricsBuffer, Row

__all__ = [
    "EVENT_METRICS",
    "GENERATION_METRICS",
    "TEMPLATE_CACHE_METRICS",
    "BaseMetricsSink",
    "BufferedMetricsSink",
    "MemoryMetricsSink",
    "MetricsSink",
    "metrics_enabled",
    "register_exit_hook",
]

_log = get_logger("agents.lib.persistence", component="persistence")

GENERATION_METRICS: Final = "generation"
"""Kind of the generation-phase rows (table ``generation_performance_metrics``; ``record_generation_metric``)."""

EVENT_METRICS: Final = "event"
"""Kind of the event-processing rows (``event_processing_metrics``; fields of ``record_event_metric``)."""

TEMPLATE_CACHE_METRICS: Final = "template_cache"
"""Kind of the template cache's counter increments (``template_cache_metadata``; ``TemplateCacheDelta``)."""


class MetricsSink(Protocol):
    """Where metric rows go: ``write(kind, rows)`` hands them over without waiting for any I/O.

    ``kind`` names the rows' store (e.g. :data:`GENERATION_METRICS`); each row is a mapping of that kind's
    fields. A sink must not block and should not raise (callers that batch, like the template cache, keep a
    batch whose ``write`` raised and retry it later).
    """

    def write(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Accept ``rows`` of ``kind``."""
        ...


def metrics_enabled() -> bool:
    """Whether metrics are recorded: the ``ENABLE_METRICS`` setting (read on every call; a bad value means on)."""
    try:
        return bool(get_settings().enable_metrics)
    except Exception:  # a bad setting is reported by the code that needs settings, not by a metric
        return True


class BaseMetricsSink(ABC):
    """A :class:`MetricsSink` that drops everything while ``ENABLE_METRICS`` is false; subclasses ``_write``."""

    def write(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Hand ``rows`` of ``kind`` to :meth:`_write`, unless metrics are disabled."""
        if not rows or not metrics_enabled():
            return
        self._write(kind, rows)

    @abstractmethod
    def _write(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Accept ``rows`` (metrics are enabled and there is at least one row)."""


class MemoryMetricsSink(BaseMetricsSink):
    """Keeps every row in memory, by kind: a sink for tests (``sink.rows("template_cache")``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self.writes = 0
        """How many ``write`` calls delivered rows."""

    def _write(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
        copies = [dict(row) for row in rows]
        with self._lock:
            self._rows.setdefault(kind, []).extend(copies)
            self.writes += 1

    def rows(self, kind: str) -> list[dict[str, Any]]:
        """Return (copies of) the rows written of ``kind``, oldest first."""
        with self._lock:
            return [dict(row) for row in self._rows.get(kind, [])]

    def kinds(self) -> list[str]:
        """Return the kinds that received rows, sorted."""
        with self._lock:
            return sorted(self._rows)

    def clear(self) -> None:
        """Forget every row."""
        with self._lock:
            self._rows.clear()
            self.writes = 0


Normalizer = Callable[[Mapping[str, Any]], "Row"]


class BufferedMetricsSink(BaseMetricsSink):
    """The database sink: checks each row with its kind's normalizer and appends it to a :class:`MetricsBuffer`.

    Callable from any thread; never raises. A row that fails its check, or of an unknown kind, is logged as a
    warning and ignored.
    """

    def __init__(self, buffer: MetricsBuffer, normalizers: Mapping[str, Normalizer]) -> None:
        self._buffer = buffer
        self._normalizers = normalizers

    def _write(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
        normalize = self._normalizers.get(kind)
        if normalize is None:
            _log.warning("metrics of an unknown kind ignored", metadata={"kind": kind, "rows": len(rows)})
            return
        for row in _rows(rows, kind):
            try:
                clean = normalize(row)
            except Exception as exc:
                message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                _log.warning(f"invalid {kind.replace('_', ' ')} metric ignored", metadata={"error": message})
                continue
            self._buffer.append(kind, clean)


def _rows(rows: Iterable[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    try:
        return list(rows)
    except Exception as exc:  # a broken iterable must not break the producer
        _log.warning(f"invalid {kind.replace('_', ' ')} metric ignored", metadata={"error": repr(exc)})
        return []


# -- interpreter exit ------------------------------------------------------------------------------------------

ExitStage = Literal["flush", "close"]

_exit_lock = threading.Lock()
_exit_hooks: dict[ExitStage, list[Callable[[], Callable[[], object] | None]]] = {"flush": [], "close": []}


def register_exit_hook(callback: Callable[[], object], *, stage: ExitStage) -> None:
    """Call ``callback`` at interpreter exit, in its ``stage``; a bound method is held weakly.

    Every ``"flush"`` hook runs first (producers hand what they hold to their sinks), then every ``"close"``
    hook (sinks write it and close), each stage in the order of registration. An exception is logged and the
    other hooks still run.
    """
    ref: Callable[[], Callable[[], object] | None]
    if hasattr(callback, "__self__") and hasattr(callback, "__func__"):
        ref = weakref.WeakMethod(callback)
    else:

        def ref() -> Callable[[], object]:
            return callback

    with _exit_lock:
        hooks = _exit_hooks[stage]
        hooks[:] = [h for h in hooks if h() is not None]
        hooks.append(ref)


def _run_exit_hooks() -> None:
    for stage in ("flush", "close"):
        with _exit_lock:
            hooks = list(_exit_hooks[stage])
        for ref in hooks:
            callback = ref()
            if callback is None:
                continue
            try:
                callback()
            except Exception as exc:  # exit must go on
                _log.warning("a metrics exit hook failed", metadata={"stage": stage, "error": repr(exc)})


atexit.register(_run_exit_hooks)
