"""Every Stream 8 example of the user guide runs as written, and its jq queries work on the files we write.

The code blocks are read from the guide itself (see ``tests._guide``). Only names the guide leaves to the reader
are supplied (``do_work``, ``risky_operation``, ``logger1``...), and ``/var/log/agents`` is pointed at a
temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from agents.lib.log_rotation import LogRotationConfig, configure_global_rotation, remove_rotation
from agents.lib.structured_logger import get_logger
from tests._guide import code_blocks

GUIDE_ID = "550e8400-e29b-41d4-a716-446655440000"
GUIDE_LOG_DIR = "/var/log/agents"
REPO = Path(__file__).resolve().parents[2]


def stream8_blocks(language: str) -> list[tuple[str, str]]:
    return code_blocks("Stream 8: Structured Logging", language)


def reader_supplied_names() -> dict[str, Any]:
    async def do_work() -> str:
        await asyncio.sleep(0)
        return "done"

    def risky_operation() -> None:
        raise ValueError("invalid input")

    async def research_phase(request: object) -> list[str]:
        return ["a", "b"]

    async def generation_phase(results: list[str]) -> list[str]:
        return [r.upper() for r in results]

    return {
        "do_work": do_work,
        "risky_operation": risky_operation,
        "user_input": "abc",
        "research_phase": research_phase,
        "generation_phase": generation_phase,
        "logger1": get_logger("logger1", component="one"),
        "logger2": get_logger("logger2", component="two"),
        "__name__": "guide_example",
    }


def run_examples(log_dir: Path) -> dict[str, Any]:
    """Run the guide's Python blocks in order, with ``/var/log/agents`` replaced by ``log_dir``."""
    namespace = reader_supplied_names()
    blocks = stream8_blocks("python")
    assert [h for h, _ in blocks] == [
        "Simple Logging",
        "Correlation ID Tracking",
        "Using Context Managers",
        "Error Logging",
        "Multi-Phase Workflows",
        "Global Context",
        "Log Rotation",
    ]
    for heading, code in blocks:
        code = code.replace(GUIDE_LOG_DIR, str(log_dir))
        if heading == "Error Logging":
            with pytest.raises(ValueError, match="invalid input"):
                exec(compile(code, f"<guide: {heading}>", "exec"), namespace)
            continue
        exec(compile(code, f"<guide: {heading}>", "exec"), namespace)
        if heading == "Using Context Managers":
            asyncio.run(namespace["process_request"](GUIDE_ID))
        if heading == "Multi-Phase Workflows":
            asyncio.run(namespace["execute_workflow"](SimpleNamespace(id="wf-1")))
    return namespace


def test_stream8_examples_run_as_written(tmp_path: Path) -> None:
    handler = configure_global_rotation(LogRotationConfig(log_dir=tmp_path), capture_stdlib=False)
    namespace = run_examples(tmp_path / "rotated")
    # The last example configured its own global rotation, replacing ours.
    records = [orjson.loads(x) for x in handler.path.read_bytes().splitlines()]
    remove_rotation()
    messages = [r["message"] for r in records]
    assert messages == [
        "Task started",
        "Cache near capacity",
        "Generation failed",
        "Research started",
        "Research completed",
        "Processing request",
        "Request completed",
        "Validation failed",
        "Workflow started",
        "Phase started",
        "Phase completed",
        "Phase started",
        "Phase completed",
        "Workflow completed",
        "Message from logger 1",
        "Message from logger 2",
    ]
    by_message = {r["message"]: r for r in records}
    assert by_message["Research started"]["correlation_id"] == str(namespace["correlation_id"])
    assert by_message["Research started"]["component"] == "agent-researcher"
    assert by_message["Processing request"]["correlation_id"] == GUIDE_ID
    assert by_message["Request completed"]["metadata"] == {"result": "done"}
    assert by_message["Validation failed"]["exception"]["type"] == "ValueError"
    assert by_message["Validation failed"]["metadata"] == {
        "operation": "validate_input",
        "input": "abc",
    }
    workflow = [r for r in records if r["component"] == "workflow-coordinator"]
    assert len({r["correlation_id"] for r in workflow}) == 1
    assert workflow[-1]["metadata"]["correlation_id"] == workflow[0]["correlation_id"]
    assert by_message["Phase completed"]["metadata"] == {"phase": "generation", "nodes_count": 2}
    logger1_line, logger2_line = records[-2:]
    assert logger1_line["correlation_id"] == logger2_line["correlation_id"]
    assert logger1_line["correlation_id"] == namespace["current_id"]
    # The rotation example wrote its configuration to the redirected /var/log/agents.
    assert (tmp_path / "rotated" / "workflow.log").exists()


def guide_env_file(log_dir: Path) -> str:
    """The guide's "Environment Setup" block (the .env it puts in ``agents/``), its LOG_DIR pointed at ``log_dir``."""
    blocks = [code for heading, code in code_blocks("Getting Started", "bash") if heading == "Environment Setup"]
    assert len(blocks) == 1 and f"LOG_DIR={GUIDE_LOG_DIR}" in blocks[0]
    return blocks[0].replace(GUIDE_LOG_DIR, str(log_dir))


def test_guide_jq_queries_on_the_log_dir_default(tmp_path: Path) -> None:
    """A user's run: the guide's .env in agents/, its examples run from the project root, then its jq queries.

    Only LOG_DIR is configured, so the lines before the guide's rotation example reach ``workflow.log`` by
    default; the rotation example then takes the same file over.
    """
    jq = shutil.which("jq")
    if jq is None:
        pytest.fail("jq is not installed; `make test` installs it (scripts/ensure-system-deps.sh)")
    project, log_dir = tmp_path / "project", tmp_path / "logs"
    (project / "agents").mkdir(parents=True)
    (project / "agents" / ".env").write_text(guide_env_file(log_dir))
    script = (
        "import sys; from pathlib import Path; "
        "from tests.structured_logging.test_guide_stream8 import run_examples; run_examples(Path(sys.argv[1]))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-c", script, str(log_dir)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # every line went to the file, none to standard error
    assert sorted(p.name for p in log_dir.iterdir()) == ["workflow.log"]

    queries = [block.strip().splitlines() for _, block in stream8_blocks("bash") if "jq" in block]
    commands = [line for lines in queries for line in lines if line.startswith("cat ")]
    assert len(commands) == 3
    assert all(f"{GUIDE_LOG_DIR}/workflow.log" in c for c in commands)
    outputs = []
    for command in commands:
        completed = subprocess.run(
            ["bash", "-c", command.replace(GUIDE_LOG_DIR, str(log_dir))],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert completed.returncode == 0, completed.stderr
        outputs.append(completed.stdout)
    by_id = [orjson.loads(chunk) for chunk in _json_values(outputs[0])]
    assert [r["message"] for r in by_id] == ["Processing request", "Request completed"]
    assert {r["correlation_id"] for r in by_id} == {GUIDE_ID}
    errors = [orjson.loads(chunk) for chunk in _json_values(outputs[1])]
    assert [r["message"] for r in errors] == ["Generation failed", "Validation failed"]
    counts = {row["component"]: row["count"] for row in orjson.loads(outputs[2])}
    assert counts == {
        "codegen-workflow": 3,
        "agent-researcher": 5,
        "workflow-coordinator": 6,
        "one": 1,
        "two": 1,
    }


def _json_values(text: str) -> list[str]:
    """Split jq's pretty-printed output into one JSON text per value."""
    values, depth, start = [], 0, None
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0 and start is not None:
                values.append(text[start : index + 1])
    return values
