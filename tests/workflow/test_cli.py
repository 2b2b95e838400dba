"""`agents generate`, `agents analyze` and `agents db`, run as a user runs them: in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from tests.workflow.conftest import EXAMPLES

LOANS = EXAMPLES / "library_loans.md"


def agents(*args: str, cwd: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "agents", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_generate_verifies_every_node_prints_a_summary_and_the_service_passes_its_own_tests(
    tmp_path: Path, data_dir: Path
) -> None:
    out = tmp_path / "loans"
    run = agents("generate", str(LOANS), "--out", str(out), "--workers", "2")
    assert run.returncode == 0, run.stderr
    assert "Service LibraryLoans" in run.stdout
    assert run.stdout.count("passed (") == 3  # two nodes, and the service as a whole
    assert "SERVICE" in run.stdout
    assert "2 rules implemented, 1 left as hooks" in run.stdout  # COMPUTE: the fee formula; RULE-001 a hook
    assert "2/2 nodes passed" in run.stdout
    assert "with 2 worker(s) (speedup " in run.stdout
    assert "x over one worker, estimated: " in run.stdout and " nodes at once); " in run.stdout
    assert f"run its tests: cd {out.resolve()} && python -m pytest" in run.stdout
    assert "Traceback" not in run.stderr
    assert '"level"' not in run.stderr  # the JSON log goes to the log file, not over the progress display
    log_file = data_dir / "logs" / "workflow.log"
    assert "Generation complete" in log_file.read_text(encoding="utf-8")
    assert f"metrics recorded in database: sqlite:///{data_dir / 'agents.db'} (the embedded default" in run.stdout
    # No Kafka configured: the run's lifecycle events are kept in the outbox of the embedded database.
    assert "events: 4 kept in the outbox (agents events relay publishes them)" in run.stdout
    status = agents("events", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert orjson.loads(status.stdout)["outbox"]["pending"] == 4

    # The service is self-contained: its tests pass with `agents` unimportable.
    blocker = tmp_path / "blocker"
    (blocker / "agents").mkdir(parents=True)
    (blocker / "agents" / "__init__.py").write_text("raise ImportError('agents must not be needed')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=out,
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout


def test_generate_json_summary(tmp_path: Path) -> None:
    run = agents(
        "generate", str(EXAMPLES / "marketplace_payouts.md"), "-o", str(tmp_path / "p"), "--no-verify", "--json"
    )
    assert run.returncode == 0, run.stderr
    data = orjson.loads(run.stdout)
    assert data["success"] is True
    assert data["verified"] is False
    assert data["service_name"] == "MarketplaceSellerPayouts"
    assert sorted(n["node_type"] for n in data["nodes"]) == ["COMPUTE", "EFFECT", "ORCHESTRATOR", "REDUCER"]
    assert all(Path(n["output_path"]).is_dir() and n["files"] > 3 for n in data["nodes"])


def test_generate_node_types_option_takes_commas_and_repeats(tmp_path: Path) -> None:
    run = agents(
        "generate",
        str(LOANS),
        "-o",
        str(tmp_path / "s"),
        "--no-verify",
        "--json",
        "-t",
        "reducer,compute",
        "-t",
        "EFFECT",
    )
    assert run.returncode == 0, run.stderr
    assert [n["node_type"] for n in orjson.loads(run.stdout)["nodes"]] == ["REDUCER", "COMPUTE", "EFFECT"]


def test_errors_are_one_line_and_a_hint_with_exit_code_2(tmp_path: Path) -> None:
    missing = agents("generate", str(tmp_path / "missing.md"), "--out", str(tmp_path / "o"))
    assert missing.returncode == 2
    lines = missing.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and "missing.md" in lines[0]
    assert lines[1].startswith("hint: ")
    assert len(lines) == 2

    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    bad = agents("generate", str(empty), "--out", str(tmp_path / "o"))
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "empty" in bad.stderr
    assert "Traceback" not in bad.stderr

    unknown = agents("generate", str(LOANS), "--out", str(tmp_path / "o"), "-t", "GATEWAY", "--no-verify")
    assert unknown.returncode == 2
    assert "GATEWAY" in unknown.stderr.splitlines()[0]
    assert not (tmp_path / "o").exists()

    for given in ("", ","):  # node types given, but none in them: bad input, not the PRD's types (issue 14)
        none = agents("generate", str(LOANS), "--out", str(tmp_path / "o"), "-t", given, "--no-verify")
        assert none.returncode == 2, none.stderr
        assert none.stderr.splitlines()[0] == "error: no node types to generate"
        assert none.stderr.splitlines()[1].startswith("hint: ")
        assert not (tmp_path / "o").exists()


def test_existing_output_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "svc"
    assert agents("generate", str(LOANS), "--out", str(out), "--no-verify").returncode == 0
    again = agents("generate", str(LOANS), "--out", str(out), "--no-verify")
    assert again.returncode == 2
    assert "already holds" in again.stderr
    assert "hint: pass --force" in again.stderr
    forced = agents("generate", str(LOANS), "--out", str(out), "--no-verify", "--force")
    assert forced.returncode == 0, forced.stderr


def test_failed_nodes_exit_1_and_name_each_error(tmp_path: Path) -> None:
    """Every node fails, whatever the machine's speed: the runtime's directory is taken by a file."""
    out = tmp_path / "svc"
    out.mkdir()
    (out / "onex_runtime").write_text("not a directory\n", encoding="utf-8")
    run = agents("generate", str(LOANS), "--out", str(out), "--no-metrics", "--no-verify")
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    first = lines.index("error: all 2 generation jobs failed")  # after the progress rows
    failed = [line.strip() for line in lines[first + 1 : first + 3]]
    assert sorted(line.split(":")[0] for line in failed) == ["COMPUTE", "EFFECT"]
    assert all(line.split(": ", 1)[1].startswith("NotADirectoryError: ") for line in failed), failed
    assert lines[first + 3].startswith("hint: ")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    run = agents("--debug", "analyze", str(tmp_path / "missing.md"))
    assert run.returncode == 1
    assert "Traceback" in run.stderr
    assert "OnexError" in run.stderr


def test_analyze_prints_the_analysis() -> None:
    run = agents("analyze", str(EXAMPLES / "marketplace_payouts.md"))
    assert run.returncode == 0, run.stderr
    assert "MarketplaceSellerPayouts" in run.stdout
    (types_line,) = [line for line in run.stdout.splitlines() if "node types" in line]
    types = types_line.split("│")[2].strip().split(", ")
    assert sorted(types) == ["COMPUTE", "EFFECT", "ORCHESTRATOR", "REDUCER"]
    for entity in ("Sale", "Payout"):
        assert entity in run.stdout
    assert "gross_amount: decimal" in run.stdout
    lines = run.stdout.splitlines()
    steps = [
        line.split("│")[2].strip()
        for line in lines
        if line.startswith("│ ") and line.split("│")[1].strip().isdigit()
    ]
    assert steps == [
        "close_week",
        "compute_seller_balance",
        "create_payouts",
        "send_bank_transfer_file",
        "notify_seller",
    ]
    assert "Lifecycle of Payout" in run.stdout
    assert "initial: pending; terminal: settled, cancelled" in run.stdout


def test_analyze_json_is_the_whole_analysis() -> None:
    run = agents("analyze", str(LOANS), "--json")
    assert run.returncode == 0, run.stderr
    data = orjson.loads(run.stdout)
    assert data["service_name"] == "LibraryLoans"
    assert data["recommended_node_types"] == ["EFFECT", "COMPUTE"]
    assert {e["name"] for e in data["entities"]} >= {"Member", "Book"}
    assert data["source_path"] == str(LOANS)


def test_db_commands_are_mounted(data_dir: Path) -> None:
    migrate = agents("db", "migrate")
    assert migrate.returncode == 0, migrate.stderr
    status = agents("db", "status")
    assert status.returncode == 0, status.stderr
    assert "head" in status.stdout.lower() or "up to date" in status.stdout.lower()
    assert (data_dir / "agents.db").is_file()
