"""Structured logging benchmark: our logger side by side with its peers, in one process, one run.

Every case writes one JSON line per call (timestamp, level, logger name, message, correlation id,
session id, component and a 3-key metadata dict) to its own file in a temporary directory and pushes
each line to the OS before the call returns (an unbuffered write, or a write followed by ``flush``).

Groups:

* ``line``: one INFO line to a file -- ours (plain file sink and RotatingJsonFileHandler), structlog
  (orjson + BytesLogger, stdlib json + WriteLogger), stdlib + python-json-logger, loguru.
* ``filtered``: a DEBUG call while the level is INFO.
* ``handler``: stdlib LogRecords through a stdlib logger, only the handler differs: our
  RotatingJsonFileHandler vs ``logging.FileHandler`` vs ``logging.handlers.RotatingFileHandler``,
  all with our ``JsonFormatter``.
* ``pieces``: where the time of one of our lines goes.

Cases run round-robin (repeat 1 of every case, then repeat 2, ...) so that drift of a busy machine
hits all of them alike; the table shows the best and the median of the repeats and ratios to the
best peer (structlog + orjson). Compare ratios, not absolute figures.

Run: ``.venv/bin/python bench/bench_logging.py [--quick]``
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import structlog
from loguru import logger as loguru_logger
from pythonjsonlogger.json import JsonFormatter as PjlJsonFormatter
from pythonjsonlogger.orjson import OrjsonFormatter as PjlOrjsonFormatter

from agents.lib import log_context
from agents.lib import structured_logger as sl
from agents.lib.log_rotation import LogRotationConfig, RotatingJsonFileHandler

MSG = "user logged in"
METADATA = {"user_id": 12345, "action": "login", "duration_ms": 12.5}
CORRELATION_ID = "7f1e9a3c-2b4d-4e8f-9a6b-1c2d3e4f5a6b"
COMPONENT = "auth"
MAX_BYTES = 50 * 1024 * 1024  # realistic size limit; a repeat writes well under it, so no rotation
BEST_PEER = "structlog-orjson"
FILTERED_TARGET_US = 0.2
ROTATION_TARGET_US = 1.0

# stdlib callers pass the ids and the metadata through ``extra`` (built once, like METADATA)
STDLIB_EXTRA = {
    "correlation_id": CORRELATION_ID,
    "session_id": None,
    "component": COMPONENT,
    "metadata": METADATA,
}

INFO_EXTRA = "log.info(MSG, extra=EXTRA)"
ORJSON_RENDERER = structlog.processors.JSONRenderer(serializer=orjson.dumps)

Teardown = Callable[[], None]
SetupResult = tuple[str, dict[str, Any], Teardown]  # statement to time, its globals, teardown
Setup = Callable[[Path], SetupResult]


class PlainFileSink:
    """The simplest fair sink: one unbuffered append per line, under a lock (like ours)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()

    def write_line(self, line: bytes) -> None:
        with self._lock:
            self._file.write(line)

    def close(self) -> None:
        self._file.close()


@dataclass
class Case:
    key: str
    label: str
    group: str
    setup: Setup


@dataclass
class Result:
    case: Case
    us: list[float]  # µs per call, one per repeat

    @property
    def best(self) -> float:
        return min(self.us)

    @property
    def median(self) -> float:
        return statistics.median(self.us)


# --- our logger -----------------------------------------------------------------------------------


def _ours(name: str, sink: Any) -> tuple[sl.StructuredLogger, Teardown]:
    sl.reset_logging()
    sl.configure_logging(level="INFO")
    sl.add_sink(sink, name)
    log = sl.get_logger(name, component=COMPONENT)
    log.set_correlation_id(CORRELATION_ID)

    def teardown() -> None:
        sl.remove_sink(sink)
        sink.close()

    return log, teardown


def _rotation_config(directory: Path) -> LogRotationConfig:
    return LogRotationConfig(
        log_dir=directory,
        max_bytes=MAX_BYTES,
        backup_count=1,
        compression=False,
    )


ROTATIONS = {"ours-rotating": 0, "handler-ours-rotating": 0, "handler-stdlib-rotating": 0}


def _count_rotations(key: str, count: int) -> None:
    ROTATIONS[key] += count


def setup_ours_plain(d: Path) -> SetupResult:
    log, teardown = _ours("bench.ours", PlainFileSink(d / "ours_plain.log"))
    return "log.info(MSG, metadata=MD)", {"log": log, "MSG": MSG, "MD": METADATA}, teardown


