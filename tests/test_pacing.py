"""Pacing to Upload-Post's limits with the budget every replica shares, on a real PostgreSQL and
an injected clock: the plan's rate, each profile's posting rate, look-ups never starved by
posts, Upload-Post's own word on when to send again, and taking turns under a herd."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import time, timedelta
from typing import cast
from uuid import UUID, uuid4

import pytest

from allocator.domain import ContentSpec, Profile, SlotSpec
from allocator.service import AllocationPolicy, AllocatorService
from allocator.storage import AllocatorStore
from queuelabs.clock import FakeClock
from queuelabs.database import open_pool
from queuelabs.lifecycle import Event
from queuelabs.platforms import MediaType, Platform
from tests.conftest import T0
from uploader.budget import RequestBudget
from uploader.domain import Claimed
from uploader.outcomes import CallResult, Outcome
from uploader.pacing import Limits, room
from uploader.publisher import Publisher
from uploader.storage import UploaderStore
from uploader.workers.claimer import Claimer

LEASE = timedelta(minutes=5)
MAX_LATENESS = timedelta(hours=1)  # the setting's default
# The specification's window: Upload-Post counts requests "in any minute". Expected values come
# from it, not from the module under test. Counting may start a few seconds early (a request is
# counted just before it is sent, and may arrive later), so room frees no sooner than a minute
# after a request and no later than this margin beyond.
MINUTE = timedelta(minutes=1)
MARGIN = timedelta(seconds=5)
EVERY_TEN_MINUTES = [SlotSpec(time(h, m), frozenset()) for h in range(24) for m in range(0, 60, 10)]


class Done:
    """Stands in for the publisher: every content is done at once."""

    def __init__(self) -> None:
        self.handled: list[Claimed] = []

    async def handle(self, content: Claimed) -> None:
        self.handled.append(content)


class Herd:
    def __init__(self, store: UploaderStore, allocator: AllocatorService, clock: FakeClock):
        self.store, self.allocator, self.clock = store, allocator, clock

    async def profile(self, user: str) -> UUID:
        profile_id = uuid4()
        await self.allocator.upsert_profile(Profile(profile_id, user, user, "UTC"))
        await self.allocator.set_schedule(profile_id, Platform.TIKTOK, EVERY_TEN_MINUTES)
        return profile_id

    async def due(self, user: str, count: int, apart: timedelta = timedelta(0)) -> list[UUID]:
        """`count` contents posted as Upload-Post user `user`, each of a profile of its own: a
        social account each, so a claim may take them all at once (it takes one content per
        account). The n-th (from 0) goes in the first slot at least `apart` times n from now."""
        now = self.clock.now()
        ids = []
        for n in range(count):
            profile_id = await self.profile(user)
            spec = ContentSpec(uuid4(), MediaType.VIDEO, "https://cdn.example.com/a.mp4")
            await self.allocator.assign_next(profile_id, Platform.TIKTOK, spec, now + n * apart)
            ids.append(spec.content_id)
        return ids

    def claimer(self, limits: Limits, worker: str = "w1") -> tuple[Claimer, Done]:
        done = Done()
        budget = RequestBudget(self.store, limits, self.clock, worker)
        publisher = cast(Publisher, done)
        claimer = Claimer(
            self.store,
            publisher,
            budget,
            self.clock,
            worker,
            max_in_flight=1000,
            lease=LEASE,
            max_lateness=MAX_LATENESS,
        )
        return claimer, done

    async def lose_track(self, content_id: UUID, worker: str = "w1") -> None:
        """Makes a claimed content an unknown outcome, due now."""
        async with self.store.transaction() as tx:
            await tx.settle(
                content_id,
                Event.LOSE_TRACK,
                worker=worker,
                now=self.clock.now(),
                retry_count=0,
                next_retry_at=self.clock.now(),
                generation=1,
            )


@pytest.fixture
async def herd(database_url: str) -> AsyncIterator[Herd]:
    clock = FakeClock(T0)
    pool = await open_pool(database_url, 6, 5)
    allocator = AllocatorService(
        AllocatorStore(pool), clock, AllocationPolicy(lead_time=timedelta(0), daily_caps={})
    )
    try:
        yield Herd(UploaderStore(pool), allocator, clock)
    finally:
        await pool.close()


def test_posts_leave_a_tenth_of_the_plan_to_look_ups():
    assert Limits(100).posts_ceiling == 90
    assert Limits(10).posts_ceiling == 9
    assert Limits(5).posts_ceiling == 4
    assert Limits(1).posts_ceiling == 1
    oldest = T0 - timedelta(seconds=50)
    left = room(Limits(10), T0, sent=9, oldest=oldest, blocked_until=None)
    assert (left.look_ups, left.posts) == (1, 0)
    assert left.frees_at is not None
    assert oldest + MINUTE <= left.frees_at <= oldest + MINUTE + MARGIN


@pytest.mark.parametrize(
    ("plan", "sent", "look_ups", "posts"),
    [
        (100, 0, 100, 90),  # the default plan: 100 a minute, posts up to 90 of them
        (100, 89, 11, 1),
        (100, 90, 10, 0),  # posts are at their share; look-ups still have a tenth
        (100, 100, 0, 0),  # the plan's rate is used up for everything
        (100, 130, 0, 0),  # more than the plan (Upload-Post's own count): nothing, not negative
    ],
)
def test_the_room_left_in_a_minute_is_the_plan_less_what_was_sent(plan, sent, look_ups, posts):
    oldest = T0 - timedelta(seconds=30) if sent else None
    left = room(Limits(plan), T0, sent=sent, oldest=oldest, blocked_until=None)
    assert (left.look_ups, left.posts) == (look_ups, posts)
    if posts:
        assert left.frees_at is None  # room now: nothing to wait for
    else:
        assert oldest is not None
        assert left.frees_at is not None
        assert oldest + MINUTE <= left.frees_at <= oldest + MINUTE + MARGIN


def test_upload_post_asking_to_wait_stops_everything_until_then():
    until = T0 + timedelta(seconds=30)
    left = room(Limits(100), T0, sent=0, oldest=None, blocked_until=until)
    assert (left.look_ups, left.posts, left.frees_at) == (0, 0, until)
    after = room(Limits(100), until, sent=0, oldest=None, blocked_until=until)
    assert (after.look_ups, after.posts) == (100, 90)


async def test_no_more_than_the_plan_goes_out_in_any_minute_and_more_goes_once_it_frees(herd):
    await herd.due("a", 20)  # more than two minutes' worth
    herd.clock.advance(timedelta(days=1))
    claimer, done = herd.claimer(Limits(requests_per_minute=10, posts_per_minute_per_profile=100))
    assert len(await claimer.claim_due()) == 9  # the plan less the look-ups' share
    assert await claimer.claim_due() == []
    wait = await claimer.turn()  # until the first of them ages out of the minute
    assert wait is not None
    assert MINUTE <= wait <= MINUTE + MARGIN
    herd.clock.advance(MINUTE)  # a minute on: the first nine are still in this minute
    assert await claimer.claim_due() == []
    herd.clock.advance(MARGIN)
    assert len(await claimer.claim_due()) == 9
    await asyncio.sleep(0)  # no time passes: the loop runs the handlings just started
    assert len(done.handled) == 18


async def test_two_replicas_share_one_budget(herd):
    await herd.due("a", 40)
    herd.clock.advance(timedelta(days=1))
    limits = Limits(requests_per_minute=20, posts_per_minute_per_profile=100)
    first, _ = herd.claimer(limits, "one")
    second, _ = herd.claimer(limits, "two")
    claimed = await asyncio.gather(*(c.claim_due() for c in (first, second, first, second)))
    assert sum(len(c) for c in claimed) == limits.posts_ceiling
    ids = [c.content_id for batch in claimed for c in batch]
    assert len(ids) == len(set(ids))


async def test_each_profile_posts_at_its_rate_and_another_profile_is_not_held_up(herd):
    # Six due contents of one Upload-Post user, ten minutes apart (six profiles of it: the
    # posting rate is the user's), and one of another user in the slot of busy's first.
    busy = await herd.due("busy", 6, apart=timedelta(minutes=10))
    [quiet] = await herd.due("quiet", 1)
    herd.clock.advance(timedelta(days=1))
    claimer, _ = herd.claimer(Limits(requests_per_minute=1000, posts_per_minute_per_profile=2))
    claimed = await claimer.claim_due()
    assert {c.content_id for c in claimed} == {busy[0], busy[1], quiet}
    assert await claimer.claim_due() == []  # busy's minute is used up
    herd.clock.advance(MINUTE)
    assert await claimer.claim_due() == []  # still within the minute of busy's first two
    herd.clock.advance(MARGIN)
    assert [c.content_id for c in await claimer.claim_due()] == busy[2:4]


async def test_at_the_same_instant_users_take_turns(herd):
    # Two profiles posting as one Upload-Post user have contents due at the same instants as a
    # third user's: that user's first goes before the shared user's second.
    shared_one, shared_two, other = (
        await herd.due("shared", 1),
        await herd.due("shared", 1),
        await herd.due("other", 1),
    )
    herd.clock.advance(timedelta(days=1))
    now = herd.clock.now()
    async with herd.store.transaction() as tx:
        claimed = await tx.claim_to_publish(2, 9, "w1", now, now + LEASE)
    assert {c.content_id for c in claimed} == {min(shared_one + shared_two), other[0]}


async def test_look_ups_go_first_and_are_never_starved_by_posts(herd):
    await herd.due("a", 12)
    herd.clock.advance(timedelta(days=1))
    claimer, _ = herd.claimer(Limits(requests_per_minute=10, posts_per_minute_per_profile=100))
    claimed = await claimer.claim_due()
    assert len(claimed) == 9
    lost = claimed[0].content_id
    await herd.lose_track(lost)  # its call was lost: it must be looked up
    # Posts have used their share of the minute; the look-up still goes.
    [looked_up] = await claimer.claim_due()
    assert looked_up.content_id == lost
    assert await claimer.claim_due() == []  # and now the minute is used up


async def test_nothing_is_sent_after_upload_post_says_its_window_is_used_up(herd):
    await herd.due("a", 5)
    herd.clock.advance(timedelta(days=1))
    claimer, _ = herd.claimer(Limits(requests_per_minute=1000, posts_per_minute_per_profile=100))
    budget = RequestBudget(herd.store, Limits(), herd.clock, "w1")
    # An answer with X-RateLimit-Remaining: 0 and a reset 30 s away.
    await budget.heed(CallResult(Outcome.PUBLISHED, 200, send_again_in=30))
    assert await claimer.claim_due() == []
    assert await claimer.turn() == timedelta(seconds=30)
    herd.clock.advance(timedelta(seconds=30))
    assert len(await claimer.claim_due()) == 5


async def test_a_look_up_waits_for_room_and_is_counted(herd):
    budget = RequestBudget(herd.store, Limits(requests_per_minute=2), herd.clock, "w1")
    await budget.look_up()
    await budget.look_up()
    waiting = asyncio.create_task(budget.look_up())
    await herd.clock.until_sleeping()  # it waits on the clock: the minute is used up
    assert not waiting.done()
    herd.clock.advance(MINUTE + MARGIN)
    await asyncio.wait_for(waiting, 10)  # it looks again within seconds and goes
    async with herd.store.transaction() as tx:
        sent, _, _ = await tx.budget_state(herd.clock.now())
    assert sent == 1
