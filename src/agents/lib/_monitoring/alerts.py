"""Alerts: one per (metric, labels), escalated and resolved in place, acknowledged, suppressed, notified.

:class:`AlertBook` keeps the state machine; it is fed a severity (or ``None``: back to normal) for a series key
and returns the notifications to send, which :class:`Notifier` writes to the structured log and, when a URL is
configured, POSTs to a webhook (in the background, never blocking the caller).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from agents.lib._monitoring.kinds import AlertSeverity
from agents.lib._monitoring.thresholds import ThresholdRule
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.structured_logger import get_logger

__all__ = ["Alert", "AlertBook", "Notification", "Notifier", "SeriesKey"]

_log = get_logger("agents.lib.monitoring", component="monitoring")

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
"""A series: metric name and its labels as sorted ``(name, value)`` pairs."""

_MAX_RESOLVED = 1_000


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class Alert:
    """One alert: a metric series that crossed a threshold (a snapshot; the system replaces it on change).

    ``created_at`` is when it first fired, ``updated_at`` its latest value, ``occurrences`` how many
    evaluations found it over a threshold. ``source`` is ``"recorded"`` (a metric recorded in this process) or
    ``"database"`` (a figure of ``collect_all_metrics``).
    """

    alert_id: str
    metric_name: str
    labels: Mapping[str, str]
    component: str
    severity: AlertSeverity
    message: str
    threshold: float
    actual_value: float
    created_at: datetime
    updated_at: datetime
    rule: str
    source: str = "recorded"
    occurrences: int = 1
    escalated_at: datetime | None = None
    resolved_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    suppressed_until: datetime | None = None

    @property
    def active(self) -> bool:
        """Whether the alert has not been resolved."""
        return self.resolved_at is None

    @property
    def acknowledged(self) -> bool:
        """Whether someone acknowledged the alert (since its last escalation)."""
        return self.acknowledged_at is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (times as ISO 8601 UTC)."""
        return {
            "alert_id": self.alert_id,
            "metric_name": self.metric_name,
            "labels": dict(self.labels),
            "component": self.component,
            "severity": self.severity.value,
            "message": self.message,
            "threshold": self.threshold,
            "actual_value": self.actual_value,
            "rule": self.rule,
            "source": self.source,
            "occurrences": self.occurrences,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "escalated_at": _iso(self.escalated_at),
            "resolved_at": _iso(self.resolved_at),
            "acknowledged_at": _iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "suppressed_until": _iso(self.suppressed_until),
            "active": self.active,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class Notification:
    """Something to tell people: ``event`` is ``firing``, ``escalated``, ``downgraded`` or ``resolved``."""

    event: str
    alert: Alert


@dataclass
class _Suppression:
    until: float
    metric_name: str | None
    component: str | None
    labels: dict[str, str] | None

    def matches(self, alert: Alert) -> bool:
        if self.metric_name is not None and alert.metric_name != self.metric_name:
            return False
        if self.component is not None and alert.component != self.component:
            return False
        return self.labels is None or all(alert.labels.get(k) == v for k, v in self.labels.items())


@dataclass
class _Entry:
    alert: Alert
    normal_since: float | None = None  # the value went back to normal at (waiting for the dedup window)


@dataclass
class AlertBook:
    """The alert state machine (thread-safe). ``clock`` returns seconds since the epoch."""

    clock: Callable[[], float]
    dedup_window_seconds: float = 0.0
    hysteresis: float = 0.0
    _active: dict[SeriesKey, _Entry] = field(default_factory=dict)
    _resolved: deque[Alert] = field(default_factory=lambda: deque(maxlen=_MAX_RESOLVED))
    _suppressions: list[_Suppression] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def has_active(self, key: SeriesKey) -> bool:
        """Whether ``key`` has an active alert (cheap, no lock)."""
        return key in self._active

    def current(self, key: SeriesKey) -> AlertSeverity | None:
        """Return the severity active for ``key``, if any."""
        entry = self._active.get(key)
        return None if entry is None else entry.alert.severity

    def evaluate(
        self,
        key: SeriesKey,
        rule: ThresholdRule,
        value: float | None,
        *,
        source: str = "recorded",
        where: str = "",
    ) -> list[Notification]:
        """Judge ``value`` for ``key`` under ``rule`` (``None``: no data, which resolves); return notifications."""
        now = self.clock()
        with self._lock:
            entry = self._active.get(key)
            current = None if entry is None else entry.alert.severity
            level = None if value is None else rule.level(value, current, self.hysteresis)
            if level is None:
                return self._back_to_normal(key, entry, now, value)
            assert value is not None
            message = rule.describe(value, level, where)
            if entry is None:
                alert = Alert(
                    alert_id=uuid.uuid4().hex[:12],
                    metric_name=key[0],
                    labels=dict(key[1]),
                    component=rule.component,
                    severity=level,
                    message=message,
                    threshold=rule.threshold_of(level),
                    actual_value=float(value),
                    created_at=_ts(now),
                    updated_at=_ts(now),
                    rule=rule.name,
                    source=source,
                    suppressed_until=self._suppressed_until(key, rule.component, now),
                )
                self._active[key] = _Entry(alert)
                return self._notify("firing", alert, now)
            old = entry.alert
            entry.normal_since = None
            if level is old.severity:
                entry.alert = replace(
                    old,
                    actual_value=float(value),
                    updated_at=_ts(now),
                    occurrences=old.occurrences + 1,
                    message=message,
                )
                return []
            escalated = level is AlertSeverity.CRITICAL
            entry.alert = replace(
                old,
                severity=level,
                message=message,
                threshold=rule.threshold_of(level),
                actual_value=float(value),
                updated_at=_ts(now),
                occurrences=old.occurrences + 1,
                escalated_at=_ts(now) if escalated else old.escalated_at,
                # an escalation needs a new acknowledgement
                acknowledged_at=None if escalated else old.acknowledged_at,
                acknowledged_by=None if escalated else old.acknowledged_by,
            )
            return self._notify("escalated" if escalated else "downgraded", entry.alert, now)

    def _back_to_normal(
        self, key: SeriesKey, entry: _Entry | None, now: float, value: float | None
    ) -> list[Notification]:
        if entry is None:
            return []
        if self.dedup_window_seconds > 0:
            if entry.normal_since is None:
                entry.normal_since = now
            if now - entry.normal_since < self.dedup_window_seconds:
                return []
        return self._resolve(key, entry, now, value)

    def _resolve(self, key: SeriesKey, entry: _Entry, now: float, value: float | None) -> list[Notification]:
        del self._active[key]
        old = entry.alert
        alert = replace(
            old,
            resolved_at=_ts(now),
            updated_at=_ts(now),
            actual_value=old.actual_value if value is None else float(value),
            message=f"resolved: {old.message}",
        )
        self._resolved.append(alert)
        return self._notify("resolved", alert, now)

    def sweep(self) -> list[Notification]:
        """Resolve the alerts whose value has been normal for the whole dedup window."""
        if self.dedup_window_seconds <= 0:
            return []
        now = self.clock()
        out: list[Notification] = []
        with self._lock:
            for key, entry in list(self._active.items()):
                if entry.normal_since is not None and now - entry.normal_since >= self.dedup_window_seconds:
                    out.extend(self._resolve(key, entry, now, None))
        return out

    def _suppressed_until(self, key: SeriesKey, component: str, now: float) -> datetime | None:
        probe = Alert("", key[0], dict(key[1]), component, AlertSeverity.WARNING, "", 0, 0, _ts(0), _ts(0), "")
        until = max((s.until for s in self._suppressions if s.until > now and s.matches(probe)), default=None)
        return None if until is None else _ts(until)

    def _notify(self, event: str, alert: Alert, now: float) -> list[Notification]:
        if alert.suppressed_until is not None and alert.suppressed_until.timestamp() > now:
            return []
        return [Notification(event, alert)]

    # -- queries and operator actions --
    def active(self) -> list[Alert]:
        """Every active alert, oldest first."""
        with self._lock:
            return sorted((e.alert for e in self._active.values()), key=lambda a: a.created_at)

    def resolved_since(self, since: float) -> list[Alert]:
        """Alerts resolved at or after ``since`` (seconds since the epoch), newest first."""
        with self._lock:
            found = [a for a in self._resolved if a.resolved_at is not None and a.resolved_at.timestamp() >= since]
        return sorted(found, key=lambda a: a.resolved_at or a.created_at, reverse=True)

    def acknowledge(self, alert_id: str, by: str | None) -> Alert:
        """Mark an active alert acknowledged; return it. Unknown ids raise ``NOT_FOUND``."""
        with self._lock:
            for entry in self._active.values():
                if entry.alert.alert_id == alert_id:
                    entry.alert = replace(entry.alert, acknowledged_at=_ts(self.clock()), acknowledged_by=by)
                    return entry.alert
        raise OnexError(f"no active alert {alert_id!r}", ErrorCode.NOT_FOUND, {"alert_id": alert_id})

    def suppress(
        self,
        until: float,
        *,
        metric_name: str | None,
        component: str | None,
        labels: Mapping[str, str] | None,
    ) -> int:
        """Silence matching alerts (current and future) until ``until``; return how many active ones matched."""
        rule = _Suppression(until, metric_name, component, None if labels is None else dict(labels))
        matched = 0
        with self._lock:
            now = self.clock()
            self._suppressions = [s for s in self._suppressions if s.until > now]
            self._suppressions.append(rule)
            for entry in self._active.values():
                if rule.matches(entry.alert):
                    matched += 1
                    current = entry.alert.suppressed_until
                    if current is None or current.timestamp() < until:
                        entry.alert = replace(entry.alert, suppressed_until=_ts(until))
        return matched


class Notifier:
    """Write alert notifications to the structured log and, if configured, POST them to a webhook.

    Webhook calls run as background tasks on the caller's event loop, with a timeout; :meth:`drain` waits for
    them. A failed call is logged (with only the URL's scheme and host) and dropped.
    """

    def __init__(self, webhook_url: str | None = None, timeout_s: float = 5.0) -> None:
        if webhook_url is not None:
            parts = urlsplit(webhook_url)
            if parts.scheme not in {"http", "https"} or not parts.netloc:
                raise OnexError("webhook_url must be an http:// or https:// URL", ErrorCode.VALIDATION_ERROR)
        self.webhook_url = webhook_url
        self.timeout_s = timeout_s
        self.sent = 0
        self.failed = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, notifications: list[Notification]) -> None:
        """Log each notification and schedule its webhook call (never raises)."""
        for note in notifications:
            self._log(note)
            if self.webhook_url is None:
                continue
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.failed += 1
                continue
            task = loop.create_task(self._post(note))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _log(note: Notification) -> None:
        alert = note.alert
        metadata = {"event": note.event, **alert.to_dict()}
        text = f"alert {note.event}: {alert.message}"
        if note.event == "resolved":
            _log.info(text, metadata=metadata)
        elif alert.severity is AlertSeverity.CRITICAL:
            _log.error(text, metadata=metadata)
        else:
            _log.warning(text, metadata=metadata)

    async def _post(self, note: Notification) -> None:
        import aiohttp

        assert self.webhook_url is not None
        body = orjson.dumps({"event": note.event, "source": "agents", "alert": note.alert.to_dict()})
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(self.webhook_url, data=body, headers={"Content-Type": "application/json"}) as resp,
            ):
                if resp.status >= 400:
                    raise OnexError(f"HTTP {resp.status}", ErrorCode.OPERATION_FAILED)
            self.sent += 1
        except Exception as exc:
            self.failed += 1
            message = exc.message if isinstance(exc, OnexError) else f"{type(exc).__name__}: {exc}"
            _log.warning(
                "alert webhook failed",
                metadata={"webhook": _origin(self.webhook_url), "error": message, "alert_id": note.alert.alert_id},
            )

    async def drain(self, timeout_s: float | None = None) -> None:
        """Wait (at most ``timeout_s``, default the webhook timeout plus one second) for pending webhook calls."""
        loop = asyncio.get_running_loop()
        tasks = [t for t in self._tasks if not t.done() and t.get_loop() is loop]
        if not tasks:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*tasks, return_exceptions=True),
                timeout=timeout_s if timeout_s is not None else self.timeout_s + 1.0,
            )


def _origin(url: str) -> str:
    """Scheme and host of a URL: webhook paths and queries often hold the secret token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
