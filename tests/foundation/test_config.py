"""Settings from the environment and .env files, their errors, and secret handling."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from agents.lib.config import ConfigError, get_settings, load_settings, redact_dsn, reset_settings
from agents.lib.errors import ErrorCode
from tests._guide import code_blocks


def test_defaults(data_dir: Path) -> None:
    settings = load_settings()
    assert settings.postgres_port == 5432
    assert settings.log_level == "INFO"
    assert settings.enable_metrics is True
    assert settings.prometheus_port == 9090
    assert settings.prometheus_host == "127.0.0.1"
    assert settings.kafka_bootstrap_servers is None
    assert settings.uses_postgres is False
    assert settings.data_dir == data_dir
    assert settings.database_dsn() == f"sqlite:///{data_dir / 'agents.db'}"


def test_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_HOST", "db.internal")
    monkeypatch.setenv("POSTGRES_PORT", "6543")
    monkeypatch.setenv("POSTGRES_DATABASE", "omniclaude")
    monkeypatch.setenv("POSTGRES_USER", "app")
    monkeypatch.setenv("POSTGRES_PASSWORD", "p@ss:w/rd")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    monkeypatch.setenv("ENABLE_METRICS", "false")
    monkeypatch.setenv("PROMETHEUS_PORT", "9999")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_DIR", "/var/log/agents")
    settings = load_settings()
    assert settings.uses_postgres is True
    assert settings.database_dsn() == "postgresql://app:p%40ss%3Aw%2Frd@db.internal:6543/omniclaude"
    assert settings.kafka_bootstrap_servers == "localhost:9092"
    assert settings.enable_metrics is False
    assert settings.prometheus_port == 9999
    assert settings.log_level == "DEBUG"
    assert settings.log_dir == Path("/var/log/agents")


def test_database_url_wins_over_postgres_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_HOST", "ignored")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:secret@other:5433/x")
    assert load_settings().database_dsn() == "postgresql://u:secret@other:5433/x"


def test_dotenv_in_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("POSTGRES_HOST=from-file\nLOG_LEVEL=WARNING\nUNRELATED=1\n")
    settings = load_settings()
    assert settings.postgres_host == "from-file"
    assert settings.log_level == "WARNING"


def test_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LOG_LEVEL=WARNING\n")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    assert load_settings().log_level == "ERROR"


def test_env_file_named_by_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    named = tmp_path / "prod.env"
    named.write_text("PROMETHEUS_PORT=9200\n")
    (tmp_path / ".env").write_text("PROMETHEUS_PORT=1111\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTS_ENV_FILE", str(named))
    assert load_settings().prometheus_port == 9200


def test_missing_named_env_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTS_ENV_FILE", str(tmp_path / "nope.env"))
    with pytest.raises(ConfigError, match=r"AGENTS_ENV_FILE: the \.env file .*nope\.env.* does not exist"):
        load_settings()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("POSTGRES_PORT", "abc", "POSTGRES_PORT: Input should be a valid integer"),
        ("POSTGRES_PORT", "70000", "POSTGRES_PORT: Input should be less than or equal to 65535"),
        ("PROMETHEUS_PORT", "0", "PROMETHEUS_PORT: Input should be greater than or equal to 1"),
        ("LOG_LEVEL", "verbose", "LOG_LEVEL: 'VERBOSE' is not a log level; use one of DEBUG"),
        ("ENABLE_METRICS", "maybe", "ENABLE_METRICS: Input should be a valid boolean"),
    ],
)
def test_bad_value_names_the_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = caught.value.message
    assert expected in message
    assert "\n" not in message
    assert caught.value.code is ErrorCode.CONFIGURATION_ERROR
    assert caught.value.details["variables"] == [variable]


def test_secrets_never_in_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_HOST", "db")
    monkeypatch.setenv("POSTGRES_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:dsn-secret@h/db")
    settings = load_settings()
    for text in (repr(settings), str(settings), str(settings.as_safe_dict())):
        assert "hunter2-secret" not in text
        assert "dsn-secret" not in text
    assert settings.as_safe_dict()["DATABASE_URL"] == "postgresql://u:***@h/db"
    assert settings.as_safe_dict()["POSTGRES_PASSWORD"] == "***"
    assert settings.redacted_dsn() == "postgresql://u:***@h/db"


def test_redact_dsn() -> None:
    assert redact_dsn("postgresql://user:pw@host:5432/db") == "postgresql://user:***@host:5432/db"
    assert redact_dsn("postgresql+asyncpg://u:p%40x@h/db?ssl=1") == "postgresql+asyncpg://u:***@h/db?ssl=1"
    assert redact_dsn("postgresql://user@host/db") == "postgresql://user@host/db"
    assert redact_dsn("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"


def test_get_settings_is_cached_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    monkeypatch.setenv("PROMETHEUS_PORT", "9300")
    assert get_settings() is first
    reset_settings()
    assert get_settings().prometheus_port == 9300


def test_config_error_survives_pickling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_PORT", "abc")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.message == caught.value.message
    assert copy.details == caught.value.details


# --- the guide's .env file in agents/, commands run from the project root ---


def guide_env_block() -> str:
    """The guide's "Environment Setup" block: the .env file it says to create in the `agents/` directory."""
    blocks = [code for heading, code in code_blocks("Getting Started", "bash") if heading == "Environment Setup"]
    assert len(blocks) == 1
    return blocks[0]


