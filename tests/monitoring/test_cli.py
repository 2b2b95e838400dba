"""agents monitor status|alerts|deploy-files (through the CLI's entry point) and agents serve (a subprocess)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from agents.cli import main
from agents.lib.persistence import CodegenPersistence
from tests.monitoring.conftest import free_port
from tests.monitoring.test_collect import seed


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """Run ``agents ARGS`` through :func:`agents.cli.main` (exit code, output) in this process."""
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> Run:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out = capsys.readouterr()
        return Run(code, out.out, out.err)

    return run


def seed_configured_database() -> None:
    async def main() -> None:
        async with CodegenPersistence() as p:  # the configured one: SQLite in this test's data dir
            await seed(p)

    asyncio.run(main())


def test_help_lists_the_commands(run_cli: Callable[..., Run]) -> None:
    top = run_cli("--help")
    assert "monitor" in top.stdout and "serve" in top.stdout
    monitor = run_cli("monitor", "--help")
    assert all(word in monitor.stdout for word in ("status", "alerts", "deploy-files"))
    serve = run_cli("serve", "--help")
    assert "--host" in serve.stdout and "--port" in serve.stdout


def test_status_and_alerts_read_the_database(run_cli: Callable[..., Run]) -> None:
    seed_configured_database()
    status = run_cli("monitor", "status", "--json")
    assert status.returncode == 0, status.stderr
    body = orjson.loads(status.stdout)
    assert body["overall_status"] == "critical"
    assert body["components"]["database"]["status"] == "healthy"
    assert body["components"]["generation"]["status"] == "critical"
    assert body["metrics"]["parallel_generation"]["avg_speedup"] == pytest.approx(1.8)
    assert len(body["alerts"]) == 3

    table = run_cli("monitor", "status")
    assert table.returncode == 0, table.stderr
    assert "overall: critical" in table.stdout
    assert "Avg speedup" in table.stdout and "1.80x" in table.stdout

    alerts = orjson.loads(run_cli("monitor", "alerts", "--json").stdout)
    assert sorted((a["rule"], a["severity"]) for a in alerts) == [
        ("event_success_rate", "warning"),
        ("pattern_precision", "critical"),
        ("verification_pass_rate", "critical"),
    ]
    critical = orjson.loads(run_cli("monitor", "alerts", "--json", "--severity", "critical").stdout)
    assert {a["rule"] for a in critical} == {"pattern_precision", "verification_pass_rate"}
    listed = run_cli("monitor", "alerts")
    assert "Event success rate 95.0% is below the warning threshold" in listed.stdout
    # a 60 ms window that starts after the rows were written: no data behind the figures, no alert
    time.sleep(0.07)
    assert orjson.loads(run_cli("monitor", "alerts", "--json", "--window", "0.001").stdout) == []


def test_alerts_with_thresholds_from_a_file(tmp_path: Path, run_cli: Callable[..., Run]) -> None:
    seed_configured_database()
    settings = tmp_path / "thresholds.json"
    settings.write_text(
        json.dumps(
            {
                "verification_pass_rate_warning": 0.5,
                "verification_pass_rate_critical": 0.4,
                "pattern_precision_warning": 0.5,
                "pattern_precision_critical": 0.4,
                "event_success_rate_warning": 0.9,
                "event_success_rate_critical": 0.8,
            }
        )
    )
    quiet = run_cli("monitor", "alerts", "--thresholds", str(settings))
    assert quiet.returncode == 0, quiet.stderr
    assert "no active alerts" in quiet.stdout
    settings.write_text(json.dumps({"cache_hit_rate_warnin": 0.5}))
    typo = run_cli("monitor", "alerts", "--thresholds", str(settings))
    assert typo.returncode == 2
    assert "unknown threshold settings: cache_hit_rate_warnin" in typo.stderr
    bad = run_cli("monitor", "status", "--severity", "x")
    assert bad.returncode == 2
    wrong = run_cli("monitor", "alerts", "--severity", "fatal")
    assert wrong.returncode == 2 and "--severity must be warning or critical" in wrong.stderr


def test_deploy_files_command(tmp_path: Path, run_cli: Callable[..., Run]) -> None:
    result = run_cli("monitor", "deploy-files", "--out", str(tmp_path / "d"))
    assert result.returncode == 0, result.stderr
    repo = Path(__file__).resolve().parents[2] / "deploy"
    for relative in ("prometheus/agents-alerts.yml", "grafana/agents-dashboard.json"):
        assert (tmp_path / "d" / relative).read_text() == (repo / relative).read_text()
    assert result.stdout.split() == [
        str(tmp_path / "d" / r) for r in ("prometheus/agents-alerts.yml", "grafana/agents-dashboard.json")
    ]


def _listeners(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp{,6}) that listen on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, state = fields[1], fields[3]
            if state == "0A" and int(address.rsplit(":", 1)[1], 16) == port:
                found.add(address.rsplit(":", 1)[0])
    return found


def test_serve_binds_loopback_by_default_and_serves() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "agents", "serve", "--port", str(port), "--refresh", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PROMETHEUS_HOST": "127.0.0.1"},
    )
    try:
        body = None
        for _ in range(300):  # bounded wait for the server to answer
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    body = orjson.loads(response.read())
                    break
            except OSError:
                if process.poll() is not None:
                    break
                time.sleep(0.1)
        assert body is not None, process.stderr.read() if process.poll() is not None else "no answer"
        assert body["status"] == "healthy"
        assert _listeners(port) == {"0100007F"}  # 127.0.0.1 only
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert b"agents_component_healthy" in response.read()
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert f"serving http://127.0.0.1:{port}/" in err
