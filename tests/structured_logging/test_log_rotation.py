"""Rotating JSON log files: size and time rotation, gzip in the background, retention, configuration."""

from __future__ import annotations

import gzip
import logging
import os
import stat
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from agents.lib.log_rotation import (
    LogRotationConfig,
    RotatingJsonFileHandler,
    cleanup_old_logs,
    configure_file_rotation,
    configure_global_rotation,
    get_log_stats,
    remove_rotation,
)
from agents.lib.structured_logger import StructuredHandler, get_logger


def line(n: int, width: int = 100) -> bytes:
    """A JSON line of exactly ``width`` bytes (newline included)."""
    body = orjson.dumps({"n": n, "pad": ""})
    pad = width - len(body) - 1
    return orjson.dumps({"n": n, "pad": "x" * pad}) + b"\n"


def read_lines(path: Path) -> list[bytes]:
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return data.splitlines(keepends=True)


def all_lines(handler: RotatingJsonFileHandler) -> list[bytes]:
    lines: list[bytes] = []
    for backup in handler.backups():
        lines.extend(read_lines(backup))
    lines.extend(read_lines(handler.path))
    return lines


class FakeClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_size_rotation_keeps_every_line_in_order(tmp_path: Path) -> None:
    config = LogRotationConfig(log_dir=tmp_path, max_bytes=1000, backup_count=10)
    handler = RotatingJsonFileHandler(tmp_path / "app.log", config)
    for n in range(35):
        handler.write_line(line(n))
    handler.close()
    assert handler.rotations == 3
    backups = handler.backups()
    assert [len(read_lines(b)) for b in backups] == [10, 10, 10]
    assert len(read_lines(handler.path)) == 5
    assert [orjson.loads(x)["n"] for x in all_lines(handler)] == list(range(35))
    for backup in backups:
        assert backup.stat().st_size == 1000


