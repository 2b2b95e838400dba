"""The default level comes from LOG_LEVEL, read when a logger first writes (fresh interpreters)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
from agents.lib.structured_logger import get_logger
log = get_logger("app.part")
log.info("info line")
log.warning("warning line")
print(log.level, log.is_enabled_for("INFO"))
"""


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"LOG_LEVEL", "POSTGRES_PORT"}}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
        check=False,
    )


def _messages(stderr: str) -> list[tuple[str, str]]:
    return [(r["level"], r["message"]) for r in map(json.loads, stderr.splitlines())]


def test_log_level_setting_filters_loggers_created_before_first_use() -> None:
    result = _run({"LOG_LEVEL": "WARNING"})
    assert result.returncode == 0, result.stderr
    assert _messages(result.stderr) == [("WARNING", "warning line")]
    assert result.stdout.split() == ["30", "False"]


def test_bad_log_level_warns_once_and_logs_at_info() -> None:
    result = _run({"LOG_LEVEL": "verbose"})
    assert result.returncode == 0, result.stderr
    messages = _messages(result.stderr)
    assert messages[0][0] == "WARNING"
    assert messages[0][1].startswith("logging at INFO: invalid configuration: LOG_LEVEL: 'VERBOSE'")
    assert messages[1:] == [("INFO", "info line"), ("WARNING", "warning line")]
    assert result.stdout.split() == ["20", "True"]


def test_other_bad_setting_does_not_disturb_logging() -> None:
    result = _run({"POSTGRES_PORT": "abc"})
    assert result.returncode == 0, result.stderr
    assert _messages(result.stderr) == [("INFO", "info line"), ("WARNING", "warning line")]
