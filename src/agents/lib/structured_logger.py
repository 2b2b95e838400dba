"""Structured JSON logging: one JSON object per line, with correlation id, session id and component.

``get_logger(name, component=None)`` returns a :class:`StructuredLogger`. A line goes to every sink registered for
its logger name with :func:`add_sink` (with ``LOG_DIR`` set, a rotated ``<LOG_DIR>/workflow.log`` is one), else
to standard error. docs/logging.md describes the line, routing, levels and stdlib integration.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from types import TracebackType
from typing import IO, Any, Final, Protocol, TypeAlias, runtime_checkable
from uuid import UUID

import orjson

from agents.lib.config import LOG_LEVELS, ConfigError, get_settings
from agents.lib.log_context import (
    _component,
    _correlation_id,
    _session_id,
    get_correlation_id,
    get_session_id,
    resolve,
    set_global_correlation_id,
    set_global_session_id,
)

__all__ = [
    "JsonFormatter",
    "LineSink",
    "MemorySink",
    "StreamSink",
    "StructuredHandler",
    "StructuredLogger",
    "add_sink",
    "configure_logging",
    "encode_record",
    "get_correlation_id",
    "get_log_level",
    "get_logger",
    "get_session_id",
    "remove_sink",
    "reset_logging",
    "set_global_correlation_id",
    "set_global_session_id",
]

ExcInfo: TypeAlias = (
    BaseException
    | bool
    | tuple[type[BaseException], BaseException, TracebackType | None]
    | tuple[None, None, None]
    | None
)

DEBUG: Final = logging.DEBUG
INFO: Final = logging.INFO
WARNING: Final = logging.WARNING
ERROR: Final = logging.ERROR
CRITICAL: Final = logging.CRITICAL
_NAME_TO_LEVEL: Final = {name: getattr(logging, name) for name in LOG_LEVELS}


def _level_number(level: int | str) -> int:
    if isinstance(level, int):
        return level
    try:
        return int(_NAME_TO_LEVEL[level.strip().upper()])
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LOG_LEVELS)}") from None


@runtime_checkable
class LineSink(Protocol):
    r"""Where encoded lines go: ``write_line`` receives one JSON object ending in ``\n``."""

    def write_line(self, line: bytes) -> None:
        """Write one complete line; must be safe to call from several threads."""


class StreamSink:
    """Writes lines to a text or binary stream; ``None`` means whatever ``sys.stderr`` is at write time."""

    def __init__(self, stream: IO[str] | IO[bytes] | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        """Name the stream."""
        return f"StreamSink({'sys.stderr' if self._stream is None else self._stream!r})"

    def write_line(self, line: bytes) -> None:
        """Write ``line`` and flush the stream."""
        stream: Any = sys.stderr if self._stream is None else self._stream
        if stream is None:  # pythonw, or stderr closed at interpreter exit
            return
        with self._lock:
            try:
                stream.write(line)
            except TypeError:
                stream.write(line.decode("utf-8"))
            stream.flush()


class MemorySink:
    """Keeps every line in memory: for tests that check what was logged (``add_sink(MemorySink())``)."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        """Say how many lines it holds."""
        return f"MemorySink({len(self.raw)} lines)"

    def write_line(self, line: bytes) -> None:
        """Keep ``line``."""
        with self._lock:
            self.raw.append(line)

    @property
    def records(self) -> list[dict[str, Any]]:
        """The lines kept so far, decoded."""
        with self._lock:
            raw = list(self.raw)
        return [orjson.loads(line) for line in raw]

    @property
    def messages(self) -> list[str]:
        """The ``message`` of each line kept so far."""
        return [r["message"] for r in self.records]

    def clear(self) -> None:
        """Forget the lines kept so far."""
        with self._lock:
            self.raw.clear()


# --- encoding ---------------------------------------------------------------------------------------------

_DUMPS = orjson.dumps
_OPTIONS: Final = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
_MAX_DEPTH: Final = 32


def _safe_repr(obj: object) -> str:
    try:
        return repr(obj)
    except Exception as exc:  # a broken __repr__ must not lose the line
        return f"<{type(obj).__qualname__} object (repr failed: {type(exc).__name__})>"


def _default(obj: Any) -> Any:
    """Convert what orjson cannot encode natively."""
    if isinstance(obj, PurePath | Decimal):
        return str(obj)
    if isinstance(obj, set | frozenset):
        try:
            return sorted(obj)
        except TypeError:
            return list(obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        return bytes(obj).decode("utf-8", "backslashreplace")
    if isinstance(obj, timedelta):
        return obj.total_seconds()
    if isinstance(obj, float):  # a float subclass (orjson encodes only exact floats), e.g. time_saved_ms
        return float(obj)
    if isinstance(obj, BaseException):
        return f"{type(obj).__name__}: {obj}"
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump) and not isinstance(obj, type):
        try:
            return model_dump(mode="json")
        except Exception:  # noqa: S110 - fall through to repr
            pass
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, tuple | list):
        return list(obj)
    return _safe_repr(obj)


def _sanitize(obj: Any, depth: int = 0, seen: frozenset[int] = frozenset()) -> Any:
    """Turn ``obj`` into plain JSON types; slow, used only after orjson refused a record."""
    if obj is None or isinstance(obj, bool | float):
        return obj
    if isinstance(obj, int):
        return obj if -(2**63) <= obj < 2**64 else str(obj)
    if isinstance(obj, str):
        return obj.encode("utf-8", "backslashreplace").decode("utf-8")
    if depth >= _MAX_DEPTH or id(obj) in seen:
        return _safe_repr(obj)[:200]
    inner = seen | {id(obj)}
    if isinstance(obj, Mapping):
        return {_sanitize_key(k): _sanitize(v, depth + 1, inner) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_sanitize(v, depth + 1, inner) for v in obj]
    if isinstance(obj, datetime | date | dtime):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return _sanitize(obj.value, depth + 1, inner)
    if isinstance(obj, UUID):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _sanitize(getattr(obj, f.name), depth + 1, inner) for f in dataclasses.fields(obj)}
    converted = _default(obj)
    if converted is obj or isinstance(converted, str):
        return _sanitize(converted, depth + 1, inner) if converted is not obj else _safe_repr(obj)
    return _sanitize(converted, depth + 1, inner)


def _sanitize_key(key: object) -> str:
    return _sanitize(key) if isinstance(key, str) else _safe_repr(key) if not isinstance(key, int) else str(key)


def encode_record(record: dict[str, Any]) -> bytes:
    r"""Encode one record as a JSON line (ending in ``\n``); never raises because of its content."""
    try:
        return _DUMPS(record, default=_default, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        pass
    try:
        return _DUMPS(_sanitize(record), option=_OPTIONS)
    except (
        TypeError,
        orjson.JSONEncodeError,
    ) as exc:  # pragma: no cover - _sanitize yields plain types
        fallback = {key: _safe_repr(value) for key, value in record.items()}
        fallback["encoding_error"] = str(exc)
        return _DUMPS(fallback, option=_OPTIONS)


_ts_cache: tuple[int, str] = (-1, "")


def _timestamp(now: float) -> str:
    """Format ``now`` (seconds since the epoch) as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    global _ts_cache
    second = int(now)
    micros = round((now - second) * 1_000_000)  # rounds like datetime.fromtimestamp
    if micros >= 1_000_000:
        second += 1
        micros -= 1_000_000
    cached_second, prefix = _ts_cache
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _ts_cache = (second, prefix)
    return f"{prefix}.{micros:06d}Z"