def setup_ours_rotating(d: Path) -> SetupResult:
    handler = RotatingJsonFileHandler(d / "ours_rotating.log", _rotation_config(d))
    log, close = _ours("bench.ours_rot", handler)

    def teardown() -> None:
        _count_rotations("ours-rotating", handler.rotations)
        close()

    return "log.info(MSG, metadata=MD)", {"log": log, "MSG": MSG, "MD": METADATA}, teardown


def setup_ours_filtered(d: Path) -> SetupResult:
    log, teardown = _ours("bench.ours_filtered", PlainFileSink(d / "ours_filtered.log"))
    return "log.debug(MSG, metadata=MD)", {"log": log, "MSG": MSG, "MD": METADATA}, teardown


# --- structlog ------------------------------------------------------------------------------------


def _structlog(renderer: Any, wrapped: Any) -> Any:
    return structlog.wrap_logger(
        wrapped,
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    ).bind(
        logger_name="bench.structlog",
        correlation_id=CORRELATION_ID,
        session_id=None,
        component=COMPONENT,
    )


def setup_structlog_orjson(d: Path) -> SetupResult:
    # BytesLogger writes each line and flushes the file
    file = open(d / "structlog_orjson.log", "wb")  # noqa: SIM115 - closed in teardown
    log = _structlog(ORJSON_RENDERER, structlog.BytesLogger(file))
    return "log.info(MSG, metadata=MD)", {"log": log, "MSG": MSG, "MD": METADATA}, file.close


def setup_structlog_json(d: Path) -> SetupResult:
    # WriteLogger writes each line and flushes the file
    file = open(d / "structlog_json.log", "w", encoding="utf-8")  # noqa: SIM115 - closed in teardown
    log = _structlog(structlog.processors.JSONRenderer(), structlog.WriteLogger(file))
    return "log.info(MSG, metadata=MD)", {"log": log, "MSG": MSG, "MD": METADATA}, file.close


def setup_structlog_filtered(d: Path) -> SetupResult:
    file = open(d / "structlog_filtered.log", "wb")  # noqa: SIM115 - closed in teardown
    log = _structlog(ORJSON_RENDERER, structlog.BytesLogger(file))
    return "log.debug(MSG, metadata=MD)", {"log": log, "MSG": MSG, "MD": METADATA}, file.close


# --- stdlib logging -------------------------------------------------------------------------------


def _stdlib(name: str, handler: logging.Handler) -> tuple[logging.Logger, Teardown]:
    log = logging.getLogger(name)
    for old in list(log.handlers):
        log.removeHandler(old)
        old.close()
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)

    def teardown() -> None:
        log.removeHandler(handler)
        handler.close()

    return log, teardown


def _stdlib_case(name: str, handler: logging.Handler, stmt: str) -> SetupResult:
    log, teardown = _stdlib(name, handler)
    return stmt, {"log": log, "MSG": MSG, "EXTRA": STDLIB_EXTRA}, teardown


def _pjl(formatter_class: type[logging.Formatter], path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")  # StreamHandler flushes every record
    handler.setFormatter(formatter_class("%(levelname)s %(name)s %(message)s", timestamp=True))
    return handler


def setup_stdlib_pjl_json(d: Path) -> SetupResult:
    handler = _pjl(PjlJsonFormatter, d / "pjl_json.log")
    return _stdlib_case("bench.pjl_json", handler, INFO_EXTRA)


def setup_pjl_orjson(d: Path) -> SetupResult:
    handler = _pjl(PjlOrjsonFormatter, d / "pjl_orjson.log")
    return _stdlib_case("bench.pjl_orjson", handler, INFO_EXTRA)


def setup_stdlib_filtered(d: Path) -> SetupResult:
    handler = _pjl(PjlJsonFormatter, d / "stdlib_filtered.log")
    return _stdlib_case("bench.stdlib_filtered", handler, "log.debug(MSG, extra=EXTRA)")


def setup_handler_ours(d: Path) -> SetupResult:
    handler = RotatingJsonFileHandler(d / "handler_ours.log", _rotation_config(d))
    stmt, ns, close = _stdlib_case("bench.handler_ours", handler, INFO_EXTRA)

    def teardown() -> None:
        _count_rotations("handler-ours-rotating", handler.rotations)
        close()

    return stmt, ns, teardown


def setup_handler_file(d: Path) -> SetupResult:
    handler = logging.FileHandler(d / "handler_file.log", encoding="utf-8")
    handler.setFormatter(sl.JsonFormatter())
    return _stdlib_case("bench.handler_file", handler, INFO_EXTRA)


def setup_handler_stdlib_rotating(d: Path) -> SetupResult:
    path = d / "handler_stdlib_rotating.log"
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=1)
    handler.setFormatter(sl.JsonFormatter())
    stmt, ns, close = _stdlib_case("bench.handler_stdlib_rot", handler, INFO_EXTRA)

    def teardown() -> None:
        close()
        backup = path.with_name(path.name + ".1")
        if backup.exists():
            _count_rotations("handler-stdlib-rotating", 1)

    return stmt, ns, teardown


