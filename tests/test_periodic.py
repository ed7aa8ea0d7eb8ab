"""The runner every Uploader worker runs on: turns at its interval or sooner when asked, woken
early, carrying on past errors, stopping when told. Assertions count turns, never time them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from queuelabs.errors import DatabaseUnavailable
from uploader.workers.periodic import run_periodically

LONG = timedelta(hours=1)  # an interval no test waits out


class Turns:
    """A duty that reports each turn; the test awaits them one by one."""

    def __init__(self, pause: timedelta | None = None, errors: tuple[Exception, ...] = ()):
        self.done: asyncio.Queue[int] = asyncio.Queue()
        self.count = 0
        self.pause = pause
        self.errors = list(errors)

    async def turn(self) -> timedelta | None:
        self.count += 1
        self.done.put_nowait(self.count)
        if self.errors:
            raise self.errors.pop(0)
        return self.pause

    async def next(self) -> int:
        return await asyncio.wait_for(self.done.get(), 10)


async def test_a_turn_that_asks_for_a_short_pause_runs_again_soon_then_stops_when_told():
    turns, stop = Turns(pause=timedelta(0)), asyncio.Event()
    runner = asyncio.create_task(run_periodically("test", turns.turn, LONG, stop))
    assert [await turns.next() for _ in range(3)] == [1, 2, 3]
    stop.set()
    await asyncio.wait_for(runner, 10)


async def test_waking_starts_the_next_turn_before_the_interval():
    turns, stop, wake = Turns(), asyncio.Event(), asyncio.Event()
    runner = asyncio.create_task(run_periodically("test", turns.turn, LONG, stop, wake))
    assert await turns.next() == 1
    wake.set()
    assert await turns.next() == 2
    stop.set()
    await asyncio.wait_for(runner, 10)


async def test_errors_are_logged_and_the_duty_carries_on(caplog):
    unreachable = DatabaseUnavailable("the database is unreachable; retry")
    turns = Turns(errors=(unreachable, RuntimeError("a bug")))
    stop, wake = asyncio.Event(), asyncio.Event()
    runner = asyncio.create_task(run_periodically("flaky", turns.turn, LONG, stop, wake))
    for expected in (1, 2):
        assert await turns.next() == expected
        wake.set()  # after an error it waits its interval: wake it instead of waiting that out
    assert await turns.next() == 3
    stop.set()
    await asyncio.wait_for(runner, 10)
    messages = [r.getMessage() for r in caplog.records]
    assert "flaky: the database is unreachable; retry" in messages
    assert "flaky: unexpected error; carrying on" in messages
