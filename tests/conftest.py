"""Session-wide test setup: an isolated data directory and no stray configuration from the developer's shell."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.lib.config import reset_settings
from agents.lib.log_context import clear_log_context
from agents.lib.structured_logger import reset_logging

_ISOLATED = (
    "DATABASE_URL",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_DATABASE",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_TOPIC_PREFIX",
    "LOG_LEVEL",
    "LOG_DIR",
    "AGENTS_ENV_FILE",
)


@pytest.fixture(scope="session", autouse=True)
def _shared_mypy_seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Verification's mypy seed cache lives in this run's temp root (shared by the xdist workers), not in ~/.cache."""
    from agents.lib.codegen.mypy_seed import SEED_DIR_VARIABLE

    if os.environ.get(SEED_DIR_VARIABLE):  # the developer chose a place
        yield
        return
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # .../pytest-N/popen-gwK -> .../pytest-N, common to the workers
    os.environ[SEED_DIR_VARIABLE] = str(root / "mypy-seed")
    try:
        yield
    finally:
        os.environ.pop(SEED_DIR_VARIABLE, None)


@pytest.fixture(autouse=True)
def _isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Give every test its own data dir and working dir, and no settings inherited from the shell."""
    for name in _ISOLATED:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("agents-home")
    monkeypatch.setenv("AGENTS_DATA_DIR", str(home / "data"))
    monkeypatch.chdir(home)
    reset_settings()
    reset_logging()
    clear_log_context()
    yield
    clear_log_context()
    reset_logging()
    reset_settings()


@pytest.fixture
def data_dir() -> Path:
    """The data directory of the current test."""
    return Path(os.environ["AGENTS_DATA_DIR"])