# --- loguru ---------------------------------------------------------------------------------------


def _loguru(path: Path) -> tuple[Any, Teardown]:
    loguru_logger.remove()
    # a file sink is line-buffered by default: one write per line
    handler_id = loguru_logger.add(
        path, serialize=True, level="INFO", enqueue=False, backtrace=False, diagnose=False
    )
    log = loguru_logger.bind(
        logger_name="bench.loguru",
        correlation_id=CORRELATION_ID,
        session_id=None,
        component=COMPONENT,
    )
    return log, lambda: loguru_logger.remove(handler_id)


def setup_loguru(d: Path) -> SetupResult:
    log, teardown = _loguru(d / "loguru.log")
    return "log.info(MSG, metadata=MD)", {"log": log, "MSG": MSG, "MD": METADATA}, teardown


def setup_loguru_filtered(d: Path) -> SetupResult:
    log, teardown = _loguru(d / "loguru_filtered.log")
    return "log.debug(MSG, metadata=MD)", {"log": log, "MSG": MSG, "MD": METADATA}, teardown


def setup_empty(d: Path) -> SetupResult:
    return "pass", {}, lambda: None


# --- pieces of one of our lines -------------------------------------------------------------------


class NullSink:
    def write_line(self, line: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def _id_lookups() -> tuple[str, dict[str, Any]]:
    """The three id lookups ``_emit`` does (correlation id, session id, component)."""
    resolve = getattr(log_context, "resolve", None)
    ns = {
        "R": resolve,
        "CV": log_context._correlation_id,
        "SV": log_context._session_id,
        "KV": log_context._component,
        "CID": CORRELATION_ID,
        "COMP": COMPONENT,
    }
    if resolve is not None:
        return "R(CV, CID); R(SV, None); R(KV, COMP)", ns
    return "CV.get(); SV.get(); KV.get()", ns


def _record() -> dict[str, Any]:
    return {
        "timestamp": sl._timestamp(time.time()),
        "level": "INFO",
        "logger_name": "bench.ours",
        "message": MSG,
        "correlation_id": CORRELATION_ID,
        "session_id": None,
        "component": COMPONENT,
        "metadata": METADATA,
    }


def _pieces(d: Path) -> tuple[list[tuple[str, str]], dict[str, Any], Teardown]:
    plain = PlainFileSink(d / "pieces_plain.log")
    # a limit this run never reaches: this piece is the write path, not a rotation
    no_rotation = LogRotationConfig(log_dir=d, max_bytes=2**50, backup_count=1)
    rotating = RotatingJsonFileHandler(d / "pieces_rotating.log", no_rotation)
    raw = os.open(d / "pieces_raw.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    log, close_log = _ours("bench.pieces", NullSink())
    lookups, ns = _id_lookups()
    record = _record()
    ns.update(
        time=time,
        sl=sl,
        orjson=orjson,
        OPTS=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS,
        RECORD=record,
        LINE=sl.encode_record(record),
        PLAIN=plain,
        ROT=rotating,
        os=os,
        FD=raw,
        log=log,
        MSG=MSG,
        MD=METADATA,
        _record=_record,
    )
    pieces = [
        ("log.info(...), no-op sink (all but the write)", "log.info(MSG, metadata=MD)"),
        ("  time.time()", "time.time()"),
        ("  _timestamp(time.time())", "sl._timestamp(time.time())"),
        ("  the 3 id lookups (correlation id, session id, component)", lookups),
        ("  build the record dict (incl. _timestamp, without lookups)", "_record()"),
        ("  encode_record(record)", "sl.encode_record(RECORD)"),
        ("  orjson.dumps(record) without default=", "orjson.dumps(RECORD, option=OPTS)"),
        ("os.write(fd, line) (the bare syscall)", "os.write(FD, LINE)"),
        ("PlainFileSink.write_line(line)", "PLAIN.write_line(LINE)"),
        ("RotatingJsonFileHandler.write_line(line)", "ROT.write_line(LINE)"),
    ]

    def teardown() -> None:
        close_log()
        plain.close()
        rotating.close()
        os.close(raw)

    return pieces, ns, teardown


# --- running --------------------------------------------------------------------------------------

CASES = [
    Case("ours-plain", "ours: StructuredLogger -> plain file sink", "line", setup_ours_plain),
    Case(
        "ours-rotating",
        "ours: StructuredLogger -> RotatingJsonFileHandler",
        "line",
        setup_ours_rotating,
    ),
    Case(BEST_PEER, "structlog native, orjson, BytesLogger", "line", setup_structlog_orjson),
    Case("structlog-json", "structlog native, json, WriteLogger", "line", setup_structlog_json),
    Case("stdlib-pjl-json", "stdlib + python-json-logger (json)", "line", setup_stdlib_pjl_json),
    Case("stdlib-pjl-orjson", "stdlib + python-json-logger (orjson)", "line", setup_pjl_orjson),
    Case("loguru", "loguru serialize=True", "line", setup_loguru),
    Case("f-ours", "ours: logger.debug at INFO", "filtered", setup_ours_filtered),
    Case("f-structlog", "structlog filtering bound logger", "filtered", setup_structlog_filtered),
    Case("f-stdlib", "stdlib logger.debug at INFO", "filtered", setup_stdlib_filtered),
    Case("f-loguru", "loguru logger.debug at INFO", "filtered", setup_loguru_filtered),
    Case("f-empty", "(empty loop, overhead included above)", "filtered", setup_empty),
    Case("h-ours", "stdlib logger -> our RotatingJsonFileHandler", "handler", setup_handler_ours),
    Case("h-file", "stdlib logger -> logging.FileHandler", "handler", setup_handler_file),
    Case(
        "h-stdlib-rot",
        "stdlib logger -> logging.handlers.RotatingFileHandler",
        "handler",
        setup_handler_stdlib_rotating,
    ),
]


def measure(case: Case, directory: Path, number: int) -> float:
    """Run one repeat of ``case``; return µs per call."""
    stmt, ns, teardown = case.setup(directory)
    try:
        timer = timeit.Timer(stmt, globals=ns, timer=time.perf_counter_ns)
        warmup = max(number // 20, 100)
        timer.timeit(warmup)  # warm up: caches, first-use paths
        elapsed_ns = timer.timeit(number)
    finally:
        teardown()
    lines = 0
    for entry in directory.iterdir():  # keep the disk use of a repeat small
        if entry.is_file():
            lines += entry.read_bytes().count(b"\n")
            entry.unlink()
    expected = 0 if case.group == "filtered" else warmup + number
    if lines != expected:  # every peer must really write every line
        raise RuntimeError(f"{case.key}: {lines} lines written, expected {expected}")
    return elapsed_ns / number / 1000


def measure_pieces(directory: Path, number: int) -> list[tuple[str, float]]:
    """Time each piece once (``number`` calls); return µs per call."""
    out: list[tuple[str, float]] = []
    pieces, ns, teardown = _pieces(directory)
    try:
        for label, stmt in pieces:
            timer = timeit.Timer(stmt, globals=ns, timer=time.perf_counter_ns)
            timer.timeit(max(number // 20, 100))
            out.append((label, timer.timeit(number) / number / 1000))
    finally:
        teardown()
    for entry in directory.iterdir():
        if entry.is_file():
            entry.unlink()
    return out


def _fmt(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def print_table(results: dict[str, Result], pieces: dict[str, float]) -> None:
    best_peer = results[BEST_PEER]
    rounds = len(best_peer.us)

    def ratio_median(result: Result) -> float:
        return statistics.median(result.us[i] / best_peer.us[i] for i in range(rounds))

    print("\n## line: one INFO line with correlation id, component, 3-key metadata, to a file\n")
    print("| case | µs/call best | µs/call median | ratio to structlog-orjson (best; median) |")
    print("|---|---:|---:|---:|")
    for result in results.values():
        if result.case.group == "line":
            ratio = result.best / best_peer.best
            print(
                f"| {result.case.label} | {_fmt(result.best)} | {_fmt(result.median)} "
                f"| {ratio:.2f}x; {ratio_median(result):.2f}x |"
            )

    print("\n## filtered: a debug call while the level is INFO (loop overhead included)\n")
    print(f"| case | µs/call best | µs/call median | target <= {FILTERED_TARGET_US} µs |")
    print("|---|---:|---:|---|")
    for result in results.values():
        if result.case.group == "filtered":
            verdict = "yes" if result.best <= FILTERED_TARGET_US else "NO"
            cells = f"{_fmt(result.best)} | {_fmt(result.median)} | {verdict}"
            print(f"| {result.case.label} | {cells} |")

    print("\n## handler: stdlib records, our JsonFormatter, only the handler differs\n")
    base = results["h-file"]
    print("| case | µs/line best | µs/line median | added over FileHandler (best; median) |")
    print("|---|---:|---:|---:|")
    for result in results.values():
        if result.case.group == "handler":
            added = result.best - base.best
            added_median = statistics.median(result.us[i] - base.us[i] for i in range(rounds))
            print(
                f"| {result.case.label} | {_fmt(result.best)} | {_fmt(result.median)} "
                f"| {added:+.2f}; {added_median:+.2f} |"
            )
    plain, rot = results["ours-plain"], results["ours-rotating"]
    added_median = statistics.median(rot.us[i] - plain.us[i] for i in range(rounds))
    print(
        f"| StructuredLogger -> RotatingJsonFileHandler (vs plain file sink) | {_fmt(rot.best)} "
        f"| {_fmt(rot.median)} | {rot.best - plain.best:+.2f}; {added_median:+.2f} "
        "(over plain sink) |"
    )
    print(f"\nrotations during the run (max_bytes {MAX_BYTES // 2**20} MB): {ROTATIONS}")

    print("\n## pieces: where one of our lines goes (best of the rounds)\n")
    print("| piece | µs |")
    print("|---|---:|")
    for label, value in pieces.items():
        print(f"| {label} | {_fmt(value)} |")

    print("\n## targets\n")
    ours = results["ours-plain"]
    line_ok = ours.best <= best_peer.best
    print(
        f"- a line costs no more than structlog-orjson: ours {_fmt(ours.best)} µs vs "
        f"{_fmt(best_peer.best)} µs ({ours.best / best_peer.best:.2f}x) -> "
        f"{'met' if line_ok else 'MISSED'}"
    )
    filtered = results["f-ours"]
    print(
        f"- a filtered call <= {FILTERED_TARGET_US} µs: {_fmt(filtered.best)} µs -> "
        f"{'met' if filtered.best <= FILTERED_TARGET_US else 'MISSED'}"
    )
    added_handler = results["h-ours"].best - base.best
    added_logger = rot.best - plain.best
    worst = max(added_handler, added_logger)
    print(
        f"- rotation adds < {ROTATION_TARGET_US} µs per line over a plain file handler: "
        f"{added_handler:+.2f} µs (stdlib records) / {added_logger:+.2f} µs (StructuredLogger) -> "
        f"{'met' if worst < ROTATION_TARGET_US else 'MISSED'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    parser.add_argument("--number", type=int, help="calls per repeat for line and handler cases")
    parser.add_argument("--repeat", type=int, help="repeats per case")
    args = parser.parse_args(argv)
    number = args.number or (5_000 if args.quick else 100_000)
    repeat = args.repeat or (3 if args.quick else 5)
    filtered_number = number * 10

    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"structlog {structlog.__version__}, orjson {orjson.__version__}; "
        f"{number} calls per repeat ({filtered_number} for filtered cases), {repeat} repeats, "
        "cases interleaved round-robin"
    )
    directory = Path(tempfile.mkdtemp(prefix="bench_logging_"))
    loguru_logger.remove()  # no stderr output from loguru's default handler
    results = {case.key: Result(case, []) for case in CASES}
    pieces: dict[str, float] = {}  # best µs per piece over the rounds
    try:
        for round_no in range(repeat):
            started = time.perf_counter()
            for case in CASES:
                n = filtered_number if case.group == "filtered" else number
                results[case.key].us.append(measure(case, directory, n))
            for label, us in measure_pieces(directory, number):
                pieces[label] = min(us, pieces.get(label, us))
            print(
                f"round {round_no + 1}/{repeat}: {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
    finally:
        sl.reset_logging()
        loguru_logger.remove()
        shutil.rmtree(directory, ignore_errors=True)
    print_table(results, pieces)
    return 0


if __name__ == "__main__":
    sys.exit(main())