_ts_ns_cache: tuple[int, str] = (-1, "")


def _timestamp_ns(now_ns: int) -> str:
    """Format ``now_ns`` (nanoseconds since the epoch) like :func:`_timestamp`, rounded to the microsecond."""
    global _ts_ns_cache
    second, rest = divmod(now_ns + 500, 1_000_000_000)
    cached_second, prefix = _ts_ns_cache
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
        _ts_ns_cache = (second, prefix)
    return f"{prefix}{rest // 1000:06d}Z"


def _exception_fields(exc_info: ExcInfo) -> dict[str, str] | None:
    if exc_info is None or exc_info is False:
        return None
    if exc_info is True:
        exc = sys.exc_info()[1]
    elif isinstance(exc_info, BaseException):
        exc = exc_info
    else:
        exc = exc_info[1]
    if exc is None:
        return None
    return {
        "type": type(exc).__qualname__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


# --- routing ---------------------------------------------------------------------------------------------


class _Router:
    """Which sinks each logger name writes to, and the default level."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.routes: list[tuple[str, LineSink]] = []
        self.generation = 0
        self.level: int | None = None  # None: read LOG_LEVEL on first use
        self.fallback: LineSink = StreamSink()
        self.loggers: weakref.WeakSet[StructuredLogger] = weakref.WeakSet()
        self.defaults_pending = True  # LOG_DIR's file is installed on the first write, see apply_defaults
        self.defaults_lock = threading.RLock()

    def warn(self, message: str) -> None:
        """Write one WARNING line about the logging set-up itself to standard error."""
        record = {"timestamp": _timestamp(time.time()), "level": "WARNING", "logger_name": __name__}
        self.fallback.write_line(encode_record({**record, "message": message}))

    def apply_defaults(self) -> None:
        """Once (again after :func:`reset_logging`): with ``LOG_DIR`` set, send every line to its rotated file.

        Called on a logger's first write, not at import time, for the reason given in ``default_level``.
        """
        with self.defaults_lock:
            if not self.defaults_pending:
                return
            self.defaults_pending = False
            try:
                log_dir = get_settings().log_dir
            except ConfigError:
                return  # reported by the code that needs the settings
            if log_dir is None:
                return
            from agents.lib.log_rotation import _install_log_dir_default  # it imports this module

            try:
                _install_log_dir_default(log_dir)
            except OSError as exc:
                self.warn(f"LOG_DIR={log_dir}: cannot write log files there ({exc}); logging to standard error")

    def default_level(self) -> int:
        if self.level is None:
            try:
                self.level = _level_number(get_settings().log_level)
            except ConfigError as exc:
                self.level = INFO
                # Only a bad LOG_LEVEL is the logger's business; any other bad setting is reported, once,
                # by the code that needs it (the CLI prints it as its one error line).
                if "LOG_LEVEL" not in exc.details.get("variables", ()):
                    return self.level
                self.warn(f"logging at INFO: {exc.message}")
        return self.level

    def sinks_for(self, name: str) -> tuple[LineSink, ...]:
        matched = tuple(
            sink for prefix, sink in self.routes if not prefix or name == prefix or name.startswith(prefix + ".")
        )
        return matched or (self.fallback,)

    def sinks_with_defaults(self, name: str) -> tuple[LineSink, ...]:
        """:meth:`sinks_for`, after the defaults are applied (never call it holding ``lock``)."""
        if self.defaults_pending:
            self.apply_defaults()
        with self.lock:
            return self.sinks_for(name)

    def changed(self) -> None:
        self.generation += 1


_router = _Router()


def add_sink(sink: LineSink, logger_prefix: str = "") -> None:
    """Send the lines of loggers named ``logger_prefix`` (or below it) to ``sink``; ``""`` means all."""
    if not isinstance(sink, LineSink):
        raise TypeError(f"{sink!r} has no write_line(bytes) method")
    with _router.lock:
        _router.routes.append((logger_prefix, sink))
        _router.changed()


def remove_sink(sink: LineSink) -> bool:
    """Stop sending lines to ``sink``; return whether it was registered. The sink is not closed."""
    with _router.lock:
        before = len(_router.routes)
        _router.routes = [(p, s) for p, s in _router.routes if s is not sink]
        _router.changed()
        return len(_router.routes) != before


def get_log_level() -> int:
    """Return the default level (a :mod:`logging` level number) of loggers without their own level."""
    return _router.default_level()


_UNSET: Any = object()
_stderr_route: list[LineSink] = []


def configure_logging(
    level: int | str | None = None,
    *,
    stream: IO[str] | IO[bytes] | None = _UNSET,
    capture_stdlib: bool | None = None,
) -> None:
    """Configure the default level, an always-on stream, and capture of stdlib records.

    ``level``: the default level of every logger that has none of its own (name or number).
    ``stream``: also write every line to this stream (``sys.stderr`` for example); ``None`` stops a stream
    configured earlier. Without any sink, lines go to standard error anyway.
    ``capture_stdlib``: ``True`` installs :class:`StructuredHandler` on the root :mod:`logging` logger so
    stdlib records are written in the same format to the same sinks; ``False`` removes it.
    """
    with _router.lock:
        if level is not None:
            _router.level = _level_number(level)
            for logger in list(_router.loggers):
                logger._sync_level()
        if stream is not _UNSET:
            for sink in _stderr_route:
                remove_sink(sink)
            _stderr_route.clear()
            if stream is not None:
                sink = StreamSink(stream)
                _stderr_route.append(sink)
                add_sink(sink)
        if capture_stdlib is not None:
            root = logging.getLogger()
            ours = [h for h in root.handlers if isinstance(h, StructuredHandler)]
            if capture_stdlib and not ours:
                root.addHandler(StructuredHandler())
            if not capture_stdlib:
                for handler in ours:
                    root.removeHandler(handler)


def reset_logging() -> None:
    """Remove every sink and stdlib capture added through this module and forget the configured level.

    Sinks that have a ``close()`` method are closed. Loggers created earlier keep working.
    """
    with _router.lock:
        for _, sink in _router.routes:
            close = getattr(sink, "close", None)
            if callable(close):
                close()
        _router.routes = []
        _stderr_route.clear()
        _router.level = None
        _router.defaults_pending = True
        _router.changed()
        root = logging.getLogger()
        for handler in [h for h in root.handlers if isinstance(h, StructuredHandler)]:
            root.removeHandler(handler)
        for logger in list(_router.loggers):
            logger._sync_level()


# --- the logger ------------------------------------------------------------------------------------------


class StructuredLogger:
    """A logger that writes one JSON object per line; get one with :func:`get_logger`.

    ``set_correlation_id``, ``set_session_id`` and ``set_component`` change only this logger. A value set for a
    block (``log_context``) wins over the logger's own value, which wins over one set with
    ``set_global_correlation_id`` (see :mod:`agents.lib.log_context`); ``None`` unsets the logger's own value.
    """

    __slots__ = (
        "__weakref__",
        "_component",
        "_correlation_id",
        "_generation",
        "_level",
        "_own_level",
        "_session_id",
        "_sinks",
        "name",
    )

    def __init__(self, name: str, component: str | None = None) -> None:
        self.name = name
        self._component = component
        self._correlation_id: str | None = None
        self._session_id: str | None = None
        self._own_level: int | None = None
        # The default level is read from the settings on first use, not here: loggers are created at import
        # time, before a program has had its chance to report a bad setting its own way. Until then every
        # call reaches _emit, which resolves the level and filters.
        self._level = _router.level if _router.level is not None else 0
        self._sinks: tuple[LineSink, ...] = ()
        self._generation = -1
        _router.loggers.add(self)

    def __repr__(self) -> str:
        """Show name, component and level."""
        return (
            f"StructuredLogger({self.name!r}, component={self._component!r}, "
            f"level={logging.getLevelName(self._level)})"
        )

    # -- configuration --
    @property
    def component(self) -> str | None:
        """Return this logger's own component, or ``None``."""
        return self._component

    @property
    def level(self) -> int:
        """The effective level of this logger (a :mod:`logging` level number)."""
        self._refresh()
        return self._level

    def set_correlation_id(self, correlation_id: UUID | str | int | None) -> None:
        """Set the correlation id this logger writes (``None``: use the context's)."""
        self._correlation_id = None if correlation_id is None else str(correlation_id)

    def set_session_id(self, session_id: UUID | str | int | None) -> None:
        """Set the session id this logger writes (``None``: use the context's)."""
        self._session_id = None if session_id is None else str(session_id)

    def set_component(self, component: str | None) -> None:
        """Set the component this logger writes (``None``: use the context's)."""
        self._component = component

    def get_correlation_id(self) -> str | None:
        """Return the correlation id the next line would carry."""
        return resolve(_correlation_id, self._correlation_id)

    def set_level(self, level: int | str | None) -> None:
        """Set this logger's level (name or number); ``None`` returns to the default level."""
        self._own_level = None if level is None else _level_number(level)
        self._sync_level()

    def is_enabled_for(self, level: int | str) -> bool:
        """Whether a line at ``level`` would be written."""
        self._refresh()
        return _level_number(level) >= self._level

    def _sync_level(self) -> None:
        self._level = self._own_level if self._own_level is not None else _router.default_level()

    def _refresh(self) -> None:
        """Pick up routing and level changes made since this logger last wrote."""
        if self._generation != _router.generation:
            if _router.defaults_pending:
                _router.apply_defaults()
            with _router.lock:
                self._generation = _router.generation
                self._sinks = _router.sinks_for(self.name)
            self._sync_level()

    # -- the calls --
    def debug(self, message: str, metadata: Mapping[str, Any] | None = None, exc_info: ExcInfo = None) -> None:
        """Log ``message`` at DEBUG with optional ``metadata`` and exception."""
        if self._level <= DEBUG:
            self._emit("DEBUG", message, metadata, exc_info)

    def info(self, message: str, metadata: Mapping[str, Any] | None = None, exc_info: ExcInfo = None) -> None:
        """Log ``message`` at INFO with optional ``metadata`` and exception."""
        if self._level <= INFO:
            self._emit("INFO", message, metadata, exc_info)

    def warning(self, message: str, metadata: Mapping[str, Any] | None = None, exc_info: ExcInfo = None) -> None:
        """Log ``message`` at WARNING with optional ``metadata`` and exception."""
        if self._level <= WARNING:
            self._emit("WARNING", message, metadata, exc_info)

    def error(self, message: str, metadata: Mapping[str, Any] | None = None, exc_info: ExcInfo = None) -> None:
        """Log ``message`` at ERROR with optional ``metadata`` and exception."""
        if self._level <= ERROR:
            self._emit("ERROR", message, metadata, exc_info)

    def critical(self, message: str, metadata: Mapping[str, Any] | None = None, exc_info: ExcInfo = None) -> None:
        """Log ``message`` at CRITICAL with optional ``metadata`` and exception."""
        if self._level <= CRITICAL:
            self._emit("CRITICAL", message, metadata, exc_info)

    def exception(self, message: str, metadata: Mapping[str, Any] | None = None) -> None:
        """Log ``message`` at ERROR with the exception being handled."""
        if self._level <= ERROR:
            self._emit("ERROR", message, metadata, True)

    def _emit(self, level: str, message: str, metadata: Mapping[str, Any] | None, exc_info: ExcInfo) -> None:
        if self._generation != _router.generation:
            self._refresh()
            if _NAME_TO_LEVEL[level] < self._level:
                return
        record: dict[str, Any] = {
            "timestamp": _timestamp_ns(time.time_ns()),
            "level": level,
            "logger_name": self.name,
            "message": message,
            "correlation_id": resolve(_correlation_id, self._correlation_id),
            "session_id": resolve(_session_id, self._session_id),
            "component": resolve(_component, self._component),
            "metadata": {} if metadata is None else metadata,
        }
        if exc_info is not None:
            exception = _exception_fields(exc_info)
            if exception is not None:
                record["exception"] = exception
        line = encode_record(record)
        for sink in self._sinks:
            sink.write_line(line)


def get_logger(name: str, component: str | None = None) -> StructuredLogger:
    """Return a new :class:`StructuredLogger` named ``name`` (usually ``__name__``).

    Every call returns its own logger, so ids set on one never change what another prints.
    """
    return StructuredLogger(name, component)


# --- stdlib integration ----------------------------------------------------------------------------------

_STANDARD_ATTRS: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "correlation_id", "session_id", "component", "metadata", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """Formats stdlib :class:`logging.LogRecord` objects as the same JSON lines as :class:`StructuredLogger`.

    ``extra={"metadata": {...}}`` becomes the metadata; any other ``extra`` keys are merged into it.
    ``extra`` may also carry ``correlation_id``, ``session_id`` and ``component``; otherwise the context's are
    used. ``format`` returns the line without its newline; :meth:`format_bytes` returns it with one.
    """

    def record_dict(self, record: logging.LogRecord) -> dict[str, Any]:
        """Return the JSON object of ``record`` as a dict."""
        metadata_attr = getattr(record, "metadata", None)
        metadata: dict[str, Any] = dict(metadata_attr) if isinstance(metadata_attr, Mapping) else {}
        if not _STANDARD_ATTRS.issuperset(record.__dict__):
            for key, value in record.__dict__.items():
                if key not in _STANDARD_ATTRS:
                    metadata.setdefault(key, value)
        try:
            message = record.getMessage()
        except Exception as exc:  # a bad %-format must not lose the line
            message = f"{record.msg!r} (formatting failed: {exc})"
        out: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
            "level": record.levelname,
            "logger_name": record.name,
            "message": message,
            "correlation_id": resolve(_correlation_id, _opt_str(getattr(record, "correlation_id", None))),
            "session_id": resolve(_session_id, _opt_str(getattr(record, "session_id", None))),
            "component": resolve(_component, _opt_str(getattr(record, "component", None))),
            "metadata": metadata,
        }
        if record.exc_info:
            exception = _exception_fields(record.exc_info)
            if exception is not None:
                out["exception"] = exception
        return out

    def format_bytes(self, record: logging.LogRecord) -> bytes:
        """Return the JSON line of ``record``, ending in a newline."""
        return encode_record(self.record_dict(record))

    def format(self, record: logging.LogRecord) -> str:
        """Return the JSON line of ``record`` without its newline."""
        return self.format_bytes(record)[:-1].decode("utf-8")


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


class StructuredHandler(logging.Handler):
    """A stdlib handler that writes records, as JSON lines, to the sinks registered for their logger name."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        """Encode ``record`` and hand it to the matching sinks."""
        try:
            formatter = self.formatter
            if isinstance(formatter, JsonFormatter):
                line = formatter.format_bytes(record)
            else:
                line = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            for sink in _router.sinks_with_defaults(record.name):
                sink.write_line(line)
        except Exception:
            self.handleError(record)
