"""Metric series over prometheus_client: one family per name, one bound child per label set, a bounded history.

:class:`SeriesTable` creates the prometheus_client metric of a name on first use (in the given registry; label
names fixed by that first use, histograms with buckets chosen from the name's unit) and keeps a
:class:`Series` per label set: the bound child, the last :data:`history_size` points for dashboards, and, when a
threshold watches it, the observations of the evaluation window (a histogram or summary is judged by their mean).
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

from agents.lib._monitoring.alerts import SeriesKey
from agents.lib._monitoring.kinds import MetricType
from agents.lib._monitoring.thresholds import ThresholdRule
from agents.lib.errors import ErrorCode, OnexError

__all__ = ["MetricPoint", "Series", "SeriesTable", "default_buckets"]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_RESERVED = {MetricType.HISTOGRAM: {"le"}, MetricType.SUMMARY: {"quantile"}}

MS_BUCKETS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0,
              10_000.0, 30_000.0, 60_000.0, 120_000.0, 300_000.0)  # fmt: skip
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
                   300.0)  # fmt: skip
BYTES_BUCKETS = tuple(float(4**k) for k in range(3, 16))  # 64 B .. 1 GiB
RATIO_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0)
GENERIC_BUCKETS = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0)
_INF = math.inf
_NEG_INF = -math.inf


def default_buckets(name: str) -> tuple[float, ...]:
    """Return histogram buckets for a metric, from its name's unit suffix (``_ms``, ``_seconds``, ``_bytes``)."""
    if name.endswith(("_ms", "_milliseconds")):
        return MS_BUCKETS
    if name.endswith(("_seconds", "_s")):
        return SECONDS_BUCKETS
    if name.endswith("_bytes"):
        return BYTES_BUCKETS
    if name.endswith(("_rate", "_ratio", "_precision", "_accuracy")):
        return RATIO_BUCKETS
    return GENERIC_BUCKETS


class MetricPoint(NamedTuple):
    """One point of a series' history: seconds since the epoch and the value (a counter's running total)."""

    timestamp: float
    value: float


class Series:
    """One label set of one metric: its prometheus_client child, history and evaluation window."""

    __slots__ = (
        "_apply",
        "_wcap",
        "_window",
        "_wsum",
        "count",
        "high",
        "history",
        "key",
        "labels",
        "last",
        "low",
        "name",
        "rule",
        "total",
        "type",
        "window_s",
    )

    def __init__(
        self,
        key: SeriesKey,
        metric_type: MetricType,
        child: Any,
        history_size: int,
        rule: ThresholdRule | None,
        window_s: float,
    ) -> None:
        self.key = key
        self.name = key[0]
        self.labels = dict(key[1])
        self.type = metric_type
        self.history: deque[tuple[float, float]] = deque(maxlen=history_size)
        self.count = 0
        self.total = 0.0
        self.last = 0.0
        self.rule = rule
        self.window_s = window_s
        # values inside (low, high) are normal without asking the rule (the fast path of record_metric)
        self.low, self.high = _NEG_INF, _INF
        if rule is not None:
            if rule.direction == "above":
                self.high = rule.warning
            else:
                self.low = rule.warning
        self._window: deque[tuple[float, float]] = deque()
        self._wsum = 0.0
        self._wcap = 1_000
        if metric_type is MetricType.COUNTER:
            self._apply: Callable[[float], None] = child.inc
        elif metric_type is MetricType.GAUGE:
            self._apply = child.set
        else:
            self._apply = child.observe

    def record(self, value: float, now: float) -> float | None:
        """Apply ``value``; return the value a threshold should judge, or ``None`` when none watches it."""
        try:
            finite = _NEG_INF < value < _INF
        except TypeError:
            finite = False
        if not finite or value.__class__ is bool:
            raise OnexError(
                f"metric {self.name}: value must be a finite number",
                ErrorCode.VALIDATION_ERROR,
                {"value": repr(value)},
            )
        kind = self.type
        if kind is MetricType.COUNTER:
            if value < 0:
                raise OnexError(
                    f"counter {self.name} cannot decrease", ErrorCode.VALIDATION_ERROR, {"value": value}
                )
            self._apply(value)
            self.total += value
            shown = self.total
        else:
            self._apply(value)
            self.total += value
            shown = value
        self.count += 1
        self.last = shown
        self.history.append((now, shown))
        if self.rule is None:
            return None
        if kind is MetricType.HISTOGRAM or kind is MetricType.SUMMARY:
            return self._window_mean(value, now)
        return shown

    def _window_mean(self, value: float, now: float) -> float:
        window = self._window
        window.append((now, value))
        self._wsum += value
        cutoff = now - self.window_s
        while window and (window[0][0] < cutoff or len(window) > self._wcap):
            self._wsum -= window.popleft()[1]
        if self.count % self._wcap == 0:  # keep the running sum exact
            self._wsum = math.fsum(v for _, v in window)
        return self._wsum / len(window)

    def points(self) -> list[MetricPoint]:
        """Return the history as :class:`MetricPoint` objects, oldest first."""
        return [MetricPoint(t, v) for t, v in self.history]

    def snapshot(self) -> dict[str, Any]:
        """Return name, type, labels, last value, count and sum (for a counter, the total)."""
        return {
            "name": self.name,
            "type": self.type.value,
            "labels": dict(self.labels),
            "last": self.last,
            "count": self.count,
            "sum": self.total,
        }


