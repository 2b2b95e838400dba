"""Rotating JSON log files, compressed and pruned off the logging thread.

:class:`RotatingJsonFileHandler` writes and rotates one file; :func:`configure_global_rotation` (every logger, to
``<log_dir>/workflow.log``) and :func:`configure_file_rotation` (one logger name) install one. With ``LOG_DIR``
set, loggers write to ``<LOG_DIR>/workflow.log`` without any call. docs/logging.md has the details.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import re
import shutil
import stat
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal

from agents.lib.config import ConfigError, get_settings
from agents.lib.structured_logger import (
    JsonFormatter,
    add_sink,
    configure_logging,
    remove_sink,
)

__all__ = [
    "LogRotationConfig",
    "RotatingJsonFileHandler",
    "cleanup_old_logs",
    "configure_file_rotation",
    "configure_global_rotation",
    "get_log_stats",
    "remove_rotation",
]

RotationType = Literal["size", "time"]
When = Literal["S", "M", "H", "D", "midnight"]
_WHEN_SECONDS = {"S": 1, "M": 60, "H": 3600, "D": 86400}
_MB = 1024 * 1024
_STAMP = re.compile(r"\.\d{8}T\d{6}\.\d{6}Z(?:-\d+)?(?:\.gz)?$")


def _default_log_dir() -> Path:
    try:
        settings = get_settings()
    except ConfigError:
        return Path("logs")
    return settings.log_dir if settings.log_dir is not None else settings.data_dir / "logs"


@dataclass(frozen=True, slots=True)
class LogRotationConfig:
    """How log files are named, rotated, compressed and kept.

    ``log_dir`` defaults to ``LOG_DIR``, else ``<data dir>/logs``. ``rotation_type="size"`` rotates when a file
    would exceed ``max_bytes``; ``"time"`` rotates every ``interval`` ``when`` units (``"S"``, ``"M"``, ``"H"``,
    ``"D"``) or at midnight (``when="midnight"``, UTC unless ``utc=False``). ``backup_count`` rotated files are
    kept per log file (0 keeps none); ``compression`` gzips them in the background at
    ``compression_level``. ``filename`` is the file :func:`configure_global_rotation` writes (the user guide's
    ``workflow.log``).
    """

    log_dir: str | os.PathLike[str] | None = None
    rotation_type: RotationType = "size"
    max_bytes: int = 10 * _MB
    backup_count: int = 5
    compression: bool = False
    compression_level: int = 6
    when: When = "midnight"
    interval: int = 1
    utc: bool = True
    filename: str = "workflow.log"
    max_age_days: int | None = None
    _resolved_dir: Path = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Validate the values and resolve ``log_dir``."""
        if self.rotation_type not in ("size", "time"):
            raise ValueError(f"rotation_type must be 'size' or 'time', not {self.rotation_type!r}")
        if self.rotation_type == "size" and self.max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, not {self.max_bytes}")
        if self.backup_count < 0:
            raise ValueError(f"backup_count must be 0 or more, not {self.backup_count}")
        if not 0 <= self.compression_level <= 9:
            raise ValueError(f"compression_level must be 0-9, not {self.compression_level}")
        if self.when not in (*_WHEN_SECONDS, "midnight"):
            raise ValueError(f"when must be one of S, M, H, D, midnight, not {self.when!r}")
        if self.interval < 1:
            raise ValueError(f"interval must be at least 1, not {self.interval}")
        if not self.filename or Path(self.filename).name != self.filename:
            raise ValueError(f"filename must be a plain file name, not {self.filename!r}")
        if self.max_age_days is not None and self.max_age_days < 0:
            raise ValueError(f"max_age_days must be 0 or more, not {self.max_age_days}")
        resolved = Path(self.log_dir) if self.log_dir is not None else _default_log_dir()
        object.__setattr__(self, "_resolved_dir", resolved)

    @property
    def directory(self) -> Path:
        """The directory log files are written to."""
        return self._resolved_dir

    @classmethod
    def development(cls, log_dir: str | os.PathLike[str] | None = None) -> LogRotationConfig:
        """Small files, few backups, no compression: 10 MB x 3, uncompressed."""
        return cls(log_dir=log_dir, max_bytes=10 * _MB, backup_count=3, compression=False)

    @classmethod
    def production(cls, log_dir: str | os.PathLike[str] | None = None) -> LogRotationConfig:
        """100 MB files, 30 gzip-compressed backups, backups older than 30 days cleaned up."""
        return cls(log_dir=log_dir, max_bytes=100 * _MB, backup_count=30, compression=True, max_age_days=30)

    @classmethod
    def daily_rotation(cls, log_dir: str | os.PathLike[str] | None = None) -> LogRotationConfig:
        """One file per UTC day, 30 gzip-compressed backups."""
        return cls(
            log_dir=log_dir,
            rotation_type="time",
            when="midnight",
            backup_count=30,
            compression=True,
        )


