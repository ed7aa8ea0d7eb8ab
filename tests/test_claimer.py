"""The claimer on a real PostgreSQL with a FakeClock: its limit in flight, how long it sleeps,
and the lease it renews while a content is handled (on fake time: nothing waits on the wall
clock)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import cast
from uuid import UUID

from tests.support.harness import LEASE, MAX_LATENESS, Harness
from uploader.budget import RequestBudget
from uploader.domain import Claimed
from uploader.pacing import Limits
from uploader.publisher import Publisher
from uploader.workers.claimer import Claimer
from uploader.workers.rescuer import Rescuer


class RecordingPublisher:
    """Stands in for the publisher: records what it was handed, finishes when told."""

    def __init__(self) -> None:
        self.handled: list[Claimed] = []
        self.release = asyncio.Event()

    async def handle(self, content: Claimed) -> None:
        self.handled.append(content)
        await self.release.wait()


def unlimited(harness: Harness) -> RequestBudget:
    return RequestBudget(harness.store, Limits(100_000, 100_000), harness.clock, "w1")


def as_publisher(recording: RecordingPublisher) -> Publisher:
    return cast(Publisher, recording)


async def test_the_claimer_keeps_at_most_its_limit_in_flight(harness):
    await harness.one_each(5)  # five accounts: a claim could take all five
    harness.clock.advance(timedelta(hours=1))
    publisher = RecordingPublisher()
    claimer = Claimer(
        harness.store,
        as_publisher(publisher),
        unlimited(harness),
        harness.clock,
        "w1",
        max_in_flight=2,
        lease=LEASE,
        max_lateness=MAX_LATENESS,
    )
    assert len(await claimer.claim_due()) == 2
    assert await claimer.claim_due() == []  # no room until one finishes
    await asyncio.sleep(0)  # no time passes: the loop runs the handlings just started
    assert len(publisher.handled) == 2
    publisher.release.set()
    await asyncio.wait_for(claimer.woken.wait(), 10)  # a finished publish wakes it for the next
    assert len(await claimer.claim_due()) == 2
    await claimer.drain(grace=5)


async def test_the_claimer_sleeps_until_the_next_content_falls_due(harness):
    profile_id = await harness.profile()
    await harness.assign(profile_id, 1)  # due at 01:00, half an hour from now
    claimer = Claimer(
        harness.store,
        as_publisher(RecordingPublisher()),
        unlimited(harness),
        harness.clock,
        "w1",
        max_in_flight=2,
        lease=LEASE,
        max_lateness=MAX_LATENESS,
    )
    assert await claimer.turn() == timedelta(minutes=30)
    harness.clock.advance(timedelta(minutes=29, seconds=30))
    assert await claimer.turn() == timedelta(seconds=30)


async def test_the_claimer_renews_the_lease_while_it_works_and_not_after(harness):
    profile_id = await harness.profile()
    [content] = await harness.assign(profile_id, 1)
    harness.clock.advance(timedelta(hours=1))
    publisher = RecordingPublisher()
    lease = timedelta(minutes=3)  # renewed every minute of the fake clock
    claimer = Claimer(
        harness.store,
        as_publisher(publisher),
        unlimited(harness),
        harness.clock,
        "w1",
        max_in_flight=1,
        lease=lease,
        max_lateness=MAX_LATENESS,
    )
    [held] = await claimer.claim_due()
    rescuer = Rescuer(harness.store, harness.clock)
    await harness.clock.until_sleeping()  # the renewer waits its first third of a lease
    for _ in range(4):  # a handling that outlasts its first lease keeps its content
        harness.clock.advance(timedelta(minutes=1))  # the renewer wakes, renews, waits again
        await asyncio.wait_for(harness.clock.until_sleeping(), 10)
        assert await lease_ends_after(harness, content, harness.clock.now() + timedelta(minutes=2))
        assert await rescuer.rescue_expired() == []
    publisher.release.set()
    await claimer.drain(grace=5)
    assert harness.clock.sleeping == 0  # no renewer left once the handling ended
    harness.clock.advance(lease + timedelta(seconds=1))
    assert await rescuer.rescue_expired() == [(held.content_id, "w1")]


async def lease_ends_after(harness: Harness, content_id: UUID, moment: datetime) -> bool:
    async with harness.pool.connection() as conn:
        row = await (
            await conn.execute(
                "select lease_expires_at from contents where content_id = %s", (content_id,)
            )
        ).fetchone()
    return row is not None and row[0] is not None and row[0] > moment
