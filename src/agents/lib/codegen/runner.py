"""Running a verification tool in a process group of its own.

The command is killed with its children on timeout or when cancelled; its output goes to a temporary file.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Completed", "run_command", "service_environment"]


@dataclass(frozen=True)
class Completed:
    """How a command ended: its exit code and output, and whether it was killed for a timeout or a cancel."""

    returncode: int
    output: str
    timed_out: bool = False
    cancelled: bool = False


def run_command(
    command: Sequence[str], cwd: Path, env: dict[str, str], timeout: float, cancel: threading.Event | None
) -> Completed:
    """Run ``command`` in its own process group; kill the whole group on timeout or when ``cancel`` is set.

    Returns once the command has ended; after a kill, only once no process of its group runs any more.
    """
    with tempfile.TemporaryFile() as sink:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        timed_out = cancelled = False
        exited = _ExitWatcher(process)
        try:
            while True:
                if exited(_POLL_S):
                    break
                if cancel is not None and cancel.is_set():
                    cancelled = True
                elif time.monotonic() >= deadline:
                    timed_out = True
                else:
                    continue
                _kill_group(process)
                break
        finally:
            exited.close()
        sink.seek(0)
        output = sink.read().decode("utf-8", "replace")
    return Completed(process.returncode, output, timed_out, cancelled)


_POLL_S = 0.05
"""How often a running subprocess's cancellation and deadline are checked."""


class _ExitWatcher:
    """Waits up to a given time for a process to end; wakes the moment it does.

    On Linux a pidfd (``os.pidfd_open``) becomes readable when the process exits, so ``select`` returns at
    once; ``Popen.wait(timeout)`` instead sleeps in steps of up to 50 ms, and every step a finished check spends
    waiting to be noticed is a core left idle. Elsewhere it falls back to ``Popen.wait``.
    """

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._fd: int | None = None
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is not None:
            with contextlib.suppress(OSError):
                self._fd = pidfd_open(process.pid)

    def __call__(self, timeout: float) -> bool:
        """Return True once the process has ended (and was reaped), False if ``timeout`` passed first."""
        if self._fd is not None:
            try:
                ready, _, _ = select.select([self._fd], [], [], timeout)
            except (OSError, ValueError):
                ready = []
                self.close()
            if not ready:
                return self._process.poll() is not None
            self._process.wait()
            return True
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def close(self) -> None:
        """Release the pidfd."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


_GROUP_EXIT_S = 5.0
"""How long a killed process group is given to be gone (SIGKILL cannot be caught; this is scheduling only)."""


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` and its whole group; return once none of them runs any more (bounded)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # The leader is reaped; its children (reparented to init when it died) may still be on their way out.
    deadline = time.monotonic() + _GROUP_EXIT_S
    pause = 0.001
    while _group_runs(process.pid) and time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _group_runs(pgid: int) -> bool:
    """Whether a process of the group ``pgid`` still runs (a zombie only waits to be reaped: it does not)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc: the kernel's answer (which counts zombies) is all there is
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X", "x"):
            return True
    return False


def service_environment(root: Path) -> dict[str, str]:
    """Return the environment tools run in inside the service at ``root`` (its own imports first, no caches)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_", "MYPY"))}
    env.update(
        {
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PYTHONPATH": str(root),
            "PYTHONHASHSEED": "0",
            "NO_COLOR": "1",
        }
    )
    env.pop("PYTHONSTARTUP", None)
    return env
