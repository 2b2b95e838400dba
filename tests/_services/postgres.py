"""A throwaway PostgreSQL server for the test session, and a fresh database per test.

``postgres_dsn`` (session scope) is the DSN of a server that accepts the superuser ``postgres`` without a
password: either the server named by ``AGENTS_TEST_POSTGRES_DSN`` or one started here from the Debian
PostgreSQL binaries (``pg_config --bindir``, else ``/usr/lib/postgresql/*/bin``) on a free port, with its data
in a temporary directory. As root the binaries run inside ``unshare --user`` (they refuse to run as root).
When the server cannot be started the fixture fails with the reason; it never skips.

``postgres_db_dsn`` gives each test its own database (created with a unique name, dropped after the test with
``WITH (FORCE)``), so tests are independent under pytest-xdist.

``restartable_postgres`` starts a dedicated server that a test may ``stop()`` and ``start()`` again (always a
local server, even when ``AGENTS_TEST_POSTGRES_DSN`` is set).

Our own servers also have a login role ``agents_pw`` with the password ``PASSWORD_ROLE_PASSWORD`` that must
authenticate with SCRAM over TCP, so tests can exercise a wrong password.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests._services.processes import die_with_parent, free_port

__all__ = [
    "ENV_VAR",
    "PASSWORD_ROLE",
    "PASSWORD_ROLE_PASSWORD",
    "PostgresServer",
    "PostgresService",
    "backend_dsn",
    "create_database",
    "drop_database",
    "dsn_with_database",
    "postgres_db_dsn",
    "postgres_dsn",
    "postgres_service",
    "restartable_postgres",
    "run_async",
]

ENV_VAR = "AGENTS_TEST_POSTGRES_DSN"
PASSWORD_ROLE = "agents_pw"
PASSWORD_ROLE_PASSWORD = "s3cret-Passw0rd-xyz"

_T = TypeVar("_T")

_HBA = """\
local all all trust
host all {role} 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
"""


def run_async(factory: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion in a private event loop on a helper thread.

    Sync fixtures use this so they never touch the event loop pytest-asyncio gives the test.
    """

    async def main() -> _T:
        return await factory()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def dsn_with_database(dsn: str, database: str) -> str:
    """Return ``dsn`` pointing at ``database`` instead of its own database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def _bindir() -> Path:
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            candidates.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass
    candidates.extend(Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    pytest.fail(
        "PostgreSQL server binaries (initdb, postgres) not found: install the Debian package "
        f"postgresql-15 or set {ENV_VAR} to the DSN of a server the tests may use",
        pytrace=False,
    )


def _wrap(argv: list[str]) -> list[str]:
    """Run PostgreSQL binaries inside a user namespace when we are root (they refuse to run as root)."""
    if os.geteuid() == 0:
        return ["unshare", "--user", "--", *argv]
    return argv


class PostgresServer:
    """A PostgreSQL cluster in a temporary directory, run as a child process; ``stop()``/``start()`` again."""

    def __init__(self, base_dir: Path | None = None) -> None:
        self.bindir = _bindir()
        self._own_base = base_dir is None
        self.base_dir = Path(tempfile.mkdtemp(prefix="agents-pg-")) if base_dir is None else base_dir
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "postgres.log"
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._initialised = False

    @property
    def dsn(self) -> str:
        """DSN of the ``postgres`` database as the superuser ``postgres`` (no password)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def _init(self) -> None:
        result = subprocess.run(
            _wrap(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"initdb failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}",
                pytrace=False,
            )
        (self.data_dir / "pg_hba.conf").write_text(_HBA.format(role=PASSWORD_ROLE))
        self._initialised = True

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (initialising the cluster the first time) and wait until it accepts queries."""
        if self.running:
            return
        if not self._initialised:
            self._init()
        for attempt in range(3):
            if attempt:
                self.port = free_port()
            if self._start_once(timeout):
                if not getattr(self, "_role_created", False):
                    self._create_password_role()
                return
        pytest.fail(
            f"PostgreSQL did not start on 127.0.0.1 (log {self.log_path}):\n{self._log_tail()}",
            pytrace=False,
        )

    def _start_once(self, timeout: float) -> bool:
        log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                _wrap(
                    [
                        str(self.bindir / "postgres"),
                        "-D",
                        str(self.data_dir),
                        "-p",
                        str(self.port),
                        "-k",
                        str(self.data_dir),
                        "-c",
                        "listen_addresses=127.0.0.1",
                        "-c",
                        "fsync=off",
                        "-c",
                        "synchronous_commit=off",
                        "-c",
                        "full_page_writes=off",
                        "-c",
                        "max_connections=200",
                    ]
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent(signal.SIGINT) if sys.platform.startswith("linux") else None,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            if self._ready():
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def _ready(self) -> bool:
        result = subprocess.run(
            [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True,
            timeout=10,
            check=False,
        )
        return result.returncode == 0

    def _create_password_role(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        async def create() -> None:
            conn = await asyncpg.connect(self.dsn)
            try:
                await conn.execute(
                    f"CREATE ROLE {PASSWORD_ROLE} LOGIN SUPERUSER PASSWORD '{PASSWORD_ROLE_PASSWORD}'"
                )
            finally:
                await conn.close()

        run_async(create)
        self._role_created = True

    def stop(self) -> None:
        """Stop the server with SIGINT (fast shutdown) and wait for it to exit."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._process = None

    def destroy(self) -> None:
        """Stop the server and delete its files."""
        self.stop()
        if self._own_base:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"


@dataclass(frozen=True)
class PostgresService:
    """The session's PostgreSQL: its admin DSN and whether it is our own server (with the password role)."""

    dsn: str
    own_server: bool


async def _check(dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_service() -> Iterator[PostgresService]:
    """The session's PostgreSQL server (``AGENTS_TEST_POSTGRES_DSN`` or a throwaway local one)."""
    external = os.environ.get(ENV_VAR)
    if external:
        try:
            run_async(lambda: _check(external))
        except Exception as exc:
            pytest.fail(
                f"{ENV_VAR} is set but the server cannot be used: {type(exc).__name__}: {exc}",
                pytrace=False,
            )
        yield PostgresService(dsn=external, own_server=False)
        return
    server = PostgresServer()
    try:
        server.start()
        yield PostgresService(dsn=server.dsn, own_server=True)
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def postgres_dsn(postgres_service: PostgresService) -> str:
    """DSN (``postgresql://...``) of the session's PostgreSQL server, administrative database."""
    return postgres_service.dsn


async def _admin(dsn: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_database(admin_dsn: str) -> tuple[str, str]:
    """Create a database with a unique name; return ``(name, dsn)``."""
    name = f"agents_test_{uuid.uuid4().hex[:16]}"
    run_async(lambda: _admin(admin_dsn, f'CREATE DATABASE "{name}"'))
    return name, dsn_with_database(admin_dsn, name)


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop a database created by :func:`create_database`, closing its connections."""
    run_async(lambda: _admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_db_dsn(postgres_dsn: str) -> Iterator[str]:
    """DSN of a fresh, empty database of its own for this test (dropped afterwards)."""
    name, dsn = create_database(postgres_dsn)
    try:
        yield dsn
    finally:
        drop_database(postgres_dsn, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """DSN of an empty database: a SQLite file in ``tmp_path``, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'agents-test.db'}"
    else:
        yield request.getfixturevalue("postgres_db_dsn")


@pytest.fixture
def restartable_postgres() -> Iterator[PostgresServer]:
    """A dedicated local PostgreSQL server the test may ``stop()`` and ``start()``; ``.dsn`` to reach it."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.destroy()