def _stamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _report(message: str) -> None:
    """Tell standard error about a background failure (never through a logger: that could recurse)."""
    stream = sys.stderr
    if stream is not None:
        with contextlib.suppress(Exception):  # nowhere left to report to
            stream.write(f"agents.log_rotation: {message}\n")


class RotatingJsonFileHandler(logging.Handler):
    """Writes JSON lines to ``path`` and rotates it as ``config`` says.

    It is a sink for :class:`~agents.lib.structured_logger.StructuredLogger` (``write_line``) and a stdlib
    :class:`logging.Handler` (``emit`` formats with :class:`~agents.lib.structured_logger.JsonFormatter`).
    ``clock`` supplies the time used for time-based rotation and backup names (a test can pass a fake one).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        config: LogRotationConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.config = config if config is not None else LogRotationConfig()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.setFormatter(JsonFormatter())
        self._clock = clock
        self._write_lock = threading.Lock()
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        # A device or a pipe (/dev/null, /dev/stdout, a FIFO) is written to but never rotated: renaming it
        # would replace the device node with a regular file (as CPython's handlers learned, bpo-45401).
        self._rotates = stat.S_ISREG(os.fstat(self._file.fileno()).st_mode)
        self._size = self._file.seek(0, os.SEEK_END) if self._rotates else 0
        self._by_size = self.config.rotation_type == "size"
        self._max_bytes = self.config.max_bytes
        self._next_rollover = self._compute_rollover(self._opened_at())
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self._closed = False
        self.rotations = 0

    def __repr__(self) -> str:
        """Name the file and the rotation."""
        return f"RotatingJsonFileHandler({str(self.path)!r}, {self.config.rotation_type})"

    # -- writing --
    def write_line(self, line: bytes) -> None:
        """Append one line, rotating first if it is due."""
        size = len(line)
        with self._write_lock:
            if self._closed:
                return
            if self._size and self._rotates:
                if self._by_size:
                    due = self._size + size > self._max_bytes
                else:
                    due = self._clock() >= self._next_rollover
                if due:
                    self._rotate()
            written = self._file.write(line)
            if written != size:  # a short write (rare): finish it
                view = memoryview(line)[written or 0 :]
                while view:
                    more = self._file.write(view)
                    view = view[more or 0 :]
            self._size += size

    def emit(self, record: logging.LogRecord) -> None:
        """Format a stdlib record as a JSON line and write it."""
        try:
            formatter = self.formatter
            if isinstance(formatter, JsonFormatter):
                line = formatter.format_bytes(record)
            else:
                line = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            self.write_line(line)
        except Exception:
            self.handleError(record)

    # -- rotation --
    def _opened_at(self) -> float:
        if self._size and self._rotates:
            return self.path.stat().st_mtime
        return self._clock()

    def _compute_rollover(self, start: float) -> float:
        cfg = self.config
        if cfg.rotation_type != "time":
            return float("inf")
        if cfg.when == "midnight":
            moment = datetime.fromtimestamp(start, UTC) if cfg.utc else datetime.fromtimestamp(start)
            midnight = datetime.combine(moment.date(), datetime.min.time(), moment.tzinfo)
            return (midnight + timedelta(days=cfg.interval)).timestamp()
        return start + _WHEN_SECONDS[cfg.when] * cfg.interval

    def _backup_name(self, now: float) -> Path:
        base = f"{self.path.name}.{_stamp(now)}"
        candidate = self.path.with_name(base)
        counter = 0
        while candidate.exists() or candidate.with_name(candidate.name + ".gz").exists():
            counter += 1
            candidate = self.path.with_name(f"{base}-{counter}")
        return candidate

    def _rotate(self) -> None:
        now = self._clock()
        self._file.close()
        backup = self._backup_name(now)
        os.replace(self.path, backup)
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        self._size = 0
        self._next_rollover = self._compute_rollover(now)
        self.rotations += 1
        self._submit(backup)

    def do_rollover(self) -> None:
        """Rotate now, whatever the size or time."""
        with self._write_lock:
            if not self._closed and self._size > 0 and self._rotates:
                self._rotate()

    def _submit(self, backup: Path) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"log-rotation-{self.path.name}")
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._executor.submit(self._after_rotation, backup))

    def _after_rotation(self, backup: Path) -> None:
        if self.config.compression:
            try:
                _gzip_file(backup, self.config.compression_level)
            except OSError as exc:
                _report(f"could not compress {backup}: {exc}")
        try:
            self.prune()
        except OSError as exc:
            _report(f"could not remove old backups of {self.path}: {exc}")

    def backups(self) -> list[Path]:
        """Return this file's rotated backups, oldest first."""
        prefix = self.path.name + "."
        found = [
            entry
            for entry in self.path.parent.iterdir()
            if entry.name.startswith(prefix) and _STAMP.search(entry.name[len(self.path.name) :])
        ]
        return sorted(found, key=lambda p: p.name)

    def prune(self) -> list[Path]:
        """Delete the oldest backups beyond ``backup_count``, and those older than ``max_age_days``.

        Returns what was deleted.
        """
        backups = self.backups()
        excess = max(len(backups) - self.config.backup_count, 0)
        doomed = backups[:excess]
        if self.config.max_age_days is not None:
            cutoff = time.time() - self.config.max_age_days * 86400
            for backup in backups[excess:]:
                try:
                    if backup.stat().st_mtime < cutoff:
                        doomed.append(backup)
                except FileNotFoundError:
                    continue
        removed: list[Path] = []
        for old in doomed:
            try:
                old.unlink()
                removed.append(old)
            except FileNotFoundError:
                continue
        return removed

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (lines written since are dropped)."""
        return self._closed

    def wait_for_background(self, timeout: float | None = None) -> None:
        """Block until the compressions and clean-ups started so far are finished."""
        for future in list(self._pending):
            future.result(timeout=timeout)

    def flush(self) -> None:
        """Nothing is buffered: each line is written when it is logged."""

    def close(self) -> None:
        """Close the file and wait for background compression to finish."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            self._file.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        super().close()