@dataclass
class _Family:
    metric_type: MetricType
    label_names: tuple[str, ...]
    metric: Any


class SeriesTable:
    """The series of one :class:`~agents.lib.monitoring.MonitoringSystem` (thread-safe creation)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        rules: Mapping[str, ThresholdRule],
        *,
        history_size: int,
        max_series: int,
        window_s: float,
    ) -> None:
        self.registry = registry
        self.rules = dict(rules)
        self.history_size = history_size
        self.max_series = max_series
        self.window_s = window_s
        self.fast: dict[Any, Series] = {}
        self.by_key: dict[SeriesKey, Series] = {}
        self._families: dict[str, _Family] = {}
        self._lock = threading.Lock()

    def resolve(
        self,
        name: str,
        metric_type: MetricType | str,
        labels: Mapping[str, object] | None,
        help_text: str,
        buckets: Sequence[float] | None,
        fast_key: Any,
    ) -> Series:
        """Return (creating if needed) the series of ``name`` and ``labels``; validate everything."""
        kind = _metric_type(metric_type)
        canonical = _canonical(name, labels)
        with self._lock:
            series = self.by_key.get(canonical)
            if series is None:
                family = self._family(name, kind, tuple(k for k, _ in canonical[1]), help_text, buckets)
                if len(self.by_key) >= self.max_series:
                    raise OnexError(
                        f"too many metric series (max_series={self.max_series}); use fewer label values",
                        ErrorCode.VALIDATION_ERROR,
                        {"metric": name},
                    )
                values = [v for _, v in canonical[1]]
                child = family.metric.labels(*values) if values else family.metric
                series = Series(canonical, kind, child, self.history_size, self.rules.get(name), self.window_s)
                self.by_key[canonical] = series
            elif series.type is not kind:
                raise _type_conflict(name, series.type, kind)
            if fast_key is not None:
                self.fast[fast_key] = series
            return series

    def _family(
        self,
        name: str,
        kind: MetricType,
        label_names: tuple[str, ...],
        help_text: str,
        buckets: Sequence[float] | None,
    ) -> _Family:
        family = self._families.get(name)
        if family is not None:
            if family.metric_type is not kind:
                raise _type_conflict(name, family.metric_type, kind)
            if family.label_names != label_names:
                raise OnexError(
                    f"metric {name} has labels {list(family.label_names)}, not {list(label_names)}",
                    ErrorCode.VALIDATION_ERROR,
                    {"metric": name},
                )
            return family
        if not _NAME.match(name):
            raise OnexError(f"invalid metric name {name!r}", ErrorCode.VALIDATION_ERROR, {"metric": name})
        for label in label_names:
            if not _LABEL.match(label) or label.startswith("__") or label in _RESERVED.get(kind, ()):
                raise OnexError(f"invalid label name {label!r} for {name}", ErrorCode.VALIDATION_ERROR)
        documentation = help_text or name.replace("_", " ")
        try:
            if kind is MetricType.COUNTER:
                metric: Any = Counter(name, documentation, label_names, registry=self.registry)
            elif kind is MetricType.GAUGE:
                metric = Gauge(name, documentation, label_names, registry=self.registry)
            elif kind is MetricType.HISTOGRAM:
                edges = tuple(sorted({float(b) for b in buckets})) if buckets else default_buckets(name)
                metric = Histogram(name, documentation, label_names, registry=self.registry, buckets=edges)
            else:
                metric = Summary(name, documentation, label_names, registry=self.registry)
        except ValueError as exc:
            raise OnexError(f"cannot register metric {name}: {exc}", ErrorCode.VALIDATION_ERROR) from None
        family = _Family(kind, label_names, metric)
        self._families[name] = family
        return family

    def series_of(self, name: str) -> list[Series]:
        """Return every series of ``name``, in label order."""
        with self._lock:
            found = [s for key, s in self.by_key.items() if key[0] == name]
        return sorted(found, key=lambda s: s.key)

    def all(self) -> list[Series]:
        """Return every series, by name and labels."""
        with self._lock:
            return sorted(self.by_key.values(), key=lambda s: s.key)


def _metric_type(value: MetricType | str) -> MetricType:
    if isinstance(value, MetricType):
        return value
    try:
        return MetricType(str(value).lower())
    except ValueError:
        raise OnexError(
            f"unknown metric type {value!r}; use counter, gauge, histogram or summary", ErrorCode.VALIDATION_ERROR
        ) from None


def _canonical(name: str, labels: Mapping[str, object] | None) -> SeriesKey:
    if not isinstance(name, str):
        raise OnexError("metric name must be a string", ErrorCode.VALIDATION_ERROR)
    if not labels:
        return (name, ())
    if not isinstance(labels, Mapping):
        raise OnexError("labels must be a mapping of names to values", ErrorCode.VALIDATION_ERROR)
    return (name, tuple(sorted((str(k), str(v)) for k, v in labels.items())))


def _type_conflict(name: str, existing: MetricType, wanted: MetricType) -> OnexError:
    return OnexError(
        f"metric {name} is a {existing.value}, not a {wanted.value}",
        ErrorCode.VALIDATION_ERROR,
        {"metric": name, "type": existing.value},
    )