def test_guide_env_file_in_agents_directory_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / ".env").write_text(guide_env_block())
    settings = load_settings()
    assert settings.env_files == (tmp_path / "agents" / ".env",)
    assert (settings.postgres_host, settings.postgres_port, settings.postgres_database) == (
        "localhost",
        5432,
        "omniclaude",
    )
    assert settings.postgres_user == "postgres"
    assert settings.postgres_password is not None
    assert settings.postgres_password.get_secret_value() == "your_password"
    assert settings.kafka_bootstrap_servers == "localhost:9092"
    assert (settings.enable_metrics, settings.prometheus_port, settings.log_level) == (True, 9090, "INFO")
    assert settings.log_dir == Path("/var/log/agents")
    assert settings.database_dsn() == "postgresql://postgres:your_password@localhost:5432/omniclaude"
    assert settings.describe_database() == (
        "postgresql://postgres:***@localhost:5432/omniclaude (POSTGRES_* from agents/.env)"
    )


def test_both_env_files_are_read_agents_env_wins_and_the_environment_wins_over_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("POSTGRES_HOST=root-host\nLOG_LEVEL=DEBUG\nPROMETHEUS_PORT=9100\n")
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / ".env").write_text("POSTGRES_HOST=agents-host\nPROMETHEUS_PORT=9200\n")
    settings = load_settings()
    assert settings.env_files == (tmp_path / ".env", tmp_path / "agents" / ".env")
    assert (settings.postgres_host, settings.log_level, settings.prometheus_port) == ("agents-host", "DEBUG", 9200)
    assert settings.describe_database() == (
        "postgresql://postgres@agents-host:5432/agents (POSTGRES_* from .env, agents/.env)"
    )
    monkeypatch.setenv("PROMETHEUS_PORT", "9300")
    monkeypatch.setenv("postgres_host", "env-host")
    settings = load_settings()
    assert (settings.postgres_host, settings.prometheus_port) == ("env-host", 9300)
    assert settings.describe_database() == (
        "postgresql://postgres@env-host:5432/agents (POSTGRES_* from the environment)"
    )


def test_named_env_file_replaces_both_default_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LOG_LEVEL=DEBUG\n")
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / ".env").write_text("POSTGRES_HOST=agents-host\n")
    named = tmp_path / "elsewhere.env"
    named.write_text("DATABASE_URL=postgresql://u:pw@named/db\n")
    monkeypatch.setenv("AGENTS_ENV_FILE", str(named))
    settings = load_settings()
    assert settings.env_files == (named,)
    assert (settings.postgres_host, settings.log_level) == (None, "INFO")
    assert settings.describe_database() == "postgresql://u:***@named/db (DATABASE_URL from elsewhere.env)"


def test_default_database_is_described_with_the_files_read(data_dir: Path) -> None:
    settings = load_settings()
    assert settings.env_files == ()
    assert settings.describe_database() == (
        f"sqlite:///{data_dir / 'agents.db'} (the embedded default: neither DATABASE_URL nor POSTGRES_HOST is "
        "set; .env files read: none)"
    )
