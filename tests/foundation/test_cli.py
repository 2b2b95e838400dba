"""The command line: version, help, settings display and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import orjson
import sqlalchemy as sa

from agents import __version__
from agents.lib import migrations
from agents.lib.db import create_engine
from agents.lib.migrations import HEAD_REVISION
from tests._guide import code_blocks, section
from tests._services.postgres import postgres_db_dsn, postgres_dsn, postgres_service, run_async

__all__ = ["postgres_db_dsn", "postgres_dsn", "postgres_service"]  # fixtures used below


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


# --- the guide's Installation step 2, with its .env in agents/, run from the project root ---


def guide_env_for(dsn: str) -> str:
    """The guide's .env block with its POSTGRES_* values pointed at the server behind ``dsn``."""
    blocks = [code for heading, code in code_blocks("Getting Started", "bash") if heading == "Environment Setup"]
    parts = urlsplit(dsn)
    values = {
        "POSTGRES_HOST": parts.hostname or "",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_DATABASE": parts.path.lstrip("/"),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
    }
    if parts.password:  # our own test server trusts local TCP: the guide's placeholder password is kept
        values["POSTGRES_PASSWORD"] = unquote(parts.password)
    lines = []
    for line in blocks[0].splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={values[name]}" if name in values else line)
    return "\n".join(lines) + "\n"


async def _revision(dsn: str) -> str | None:
    engine = create_engine(dsn)
    try:
        async with engine.connect() as conn:
            value = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
            return None if value is None else str(value)
    finally:
        await engine.dispose()


def test_guide_migration_command_uses_the_agents_env_and_says_which_database(
    tmp_path: Path, postgres_db_dsn: str, data_dir: Path
) -> None:
    project = tmp_path / "project"
    (project / "agents").mkdir(parents=True)
    env_file = guide_env_for(postgres_db_dsn)
    (project / "agents" / ".env").write_text(env_file)
    password = next(line.split("=", 1)[1] for line in env_file.splitlines() if line.startswith("POSTGRES_PASS"))
    parts = urlsplit(postgres_db_dsn)
    user = unquote(parts.username or "postgres")
    named = (
        f"database: postgresql://{user}:***@{parts.hostname}:{parts.port}/{parts.path.lstrip('/')} "
        "(POSTGRES_* from agents/.env)"
    )
    blocks = [code for heading, code in code_blocks("Getting Started", "bash") if heading == "Installation"]
    command = next(line for block in blocks for line in block.splitlines() if "migrations" in line)
    assert command == "poetry run python -m agents.lib.migrations apply"
    argv = [sys.executable, *command.split()[3:]]  # `poetry run python` is our interpreter
    apply = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=120, check=False)
    assert apply.returncode == 0, apply.stderr
    revisions = sorted(p.stem for p in (Path(migrations.__file__).parent / "versions").glob("0*.py"))
    assert revisions[-1] == HEAD_REVISION
    assert apply.stdout.splitlines() == [named, *(f"applied {r}" for r in revisions)]
    assert password not in apply.stdout + apply.stderr
    assert run_async(lambda: _revision(postgres_db_dsn)) == HEAD_REVISION
    assert not (data_dir / "agents.db").exists()  # the embedded SQLite file was not used

    for args, expected in (
        (["db", "status"], [named, f"current: {HEAD_REVISION}", f"head: {HEAD_REVISION}", "up to date"]),
        (["db", "migrate"], [named, f"already at head {HEAD_REVISION}"]),
    ):
        run = subprocess.run(
            [sys.executable, "-m", "agents", *args],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.splitlines() == expected
        assert password not in run.stdout + run.stderr


# --- the guide's Prerequisites and Installation, beside what README says differs ---

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_prerequisites() -> dict[str, str]:
    """README's Prerequisites table: the guide's wording -> what we say instead (the rest of the row)."""
    text = README.read_text(encoding="utf-8").split("## Prerequisites\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split(" | ", 1) for line in text.splitlines() if line.startswith("| ")]
    return {guide.strip(): rest for guide, rest in rows[1:]}


def python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, check=False)


async def _server_version(dsn: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def test_guide_prerequisites_and_what_differs_are_documented_and_true(postgres_dsn: str) -> None:
    import tomllib

    rows = readme_prerequisites()
    guide = [code for heading, code in code_blocks("Getting Started", "bash") if heading == "Installation"]
    prerequisites = guide_section_prerequisites()
    assert prerequisites == [
        "**Python**: 3.10 or higher",
        "**PostgreSQL**: 13 or higher (for metrics persistence)",
        "**Kafka**: 2.8 or higher (optional, for event processing)",
        "**Dependencies**: Install via `poetry install`",
    ]
    # Python: the guide's 3.10 is refused by the package metadata, as README says.
    project = tomllib.loads((README.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["requires-python"] == ">=3.11"
    assert rows["Python 3.10 or higher"].startswith("Python 3.11 or higher")
    assert sys.version_info >= (3, 11)
    # Poetry: a PEP 621 [project] table and no [tool.poetry], which is why Poetry 1.x cannot install it.
    assert "tool" not in project or "poetry" not in project["tool"]
    assert "Poetry 1.x cannot read" in rows["`poetry install`"]
    # PostgreSQL: the version the tests run on is the one README names.
    major = run_async(lambda: _server_version(postgres_dsn)).split(".")[0]
    assert f"PostgreSQL {major} is what the tests run on" in rows["PostgreSQL 13 or higher"]
    # The guide's "Verify installation" statement, `poetry run python` being our interpreter.
    verify = next(line for block in guide for line in block.splitlines() if "python -c" in line)
    statement = verify.split('python -c "', 1)[1].rsplit('"', 1)[0]
    assert python("-c", statement).stdout == "✅ Agent framework installed\n"
    # Errors: the guide's import fails as written; README's replacement gives the same shape.
    guide_import = "from omnibase_core.errors import OnexError"
    ours = rows[f"`{guide_import}`"].split(" | ", 1)[0].strip("`")
    assert ours == "from agents.lib.errors import OnexError"
    assert "ModuleNotFoundError: No module named 'omnibase_core'" in python("-c", guide_import).stderr
    shape = f"{ours}\ne = OnexError('boom', details={{'k': 1}})\nprint(e.message, e.code.name, e.details)"
    assert python("-c", shape).stdout == "boom OPERATION_FAILED {'k': 1}\n"


def guide_section_prerequisites() -> list[str]:
    """The bullet points under the guide's "### Prerequisites"."""
    text = section("Getting Started").split("### Prerequisites\n", 1)[1].split("\n### ", 1)[0]
    return [line[2:].strip() for line in text.splitlines() if line.startswith("- ")]
