"""Run a blocking call from async code on a thread of its own, and leave no thread behind.

``asyncio.to_thread`` and ``run_in_executor(None, ...)`` use the loop's default executor, whose thread stays
alive until the loop closes; code that promises "nothing outlives cleanup" uses :func:`run_on_own_thread`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["run_on_own_thread"]

T = TypeVar("T")


async def run_on_own_thread(func: Callable[[], T], name: str) -> T:
    """Run ``func()`` on a new daemon thread called ``name``; return its result (or raise its exception).

    The loop is woken when ``func`` ends (no polling), and the thread is joined before this returns. If the
    awaiting task is cancelled, ``func`` still runs to its end on its thread.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.done():  # the awaiting task was cancelled meanwhile
            return
        if error is None:
            done.set_result(result)  # type: ignore[arg-type]
        else:
            done.set_exception(error)

    def run() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = func()
        except BaseException as exc:  # handed to the awaiting task
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed while this ran
            loop.call_soon_threadsafe(settle, result, error)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    result = await done
    thread.join()  # its work is done; only its return is left
    return result
