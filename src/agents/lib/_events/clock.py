"""Time as the event internals see it: a :class:`Clock` to inject, the system one, and a manual one for tests.

The circuit breaker reads ``monotonic()``; the batch processor also awaits ``sleep()``. Passing a
:class:`ManualClock` makes both deterministic: time moves only when :meth:`ManualClock.advance` is called.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """A source of monotonic time in seconds and a way to wait for it."""

    def monotonic(self) -> float:
        """Seconds since an arbitrary point; never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`asyncio.sleep`."""

    def monotonic(self) -> float:
        """Return :func:`time.monotonic`."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Wait with :func:`asyncio.sleep`."""
        await asyncio.sleep(max(seconds, 0.0))


SYSTEM_CLOCK = SystemClock()
"""The clock used when none is injected."""


class ManualClock:
    """A clock that only moves when told to; ``sleep()`` returns when :meth:`advance` passes its deadline."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        """Return the current manual time."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until the manual time reaches now + ``seconds`` (at once when ``seconds <= 0``)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        await future

    @property
    def sleepers(self) -> int:
        """How many ``sleep()`` calls are waiting (cancelled ones excluded)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, wake the sleepers whose deadline passed, and let them run."""
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
        for _ in range(5):  # let woken tasks (and what they schedule) run
            await asyncio.sleep(0)
