"""The runner every Uploader worker runs on: turns at its interval on the injected clock or sooner
when asked, woken early, carrying on past errors, stopping when told. Time is a FakeClock's:
assertions count turns, never time them, and nothing waits on the wall clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from queuelabs.clock import FakeClock
from queuelabs.errors import DatabaseUnavailable
from uploader.workers.periodic import Duty, run_periodically

T0 = datetime(2026, 3, 26, 6, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=1)


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

    def duty(self, name: str = "test", wake: asyncio.Event | None = None) -> Duty:
        return Duty(name, self.turn, INTERVAL, None, wake)

    async def next(self) -> int:
        # The bound is a safety net for a broken runner, not a timing: each turn comes at once.
        return await asyncio.wait_for(self.done.get(), 10)


async def test_the_next_turn_comes_when_the_interval_has_passed_on_the_clock():
    clock, turns, stop = FakeClock(T0), Turns(), asyncio.Event()
    runner = asyncio.create_task(run_periodically(turns.duty(), clock, stop))
    assert await turns.next() == 1
    await clock.until_sleeping()
    clock.advance(INTERVAL - timedelta(seconds=1))
    await asyncio.sleep(0)  # the loop runs once: a woken runner would start its turn here
    assert turns.count == 1
    clock.advance(timedelta(seconds=1))
    assert await turns.next() == 2
    stop.set()
    await asyncio.wait_for(runner, 10)


async def test_a_turn_that_asks_for_a_short_pause_runs_after_it_never_after_the_interval():
    clock, turns, stop = FakeClock(T0), Turns(pause=timedelta(seconds=5)), asyncio.Event()
    runner = asyncio.create_task(run_periodically(turns.duty(), clock, stop))
    assert await turns.next() == 1
    await clock.until_sleeping()
    assert clock.next_deadline() == T0 + timedelta(seconds=5)
    turns.pause = timedelta(hours=1)  # longer than the interval: the interval wins
    clock.advance(timedelta(seconds=5))
    assert await turns.next() == 2
    await clock.until_sleeping()
    assert clock.next_deadline() == clock.now() + INTERVAL
    stop.set()
    await asyncio.wait_for(runner, 10)
    assert clock.sleeping == 0  # stopping leaves no waiter behind


async def test_waking_starts_the_next_turn_before_the_interval():
    clock, turns, stop, wake = FakeClock(T0), Turns(), asyncio.Event(), asyncio.Event()
    runner = asyncio.create_task(run_periodically(turns.duty(wake=wake), clock, stop))
    assert await turns.next() == 1
    wake.set()
    assert await turns.next() == 2
    assert clock.now() == T0  # no time passed
    stop.set()
    await asyncio.wait_for(runner, 10)


async def test_errors_are_logged_and_the_duty_carries_on_after_its_interval(caplog):
    unreachable = DatabaseUnavailable("the database is unreachable; retry")
    clock, stop = FakeClock(T0), asyncio.Event()
    turns = Turns(pause=timedelta(0), errors=(unreachable, RuntimeError("a bug")))
    runner = asyncio.create_task(run_periodically(turns.duty("flaky"), clock, stop))
    for expected in (1, 2):
        assert await turns.next() == expected
        await clock.until_sleeping()  # after an error it waits its interval, not its pause
        assert clock.next_deadline() == clock.now() + INTERVAL
        clock.advance(INTERVAL)
    assert await turns.next() == 3
    stop.set()
    await asyncio.wait_for(runner, 10)
    messages = [r.getMessage() for r in caplog.records]
    assert "flaky: the database is unreachable; retry" in messages
    assert "flaky: unexpected error; carrying on" in messages