def _gzip_file(source: Path, level: int) -> Path:
    """Compress ``source`` to ``source.gz`` (through a temporary file), then delete ``source``."""
    target = source.with_name(source.name + ".gz")
    partial = source.with_name(source.name + ".gz.partial")
    with open(source, "rb") as raw, gzip.open(partial, "wb", compresslevel=level) as packed:
        shutil.copyfileobj(raw, packed, 1024 * 1024)
    os.replace(partial, target)
    source.unlink()
    return target


# --- configuration helpers --------------------------------------------------------------------------------

_installed_lock = threading.RLock()
_installed: dict[str, RotatingJsonFileHandler] = {}
_GLOBAL = "\0global"


def _writer_of(path: Path, other_than: str) -> str | None:
    """Return the key of an open handler other than ``other_than`` that writes ``path`` (hold the lock)."""
    resolved = path.resolve()
    for key, handler in _installed.items():
        if key != other_than and not handler.closed and handler.path.resolve() == resolved:
            return key
    return None


def _describe_key(key: str) -> str:
    return "the global rotation" if key == _GLOBAL else f"the rotation of {key.removeprefix('logger:')!r}"


def _install(
    key: str,
    prefix: str,
    make: Callable[[], RotatingJsonFileHandler],
    path: Path,
    capture_stdlib: bool,
) -> RotatingJsonFileHandler:
    """Open the handler ``make`` builds and route ``prefix`` to it, replacing the handler installed as ``key``.

    Two handlers of one process never write one file (their rotations would lose lines): ``ValueError``.
    """
    with _installed_lock:
        taken = _writer_of(path, key)
        if taken is not None:
            raise ValueError(f"{path} is already written by {_describe_key(taken)}; choose another filename")
        handler = make()
        old = _installed.pop(key, None)
        if old is not None:
            remove_sink(old)
            old.close()
        _installed[key] = handler
        add_sink(handler, prefix)
    if capture_stdlib:
        configure_logging(capture_stdlib=True)
    return handler


def _install_log_dir_default(log_dir: Path) -> None:
    """Route every logger to ``<log_dir>/workflow.log`` unless a global rotation is installed or has that file.

    Called by :mod:`agents.lib.structured_logger` on the first write when ``LOG_DIR`` is set. Stdlib records
    are not captured (that changes the root logger: :func:`configure_global_rotation` does it when asked).
    """
    config = LogRotationConfig(log_dir=log_dir)
    path = config.directory / config.filename
    with _installed_lock:
        current = _installed.get(_GLOBAL)
        if (current is not None and not current.closed) or _writer_of(path, _GLOBAL) is not None:
            return
        _install(_GLOBAL, "", partial(RotatingJsonFileHandler, path, config), path, capture_stdlib=False)


