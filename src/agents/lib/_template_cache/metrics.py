"""The template cache's metrics: per-template deltas, handed in batches to a MetricsSink by a flush thread.

The cache's hit path only counts hits on its entries; the deltas are taken from those counters here, at each
flush and when an entry leaves the cache. See docs/template_cache.md, "Metrics sink and the database".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from agents.lib._template_cache.entries import Entry, Key, MetricKey
from agents.lib.db.sink import TEMPLATE_CACHE_METRICS, BaseMetricsSink, MetricsSink, register_exit_hook
from agents.lib.structured_logger import get_logger

if TYPE_CHECKING:
    from agents.lib.background_persistence import BackgroundPersistence

_logger = get_logger("agents.lib.template_cache", component="template_cache")

RecordCallback: TypeAlias = Callable[[list[dict[str, Any]]], None]
"""The cache's original sink: a callable taking a list of ``MetricsRecord`` dicts."""


class WallClock:
    """Turns readings of the cache's monotonic clock into UTC datetimes."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._wall_anchor = time.time()
        self._clock_anchor = clock()

    def __call__(self, clock_value: float) -> datetime:
        return datetime.fromtimestamp(self._wall_anchor + (clock_value - self._clock_anchor), tz=UTC)


@dataclass(slots=True)
class Pending:
    """Metric deltas of one template since the last batch."""

    file_path: str
    content_hash: str
    size_bytes: int
    last_access: float
    hits: int = 0
    misses: int = 0
    loads: int = 0
    load_ns: int = 0


class CacheMetrics:
    """The pending deltas of one cache and their delivery to ``sink``.

    ``lock`` and ``entries`` are the cache's own: methods marked "lock held" are called by the cache with its
    lock held; :meth:`flush` and :meth:`close` take it themselves. ``owned`` is a sink the cache created and
    must close (the default database sink).
    """

    def __init__(
        self,
        lock: threading.Lock,
        entries: Mapping[Key, Entry],
        sink: MetricsSink,
        *,
        batch_size: int,
        wall: WallClock,
        owned: DefaultDatabaseSink | None = None,
    ) -> None:
        self._lock = lock
        self._entries = entries
        self._sink = sink
        self._owned = owned
        self._batch_size = batch_size
        self._wall = wall
        self.collect = True
        self.pending: dict[MetricKey, Pending] = {}
        self.sink_failures = 0
        # Reentrant: a cache collected by the garbage collector inside a flush, on the flushing thread, closes.
        self._flush_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        register_exit_hook(self.flush_at_exit, stage="flush")

    # -- collecting (lock held) --
    def fold_hits(self, entry: Entry) -> None:
        """Move the hits of ``entry`` not yet reported into the pending deltas of its label (lock held)."""
        key = entry.metric_key
        pending = self.pending.get(key)
        if pending is None:
            pending = self.pending[key] = Pending(
                entry.file_path, entry.content_hash, entry.size_bytes, entry.last_access
            )
        elif entry.last_access > pending.last_access:
            pending.last_access = entry.last_access
        pending.hits += entry.hit_count - entry.reported_hits
        entry.reported_hits = entry.hit_count

    def fold_all_hits(self) -> None:
        """:meth:`fold_hits` of every entry with unreported hits (lock held)."""
        for entry in self._entries.values():
            if entry.hit_count != entry.reported_hits:
                self.fold_hits(entry)

    def note_hit(self, key: MetricKey, entry: Entry, now: float) -> None:
        """Count one hit of an entry that is no longer cached (lock held)."""
        pending = self.pending.get(key)
        if pending is None:
            pending = self.pending[key] = Pending(entry.file_path, entry.content_hash, entry.size_bytes, now)
        pending.hits += 1
        pending.last_access = now

    def note_load(
        self,
        key: MetricKey,
        file_path: str,
        digest: str,
        size: int,
        now: float,
        elapsed_ns: int,
        *,
        counted: bool,
    ) -> None:
        """Count one load (a miss too when ``counted``, i.e. a ``get`` call, not a warmup) (lock held)."""
        pending = self.pending.get(key)
        if pending is None:
            pending = self.pending[key] = Pending(file_path, digest, size, now)
        else:
            pending.file_path, pending.content_hash, pending.size_bytes = file_path, digest, size
            pending.last_access = now
        if counted:
            pending.misses += 1
        pending.loads += 1
        pending.load_ns += elapsed_ns

    # -- delivering --
    def flush(self) -> int:
        """Hand the pending deltas to the sink now; return how many records it accepted.

        A sink that raises keeps its batch (and the rest) pending for the next flush; the failure is logged
        and counted, never raised.
        """
        with self._flush_lock:
            with self._lock:
                if self.collect:
                    self.fold_all_hits()
                if not self.pending:
                    return 0
                pending, self.pending = self.pending, {}
            items = list(pending.items())
            delivered = 0
            for offset in range(0, len(items), self._batch_size):
                rows = [self._row(key, p) for key, p in items[offset : offset + self._batch_size]]
                try:
                    self._sink.write(TEMPLATE_CACHE_METRICS, rows)
                except Exception as exc:
                    self._requeue(items[offset:])
                    with self._lock:
                        self.sink_failures += 1
                    _logger.warning(
                        "template cache metrics sink failed; the batch stays pending",
                        metadata={"records": len(items) - offset, "error": f"{type(exc).__name__}: {exc}"},
                    )
                    break
                delivered += len(rows)
            return delivered

    def _row(self, key: MetricKey, p: Pending) -> dict[str, Any]:
        """One ``"template_cache"`` row (the fields of ``agents.lib.persistence.TemplateCacheDelta``)."""
        return {
            "template_name": key[1],
            "template_type": key[0],
            "file_path": p.file_path,
            "content_hash": p.content_hash,
            "size_bytes": p.size_bytes,
            "hits": p.hits,
            "misses": p.misses,
            "loads": p.loads,
            "load_time_ms": p.load_ns / 1e6,
            "last_accessed_at": self._wall(p.last_access),
        }

    def _requeue(self, items: list[tuple[MetricKey, Pending]]) -> None:
        with self._lock:
            for key, old in items:
                new = self.pending.get(key)
                if new is None:
                    self.pending[key] = old
                    continue
                new.hits += old.hits
                new.misses += old.misses
                new.loads += old.loads
                new.load_ns += old.load_ns
                new.last_access = max(new.last_access, old.last_access)

    # -- lifecycle --
    def start_thread(self, interval: float) -> None:
        """Start the daemon thread that flushes every ``interval`` seconds until :meth:`stop`."""
        self._thread = threading.Thread(
            target=_flush_loop, args=(self, self._stop, interval), name="template-cache-metrics", daemon=True
        )
        self._thread.start()

    def flush_at_exit(self) -> None:
        """Hand what is pending to the sink at interpreter exit (the database sinks write it next)."""
        if not self._closed:
            self.flush()

    def close(self, timeout: float | None) -> None:
        """Stop the flush thread (waiting up to ``timeout`` s), flush the last deltas, stop collecting."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._lock:
            if self.collect:
                self.fold_all_hits()  # the last hits; after this nothing is collected
            self.collect = False
        self.flush()
        if self._owned is not None:
            self._owned.close(timeout)


