"""Template cache (user guide, Stream 2): LRU by count and bytes, TTL from last access, cheap validation.

``TemplateCache.get(template_name, template_type, file_path, loader_func)`` returns ``(content, hit)``. A hit
costs one ``os.stat``; the file is re-hashed only when its signature changed. Metrics go to a
:class:`~agents.lib.db.sink.MetricsSink` in batches (by default the configured database). The exact rules
(keys, validation, eviction, concurrency, timing, metrics): docs/template_cache.md.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path, PurePath
from time import perf_counter_ns
from types import TracebackType
from typing import Final, TypeAlias, TypedDict

from agents.lib._template_cache.entries import Counters, Entry, Flight, Key, Milliseconds, files_for_type
from agents.lib._template_cache.metrics import (
    CacheMetrics,
    DefaultDatabaseSink,
    RecordCallback,
    WallClock,
    as_sink,
)
from agents.lib._threads import run_on_own_thread
from agents.lib.db import sink as _sink
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.structured_logger import get_logger

__all__ = [
    "CacheStats",
    "DetailedCacheStats",
    "Loader",
    "MetricsRecord",
    "MetricsSink",
    "TemplateCache",
    "TemplateInfo",
    "read_utf8",
]

_logger = get_logger(__name__, component="template_cache")

_MIB: Final = 1024 * 1024
_READ_CHUNK: Final = 1 << 20
_RESOLVE_MEMO_LIMIT: Final = 4096
_PLATFORM_PATH: Final = type(Path())
_GC_CLOSE_TIMEOUT_S: Final = 5.0  # how long a collected cache waits for its flush thread and database sink
_HIT_TIMING_MASK: Final = 7  # the fast hit path times one hit in 8: reading the clock is ~1.5% of a hit

Loader: TypeAlias = Callable[[Path], str]
"""A function that turns a template file into its content."""

MetricsSink: TypeAlias = _sink.MetricsSink | RecordCallback
"""What ``metrics_sink=`` takes: a :class:`agents.lib.db.sink.MetricsSink`, or a callable taking lists of
:class:`MetricsRecord` dicts."""


class CacheStats(TypedDict):
    """What :meth:`TemplateCache.get_stats` returns: exactly the user guide's keys."""

    hits: int
    misses: int
    hit_rate: float
    evictions: int
    invalidations: int
    cached_templates: int
    total_size_bytes: int
    total_size_mb: float
    avg_uncached_load_ms: float
    avg_cached_load_ms: float
    time_saved_ms: float
    improvement_percent: float
    capacity_usage_percent: float
    memory_usage_percent: float


class TemplateInfo(TypedDict):
    """One cached template in :meth:`TemplateCache.get_detailed_stats`.

    ``access_count`` counts the ``get`` calls this entry answered (the loading miss and the hits),
    ``hit_count`` only the hits; a template loaded by :meth:`TemplateCache.warmup` starts at 0.
    Times are UTC, derived from the cache's clock.
    """

    name: str
    type: str
    file_path: str
    size_bytes: int
    access_count: int
    hit_count: int
    loaded_at: datetime
    last_accessed_at: datetime
    content_hash: str


class DetailedCacheStats(CacheStats):
    """:class:`CacheStats` plus ``avg_read_ms`` and ``templates`` (sorted by ``access_count``, most first).

    ``avg_read_ms`` is the mean cost of a load without the cache (the loader, or reading and decoding the
    file): what ``time_saved_ms`` and ``improvement_percent`` compare the hits with.
    """

    avg_read_ms: float
    templates: list[TemplateInfo]


class MetricsRecord(TypedDict):
    """One record handed to the metrics sink; the counts and times are deltas since the last batch.

    ``hits_delta`` and ``misses_delta`` count ``get`` calls; ``loads_delta`` counts loader calls (warmup
    included) and ``load_ms_delta`` is their total time. ``content_hash`` (SHA-256 hex of the file) and
    ``size_bytes`` describe the latest version seen, ``last_accessed_at`` is UTC.
    """

    template_name: str
    template_type: str
    file_path: str
    content_hash: str
    size_bytes: int
    hits_delta: int
    misses_delta: int
    loads_delta: int
    load_ms_delta: float
    last_accessed_at: datetime


