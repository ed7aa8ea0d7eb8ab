"""The request budget's waiting, on a real PostgreSQL with a FakeClock: a look-up with no room
waits on the injected clock and goes when room frees, and no real time passes. How much room
there is: tests/test_pacing.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from uploader.budget import RequestBudget
from uploader.pacing import Limits

MINUTE = timedelta(minutes=1)
MARGIN = timedelta(seconds=5)  # room frees a minute after a request, at most 5 s later


async def test_a_look_up_without_room_waits_on_the_clock_until_room_frees(harness):
    clock = harness.clock
    start = clock.now()
    budget = RequestBudget(harness.store, Limits(requests_per_minute=2), clock, "w1")
    await budget.look_up()
    await budget.look_up()  # the minute's two requests
    # Each of its waits ends when the clock reaches it; a wait on the wall clock would never
    # show on the clock, and this would time out.
    await asyncio.wait_for(clock.skip_waits(budget.look_up()), 10)
    assert MINUTE <= clock.now() - start <= MINUTE + MARGIN
    async with harness.store.transaction() as tx:
        sent, _, _ = await tx.budget_state(clock.now())
    assert sent == 1  # the first minute's two have left it; the third is counted