def test_compression_happens_and_content_is_identical(tmp_path: Path) -> None:
    config = LogRotationConfig(log_dir=tmp_path, max_bytes=1000, backup_count=10, compression=True)
    handler = RotatingJsonFileHandler(tmp_path / "app.log", config)
    for n in range(25):
        handler.write_line(line(n))
    handler.close()
    backups = handler.backups()
    assert len(backups) == 2
    assert all(b.name.endswith(".gz") for b in backups)
    assert not list(tmp_path.glob("*.partial"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["app.log", *[b.name for b in backups]])
    assert [orjson.loads(x)["n"] for x in all_lines(handler)] == list(range(25))


def test_backup_count_keeps_the_newest(tmp_path: Path) -> None:
    config = LogRotationConfig(log_dir=tmp_path, max_bytes=500, backup_count=2, compression=True)
    handler = RotatingJsonFileHandler(tmp_path / "app.log", config)
    for n in range(30):
        handler.write_line(line(n))
    handler.close()
    assert handler.rotations == 5
    backups = handler.backups()
    assert len(backups) == 2
    assert [orjson.loads(x)["n"] for x in all_lines(handler)] == list(range(15, 30))


def test_backup_count_zero_keeps_only_the_active_file(tmp_path: Path) -> None:
    config = LogRotationConfig(log_dir=tmp_path, max_bytes=300, backup_count=0)
    handler = RotatingJsonFileHandler(tmp_path / "app.log", config)
    for n in range(10):
        handler.write_line(line(n))
    handler.close()
    assert handler.backups() == []
    assert [orjson.loads(x)["n"] for x in read_lines(handler.path)] == [9]


def test_max_age_days_prunes_old_backups(tmp_path: Path) -> None:
    config = LogRotationConfig(log_dir=tmp_path, max_bytes=300, backup_count=50, max_age_days=1)
    handler = RotatingJsonFileHandler(tmp_path / "app.log", config)
    for n in range(6):
        handler.write_line(line(n))
    handler.wait_for_background()
    old = handler.backups()[0]
    week_ago = time.time() - 7 * 86400
    os.utime(old, (week_ago, week_ago))
    assert handler.prune() == [old]
    handler.close()


def test_existing_file_size_counts(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(line(0) * 9)
    handler = RotatingJsonFileHandler(path, LogRotationConfig(log_dir=tmp_path, max_bytes=1000))
    handler.write_line(line(1))
    assert handler.rotations == 0
    handler.write_line(line(2))
    assert handler.rotations == 1
    handler.close()


def test_time_rotation_with_a_fake_clock(tmp_path: Path) -> None:
    clock = FakeClock(1_700_000_000.0)
    config = LogRotationConfig(log_dir=tmp_path, rotation_type="time", when="S", interval=10)
    handler = RotatingJsonFileHandler(tmp_path / "t.log", config, clock=clock)
    handler.write_line(line(1))
    clock.now += 9.9
    handler.write_line(line(2))
    assert handler.rotations == 0
    clock.now += 0.1
    handler.write_line(line(3))
    assert handler.rotations == 1
    clock.now += 10
    handler.write_line(line(4))
    handler.close()
    assert handler.rotations == 2
    backups = handler.backups()
    assert [[orjson.loads(x)["n"] for x in read_lines(b)] for b in backups] == [[1, 2], [3]]
    assert backups[0].name == "t.log.20231114T221330.000000Z"


def test_midnight_rotation_in_utc(tmp_path: Path) -> None:
    before_midnight = datetime(2025, 1, 15, 23, 59, 59, tzinfo=UTC).timestamp()
    clock = FakeClock(before_midnight)
    handler = RotatingJsonFileHandler(tmp_path / "d.log", LogRotationConfig.daily_rotation(tmp_path), clock=clock)
    handler.write_line(line(1))
    clock.now += 0.5
    handler.write_line(line(2))
    assert handler.rotations == 0
    clock.now += 1.0
    handler.write_line(line(3))
    handler.close()
    assert handler.rotations == 1
    assert [b.name for b in handler.backups()] == ["d.log.20250116T000000.500000Z.gz"]


def test_presets() -> None:
    dev = LogRotationConfig.development("/tmp/x")
    prod = LogRotationConfig.production("/tmp/x")
    daily = LogRotationConfig.daily_rotation("/tmp/x")
    assert (dev.rotation_type, dev.max_bytes, dev.backup_count, dev.compression) == (
        "size",
        10 * 1024 * 1024,
        3,
        False,
    )
    assert (prod.max_bytes, prod.backup_count, prod.compression, prod.max_age_days) == (
        100 * 1024 * 1024,
        30,
        True,
        30,
    )
    assert (daily.rotation_type, daily.when, daily.backup_count, daily.compression) == (
        "time",
        "midnight",
        30,
        True,
    )
    assert dev.directory == Path("/tmp/x")


def test_default_log_dir_follows_settings(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    from agents.lib.config import reset_settings

    assert LogRotationConfig().directory == data_dir / "logs"
    monkeypatch.setenv("LOG_DIR", "/srv/logs")
    reset_settings()
    assert LogRotationConfig().directory == Path("/srv/logs")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_bytes": 0}, "max_bytes must be at least 1"),
        ({"backup_count": -1}, "backup_count must be 0 or more"),
        ({"compression_level": 10}, "compression_level must be 0-9"),
        ({"rotation_type": "weekly"}, "rotation_type must be 'size' or 'time'"),
        ({"when": "W"}, "when must be one of"),
        ({"interval": 0}, "interval must be at least 1"),
        ({"filename": "../escape.log"}, "filename must be a plain file name"),
    ],
)
def test_invalid_config(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LogRotationConfig(**kwargs)  # type: ignore[arg-type]


def test_stdlib_records_through_the_handler(tmp_path: Path) -> None:
    handler = RotatingJsonFileHandler(tmp_path / "std.log", LogRotationConfig(log_dir=tmp_path))
    stdlib_logger = logging.getLogger("plain.stdlib")
    stdlib_logger.addHandler(handler)
    stdlib_logger.setLevel(logging.INFO)
    try:
        stdlib_logger.info("hello %s", "world", extra={"metadata": {"a": 1}})
    finally:
        stdlib_logger.removeHandler(handler)
        handler.close()
    record = orjson.loads(read_lines(tmp_path / "std.log")[0])
    assert (record["logger_name"], record["message"], record["metadata"]) == (
        "plain.stdlib",
        "hello world",
        {"a": 1},
    )


def test_global_rotation_keeps_foreign_handlers_and_replaces_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    foreign = logging.NullHandler()
    root.addHandler(foreign)
    try:
        first = configure_global_rotation(LogRotationConfig(log_dir=tmp_path / "one"))
        second = configure_global_rotation(LogRotationConfig(log_dir=tmp_path / "two"))
        assert foreign in root.handlers
        assert sum(isinstance(h, StructuredHandler) for h in root.handlers) == 1
        get_logger("anything", component="c").info("structured")
        logging.getLogger("stdlib.lib").warning("stdlib")
        assert remove_rotation() is True
        assert remove_rotation() is False
    finally:
        root.removeHandler(foreign)
    assert first.path == tmp_path / "one" / "workflow.log"
    assert read_lines(first.path) == []
    messages = [orjson.loads(x)["message"] for x in read_lines(second.path)]
    assert messages == ["structured", "stdlib"]
    assert capsys.readouterr().err == ""


def test_file_rotation_per_logger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    handler = configure_file_rotation("workflow", LogRotationConfig(log_dir=tmp_path))
    get_logger("workflow").info("w1")
    get_logger("workflow.phase").info("w2")
    get_logger("elsewhere").info("e1")
    handler.close()
    assert handler.path == tmp_path / "workflow.log"
    assert [orjson.loads(x)["message"] for x in read_lines(handler.path)] == ["w1", "w2"]
    assert orjson.loads(capsys.readouterr().err)["message"] == "e1"
    with pytest.raises(ValueError, match="logger_name must not be empty"):
        configure_file_rotation("")


def test_cleanup_old_logs(tmp_path: Path) -> None:
    now = time.time()
    old_times = (now - 40 * 86400, now - 40 * 86400)
    for name in ("old.log", "old.log.20250101T000000.000000Z.gz", "notes.txt"):
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, old_times)
    (tmp_path / "fresh.log").write_text("x")
    active = configure_file_rotation("active", LogRotationConfig(log_dir=tmp_path))
    os.utime(active.path, old_times)
    assert [p.name for p in cleanup_old_logs(tmp_path, max_age_days=30, dry_run=True)] == [
        "old.log",
        "old.log.20250101T000000.000000Z.gz",
    ]
    assert (tmp_path / "old.log").exists()
    removed = cleanup_old_logs(tmp_path, max_age_days=30)
    assert sorted(p.name for p in removed) == ["old.log", "old.log.20250101T000000.000000Z.gz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["active.log", "fresh.log", "notes.txt"]
    assert cleanup_old_logs(tmp_path / "missing") == []


def test_get_log_stats(tmp_path: Path) -> None:
    config = LogRotationConfig(log_dir=tmp_path, max_bytes=1000, compression=True)
    handler = RotatingJsonFileHandler(tmp_path / "s.log", config)
    for n in range(15):
        handler.write_line(line(n))
    handler.close()
    (tmp_path / "other.txt").write_text("ignored")
    stats = get_log_stats(tmp_path)
    backup = handler.backups()[0]
    assert stats["total_files"] == 2
    assert stats["active_files"] == 1
    assert stats["rotated_files"] == 1
    assert stats["compressed_files"] == 1
    assert stats["total_size_bytes"] == 500 + backup.stat().st_size
    assert [f["name"] for f in stats["files"]] == ["s.log", backup.name]
    assert stats["log_dir"] == str(tmp_path)


def test_eight_threads_many_rotations_no_line_lost_duplicated_or_torn(tmp_path: Path) -> None:
    """8 threads x 100,000 lines through StructuredLogger into a compressing rotating file."""
    threads_count, per_thread = 8, 100_000
    config = LogRotationConfig(
        log_dir=tmp_path,
        max_bytes=8 * 1024 * 1024,
        backup_count=1000,
        compression=True,
        compression_level=1,
    )
    handler = configure_global_rotation(config, capture_stdlib=False)
    start = threading.Barrier(threads_count)

    def writer(t: int) -> None:
        logger = get_logger(f"stress.{t}", component="stress")
        start.wait()
        for i in range(per_thread):
            logger.info("line", metadata={"t": t, "i": i})

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    remove_rotation()

    backups = handler.backups()
    assert len(backups) == handler.rotations
    assert handler.rotations > 5
    assert all(b.name.endswith(".gz") for b in backups)
    seen = bytearray(threads_count * per_thread)
    total = 0
    last_i = [-1] * threads_count
    for raw in all_lines(handler):
        record = orjson.loads(raw)  # a torn line would not parse
        t, i = record["metadata"]["t"], record["metadata"]["i"]
        assert i > last_i[t], "lines of one thread out of order"
        last_i[t] = i
        seen[t * per_thread + i] += 1
        total += 1
    assert total == threads_count * per_thread
    assert seen.count(1) == threads_count * per_thread


def test_a_pipe_is_written_but_never_rotated(tmp_path: Path) -> None:
    """Rotating a device or FIFO would replace it with a regular file (how /dev/null once got broken)."""
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as source:
            received.extend(source.read().splitlines(keepends=True))

    thread = threading.Thread(target=reader)
    thread.start()
    handler = RotatingJsonFileHandler(fifo, LogRotationConfig(log_dir=tmp_path, max_bytes=150))
    for n in range(20):
        handler.write_line(line(n))
    handler.do_rollover()
    handler.close()
    thread.join(timeout=30)
    assert handler.rotations == 0
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.log"]
    assert [orjson.loads(x)["n"] for x in received] == list(range(20))


# --- LOG_DIR alone: lines go to <LOG_DIR>/workflow.log, rotated ---


@pytest.fixture
def log_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``LOG_DIR`` set (as the guide's .env does) and nothing else configured."""
    from agents.lib.config import reset_settings
    from agents.lib.structured_logger import reset_logging

    directory = tmp_path / "var-log-agents"
    monkeypatch.setenv("LOG_DIR", str(directory))
    reset_settings()
    reset_logging()
    return directory


def records_in(directory: Path) -> list[dict[str, object]]:
    """Every line of every log file in ``directory`` (rotated ones first, in the order they were written)."""
    files = sorted(directory.iterdir(), key=lambda p: (p.name == "workflow.log", p.name))
    return [orjson.loads(x) for path in files for x in read_lines(path)]


def test_log_dir_alone_writes_a_rotated_workflow_log(log_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    logger = get_logger("any.module", component="c")
    big = {"blob": "x" * 10_000}
    for n in range(1_100):  # 11 MB: beyond the default 10 MB, so one rotation
        logger.info(f"line {n}", metadata=big)
    logging.getLogger().addHandler(StructuredHandler())
    try:
        logging.getLogger("stdlib.module").warning("from stdlib")
    finally:
        for handler in [h for h in logging.getLogger().handlers if isinstance(h, StructuredHandler)]:
            logging.getLogger().removeHandler(handler)
    names = sorted(p.name for p in log_dir.iterdir())
    assert len(names) == 2 and names[0] == "workflow.log"
    assert names[1].startswith("workflow.log.")  # the rotated backup
    messages = [r["message"] for r in records_in(log_dir)]
    assert messages == [f"line {n}" for n in range(1_100)] + ["from stdlib"]
    assert capfd.readouterr().err == ""


def test_configure_global_rotation_takes_over_the_log_dir_default(log_dir: Path) -> None:
    logger = get_logger("guide")
    logger.info("before")
    handler = configure_global_rotation(LogRotationConfig(log_dir=log_dir, compression=True), capture_stdlib=False)
    assert handler.path == log_dir / "workflow.log"
    logger.info("after")
    remove_rotation()
    assert [r["message"] for r in records_in(log_dir)] == ["before", "after"]


def test_a_per_logger_rotation_cannot_share_the_global_file(log_dir: Path) -> None:
    get_logger("x").info("installs the default")
    with pytest.raises(ValueError, match=r"workflow\.log is already written by the global rotation"):
        configure_file_rotation("workflow")
    codegen = configure_file_rotation("codegen", capture_stdlib=False)
    get_logger("codegen.render").info("both")
    assert codegen.path == log_dir / "codegen.log"
    assert [orjson.loads(x)["message"] for x in read_lines(codegen.path)] == ["both"]
    assert [orjson.loads(x)["message"] for x in read_lines(log_dir / "workflow.log")] == [
        "installs the default",
        "both",
    ]


def test_log_dir_default_comes_back_after_reset_logging(log_dir: Path) -> None:
    from agents.lib.structured_logger import reset_logging

    get_logger("a").info("one")
    reset_logging()
    get_logger("a").info("two")
    assert [r["message"] for r in records_in(log_dir)] == ["one", "two"]


def test_unusable_log_dir_warns_once_and_logs_to_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from agents.lib.config import reset_settings
    from agents.lib.structured_logger import reset_logging

    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "a-file" / "logs"))
    reset_settings()
    reset_logging()
    get_logger("a").info("first")
    get_logger("b").info("second")
    warning, *lines = [orjson.loads(x) for x in capfd.readouterr().err.splitlines()]
    assert warning["level"] == "WARNING"
    assert warning["message"].startswith(f"LOG_DIR={tmp_path / 'a-file' / 'logs'}: cannot write log files there (")
    assert warning["message"].endswith("); logging to standard error")
    assert [r["message"] for r in lines] == ["first", "second"]