def configure_global_rotation(
    config: LogRotationConfig | None = None,
    *,
    capture_stdlib: bool = True,
    clock: Callable[[], float] = time.time,
) -> RotatingJsonFileHandler:
    """Write the lines of every logger to ``<log_dir>/<config.filename>`` (``workflow.log``), rotated.

    Calling it again replaces the handler it added before (closing it), and so does it replace the ``LOG_DIR``
    default; handlers added by anything else are left alone. With ``capture_stdlib`` (the default) stdlib
    :mod:`logging` records reach the file too, in the same format. Returns the handler. Raises ``ValueError``
    when a per-logger rotation already writes that file.
    """
    cfg = config if config is not None else LogRotationConfig()
    path = cfg.directory / cfg.filename
    return _install(_GLOBAL, "", partial(RotatingJsonFileHandler, path, cfg, clock=clock), path, capture_stdlib)


def configure_file_rotation(
    logger_name: str,
    config: LogRotationConfig | None = None,
    *,
    filename: str | None = None,
    capture_stdlib: bool = True,
    clock: Callable[[], float] = time.time,
) -> RotatingJsonFileHandler:
    """Write the lines of loggers named ``logger_name`` or ``logger_name.*`` to their own rotated file.

    The file is ``<log_dir>/<filename>``, by default ``<logger_name>.log``. Configuring the same logger name
    again replaces the handler added before. Returns the handler. Raises ``ValueError`` when another rotation
    of this process already writes that file (the global one writes ``workflow.log``).
    """
    if not logger_name:
        raise ValueError("logger_name must not be empty; use configure_global_rotation for every logger")
    cfg = config if config is not None else LogRotationConfig()
    name = filename if filename is not None else f"{logger_name}.log"
    if Path(name).name != name:
        raise ValueError(f"filename must be a plain file name, not {name!r}")
    path = cfg.directory / name
    make = partial(RotatingJsonFileHandler, path, cfg, clock=clock)
    return _install(f"logger:{logger_name}", logger_name, make, path, capture_stdlib)


def remove_rotation(logger_name: str | None = None) -> bool:
    """Remove and close the handler added for ``logger_name`` (``None``: the global one)."""
    key = _GLOBAL if logger_name is None else f"logger:{logger_name}"
    with _installed_lock:
        handler = _installed.pop(key, None)
    if handler is None:
        return False
    remove_sink(handler)
    handler.close()
    return True


def _is_log_file(path: Path) -> bool:
    name = path.name
    return path.is_file() and (name.endswith((".log", ".log.gz")) or ".log." in name)


def _active_paths() -> set[Path]:
    with _installed_lock:
        return {h.path.resolve() for h in _installed.values() if not h.closed}


def cleanup_old_logs(
    log_dir: str | os.PathLike[str] | None = None,
    max_age_days: float = 30,
    *,
    dry_run: bool = False,
    now: float | None = None,
) -> list[Path]:
    """Delete log files (``*.log``, ``*.log.*``) in ``log_dir`` not modified for ``max_age_days``.

    Files that a handler configured here is writing to are never deleted. With ``dry_run`` nothing is
    deleted. Returns the files deleted (or that would be).
    """
    if max_age_days < 0:
        raise ValueError(f"max_age_days must be 0 or more, not {max_age_days}")
    directory = Path(log_dir) if log_dir is not None else _default_log_dir()
    if not directory.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - max_age_days * 86400
    active = _active_paths()
    removed: list[Path] = []
    for entry in sorted(directory.iterdir()):
        if not _is_log_file(entry) or entry.resolve() in active:
            continue
        if entry.stat().st_mtime < cutoff:
            if not dry_run:
                try:
                    entry.unlink()
                except FileNotFoundError:
                    continue
            removed.append(entry)
    return removed


def get_log_stats(log_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Describe the log files in ``log_dir``: counts, sizes, oldest and newest, and one entry per file."""
    directory = Path(log_dir) if log_dir is not None else _default_log_dir()
    files: list[dict[str, Any]] = []
    if directory.is_dir():
        for entry in sorted(directory.iterdir()):
            if not _is_log_file(entry):
                continue
            info = entry.stat()
            files.append(
                {
                    "name": entry.name,
                    "path": str(entry),
                    "size_bytes": info.st_size,
                    "modified": datetime.fromtimestamp(info.st_mtime, UTC).isoformat(),
                    "compressed": entry.name.endswith(".gz"),
                    "rotated": bool(_STAMP.search(entry.name)),
                }
            )
    total = sum(f["size_bytes"] for f in files)
    by_age = sorted(files, key=lambda f: str(f["modified"]))
    return {
        "log_dir": str(directory),
        "total_files": len(files),
        "active_files": sum(1 for f in files if not f["rotated"]),
        "rotated_files": sum(1 for f in files if f["rotated"]),
        "compressed_files": sum(1 for f in files if f["compressed"]),
        "total_size_bytes": total,
        "total_size_mb": round(total / _MB, 3),
        "oldest_file": by_age[0]["name"] if by_age else None,
        "newest_file": by_age[-1]["name"] if by_age else None,
        "files": files,
    }
