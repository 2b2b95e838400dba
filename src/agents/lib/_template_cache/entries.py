"""The template cache's bookkeeping types: cached entries, in-progress loads (flights), counters, warmup files."""

from __future__ import annotations

import math
import os
import re
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TypeAlias

_FIXED_POINT = re.compile(r"(?P<head>.*)\.(?P<precision>\d+)(?P<type>[fF])")


class Milliseconds(float):
    """A duration in ms whose fixed-point formatting never hides a non-zero value.

    ``f"{value:.0f}ms"`` of 0.0123 gives ``0.012ms`` (two significant digits) instead of ``0ms``; values the
    requested precision shows, and every other format, are formatted as a float is.
    """

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        match = _FIXED_POINT.fullmatch(spec)
        value = float(self)
        if match is None or value == 0 or not math.isfinite(value):
            return format(value, spec)
        precision = int(match["precision"])
        if abs(value) >= 0.5 * 10.0**-precision:
            return format(value, spec)
        needed = 1 - math.floor(math.log10(abs(value)))  # two significant digits
        return format(value, f"{match['head']}.{needed}{match['type']}")


Key: TypeAlias = tuple[str, str]
"""An entry's key: ``(template_type, resolved path)``. The template name is a label, not part of the key."""

MetricKey: TypeAlias = tuple[str, str, str]
"""What metrics are counted under: ``(template_type, template_name, resolved path)``."""


class Entry:
    """A cached template and the stat signature of the file it was validated against.

    ``label`` is the name it was last asked for (its hits since the last report count under it), ``names``
    every name it was asked or warmed up for. ``mtime_ns`` is ``None`` while the file is "racily clean" (too
    recently changed for its signature to be trusted): then no signature matches, and every access re-hashes.
    """

    __slots__ = (
        "content",
        "content_hash",
        "ctime_ns",
        "file_path",
        "from_get",
        "hit_count",
        "ino",
        "key",
        "label",
        "last_access",
        "loaded_at",
        "mtime_ns",
        "names",
        "reported_hits",
        "size_bytes",
        "st_size",
    )

    def __init__(
        self,
        key: Key,
        name: str,
        file_path: str,
        content: str,
        content_hash: str,
        size_bytes: int,
        now: float,
    ) -> None:
        self.key = key
        self.label = name
        self.names = {name}
        self.file_path = file_path
        self.content = content
        self.content_hash = content_hash
        self.size_bytes = size_bytes
        self.mtime_ns: int | None = None
        self.ctime_ns = 0
        self.st_size = 0
        self.ino = 0
        self.loaded_at = now
        self.last_access = now
        self.from_get = 0  # 1 when a get() call loaded it (that call counts as an access)
        self.hit_count = 0
        self.reported_hits = 0  # how many of hit_count the metrics sink has been given

    @property
    def metric_key(self) -> MetricKey:
        """Where the hits since the last report are counted: the type, the current label, the path."""
        return (self.key[0], self.label, self.key[1])

    def set_signature(self, st: os.stat_result, trusted: bool) -> None:
        """Remember ``st`` as the signature of the validated content."""
        self.mtime_ns = st.st_mtime_ns if trusted else None
        self.ctime_ns = st.st_ctime_ns
        self.st_size = st.st_size
        self.ino = st.st_ino

    def matches(self, st: os.stat_result) -> bool:
        """Whether ``st`` is the remembered (trusted) signature."""
        return (
            self.mtime_ns == st.st_mtime_ns
            and self.st_size == st.st_size
            and self.ino == st.st_ino
            and self.ctime_ns == st.st_ctime_ns
        )


class Flight:
    """One in-progress (re)validation or load of a key, shared by all callers that need it.

    ``name`` is the template name its leader asked for.
    """

    __slots__ = ("content", "done", "entry", "error", "name", "no_store", "ok", "waiters")

    def __init__(self, name: str) -> None:
        self.name = name
        self.done = threading.Event()
        self.waiters = 0
        self.ok = False
        self.content = ""
        self.entry: Entry | None = None
        self.error: BaseException | None = None
        self.no_store = False


@dataclass(slots=True)
class Counters:
    """Raw event counters; see :meth:`TemplateCache.get_counters`."""

    misses: int = 0
    coalesced: int = 0
    revalidated: int = 0
    cold: int = 0
    changed: int = 0
    expired: int = 0
    failed: int = 0
    oversize: int = 0
    loads: int = 0
    warmup_loads: int = 0
    evictions_by_count: int = 0
    evictions_by_size: int = 0
    expirations: int = 0
    invalidations: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counters by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def files_for_type(root: Path, template_type: str) -> list[Path]:
    """Return the warmup files of one type under ``root``, in a deterministic order."""
    needle = template_type.lower()
    found: list[Path] = []
    for child in sorted(root.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_file() and needle in child.name.lower():
            found.append(child)
        elif child.is_dir() and child.name.lower() == needle:
            for dirpath, dirnames, filenames in os.walk(child):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                found.extend(
                    Path(dirpath, name)
                    for name in sorted(filenames)
                    if not name.startswith(".") and os.path.isfile(os.path.join(dirpath, name))
                )
    return found
