"""Monitoring (guide: Stream 7): metrics, thresholds and alerts, component health, database figures, Prometheus.

``get_monitoring_system()`` returns the process's :class:`MonitoringSystem`; ``MonitoringSystem(thresholds,
registry)`` makes another (each has its own prometheus_client registry unless one is passed). Record metrics with
``await record_metric(name, value, MetricType.X, labels)``, report health with ``update_health_status``, read the
database's figures with ``collect_all_metrics(time_window_minutes)``, export with ``export_prometheus_metrics()``.
Thresholds (:class:`MonitoringThresholds`) turn values into :class:`Alert` objects, one per metric and label set.
``agents serve`` serves ``/metrics``, ``/health`` and a dashboard; see ``docs/monitoring.md``.
"""

from __future__ import annotations

import asyncio
import copy
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from prometheus_client import CollectorRegistry, generate_latest

from agents.lib._monitoring import hook as _hook
from agents.lib._monitoring.alerts import Alert, AlertBook, Notifier
from agents.lib._monitoring.health import ComponentHealth, HealthBoard, HealthChecker
from agents.lib._monitoring.hook import MonitoringHook
from agents.lib._monitoring.kinds import AlertSeverity, HealthState, MetricType, worst_health
from agents.lib._monitoring.sections import (
    SectionProvider,
    check_section,
    metrics_sections,
    register_metrics_section,
    resolve_provider,
    unregister_metrics_section,
)
from agents.lib._monitoring.series import MetricPoint, Series, SeriesTable, _canonical
from agents.lib._monitoring.thresholds import (
    MetricThreshold,
    MonitoringThresholds,
    ThresholdRule,
    collected_gauge_name,
)
from agents.lib.config import get_settings
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import get_logger

__all__ = [
    "Alert",
    "AlertSeverity",
    "ComponentHealth",
    "HealthChecker",
    "HealthState",
    "MetricPoint",
    "MetricThreshold",
    "MetricType",
    "MonitoringHook",
    "MonitoringSystem",
    "MonitoringThresholds",
    "SectionProvider",
    "collect_all_metrics",
    "export_prometheus_metrics",
    "get_active_alerts",
    "get_monitoring_summary",
    "get_monitoring_system",
    "metrics_sections",
    "record_metric",
    "register_metrics_section",
    "reset_monitoring_system",
    "unregister_metrics_section",
    "update_health_status",
]

_log = get_logger(__name__, component="monitoring")


