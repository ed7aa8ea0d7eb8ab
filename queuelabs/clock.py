"""Time, injected: what time it is and every wait, so production follows the system clock and
tests move a fake one by hand."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware in UTC."""
        ...

    async def sleep(self, delay: timedelta | float) -> None:
        """Returns once `delay` (a timedelta, or seconds) has passed on this clock."""
        ...


def seconds(delay: timedelta | float) -> float:
    return delay.total_seconds() if isinstance(delay, timedelta) else float(delay)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, delay: timedelta | float) -> None:
        await asyncio.sleep(max(0.0, seconds(delay)))


class FakeClock:
    """A clock that stands still until told to move. A sleeper wakes when `advance` or `set`
    carries the clock to its deadline, never on its own, so a test decides when each wait ends
    and waits on nothing real. `until_sleeping` lets a test wait for the code under test to
    reach its next wait, instead of for some wall-clock time."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        # (deadline, order of arrival, future): the earliest deadline first, ties in order.
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        self._new_sleeper: asyncio.Event | None = None

    def now(self) -> datetime:
        return self._now

    async def sleep(self, delay: timedelta | float) -> None:
        pause = delay if isinstance(delay, timedelta) else timedelta(seconds=delay)
        if pause <= timedelta(0):
            await asyncio.sleep(0)  # still a point where other tasks run, as a real sleep is
            return
        woken = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + pause, next(self._arrivals), woken))
        if self._new_sleeper is not None:
            self._new_sleeper.set()
        await woken  # cancelled: the future is cancelled with it, and dropped when met

    def advance(self, delta: timedelta) -> None:
        self.set(self._now + delta)

    def set(self, instant: datetime) -> None:
        """Moves the clock (either way) and wakes each sleeper whose deadline it reached; the
        woken run at the caller's next await."""
        self._now = instant.astimezone(UTC)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, woken = heapq.heappop(self._sleepers)
            if not woken.done():
                woken.set_result(None)

    @property
    def sleeping(self) -> int:
        """How many tasks wait on this clock now."""
        return sum(1 for _, _, woken in self._sleepers if not woken.done())

    def next_deadline(self) -> datetime | None:
        """The earliest instant a sleeper waits for, if any sleeps."""
        waiting = [deadline for deadline, _, woken in self._sleepers if not woken.done()]
        return min(waiting, default=None)

    async def until_sleeping(self, count: int = 1) -> None:
        """Returns once at least `count` tasks wait on this clock: the code under test has
        done its work and reached its next wait."""
        while self.sleeping < count:
            self._new_sleeper = self._new_sleeper or asyncio.Event()
            self._new_sleeper.clear()
            await self._new_sleeper.wait()

    async def skip_waits(self, work: Awaitable[T]) -> T:
        """Runs `work` to its end, moving the clock straight to the next deadline each time a
        task sleeps on it: waits take no real time, and their lengths still add up on the
        clock. For work whose only waits are this clock's (a retry ladder, say)."""
        task = asyncio.ensure_future(work)
        while not task.done():
            sleeper = asyncio.ensure_future(self.until_sleeping())
            await asyncio.wait([task, sleeper], return_when=asyncio.FIRST_COMPLETED)
            sleeper.cancel()
            deadline = self.next_deadline()
            if not task.done() and deadline is not None:
                self.set(deadline)
        return task.result()