def read_utf8(path: Path) -> str:
    """Return the file's bytes decoded as UTF-8, line endings unchanged; the loader used when none is given.

    When ``get`` uses it (no ``loader_func``), the file is read once for both its hash and its content.
    """
    return path.read_bytes().decode("utf-8")


def _perf_seconds() -> float:
    return perf_counter_ns() * 1e-9


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _read_and_hash(path: str, keep: bool) -> tuple[str, bytes | None, int]:
    """Return the SHA-256 hex digest of the file and, if ``keep``, its bytes and the ns it took to read them.

    Without ``keep`` the file is hashed in chunks and the time is 0 (the loader's own read is what is timed).
    """
    start = perf_counter_ns()
    with open(path, "rb") as handle:
        if keep:
            data = handle.read()
            read_ns = perf_counter_ns() - start
            return hashlib.sha256(data).hexdigest(), data, read_ns
        digest = hashlib.sha256()
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
        return digest.hexdigest(), None, 0


class TemplateCache:
    """A thread-safe cache of template files; the exact rules are in docs/template_cache.md.

    ``max_templates`` and ``max_size_mb`` (MiB) bound the cache, ``ttl_seconds`` (``None``: no TTL) expires
    entries not accessed for that long, ``enable_persistence`` reports per-template metrics in batches (to
    ``metrics_sink``, by default the configured database), and ``clock`` (seconds, monotonic) is what TTL
    and reported times use.
    """

    def __init__(
        self,
        max_templates: int = 100,
        max_size_mb: float = 50,
        ttl_seconds: float | None = 3600,
        enable_persistence: bool = True,
        *,
        metrics_sink: MetricsSink | None = None,
        clock: Callable[[], float] = time.monotonic,
        metrics_flush_interval_seconds: float | None = 5.0,
        metrics_batch_size: int = 500,
        racy_window_seconds: float = 2.0,
    ) -> None:
        if isinstance(max_templates, bool) or not isinstance(max_templates, int) or max_templates < 1:
            raise OnexError(
                "max_templates must be an integer of at least 1",
                ErrorCode.VALIDATION_ERROR,
                {"max_templates": max_templates},
            )
        if not max_size_mb > 0:
            raise OnexError(
                "max_size_mb must be greater than 0",
                ErrorCode.VALIDATION_ERROR,
                {"max_size_mb": max_size_mb},
            )
        if ttl_seconds is not None and not ttl_seconds > 0:
            raise OnexError(
                "ttl_seconds must be greater than 0, or None for no TTL",
                ErrorCode.VALIDATION_ERROR,
                {"ttl_seconds": ttl_seconds},
            )
        if metrics_flush_interval_seconds is not None and not metrics_flush_interval_seconds > 0:
            raise OnexError(
                "metrics_flush_interval_seconds must be greater than 0, or None for no thread",
                ErrorCode.VALIDATION_ERROR,
                {"metrics_flush_interval_seconds": metrics_flush_interval_seconds},
            )
        if metrics_batch_size < 1:
            raise OnexError(
                "metrics_batch_size must be at least 1",
                ErrorCode.VALIDATION_ERROR,
                {"metrics_batch_size": metrics_batch_size},
            )
        if racy_window_seconds < 0:
            raise OnexError(
                "racy_window_seconds must not be negative",
                ErrorCode.VALIDATION_ERROR,
                {"racy_window_seconds": racy_window_seconds},
            )
        self.max_templates: Final = max_templates
        self.max_size_bytes: Final = int(max_size_mb * _MIB)
        self.ttl_seconds: Final = ttl_seconds
        self.enable_persistence: Final = enable_persistence
        self._ttl = ttl_seconds
        self._ttl_or_inf = float("inf") if ttl_seconds is None else float(ttl_seconds)
        self._hits = 0  # every hit (kept outside _Counters: the hit path touches only this)
        # With the default clock, the hit path derives "now" from the perf_counter_ns() reading it takes
        # anyway (also a monotonic clock), so the whole cache uses that clock; saves a call per hit.
        self._now_from_start = clock is time.monotonic
        self._clock: Callable[[], float] = _perf_seconds if self._now_from_start else clock
        self._racy_ns = int(racy_window_seconds * 1_000_000_000)
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._flights: dict[Key, Flight] = {}
        self._resolved: dict[str, str] = {}
        self._total_bytes = 0
        self._c = Counters()
        self._cached_ns = 0
        self._cached_n = 0  # how many hits were timed
        self._uncached_ns = 0
        self._uncached_n = 0
        self._read_ns = 0  # what the loads would have cost without the cache: the loader, or read and decode
        self._read_n = 0
        self._wall = WallClock(self._clock)
        self._closed = False
        self._metrics: CacheMetrics | None = None
        if enable_persistence:
            owned: DefaultDatabaseSink | None = None
            if metrics_sink is None:
                sink: _sink.MetricsSink = (owned := DefaultDatabaseSink())
            else:
                sink = as_sink(metrics_sink)
            metrics = self._metrics = CacheMetrics(
                self._lock,
                self._entries,
                sink,
                batch_size=metrics_batch_size,
                wall=self._wall,
                owned=owned,
            )
            if metrics_flush_interval_seconds is not None:
                metrics.start_thread(metrics_flush_interval_seconds)
            # A cache dropped without close() writes its last metrics and leaves no thread or connection
            # behind; one still alive at interpreter exit is flushed then (CacheMetrics.flush_at_exit).
            weakref.finalize(self, metrics.close, _GC_CLOSE_TIMEOUT_S).atexit = False

    def __repr__(self) -> str:
        """Show the limits and how full the cache is."""
        return (
            f"TemplateCache(cached={len(self._entries)}/{self.max_templates}, "
            f"bytes={self._total_bytes}/{self.max_size_bytes}, ttl_seconds={self.ttl_seconds})"
        )

    # -- keys --------------------------------------------------------------------------------------------

    def _resolve(self, raw: str) -> str:
        resolved = os.path.realpath(raw)
        if os.path.isabs(raw):
            if len(self._resolved) >= _RESOLVE_MEMO_LIMIT:
                self._resolved.clear()
            self._resolved[raw] = resolved
        return resolved

    # -- get ---------------------------------------------------------------------------------------------

    def get(
        self,
        template_name: str,
        template_type: str,
        file_path: Path | str,
        loader_func: Loader | None = None,
    ) -> tuple[str, bool]:
        """Return ``(content, hit)`` for the template file, loading it with ``loader_func`` on a miss.

        ``loader_func`` receives ``file_path`` as a :class:`~pathlib.Path` and returns the content
        (default: :func:`read_utf8`). A file that cannot be stat'ed raises that ``OSError``
        (:class:`FileNotFoundError` for a missing file) and is never a hit; a loader's exception
        propagates to this call and to every call waiting for the same load.
        """
        start = perf_counter_ns()
        if type(file_path) is str:
            raw = file_path
        elif type(file_path) is _PLATFORM_PATH:
            # CPython's pathlib keeps a path's string form in ``_str`` once computed (3.11-3.13); reading it
            # skips the Python-level ``__str__`` (about 2% of a hit). Otherwise, or if that ever changes, str().
            try:
                raw = file_path._str  # type: ignore[attr-defined]
            except AttributeError:
                raw = str(file_path)
        elif isinstance(file_path, PurePath):
            raw = str(file_path)  # what os.fspath returns, one Python call cheaper
        else:
            raw = os.fspath(file_path)
        rpath = self._resolved.get(raw)
        if rpath is None:
            rpath = self._resolve(raw)
        key = (template_type, rpath)
        try:
            st = os.stat(raw)
        except OSError:
            self._stat_failed(key)
            raise
        # The hit path is written out inline (no helper calls, explicit acquire/release): it is the one
        # that must be cheap.
        lock = self._lock
        lock.acquire()
        try:
            now = start * 1e-9 if self._now_from_start else self._clock()
            entry = self._entries.get(key)
            if (
                entry is not None
                and entry.mtime_ns == st.st_mtime_ns
                and entry.st_size == st.st_size
                and entry.ino == st.st_ino
                and entry.ctime_ns == st.st_ctime_ns
                and now - entry.last_access <= self._ttl_or_inf
            ):
                entry.last_access = now
                if entry.label != template_name:
                    self._relabel(entry, template_name)
                entry.hit_count += 1  # reported from here by the next flush (see CacheMetrics.fold_hits)
                self._entries.move_to_end(key)
                hits = self._hits = self._hits + 1
                if hits & _HIT_TIMING_MASK == 1:  # the 1st, 9th, 17th... of these hits is timed (see "Timing")
                    self._cached_ns += perf_counter_ns() - start
                    self._cached_n += 1
                return entry.content, True
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = Flight(template_name)
                leader = True
            else:
                flight.waiters += 1
                leader = False
        finally:
            lock.release()
        if leader:
            path = file_path if isinstance(file_path, Path) else Path(raw)
            return self._lead(key, template_name, path, flight, entry, now, loader_func, start, counted=True)
        return self._follow(key, template_name, flight, start)

    def _stat_failed(self, key: Key) -> None:
        with self._lock:
            self._drop(key)
            self._c.misses += 1
            self._c.failed += 1

    def _relabel(self, entry: Entry, name: str) -> None:
        """Count ``entry``'s hits under ``name`` from now on; the unreported ones stay with the old label."""
        metrics = self._metrics
        if metrics is not None and metrics.collect and entry.hit_count != entry.reported_hits:
            metrics.fold_hits(entry)
        entry.label = name
        entry.names.add(name)

    def _follow(self, key: Key, name: str, flight: Flight, start: int) -> tuple[str, bool]:
        flight.done.wait()
        with self._lock:
            if not flight.ok:
                self._c.misses += 1
                self._c.failed += 1
            else:
                now = self._clock()
                entry = flight.entry
                if entry is not None and self._entries.get(key) is entry:
                    entry.last_access = now
                    if entry.label != name:
                        self._relabel(entry, name)
                    entry.hit_count += 1
                    self._entries.move_to_end(key)
                self._hits += 1
                self._c.coalesced += 1
                self._cached_ns += perf_counter_ns() - start
                self._cached_n += 1
                return flight.content, True
        assert flight.error is not None
        raise flight.error

    def _lead(
        self,
        key: Key,
        name: str,
        path: Path,
        flight: Flight,
        snapshot: Entry | None,
        started_at: float,
        loader_func: Loader | None,
        start: int,
        *,
        counted: bool,
    ) -> tuple[str, bool]:
        """Revalidate or load ``key`` outside the lock, then publish the outcome to the flight's waiters."""
        io_path = os.fspath(path)
        ttl = self._ttl
        expired = snapshot is not None and ttl is not None and started_at - snapshot.last_access > ttl
        content = ""
        digest = ""
        size = 0
        try:
            st = os.stat(io_path)
            # The hash is taken before the loader reads the file, so the content is never older than the
            # hash: a change racing with the load costs at worst one extra load, never stale content.
            # The default loader shares this one read.
            digest, data, read_ns = _read_and_hash(io_path, keep=loader_func is None)
            revalidated = snapshot is not None and not expired and digest == snapshot.content_hash
            if revalidated:
                assert snapshot is not None
                content = snapshot.content
            else:
                # What a caller without the cache would do, timed: the loader, or reading and decoding.
                read_start = perf_counter_ns()
                if data is not None:
                    content = data.decode("utf-8")
                else:
                    assert loader_func is not None
                    content = loader_func(path)
                read_ns += perf_counter_ns() - read_start
                if not isinstance(content, str):
                    raise OnexError(
                        "template loader must return str",
                        ErrorCode.VALIDATION_ERROR,
                        {"file_path": str(path), "returned": type(content).__name__},
                    )
                size = _utf8_len(content)
            trusted = max(st.st_mtime_ns, st.st_ctime_ns) < time.time_ns() - self._racy_ns
        except BaseException as exc:
            with self._lock:
                self._drop(key)
                if counted:
                    self._c.misses += 1
                    self._c.failed += 1
                flight.error = exc
                self._land(key, flight)
            raise

        with self._lock:
            now = self._clock()
            current = self._entries.get(key)
            if revalidated:
                assert snapshot is not None
                entry: Entry | None = snapshot
                if current is snapshot:
                    snapshot.set_signature(st, trusted)
                    snapshot.last_access = now
                    self._entries.move_to_end(key)
                    if counted:
                        if snapshot.label != name:
                            self._relabel(snapshot, name)
                        snapshot.hit_count += 1
                else:
                    entry = None  # invalidated or evicted meanwhile: the content is still right
                    metrics = self._metrics
                    if counted and metrics is not None and metrics.collect:
                        metrics.note_hit((key[0], name, key[1]), snapshot, now)
                if counted:
                    self._hits += 1
                    self._c.revalidated += 1
                    self._cached_ns += perf_counter_ns() - start
                    self._cached_n += 1
            else:
                entry = Entry(key, name, str(path), content, digest, size, now)
                entry.set_signature(st, trusted)
                if snapshot is not None:
                    entry.names |= snapshot.names
                if counted:
                    entry.from_get = 1
                    self._c.misses += 1
                    if snapshot is None:
                        self._c.cold += 1
                    elif expired:
                        self._c.expired += 1
                    else:
                        self._c.changed += 1
                else:
                    self._c.warmup_loads += 1
                self._c.loads += 1
                if size > self.max_size_bytes:
                    self._c.oversize += 1
                    self._drop(key)
                    entry = None
                elif flight.no_store:
                    entry = None
                else:
                    self._insert(entry)
                elapsed = perf_counter_ns() - start
                self._uncached_ns += elapsed
                self._uncached_n += 1
                self._read_ns += read_ns
                self._read_n += 1
                metrics = self._metrics
                if metrics is not None and metrics.collect:
                    metrics.note_load(
                        (key[0], name, key[1]), str(path), digest, size, now, elapsed, counted=counted
                    )
            flight.ok = True
            flight.content = content
            flight.entry = entry
            self._land(key, flight)
        return content, revalidated

    def _land(self, key: Key, flight: Flight) -> None:
        """Finish ``flight`` (lock held): forget it and wake its waiters."""
        if self._flights.get(key) is flight:
            del self._flights[key]
        flight.done.set()

    # -- bookkeeping (lock held) -------------------------------------------------------------------------

    def _drop(self, key: Key) -> Entry | None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._total_bytes -= entry.size_bytes
            metrics = self._metrics
            if metrics is not None and metrics.collect and entry.hit_count != entry.reported_hits:
                metrics.fold_hits(entry)  # the hit path only counts entry.hit_count; the deltas come from it
        return entry

    def _insert(self, entry: Entry) -> None:
        self._drop(entry.key)
        self._entries[entry.key] = entry
        self._total_bytes += entry.size_bytes
        if len(self._entries) > self.max_templates or self._total_bytes > self.max_size_bytes:
            self._purge_expired(entry.last_access)
        while len(self._entries) > self.max_templates:
            self._drop(next(iter(self._entries)))
            self._c.evictions_by_count += 1
        while self._total_bytes > self.max_size_bytes:
            self._drop(next(iter(self._entries)))
            self._c.evictions_by_size += 1

    def _purge_expired(self, now: float) -> None:
        """Drop entries whose TTL ran out; they sit at the LRU end, as TTL counts from the last access."""
        ttl = self._ttl
        if ttl is None:
            return
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if now - oldest.last_access <= ttl:
                return
            self._drop(oldest.key)
            self._c.expirations += 1

    # -- warmup ------------------------------------------------------------------------------------------

    def warmup(
        self,
        templates_dir: Path | str,
        template_types: Sequence[str],
        *,
        files: Iterable[tuple[str, str, Path | str]] = (),
        loader_func: Loader | None = None,
    ) -> int:
        """Preload the templates of ``template_types`` found in ``templates_dir``; return how many were loaded.

        Which files belong to a type is described in docs/template_cache.md ("warmup");
        ``files`` adds ``(template_name, template_type, path)`` triples. Templates already cached and
        unchanged are not reloaded and not counted; a file that fails to load is logged and skipped. Warmup
        loads count as neither hits nor misses. A missing ``templates_dir`` raises :class:`OnexError`
        with code ``NOT_FOUND``.
        """
        root = Path(templates_dir)
        if not root.is_dir():
            raise OnexError(
                "templates directory not found",
                ErrorCode.NOT_FOUND,
                {"templates_dir": str(root)},
            )
        wanted: list[tuple[str, str, Path]] = []
        for template_type in template_types:
            wanted.extend((p.stem, template_type, p) for p in files_for_type(root, template_type))
        wanted.extend((name, ttype, Path(path)) for name, ttype, path in files)
        loaded = 0
        seen: set[tuple[str, str, str]] = set()
        for name, template_type, path in wanted:
            marker = (template_type, name, os.path.realpath(path))
            if marker in seen:
                continue
            seen.add(marker)
            try:
                if self._warm_one(name, template_type, path, loader_func):
                    loaded += 1
            except Exception as exc:
                _logger.warning(
                    "template warmup skipped a file",
                    metadata={
                        "template_name": name,
                        "template_type": template_type,
                        "file_path": str(path),
                        "error": f"{type(exc).__name__}: {exc}",
                    },
                )
        return loaded

    def _warm_one(self, name: str, template_type: str, path: Path, loader: Loader | None) -> bool:
        """Load one template unless it is cached and valid; return whether it is now newly cached."""
        start = perf_counter_ns()
        raw = os.fspath(path)
        key = (template_type, self._resolved.get(raw) or self._resolve(raw))  # remembered for later hits
        st = os.stat(raw)
        with self._lock:
            now = self._clock()
            entry = self._entries.get(key)
            ttl = self._ttl
            if entry is not None and entry.matches(st) and (ttl is None or now - entry.last_access <= ttl):
                entry.names.add(name)  # the same file of the same type: the same template, one more name
                return False
            flight = self._flights.get(key)
            if flight is not None:
                return False  # someone is loading it right now
            flight = self._flights[key] = Flight(name)
        self._lead(key, name, path, flight, entry, now, loader, start, counted=False)
        return flight.entry is not None and flight.entry is not entry

    # -- invalidation ------------------------------------------------------------------------------------

    def invalidate(self, name: str) -> int:
        """Remove every entry asked or warmed up under the name ``name`` (any type, any path); return how many."""
        with self._lock:
            keys = [key for key, entry in self._entries.items() if name in entry.names]
            for key in keys:
                self._drop(key)
            for key, flight in self._flights.items():
                if flight.name == name or key in keys:
                    flight.no_store = True
            self._c.invalidations += len(keys)
            return len(keys)

    def invalidate_all(self) -> int:
        """Remove every entry; return how many there were."""
        with self._lock:
            count = len(self._entries)
            for key in list(self._entries):
                self._drop(key)  # drop() reports the entry's last hits
            for flight in self._flights.values():
                flight.no_store = True
            self._c.invalidations += count
            return count

    # -- statistics --------------------------------------------------------------------------------------

    def get_stats(self) -> CacheStats:
        """Return the user guide's statistics (how they are measured: docs/template_cache.md, "Statistics")."""
        with self._lock:
            return self._stats_locked()

    def _stats_locked(self) -> CacheStats:
        self._purge_expired(self._clock())
        c = self._c
        hits = self._hits
        total = hits + c.misses
        avg_uncached = self._uncached_ns / self._uncached_n / 1e6 if self._uncached_n else 0.0
        avg_cached = self._cached_ns / self._cached_n / 1e6 if self._cached_n else 0.0
        avg_read = self._avg_read_ms()
        both = self._read_n > 0 and self._cached_n > 0
        saved = hits * (avg_read - avg_cached) if both else 0.0
        improvement = (avg_read - avg_cached) / avg_read * 100 if both and avg_read > 0 else 0.0
        return {
            "hits": hits,
            "misses": c.misses,
            "hit_rate": hits / total if total else 0.0,
            "evictions": c.evictions_by_count + c.evictions_by_size,
            "invalidations": c.invalidations,
            "cached_templates": len(self._entries),
            "total_size_bytes": self._total_bytes,
            "total_size_mb": self._total_bytes / _MIB,
            "avg_uncached_load_ms": avg_uncached,
            "avg_cached_load_ms": avg_cached,
            "time_saved_ms": Milliseconds(saved),
            "improvement_percent": improvement,
            "capacity_usage_percent": len(self._entries) / self.max_templates * 100,
            "memory_usage_percent": self._total_bytes / self.max_size_bytes * 100,
        }

    def _avg_read_ms(self) -> float:
        return self._read_ns / self._read_n / 1e6 if self._read_n else 0.0

    def get_detailed_stats(self) -> DetailedCacheStats:
        """Return :meth:`get_stats` plus ``avg_read_ms`` and ``templates`` (one :class:`TemplateInfo` each)."""
        with self._lock:
            stats = self._stats_locked()
            avg_read = self._avg_read_ms()
            entries = sorted(
                self._entries.values(), key=lambda e: (-(e.hit_count + e.from_get), e.key[0], e.label, e.key[1])
            )
            templates: list[TemplateInfo] = [
                {
                    "name": e.label,
                    "type": e.key[0],
                    "file_path": e.file_path,
                    "size_bytes": e.size_bytes,
                    "access_count": e.hit_count + e.from_get,
                    "hit_count": e.hit_count,
                    "loaded_at": self._wall(e.loaded_at),
                    "last_accessed_at": self._wall(e.last_access),
                    "content_hash": e.content_hash,
                }
                for e in entries
            ]
        return {**stats, "avg_read_ms": avg_read, "templates": templates}

    def get_counters(self) -> dict[str, int]:
        """Return the raw counters behind the statistics, for diagnosis (docs/template_cache.md, "Statistics").

        ``hits`` = ``coalesced`` + ``revalidated`` + plain hits; ``misses`` = ``cold`` + ``changed`` +
        ``expired`` + ``failed``; ``in_flight`` and ``waiting`` are gauges of the moment of the call.
        """
        with self._lock:
            return {
                "hits": self._hits,
                **self._c.as_dict(),
                "sink_failures": 0 if self._metrics is None else self._metrics.sink_failures,
                "in_flight": len(self._flights),
                "waiting": sum(flight.waiters for flight in self._flights.values()),
            }

    # -- metrics seam ------------------------------------------------------------------------------------

    def flush_metrics(self) -> int:
        """Hand the pending metric deltas to the sink now; return how many records it accepted.

        Does nothing (returns 0) without persistence or when nothing is pending. A sink that raises keeps its
        batch pending for the next flush; the failure is logged, never raised.
        """
        return 0 if self._metrics is None else self._metrics.flush()

    # -- lifecycle ---------------------------------------------------------------------------------------

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop the background flush thread (waiting up to ``timeout`` seconds) and flush pending metrics.

        The cache keeps serving ``get`` afterwards, but collects no more metrics. Calling it again is a no-op.
        """
        if self._closed:
            return
        self._closed = True
        if self._metrics is not None:
            self._metrics.close(timeout)

    async def cleanup_async(self) -> None:
        """Do :meth:`close` without blocking the event loop.

        It runs on a thread of its own that ends with it (``asyncio.to_thread`` would leave the loop's default
        executor thread behind).
        """
        if not self._closed:
            await run_on_own_thread(self.close, "template-cache-close")

    async def __aenter__(self) -> TemplateCache:
        """Return the cache; leaving the block awaits :meth:`cleanup_async`."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Clean up on leaving an ``async with`` block."""
        await self.cleanup_async()

    def __enter__(self) -> TemplateCache:
        """Return the cache; leaving the block calls :meth:`close`."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close on leaving a ``with`` block."""
        self.close()