class MonitoringSystem:
    """Metrics (prometheus_client underneath), alerts, health and the database's figures; see the module doc.

    ``persistence`` is read by :meth:`collect_all_metrics` (default: a :class:`CodegenPersistence` on the
    configured database, opened on first use and closed by :meth:`close`). Each series keeps its last
    ``history_size`` points; at most ``max_series`` series exist. ``webhook_url``, when set, receives a JSON
    POST for every alert that fires, escalates, is downgraded or resolves. ``enabled`` defaults to the
    ``ENABLE_METRICS`` setting; a disabled system records nothing. ``clock`` (epoch seconds) is for tests.
    """

    def __init__(
        self,
        thresholds: MonitoringThresholds | None = None,
        registry: CollectorRegistry | None = None,
        *,
        persistence: CodegenPersistence | None = None,
        history_size: int = 240,
        max_series: int = 10_000,
        webhook_url: str | None = None,
        webhook_timeout_s: float = 5.0,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(history_size, bool) or not isinstance(history_size, int) or history_size < 1:
            raise OnexError("history_size must be a positive integer", ErrorCode.VALIDATION_ERROR)
        if isinstance(max_series, bool) or not isinstance(max_series, int) or max_series < 1:
            raise OnexError("max_series must be a positive integer", ErrorCode.VALIDATION_ERROR)
        self.thresholds = thresholds if thresholds is not None else MonitoringThresholds()
        if not isinstance(self.thresholds, MonitoringThresholds):
            raise OnexError("thresholds must be a MonitoringThresholds", ErrorCode.VALIDATION_ERROR)
        self.registry = registry if registry is not None else CollectorRegistry()
        self.enabled = get_settings().enable_metrics if enabled is None else bool(enabled)
        self._clock = clock
        self._series = SeriesTable(
            self.registry,
            self.thresholds.rules_by_metric(),
            history_size=history_size,
            max_series=max_series,
            window_s=self.thresholds.evaluation_window_seconds,
        )
        self._fast = self._series.fast
        self._alerts = AlertBook(clock, self.thresholds.dedup_window_seconds, self.thresholds.hysteresis)
        self._notifier = Notifier(webhook_url, webhook_timeout_s)
        self.health_board = HealthBoard(clock)
        self._persistence = persistence
        self._owns_persistence = persistence is None
        self._persistence_lock = threading.Lock()
        self._sections: dict[str, tuple[SectionProvider | str, Mapping[str, Any]]] = {}
        self.last_metrics: dict[str, Any] | None = None

    def __repr__(self) -> str:
        """Show how many series and active alerts there are."""
        return f"MonitoringSystem(series={len(self._series.by_key)}, active_alerts={len(self._alerts.active())})"

    # -- recording --
    async def record_metric(
        self,
        name: str,
        value: float,
        metric_type: MetricType | str,
        labels: Mapping[str, object] | None = None,
        help_text: str = "",
        *,
        buckets: Sequence[float] | None = None,
    ) -> None:
        """Record one value: add it to a counter, set a gauge, observe it in a histogram or summary.

        A metric's type and label names are fixed by its first use (and ``help_text`` and histogram
        ``buckets``, by default chosen from the unit its name ends with). The value is checked against the
        metric's threshold, if one watches it. Invalid input raises ``OnexError`` (``VALIDATION_ERROR``).
        """
        if not self.enabled:
            return
        try:
            fast_key: Any = (name, tuple(labels.items())) if labels else name
            series = self._fast.get(fast_key)
        except TypeError:  # an unhashable label value: take the slow path, which converts it
            fast_key, series = None, None
        if series is None or series.type is not metric_type:
            series = self._series.resolve(name, metric_type, labels, help_text, buckets, fast_key)
        judged = series.record(value, self._clock())
        if judged is not None and (
            judged > series.high or judged < series.low or self._alerts.has_active(series.key)
        ):
            self._judge(series, judged)

    def _judge(self, series: Series, value: float) -> None:
        rule = series.rule
        assert rule is not None
        self._notifier.send(self._alerts.evaluate(series.key, rule, value))

    def get_metric_history(self, name: str, labels: Mapping[str, object] | None = None) -> list[MetricPoint]:
        """Return the recorded points of one series, oldest first (a counter's points are its running total)."""
        series = self._series.by_key.get(_canonical(name, labels))
        return [] if series is None else series.points()

    def list_series(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every series (or those of ``name``): name, type, labels, last value, count and sum."""
        found = self._series.all() if name is None else self._series.series_of(name)
        return [s.snapshot() for s in found]

    # -- health --
    async def update_health_status(
        self,
        component: str,
        healthy: bool,
        status: str,
        error_message: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        latency_ms: float | None = None,
    ) -> ComponentHealth:
        """Report a component's health: ``status`` is ``healthy``, ``degraded``, ``critical`` or ``unknown``.

        Also sets the gauge ``agents_component_healthy{component}`` (1 or 0).
        """
        entry = self.health_board.update(component, healthy, status, error_message, metadata, latency_ms)
        self.mark_component(component, entry.healthy)
        return entry

    def mark_component(self, component: str, healthy: bool) -> None:
        """Set ``agents_component_healthy{component}``."""
        labels = {"component": component}
        series = self._series.resolve(
            "agents_component_healthy", MetricType.GAUGE, labels, "1 when the component is healthy", None, None
        )
        series.record(1.0 if healthy else 0.0, self._clock())

    def get_health_status(self, component: str) -> ComponentHealth | None:
        """Return the latest reported health of ``component``, or ``None``."""
        return self.health_board.get(component)

    async def check_health(
        self, *, kafka_bootstrap_servers: str | None = None, window_minutes: float = 60.0
    ) -> dict[str, Any]:
        """Run the :class:`HealthChecker` (database, Kafka if configured, cache, generation, events, outbox)."""
        checker = HealthChecker(
            self, kafka_bootstrap_servers=kafka_bootstrap_servers, window_minutes=window_minutes
        )
        return await checker.check_all()

    # -- alerts --
    def get_active_alerts(
        self,
        severity: AlertSeverity | str | None = None,
        component: str | None = None,
        *,
        include_suppressed: bool = False,
    ) -> list[Alert]:
        """Active alerts, oldest first, optionally of one severity or component (suppressed ones hidden)."""
        self._notifier.send(self._alerts.sweep())
        wanted = None if severity is None else AlertSeverity(getattr(severity, "value", severity))
        now = self._clock()
        return [
            a
            for a in self._alerts.active()
            if (wanted is None or a.severity is wanted)
            and (component is None or a.component == component)
            and (include_suppressed or a.suppressed_until is None or a.suppressed_until.timestamp() <= now)
        ]

    def get_resolved_alerts(self, hours: float = 24) -> list[Alert]:
        """Alerts resolved in the last ``hours``, newest first."""
        self._notifier.send(self._alerts.sweep())
        return self._alerts.resolved_since(self._clock() - float(hours) * 3600)

    def acknowledge_alert(self, alert_id: str, by: str | None = None) -> Alert:
        """Acknowledge an active alert (it stays active until its value is back to normal)."""
        return self._alerts.acknowledge(alert_id, by)

    def suppress_alerts(
        self,
        until: datetime,
        *,
        metric_name: str | None = None,
        component: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> int:
        """Silence matching alerts until ``until``: no notifications, hidden from :meth:`get_active_alerts`.

        It applies to active alerts and to ones that fire later; returns how many active alerts matched.
        """
        if not isinstance(until, datetime):
            raise OnexError("until must be a datetime", ErrorCode.VALIDATION_ERROR)
        stamp = (until if until.tzinfo else until.replace(tzinfo=UTC)).timestamp()
        return self._alerts.suppress(stamp, metric_name=metric_name, component=component, labels=labels)

    async def drain_notifications(self, timeout_s: float | None = None) -> None:
        """Wait for webhook notifications still being sent."""
        await self._notifier.drain(timeout_s)

    # -- summary --
    def get_monitoring_summary(self) -> dict[str, Any]:
        """Health, alert counts and metric counts, with ``overall_status`` from both."""
        health = self.health_board.summary()
        active = self.get_active_alerts(include_suppressed=True)
        now = self._clock()
        shown = [a for a in active if a.suppressed_until is None or a.suppressed_until.timestamp() <= now]
        critical = sum(1 for a in shown if a.severity is AlertSeverity.CRITICAL)
        warning = len(shown) - critical
        from_alerts = "critical" if critical else ("degraded" if warning else "healthy")
        series = self._series.all()
        return {
            "timestamp": datetime.fromtimestamp(now, UTC).isoformat(),
            "overall_status": worst_health([health["overall_status"], from_alerts]),
            "health": health,
            "alerts": {
                "active": len(shown),
                "critical": critical,
                "warning": warning,
                "acknowledged": sum(1 for a in shown if a.acknowledged),
                "suppressed": len(active) - len(shown),
                "resolved_last_24h": len(self.get_resolved_alerts(24)),
            },
            "metrics": {
                "series": len(series),
                "metric_names": len({s.name for s in series}),
                "observations": sum(s.count for s in series),
            },
            "notifications": {
                "webhook": self._notifier.webhook_url is not None,
                "sent": self._notifier.sent,
                "failed": self._notifier.failed,
            },
        }

    # -- the database's figures --
    @property
    def persistence(self) -> CodegenPersistence:
        """Storage :meth:`collect_all_metrics` reads (opened on first use unless one was given)."""
        with self._persistence_lock:
            if self._persistence is None:
                self._persistence = CodegenPersistence()
            return self._persistence

    def register_section(
        self, name: str, provider: SectionProvider | str, *, empty: Mapping[str, Any] | None = None
    ) -> None:
        """Add or replace a section of :meth:`collect_all_metrics` for this system only."""
        check_section(name, provider)
        sections = metrics_sections()
        fallback = sections[name][1] if name in sections else {}
        self._sections[name] = (provider, dict(empty if empty is not None else fallback))

    async def collect_all_metrics(self, time_window_minutes: float = 60) -> dict[str, Any]:
        """Read the figures of the last ``time_window_minutes`` from the database, every section at once.

        Returns ``template_cache``, ``parallel_generation``, ``event_processing``, ``mixin_learning``,
        ``pattern_matching`` (and any registered section), ``collection_time_ms``, ``section_times_ms``,
        ``timestamp``, ``time_window_minutes`` and ``errors`` (section -> message, for sections that could not
        be read: those hold zeros). Every number is also set as the gauge ``agents_<section>_<key>`` and the
        thresholds that watch one are evaluated (a figure with no data behind it resolves its alert).
        """
        window = time_window_minutes
        number = isinstance(window, int | float) and not isinstance(window, bool)
        if not number or not math.isfinite(window) or window <= 0:
            raise OnexError("time_window_minutes must be a positive number", ErrorCode.VALIDATION_ERROR)
        started = time.perf_counter()
        sections = {**metrics_sections(), **self._sections}
        try:
            persistence: CodegenPersistence | None = self.persistence
            assert persistence is not None
            await persistence.flush()
        except OnexError as exc:
            persistence, reason = None, exc.message
        results = await asyncio.gather(
            *(
                self._section(name, provider, empty, persistence, float(window))
                if persistence is not None
                else _failed(name, empty, reason)
                for name, (provider, empty) in sections.items()
            )
        )
        out: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(self._clock(), UTC).isoformat(),
            "time_window_minutes": window,
        }
        errors: dict[str, str] = {}
        times: dict[str, float] = {}
        for name, data, error, elapsed in results:
            out[name] = data
            times[name] = elapsed
            if error is not None:
                errors[name] = error
        out["collection_time_ms"] = (time.perf_counter() - started) * 1000
        out["section_times_ms"] = times
        out["errors"] = errors
        self._record_collected(out, errors, float(window))
        self.last_metrics = out
        return out

    async def _section(
        self,
        name: str,
        provider: SectionProvider | str,
        empty: Mapping[str, Any],
        persistence: CodegenPersistence,
        window: float,
    ) -> tuple[str, dict[str, Any], str | None, float]:
        started = time.perf_counter()
        try:
            data = dict(await resolve_provider(provider)(persistence, window))
            error = None
        except Exception as exc:
            error = exc.message if isinstance(exc, OnexError) else f"{type(exc).__name__}: {exc}"
            data = copy.deepcopy(dict(empty))
            _log.warning("a metrics section could not be read", metadata={"section": name, "error": error})
        return name, data, error, (time.perf_counter() - started) * 1000

    def _record_collected(self, out: Mapping[str, Any], errors: Mapping[str, str], window: float) -> None:
        now = self._clock()
        for section, data in out.items():
            if not isinstance(data, Mapping) or section in {"section_times_ms", "errors"}:
                continue
            for key, value in data.items():
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                    continue
                name = collected_gauge_name(section, key)
                try:
                    series = self._series.resolve(
                        name, MetricType.GAUGE, None, f"{section} {key} (database)", None, None
                    )
                except OnexError:
                    continue  # a name that is not a valid metric name (an odd section key)
                if series.record(float(value), now) is not None:  # a custom threshold on the gauge
                    self._judge(series, float(value))
        where = f" (database, last {window:g} min)"
        for rule in self.thresholds.builtin_rules():
            spec = rule.spec
            if spec is None or spec.section is None or spec.section in errors or spec.section not in out:
                continue
            value = _collected_value(rule, out[spec.section])
            key = (collected_gauge_name(spec.section, spec.key or ""), ())
            self._notifier.send(self._alerts.evaluate(key, rule, value, source="database", where=where))

    # -- export --
    async def export_prometheus_metrics(self) -> str:
        """Return every metric in the Prometheus text exposition format (every label set of every metric)."""
        return generate_latest(self.registry).decode("utf-8")

    # -- lifecycle --
    async def close(self) -> None:
        """Wait for pending webhook calls and close the database connection this system opened."""
        await self._notifier.drain()
        if self._owns_persistence and self._persistence is not None:
            persistence, self._persistence = self._persistence, None  # the next use opens a new one
            await persistence.close()

    async def __aenter__(self) -> Self:
        """Return this system."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close (see :meth:`close`)."""
        await self.close()


def _collected_value(rule: ThresholdRule, section: Mapping[str, Any]) -> float | None:
    spec = rule.spec
    if spec is None or spec.key is None:
        return None
    value = section.get(spec.key)
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if spec.samples_key is not None and not section.get(spec.samples_key):
        return None
    return float(value)


async def _failed(name: str, empty: Mapping[str, Any], reason: str) -> tuple[str, dict[str, Any], str, float]:
    return name, copy.deepcopy(dict(empty)), reason, 0.0


# ---------------------------------------------------------------------------------------------------------------
# The process's system and the guide's module-level helpers
# ---------------------------------------------------------------------------------------------------------------

_system: MonitoringSystem | None = None
_system_lock = threading.Lock()


def get_monitoring_system() -> MonitoringSystem:
    """Return the process's :class:`MonitoringSystem` (created on first use with the default thresholds)."""
    global _system
    system = _system
    if system is None:
        with _system_lock:
            if _system is None:
                _system = MonitoringSystem()
            system = _system
    return system


_hook.DEFAULT_SYSTEM = get_monitoring_system


def reset_monitoring_system() -> MonitoringSystem | None:
    """Forget the process's system (the next call creates a new one); return the old one so it can be closed."""
    global _system
    with _system_lock:
        old, _system = _system, None
    return old


async def record_metric(
    name: str,
    value: float,
    metric_type: MetricType | str,
    labels: Mapping[str, object] | None = None,
    help_text: str = "",
) -> None:
    """:meth:`MonitoringSystem.record_metric` on the process's system."""
    await get_monitoring_system().record_metric(name, value, metric_type, labels, help_text)


async def update_health_status(
    component: str,
    healthy: bool,
    status: str,
    error_message: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> ComponentHealth:
    """:meth:`MonitoringSystem.update_health_status` on the process's system."""
    return await get_monitoring_system().update_health_status(component, healthy, status, error_message, metadata)


async def collect_all_metrics(time_window_minutes: float = 60) -> dict[str, Any]:
    """:meth:`MonitoringSystem.collect_all_metrics` on the process's system."""
    return await get_monitoring_system().collect_all_metrics(time_window_minutes)


async def export_prometheus_metrics() -> str:
    """:meth:`MonitoringSystem.export_prometheus_metrics` on the process's system."""
    return await get_monitoring_system().export_prometheus_metrics()


def get_active_alerts(severity: AlertSeverity | str | None = None, component: str | None = None) -> list[Alert]:
    """:meth:`MonitoringSystem.get_active_alerts` on the process's system."""
    return get_monitoring_system().get_active_alerts(severity, component)


def get_monitoring_summary() -> dict[str, Any]:
    """:meth:`MonitoringSystem.get_monitoring_summary` on the process's system."""
    return get_monitoring_system().get_monitoring_summary()
