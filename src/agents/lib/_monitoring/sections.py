"""The sections of ``collect_all_metrics``: a registry of async providers, and the default ones.

A provider is ``async def provider(persistence, window_minutes) -> dict``; ``empty`` is the section it stands for
when there is nothing to read (all zeros), also used when the provider fails. A stream plugs its own section in
with :func:`register_metrics_section` (a callable, or a ``"module:function"`` string imported on first use).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agents.lib.db.stores import GenerationStore, MixinStore, PatternFeedbackStore
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.persistence import CodegenPersistence

__all__ = [
    "SectionProvider",
    "check_section",
    "default_sections",
    "metrics_sections",
    "register_metrics_section",
    "resolve_provider",
    "unregister_metrics_section",
]

SectionProvider = Callable[[CodegenPersistence, float], Awaitable[Mapping[str, Any]]]
"""``async (persistence, window_minutes) -> section``."""


@dataclass(frozen=True)
class _Section:
    provider: SectionProvider | str
    empty: Mapping[str, Any]


def _or_zero(value: Any) -> float:
    return 0.0 if value is None else float(value)


TEMPLATE_CACHE_EMPTY: dict[str, Any] = {
    "overall_hit_rate": 0.0,
    "avg_load_time_ms": 0.0,
    "total_templates": 0,
    "total_hits": 0,
    "total_misses": 0,
    "total_requests": 0,
    "total_loads": 0,
    "total_size_bytes": 0,
}


async def template_cache_section(persistence: CodegenPersistence, window_minutes: float) -> dict[str, Any]:
    """Template cache counters of the templates used in the window (``template_cache_summary``)."""
    s = await persistence.template_cache_summary(window_minutes)
    return {
        "overall_hit_rate": _or_zero(s["overall_hit_rate"]),
        "avg_load_time_ms": _or_zero(s["avg_load_time_ms"]),
        "total_templates": s["total_templates"],
        "total_hits": s["total_hits"],
        "total_misses": s["total_misses"],
        "total_requests": s["total_hits"] + s["total_misses"],
        "total_loads": s["total_loads"],
        "total_size_bytes": s["total_size_bytes"],
    }


PARALLEL_EMPTY: dict[str, Any] = {
    "parallel_usage_rate": 0.0,
    "avg_speedup": 0.0,
    "total_batches": 0,
    "parallel_batches": 0,
    "failed_batches": 0,
    "avg_cores_used": 0.0,
    "serial_cores_used": 0.0,
    "avg_batch_wall_ms": 0.0,
    "avg_parallel_workers": 0.0,
    "total_nodes": 0,
    "node_success_rate": 0.0,
    "avg_node_duration_ms": 0.0,
    "by_node_type": [],
}


async def parallel_generation_section(persistence: CodegenPersistence, window_minutes: float) -> dict[str, Any]:
    """Batches and nodes generated in the window.

    ``avg_speedup`` is the mean ``BatchStats.cores_used`` of the parallel batches: the cores their generation
    and verification kept busy. A serial run keeps about one core busy on this CPU-bound work, so it is the gain
    over running the nodes one after another (``busy / wall`` would overstate it when workers outnumber cores).
    Node figures come from ``generation_summary`` without its ``BATCH`` rows.
    """
    batches = await persistence.store(GenerationStore).batch_summary(window_minutes)
    summary = await persistence.generation_summary(window_minutes)
    nodes = [g for g in summary["by_node_type"] if g["node_type"] != "BATCH"]
    total = sum(g["count"] for g in nodes)
    passed = sum(g["count"] * _or_zero(g["success_rate"]) for g in nodes)
    duration = sum(g["count"] * _or_zero(g["avg_duration_ms"]) for g in nodes)
    batch_count = batches["total_batches"]
    return {
        "parallel_usage_rate": batches["parallel_batches"] / batch_count if batch_count else 0.0,
        "avg_speedup": batches["avg_cores_used"],
        **batches,
        "total_nodes": total,
        "node_success_rate": round(passed) / total if total else 0.0,
        "avg_node_duration_ms": duration / total if total else 0.0,
        "by_node_type": [
            {
                "node_type": g["node_type"],
                "count": g["count"],
                "success_rate": _or_zero(g["success_rate"]),
                "avg_duration_ms": _or_zero(g["avg_duration_ms"]),
            }
            for g in nodes
        ],
    }


EVENTS_EMPTY: dict[str, Any] = {
    "overall_success_rate": 0.0,
    "p95_latency_ms": 0.0,
    "avg_latency_ms": 0.0,
    "total_events": 0,
    "total_retries": 0,
    "avg_batch_size": 0.0,
    "outbox_pending": 0,
    "outbox_sent": 0,
    "outbox_dead": 0,
    "by_event_type": [],
}


async def event_processing_section(persistence: CodegenPersistence, window_minutes: float) -> dict[str, Any]:
    """Event processing of the window (``event_processing_summary``) and the outbox now (``outbox_counts``)."""
    s = await persistence.event_processing_summary(window_minutes)
    outbox = await persistence.outbox_counts()
    return {
        "overall_success_rate": _or_zero(s["overall_success_rate"]),
        "p95_latency_ms": _or_zero(s["p95_latency_ms"]),
        "avg_latency_ms": _or_zero(s["avg_latency_ms"]),
        "total_events": s["total_events"],
        "total_retries": s["total_retries"],
        "avg_batch_size": _or_zero(s["avg_batch_size"]),
        "outbox_pending": outbox.get("pending", 0),
        "outbox_sent": outbox.get("sent", 0),
        "outbox_dead": outbox.get("dead", 0),
        "by_event_type": [
            {**g, "success_rate": _or_zero(g["success_rate"]), "avg_duration_ms": _or_zero(g["avg_duration_ms"])}
            for g in s["by_event_type"]
        ],
    }


MIXIN_EMPTY: dict[str, Any] = {
    "total_pairs": 0,
    "total_observations": 0,
    "success_rate": 0.0,
    "conflict_pairs": 0,
    "node_types": 0,
}

PATTERN_EMPTY: dict[str, Any] = {
    "overall_precision": 0.0,
    "total_feedback": 0,
    "scored_feedback": 0,
    "patterns_analyzed": 0,
    "correct": 0,
    "incorrect": 0,
    "partial": 0,
    "adjusted": 0,
    "user_provided": 0,
    "avg_confidence": 0.0,
}


async def _mixin_summary(persistence: CodegenPersistence, window_minutes: float) -> dict[str, Any]:
    return await persistence.store(MixinStore).summary(window_minutes)


async def _pattern_summary(persistence: CodegenPersistence, window_minutes: float) -> dict[str, Any]:
    return await persistence.store(PatternFeedbackStore).precision_summary(window_minutes)


def default_sections() -> dict[str, _Section]:
    """Return the built-in sections, in the order ``collect_all_metrics`` returns them."""
    return {
        "template_cache": _Section(template_cache_section, TEMPLATE_CACHE_EMPTY),
        "parallel_generation": _Section(parallel_generation_section, PARALLEL_EMPTY),
        "event_processing": _Section(event_processing_section, EVENTS_EMPTY),
        "mixin_learning": _Section(_mixin_summary, MIXIN_EMPTY),
        "pattern_matching": _Section(_pattern_summary, PATTERN_EMPTY),
    }


_registry: dict[str, _Section] = default_sections()
_lock = threading.Lock()


def register_metrics_section(
    name: str, provider: SectionProvider | str, *, empty: Mapping[str, Any] | None = None
) -> None:
    """Make ``collect_all_metrics`` return ``provider``'s section under ``name`` (replacing one of that name).

    ``provider`` is an async callable ``(persistence, window_minutes) -> dict`` or a ``"module:function"``
    string, imported at the first collection (so registering costs no import). ``empty`` is the well-formed
    section used when there is no data or the provider fails; it defaults to the replaced section's.
    """
    check_section(name, provider)
    with _lock:
        previous = _registry.get(name)
        default_empty: Mapping[str, Any] = {} if previous is None else previous.empty
        _registry[name] = _Section(provider, dict(empty if empty is not None else default_empty))


def check_section(name: str, provider: SectionProvider | str) -> None:
    """Raise ``VALIDATION_ERROR`` unless ``name`` is an identifier and ``provider`` a callable or a reference."""
    if not isinstance(name, str) or not name.isidentifier():
        raise OnexError("a section name must be an identifier", ErrorCode.VALIDATION_ERROR, {"name": name})
    if isinstance(provider, str):
        if provider.count(":") != 1:
            raise OnexError("a provider string must be 'module:function'", ErrorCode.VALIDATION_ERROR)
    elif not callable(provider):
        raise OnexError("provider must be callable or a 'module:function' string", ErrorCode.VALIDATION_ERROR)


def unregister_metrics_section(name: str) -> None:
    """Remove a section; a built-in one goes back to its default provider."""
    with _lock:
        builtin = default_sections().get(name)
        if builtin is None:
            _registry.pop(name, None)
        else:
            _registry[name] = builtin


def metrics_sections() -> dict[str, tuple[SectionProvider | str, Mapping[str, Any]]]:
    """Return the registered sections: name -> (provider, empty section)."""
    with _lock:
        return {name: (s.provider, s.empty) for name, s in _registry.items()}


def resolve_provider(provider: SectionProvider | str) -> SectionProvider:
    """Return the callable a provider names (imports a ``"module:function"`` string)."""
    if not isinstance(provider, str):
        return provider
    module_name, attribute = provider.split(":")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise OnexError(
            f"section provider {provider!r} cannot be imported: {exc}", ErrorCode.CONFIGURATION_ERROR
        ) from None
    if not callable(found):
        raise OnexError(f"section provider {provider!r} is not callable", ErrorCode.CONFIGURATION_ERROR)
    resolved: SectionProvider = found
    return resolved
