"""The command line: version, help, settings display and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

from agents import __version__


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "agents", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"agents {__version__}"
    assert __version__ == "0.1.0"


def test_help_lists_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "config" in result.stdout
    assert "--version" in result.stdout


def test_console_script_matches_module() -> None:
    script = os.path.join(os.path.dirname(sys.executable), "agents")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == f"agents {__version__}"


def test_config_json_masks_secrets() -> None:
    result = run_cli(
        "config",
        "--json",
        env={"POSTGRES_HOST": "db", "POSTGRES_PASSWORD": "top-secret", "PROMETHEUS_PORT": "9191"},
    )
    assert result.returncode == 0, result.stderr
    values = orjson.loads(result.stdout)
    assert values["POSTGRES_PASSWORD"] == "***"
    assert values["PROMETHEUS_PORT"] == 9191
    assert values["DATABASE_DSN"] == "postgresql://postgres:***@db:5432/agents"
    assert "top-secret" not in result.stdout + result.stderr


def test_bad_setting_is_one_line_and_exit_2() -> None:
    result = run_cli("config", env={"POSTGRES_PORT": "abc"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: invalid configuration: POSTGRES_PORT:")
    assert lines[1].startswith("hint: ")
    assert len(lines) == 2
    assert "Traceback" not in result.stderr


def test_debug_shows_traceback() -> None:
    result = run_cli("--debug", "config", env={"POSTGRES_PORT": "abc"})
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "ConfigError" in result.stderr


def test_unknown_command_is_a_usage_error() -> None:
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_bad_log_level_is_still_one_line() -> None:
    result = run_cli("config", env={"LOG_LEVEL": "verbose"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == (
        "error: invalid configuration: LOG_LEVEL: 'VERBOSE' is not a log level; "
        "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    )
    assert len(lines) == 2 and lines[1].startswith("hint: ")
