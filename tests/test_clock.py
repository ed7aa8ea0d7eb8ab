"""The injected clock's waits: a FakeClock's sleeper wakes when the clock is moved to its
deadline, never on its own, so tests of waiting code move time instead of waiting for it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from queuelabs.clock import FakeClock, SystemClock

T0 = datetime(2026, 3, 26, 6, 0, tzinfo=UTC)


async def test_a_sleeper_wakes_when_the_clock_reaches_its_deadline_and_not_before():
    clock = FakeClock(T0)
    sleeper = asyncio.create_task(clock.sleep(timedelta(seconds=30)))
    await clock.until_sleeping()
    clock.advance(timedelta(seconds=29))
    await asyncio.sleep(0)  # the loop runs once: a woken sleeper would finish here
    assert not sleeper.done()
    assert clock.sleeping == 1
    clock.advance(timedelta(seconds=1))
    await asyncio.wait_for(sleeper, 10)
    assert clock.sleeping == 0


async def test_sleepers_wake_in_deadline_order_and_seconds_count_as_a_timedelta():
    clock = FakeClock(T0)
    woke: list[str] = []

    async def nap(name: str, delay: timedelta | float) -> None:
        await clock.sleep(delay)
        woke.append(name)

    tasks = [
        asyncio.create_task(nap("long", timedelta(minutes=2))),
        asyncio.create_task(nap("short", 5.0)),
    ]
    await clock.until_sleeping(2)
    assert clock.next_deadline() == T0 + timedelta(seconds=5)
    clock.set(T0 + timedelta(minutes=3))
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert woke == ["short", "long"]


async def test_no_wait_returns_at_once_and_a_cancelled_sleeper_is_forgotten():
    clock = FakeClock(T0)
    await asyncio.wait_for(clock.sleep(0), 10)
    await asyncio.wait_for(clock.sleep(timedelta(seconds=-1)), 10)
    sleeper = asyncio.create_task(clock.sleep(60))
    await clock.until_sleeping()
    sleeper.cancel()
    await asyncio.gather(sleeper, return_exceptions=True)
    assert clock.sleeping == 0
    assert clock.next_deadline() is None
    clock.advance(timedelta(minutes=5))  # waking a cancelled sleeper would raise here


async def test_skip_waits_jumps_each_wait_and_the_clock_shows_the_time_it_took():
    clock = FakeClock(T0)

    async def ladder() -> str:
        for seconds in (30, 60, 120):
            await clock.sleep(seconds)
        return "done"

    assert await asyncio.wait_for(clock.skip_waits(ladder()), 10) == "done"
    assert clock.now() == T0 + timedelta(seconds=210)


def test_a_fake_clock_needs_a_timezone():
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(datetime(2026, 3, 26))


async def test_the_system_clock_sleeps_on_real_time():
    # Real time, once, for the one clock whose job is real time: zero seconds, so nothing here
    # depends on how fast the machine is.
    clock = SystemClock()
    before = clock.now()
    await clock.sleep(0)
    await clock.sleep(timedelta(0))
    assert clock.now() >= before
    assert clock.now().tzinfo is UTC
