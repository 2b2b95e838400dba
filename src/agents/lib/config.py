"""Settings of the framework (the user guide's names), read from the environment and from ``.env`` files.

The environment wins; then ``./agents/.env``, then ``./.env`` (or only the file named by ``AGENTS_ENV_FILE``).
A bad value raises :class:`ConfigError`, one line naming the variable; secrets are never in a ``repr``.
The variables are listed in README.md ("Configuration").
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import platformdirs
from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.lib.errors import ErrorCode, OnexError

__all__ = [
    "ENV_FILE_VARIABLE",
    "LOG_LEVELS",
    "ConfigError",
    "LogLevel",
    "Settings",
    "get_settings",
    "load_settings",
    "redact_dsn",
    "reset_settings",
]

ENV_FILE_VARIABLE = "AGENTS_ENV_FILE"
"""The environment variable that names the ``.env`` file to read instead of the default ones."""

_DEFAULT_ENV_FILES: tuple[str, ...] = (".env", "agents/.env")
"""The ``.env`` files read, relative to the working directory, in this order: for a variable set in both, the
second (the user guide's ``agents/.env``) wins. The environment wins over both."""

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""The accepted values of ``LOG_LEVEL``, most verbose first."""

_SECRET_FIELDS = frozenset({"postgres_password", "database_url"})


class ConfigError(OnexError):
    """A setting has a value the framework cannot use; the message names the variable."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, code=ErrorCode.CONFIGURATION_ERROR, details=details)

    def __reduce__(self) -> tuple[Any, ...]:
        """Keep the message and details across process boundaries."""
        return (type(self), (self.message, self.details))


class Settings(BaseSettings):
    """The framework's settings; build them with :func:`load_settings` or :func:`get_settings`."""

    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        env_file_encoding="utf-8",
        hide_input_in_errors=True,
    )

    postgres_host: str | None = Field(default=None, description="PostgreSQL host name.")
    postgres_port: int = Field(default=5432, ge=1, le=65535, description="PostgreSQL port.")
    postgres_database: str = Field(default="agents", min_length=1, description="Database name.")
    postgres_user: str = Field(default="postgres", min_length=1, description="Database user.")
    postgres_password: SecretStr | None = Field(default=None, description="Database password.")
    database_url: SecretStr | None = Field(
        default=None, description="A full DSN; wins over the POSTGRES_* settings."
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None, description="Kafka bootstrap servers; without them events go to the outbox."
    )
    kafka_topic_prefix: str | None = Field(
        default=None, description="Environment prefix of event topic names (prod, staging, ...)."
    )
    enable_metrics: bool = Field(default=True, description="Record metrics.")
    prometheus_port: int = Field(default=9090, ge=1, le=65535, description="Port of /metrics.")
    prometheus_host: str = Field(default="127.0.0.1", description="Address /metrics binds to.")
    log_level: LogLevel = Field(default="INFO", description="Minimum level that is logged.")
    log_dir: Path | None = Field(default=None, description="Directory of rotated log files.")
    agents_data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("agents", appauthor=False)),
        description="Directory of the embedded defaults (SQLite database, models).",
    )
    mixin_model_path: Path | None = Field(
        default=None,
        description="The mixin learner's model file (JSON); default: mixin_model.json in the data directory.",
    )
    _env_files: tuple[Path, ...] = PrivateAttr(default=())

    @field_validator("log_level", mode="before")
    @classmethod
    def _normalise_level(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().upper()
        return value

    @field_validator("postgres_host", "kafka_bootstrap_servers", "kafka_topic_prefix", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def data_dir(self) -> Path:
        """Directory of the embedded defaults."""
        return self.agents_data_dir

    @property
    def uses_postgres(self) -> bool:
        """Whether a PostgreSQL server is configured (``DATABASE_URL`` or ``POSTGRES_HOST``)."""
        return self.database_url is not None or self.postgres_host is not None

    def database_dsn(self) -> str:
        """Return the database DSN: ``DATABASE_URL``, else one built from ``POSTGRES_*``, else SQLite.

        The SQLite default is ``sqlite:///<data dir>/agents.db``. The result contains the password: do not log
        it; log :func:`redact_dsn` of it instead.
        """
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        if self.postgres_host is not None:
            user = quote(self.postgres_user, safe="")
            password = self.postgres_password.get_secret_value() if self.postgres_password else ""
            auth = f"{user}:{quote(password, safe='')}" if password else user
            host = f"[{self.postgres_host}]" if ":" in self.postgres_host else self.postgres_host
            database = quote(self.postgres_database, safe="")
            return f"postgresql://{auth}@{host}:{self.postgres_port}/{database}"
        return f"sqlite:///{self.data_dir / 'agents.db'}"

    def redacted_dsn(self) -> str:
        """Return :meth:`database_dsn` with any password replaced by ``***``."""
        return redact_dsn(self.database_dsn())

    @property
    def env_files(self) -> tuple[Path, ...]:
        """The ``.env`` files these settings were read from, in reading order (empty: none)."""
        return self._env_files

    def describe_database(self) -> str:
        """Say which database is used and why: the redacted DSN, then where it came from, in parentheses.

        For example ``postgresql://postgres:***@localhost:5432/omniclaude (POSTGRES_* from agents/.env)`` or
        ``sqlite:///.../agents.db (the embedded default: neither DATABASE_URL nor POSTGRES_HOST is set; .env
        files read: none)``.
        """
        files = ", ".join(_shown(path) for path in self._env_files) or "none"
        if self.database_url is not None:
            origin = "DATABASE_URL " + _origin("DATABASE_URL", files)
        elif self.postgres_host is not None:
            origin = "POSTGRES_* " + _origin("POSTGRES_HOST", files)
        else:
            origin = (
                f"the embedded default: neither DATABASE_URL nor POSTGRES_HOST is set; .env files read: {files}"
            )
        return f"{self.redacted_dsn()} ({origin})"

    def as_safe_dict(self) -> dict[str, Any]:
        """Return every setting under its environment name, secrets masked as ``***``."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in _SECRET_FIELDS and value is not None:
                value = redact_dsn(value.get_secret_value()) if name == "database_url" else "***"
            elif isinstance(value, Path):
                value = str(value)
            out[name.upper()] = value
        return out


def redact_dsn(dsn: str) -> str:
    """Return ``dsn`` with the password (if any) replaced by ``***``; text that is not a URL is kept."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "***"
    if not parts.netloc or "@" not in parts.netloc:
        return dsn
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    if ":" not in userinfo:
        return dsn
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it, else as it is."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _origin(variable: str, files: str) -> str:
    """Where ``variable`` came from: the environment, else the ``.env`` files read."""
    if any(name.upper() == variable for name in os.environ):
        return "from the environment"
    return f"from {files}"


def _env_files(env_file: str | os.PathLike[str] | None) -> tuple[Path, ...]:
    if env_file is not None:
        path = Path(env_file)
    elif os.environ.get(ENV_FILE_VARIABLE):
        path = Path(os.environ[ENV_FILE_VARIABLE])
    else:
        cwd = Path.cwd()
        return tuple(cwd / name for name in _DEFAULT_ENV_FILES if (cwd / name).is_file())
    if not path.is_file():
        raise ConfigError(
            f"{ENV_FILE_VARIABLE}: the .env file {str(path)!r} does not exist",
            details={"variable": ENV_FILE_VARIABLE, "path": str(path)},
        )
    return (path,)


def _describe(error: dict[str, Any]) -> str:
    field = str(error["loc"][0]) if error.get("loc") else "?"
    variable = field.upper()
    message = str(error.get("msg", "invalid value"))
    if field in _SECRET_FIELDS:
        return f"{variable}: {message}"
    raw = error.get("input")
    if field == "log_level":
        return f"{variable}: {raw!r} is not a log level; use one of {', '.join(LOG_LEVELS)}"
    shown = f" (got {raw!r})" if isinstance(raw, str | int | float | bool) else ""
    return f"{variable}: {message}{shown}"


def load_settings(env_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read the settings from the environment and the ``.env`` files, then apply ``overrides``.

    ``env_file`` replaces the default files (``./.env`` then ``./agents/.env``, or ``AGENTS_ENV_FILE``).
    Raises :class:`ConfigError` (one line naming the variable) when a value is invalid.
    """
    paths = _env_files(env_file)
    try:
        # pydantic-settings reads `_env_file` at construction time (later files win); mypy does not know it.
        settings = Settings(_env_file=paths or None, **overrides)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        lines = [_describe(dict(e)) for e in errors]
        variables = [str(e["loc"][0]).upper() for e in errors if e.get("loc")]
        raise ConfigError("invalid configuration: " + "; ".join(lines), details={"variables": variables}) from None
    settings._env_files = paths
    return settings


_lock = threading.Lock()
_cached: Settings | None = None


def get_settings() -> Settings:
    """Return the process-wide settings, loading them on first use."""
    global _cached
    settings = _cached
    if settings is None:
        with _lock:
            if _cached is None:
                _cached = load_settings()
            settings = _cached
    return settings


def reset_settings() -> None:
    """Forget the cached settings so that the next :func:`get_settings` reads the environment again."""
    global _cached
    with _lock:
        _cached = None
