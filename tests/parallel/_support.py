"""Helpers of the parallel-generation tests: hookable generators, jobs, and /proc inspection of processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

from agents.lib.codegen.generator import CodeGenerator, GeneratedNode
from agents.lib.codegen.spec import NodeSpec
from agents.lib.parallel_generator import GenerationJob
from agents.lib.prd_analyzer import PRDAnalysis
from agents.lib.structured_logger import MemorySink

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prd"
EXAMPLE_PRD = EXAMPLES / "library_loans.md"
GATE_TIMEOUT_S = 60.0
"""How long a hook waits for the test to open its gate before failing the job (only reached on failure)."""


class HookedGenerator(CodeGenerator):
    """A real :class:`CodeGenerator` with hooks run (on the worker thread) before and after each node."""

    def __init__(
        self,
        before: Callable[[NodeSpec], None] | None = None,
        after: Callable[[GeneratedNode], None] | None = None,
    ) -> None:
        super().__init__()
        self.before = before
        self.after = after
        self.threads: list[str] = []
        self._lock = threading.Lock()

    def generate_node(
        self, spec: NodeSpec, output_dir: str | os.PathLike[str], *, force: bool = False
    ) -> GeneratedNode:
        with self._lock:
            self.threads.append(threading.current_thread().name)
        if self.before is not None:
            self.before(spec)
        node = super().generate_node(spec, output_dir, force=force)
        if self.after is not None:
            self.after(node)
        return node


class Gates:
    """One gate per node type: a hook waits on its gate; the test sees which jobs have started."""

    def __init__(self, *node_types: str) -> None:
        self.gates = {t: threading.Event() for t in node_types}
        self.started = {t: threading.Event() for t in node_types}

    def hook(self, spec: NodeSpec) -> None:
        self.started[spec.node_type].set()
        if not self.gates[spec.node_type].wait(GATE_TIMEOUT_S):
            raise RuntimeError(f"the gate of {spec.node_type} was never opened")

    def open(self, node_type: str) -> None:
        self.gates[node_type].set()

    def open_all(self) -> None:
        for gate in self.gates.values():
            gate.set()


def job(
    analysis: PRDAnalysis,
    node_type: str,
    out: Path,
    *,
    domain: str = "library",
    service: str = "LibraryLoans",
    verify: bool = False,
    force: bool = False,
) -> GenerationJob:
    return GenerationJob(
        job_id=uuid4(),
        node_type=node_type,
        microservice_name=service,
        domain=domain,
        analysis_result=analysis,
        output_directory=out,
        verify=verify,
        force=force,
    )


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = GATE_TIMEOUT_S) -> None:
    """Poll ``condition`` on the loop; fail (never skip) when it does not hold within ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        await asyncio.sleep(0.01)


# --- processes, from /proc (threads and file descriptors: tests._leaks) ---------------------------------------------------


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """``(state, ppid, pgrp)`` of a process, or None when it no longer exists."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[2])


def is_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie is dead: it only waits to be reaped)."""
    stat = proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X", "x")


def live_pids(predicate: Callable[[int, tuple[str, int, int]], bool]) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat is not None and stat[0] not in ("Z", "X", "x") and predicate(int(entry), stat):
                found.append(int(entry))
    return found


_CHILDREN_BEFORE: set[int] = set()
"""Children this process had when the current test started (the session's PostgreSQL server, say)."""


def remember_children() -> None:
    """Note the children that exist now; :func:`live_children` leaves them out (called before each test)."""
    me = os.getpid()
    _CHILDREN_BEFORE.clear()
    _CHILDREN_BEFORE.update(live_pids(lambda _pid, stat: stat[1] == me))


def live_children() -> list[int]:
    """Live processes whose parent is this process, started since the current test began."""
    me = os.getpid()
    return live_pids(lambda pid, stat: stat[1] == me and pid not in _CHILDREN_BEFORE)


def live_group(pgid: int) -> list[int]:
    """Live processes of the process group ``pgid``."""
    return live_pids(lambda _pid, stat: stat[2] == pgid)


HANGING_TEST = '''"""A test that hangs, with a child of its own, after saying who they are."""

import os
import subprocess
import sys
import time


def test_hangs() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    temporary = PIDFILE + ".tmp"
    with open(temporary, "w") as handle:
        handle.write(f"{os.getpid()} {child.pid}")
    os.replace(temporary, PIDFILE)
    time.sleep(600)
'''


def add_hanging_test(pidfile: Path, *, per_node: bool = False) -> Callable[[GeneratedNode], None]:
    """An ``after`` hook adding to the node a test that writes ``<pid> <child pid>`` to ``pidfile`` and hangs.

    ``per_node``: each node writes its own ``<package>.<pidfile name>`` beside it, so a test can wait for all.
    """

    def after(node: GeneratedNode) -> None:
        target = pidfile.with_name(f"{node.package_dir.name}.{pidfile.name}") if per_node else pidfile
        source = HANGING_TEST.replace("import time\n\n\n", f"import time\n\nPIDFILE = {str(target)!r}\n\n\n", 1)
        (node.package_dir / "tests" / "test_hangs.py").write_text(source, encoding="utf-8")

    return after


def read_pids(pidfile: Path) -> tuple[int, int]:
    test_pid, child_pid = (int(x) for x in pidfile.read_text().split())
    return test_pid, child_pid


def kill_quietly(*pids: int) -> None:
    """Last-resort cleanup after a failed test: never leave a stray sleeper behind."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


CollectingSink = MemorySink