def _flush_loop(metrics: CacheMetrics, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        try:
            metrics.flush()
        except Exception:  # flush already contains sink errors; never kill the thread
            _logger.exception("template cache metrics flush failed")


class RecordCallbackSink(BaseMetricsSink):
    """A :class:`~agents.lib.db.sink.MetricsSink` over the cache's original sink API, a :data:`RecordCallback`.

    Each ``"template_cache"`` row becomes a ``MetricsRecord`` (``hits`` -> ``hits_delta``...). Exceptions of the
    callback propagate (the cache keeps the batch pending).
    """

    def __init__(self, callback: RecordCallback) -> None:
        self._callback = callback

    def _write(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
        self._callback(
            [
                {
                    "template_name": r["template_name"],
                    "template_type": r["template_type"],
                    "file_path": r["file_path"],
                    "content_hash": r["content_hash"],
                    "size_bytes": r["size_bytes"],
                    "hits_delta": r["hits"],
                    "misses_delta": r["misses"],
                    "loads_delta": r["loads"],
                    "load_ms_delta": r["load_time_ms"],
                    "last_accessed_at": r["last_accessed_at"],
                }
                for r in rows
            ]
        )


class DefaultDatabaseSink(BaseMetricsSink):
    """The configured database, through a :class:`BackgroundPersistence` created on the first write.

    Created lazily: most caches never flush, and the import pulls in SQLAlchemy.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._background: BackgroundPersistence | None = None
        self._closed = False

    def _write(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
        with self._lock:
            if self._closed:
                return
            if self._background is None:
                from agents.lib.background_persistence import BackgroundPersistence

                self._background = BackgroundPersistence()
            sink = self._background.metrics_sink()
        sink.write(kind, rows)

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what was handed over and stop the database thread (waiting up to ``timeout`` s)."""
        with self._lock:
            self._closed = True
            background, self._background = self._background, None
        if background is not None:
            background.close(timeout)


def as_sink(sink: MetricsSink | RecordCallback) -> MetricsSink:
    """Return ``sink`` as a :class:`~agents.lib.db.sink.MetricsSink` (a record callback is adapted)."""
    if callable(getattr(sink, "write", None)):
        return cast(MetricsSink, sink)
    return RecordCallbackSink(cast(RecordCallback, sink))
