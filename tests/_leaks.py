"""Thread and file-descriptor snapshots for leak checks that cannot fail by chance.

A thread or descriptor already on its way out when a snapshot is taken (aiosqlite's worker thread ends just
after ``close()`` returns; a closed event loop's executor threads end after it; a dropped object's file waits
for the garbage collector) makes two snapshots differ for reasons that have nothing to do with the code under
test. :func:`settled_threads` and :func:`settled_fds` collect garbage and join such threads (within a bounded
deadline) before they look; :func:`new_threads` and :func:`new_fds` name what appeared since an earlier
snapshot, which is what a leak is (something that ended meanwhile is not one).
"""

from __future__ import annotations

import concurrent.futures.thread
import gc
import os
import threading
import time
import weakref
from typing import Any

import aiosqlite.core

SETTLE_TIMEOUT_S = 10.0
"""The longest a snapshot waits for ending threads (reached only if one hangs)."""

_NO_TARGET = object()


def _aiosqlite_queues_in_use() -> set[int]:
    """``id()`` of the request queues of the aiosqlite connections not yet stopped (open, or opening)."""
    return {id(obj._tx) for obj in gc.get_objects() if isinstance(obj, aiosqlite.core.Connection) and obj._running}


def _ending(thread: threading.Thread, open_queues: set[int]) -> bool:
    """Whether ``thread`` has nothing left to do but end."""
    if thread is threading.current_thread() or thread is threading.main_thread():
        return False
    target: Any = getattr(thread, "_target", _NO_TARGET)
    if target is _NO_TARGET:  # Thread.run() deletes _target when it returns: only the thread's exit is left
        return True
    args: tuple[Any, ...] = getattr(thread, "_args", ())
    if target is aiosqlite.core._connection_worker_thread:  # its connection was closed, or dropped (stopped)
        return not args or id(args[0]) not in open_queues
    if target is concurrent.futures.thread._worker:  # its executor was shut down or dropped
        executor = args[0]() if args and isinstance(args[0], weakref.ref) else None
        return executor is None or bool(getattr(executor, "_shutdown", False))
    # A loop given a weak reference to its owner, or an event that stops it (the template cache's flush thread):
    # once the owner is gone or the event set, it is leaving.
    return any(
        (isinstance(arg, weakref.ref) and arg() is None) or (isinstance(arg, threading.Event) and arg.is_set())
        for arg in args
    )


def settled_threads(timeout: float = SETTLE_TIMEOUT_S) -> set[threading.Thread]:
    """The live threads, once garbage is collected and the threads that are ending have ended."""
    gc.collect()  # finalizers of dropped objects stop what they own
    deadline = time.monotonic() + timeout
    open_queues = _aiosqlite_queues_in_use()
    for thread in threading.enumerate():
        if _ending(thread, open_queues):
            thread.join(max(0.0, deadline - time.monotonic()))
    return set(threading.enumerate())


def new_threads(before: set[threading.Thread]) -> list[str]:
    """Names of the threads alive now (settled) that were not in ``before``; sorted, for readable failures."""
    return sorted(f"{t.name} (ident {t.ident})" for t in settled_threads() - before)


def open_fds() -> dict[int, str]:
    """This process's open file descriptors and what they point at (the listing's own one left out)."""
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except FileNotFoundError:  # the directory handle of the listing itself, already closed
            continue
    return {fd: target for fd, target in fds.items() if not target.startswith(f"/proc/{os.getpid()}/fd")}


def settled_fds() -> dict[int, str]:
    """The open file descriptors, once ending threads have ended and garbage is collected."""
    settled_threads()
    return open_fds()


def new_fds(before: dict[int, str]) -> dict[int, str]:
    """Descriptors open now (settled) that were not open, or pointed elsewhere, in ``before``."""
    return {fd: target for fd, target in settled_fds().items() if before.get(fd) != target}
