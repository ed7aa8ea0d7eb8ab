"""The Uploader's storage and its workers alone, on a real PostgreSQL, with the clock injected:
claim, rescue, settle, the backlog gauge and the claimer, each pinned without the wall clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from typing import cast
from uuid import UUID, uuid4

import pytest
from psycopg_pool import AsyncConnectionPool

from allocator.domain import ContentSpec, Profile, SlotSpec
from allocator.service import AllocationPolicy, AllocatorService
from allocator.storage import AllocatorStore
from queuelabs.clock import FakeClock
from queuelabs.database import open_pool
from queuelabs.lifecycle import ContentState, Event
from queuelabs.platforms import MediaType, Platform
from tests.conftest import T0
from uploader.budget import RequestBudget
from uploader.domain import AttemptKind, Claimed, Unanswered
from uploader.pacing import Limits
from uploader.publisher import Publisher
from uploader.storage import UploaderStore
from uploader.workers.backlog import BacklogGauge
from uploader.workers.claimer import Claimer
from uploader.workers.rescuer import Rescuer

LEASE = timedelta(minutes=5)
HOURLY = [SlotSpec(time(h), frozenset()) for h in range(24)]


class Harness:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        store: UploaderStore,
        allocator: AllocatorService,
        clock: FakeClock,
    ):
        self.pool, self.store, self.allocator, self.clock = pool, store, allocator, clock

    async def profile(self, platforms=(Platform.TIKTOK,), user: str | None = None) -> UUID:
        profile_id = uuid4()
        await self.allocator.upsert_profile(
            Profile(profile_id, "p", user or str(profile_id), "UTC")
        )
        for platform in platforms:
            await self.allocator.set_schedule(profile_id, platform, HOURLY)
        return profile_id

    async def assign(self, profile_id: UUID, count: int, platform=Platform.TIKTOK) -> list[UUID]:
        ids = []
        for _ in range(count):
            spec = ContentSpec(uuid4(), MediaType.VIDEO, "https://cdn.example.com/a.mp4")
            await self.allocator.assign_next(profile_id, platform, spec, None)
            ids.append(spec.content_id)
        return ids

    async def claim(self, limit=10, worker="w1", per_profile=100) -> list[Claimed]:
        """What a claimer's turn takes, budget aside: look-ups, moves, then posts."""
        now = self.clock.now()
        until = now + LEASE
        async with self.store.transaction() as tx:
            found = await tx.claim(Event.CLAIM_TO_RECONCILE, limit, worker, now, until)
            found += await tx.claim(Event.CLAIM_TO_MOVE, limit - len(found), worker, now, until)
            found += await tx.claim_to_publish(limit - len(found), per_profile, worker, now, until)
        return found

    async def state(self, content_id: UUID) -> ContentState:
        async with self.store.transaction() as tx:
            view = await tx.view(content_id)
        assert view is not None
        return view.state


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    clock = FakeClock(T0 + timedelta(minutes=30))  # the hourly slots fall at 01:00, 02:00, ...
    pool = await open_pool(database_url, 4, 5)
    allocator = AllocatorService(
        AllocatorStore(pool), clock, AllocationPolicy(lead_time=timedelta(0), daily_caps={})
    )
    try:
        yield Harness(pool, UploaderStore(pool), allocator, clock)
    finally:
        await pool.close()


async def test_nothing_is_claimed_before_its_slot_and_everything_due_is_claimed_in_order(harness):
    profile_id = await harness.profile()
    first, second, third = await harness.assign(profile_id, 3)  # 01:00, 02:00, 03:00
    assert await harness.claim() == []
    harness.clock.advance(timedelta(hours=2))
    claimed = await harness.claim()
    assert [c.content_id for c in claimed] == [first, second]
    assert {c.previous_state for c in claimed} == {ContentState.SCHEDULED}
    assert {await harness.state(c) for c in (first, second)} == {ContentState.UPLOADING}
    assert await harness.state(third) is ContentState.SCHEDULED


async def test_a_claimed_content_is_not_claimed_again_by_another_worker(harness):
    profile_id = await harness.profile()
    await harness.assign(profile_id, 2)
    harness.clock.advance(timedelta(hours=3))
    a, b = await asyncio.gather(harness.claim(limit=1, worker="a"), harness.claim(worker="b"))
    assert len(a) + len(b) == 2
    assert not {c.content_id for c in a} & {c.content_id for c in b}
    assert await harness.claim(worker="c") == []


async def test_claims_skip_paused_keys(harness):
    profile_id = await harness.profile((Platform.TIKTOK, Platform.INSTAGRAM))
    [tiktok] = await harness.assign(profile_id, 1)
    [instagram] = await harness.assign(profile_id, 1, Platform.INSTAGRAM)
    harness.clock.advance(timedelta(hours=2))
    async with harness.store.transaction() as tx:
        await tx.pause(profile_id, Platform.INSTAGRAM, harness.clock.now())
    assert [c.content_id for c in await harness.claim()] == [tiktok]
    assert await harness.claim() == []
    async with harness.store.transaction() as tx:
        await tx.resume(profile_id, Platform.INSTAGRAM)
    assert [c.content_id for c in await harness.claim()] == [instagram]


async def test_a_reconciliation_claim_keeps_its_state_and_hides_until_the_lease_ends(harness):
    profile_id = await harness.profile()
    [content] = await harness.assign(profile_id, 1)
    harness.clock.advance(timedelta(hours=1))
    [held] = await harness.claim()
    await settle(harness, held, Event.LOSE_TRACK, next_retry_at=harness.clock.now())
    [again] = await harness.claim()
    assert again.previous_state is ContentState.UNKNOWN_OUTCOME
    assert await harness.state(content) is ContentState.UNKNOWN_OUTCOME
    assert await harness.claim(worker="other") == []  # hidden while this worker looks it up
    harness.clock.advance(LEASE)
    [rescued] = await harness.claim(worker="other")  # its worker vanished: due again
    assert rescued.content_id == content


async def test_an_expired_lease_becomes_an_unknown_outcome_never_due_again_directly(harness):
    profile_id = await harness.profile()
    [content] = await harness.assign(profile_id, 1)
    harness.clock.advance(timedelta(hours=1))
    [held] = await harness.claim(worker="dead")
    async with harness.store.transaction() as tx:
        await tx.start_attempt(
            content, AttemptKind.PUBLISH, "req-1", held.idempotency_key, "dead", T0
        )
    rescuer = Rescuer(harness.store, harness.clock)
    assert await rescuer.rescue_expired() == []  # the lease still runs
    harness.clock.advance(LEASE + timedelta(seconds=1))
    assert await rescuer.rescue_expired() == [(content, "dead")]
    assert await harness.state(content) is ContentState.UNKNOWN_OUTCOME
    async with harness.store.transaction() as tx:
        view = await tx.view(content)
    assert view is not None
    assert [(a.outcome, a.finished_at) for a in view.attempts] == [
        (Unanswered.LOST, harness.clock.now())
    ]
    assert await rescuer.rescue_expired() == []  # once


async def test_settle_moves_only_what_this_worker_holds_and_only_from_allowed_states(harness):
    profile_id = await harness.profile()
    [content] = await harness.assign(profile_id, 1)
    harness.clock.advance(timedelta(hours=1))
    [held] = await harness.claim(worker="w1")
    assert not await settle(harness, held, Event.SUCCEED, worker="someone else")
    assert not await settle(harness, held, Event.SUCCEED, worker="")
    assert not await settle(harness, held, Event.CHECK_LATER)  # not from uploading
    assert await settle(harness, held, Event.RETRY_LATER, next_retry_at=harness.clock.now())
    assert await harness.state(content) is ContentState.RETRY_PENDING
    assert not await settle(harness, held, Event.SUCCEED)  # the lease went with the move


async def test_awaiting_a_slot_is_claimed_to_move_and_keeps_its_state(harness):
    profile_id = await harness.profile()
    [content] = await harness.assign(profile_id, 1)
    harness.clock.advance(timedelta(hours=1))
    [held] = await harness.claim()
    later = harness.clock.now() + timedelta(seconds=30)
    await settle(harness, held, Event.NEED_SLOT, next_retry_at=later, reason="gave up")
    assert await harness.claim() == []
    harness.clock.advance(timedelta(seconds=30))
    [again] = await harness.claim()
    assert (again.previous_state, again.reason) == (ContentState.AWAITING_SLOT, "gave up")
    assert await harness.state(content) is ContentState.AWAITING_SLOT


async def test_the_backlog_gauge_counts_what_is_due_per_platform(harness):
    profile_id = await harness.profile((Platform.TIKTOK, Platform.INSTAGRAM))
    await harness.assign(profile_id, 3)
    await harness.assign(profile_id, 1, Platform.INSTAGRAM)
    gauge = BacklogGauge(harness.store, harness.clock)
    assert await gauge.measure() == {}
    harness.clock.advance(timedelta(hours=2))
    assert await gauge.measure() == {Platform.TIKTOK: 2, Platform.INSTAGRAM: 1}


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
    profile_id = await harness.profile()
    await harness.assign(profile_id, 5)
    harness.clock.advance(timedelta(hours=6))
    publisher = RecordingPublisher()
    claimer = Claimer(
        harness.store,
        as_publisher(publisher),
        unlimited(harness),
        harness.clock,
        "w1",
        max_in_flight=2,
        lease=LEASE,
    )
    assert len(await claimer.claim_due()) == 2
    assert await claimer.claim_due() == []  # no room until one finishes
    await asyncio.sleep(0)
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
    )
    assert await claimer.turn() == timedelta(minutes=30)
    harness.clock.advance(timedelta(minutes=29, seconds=30))
    assert await claimer.turn() == timedelta(seconds=30)


async def settle(
    harness: Harness,
    held: Claimed,
    event: Event,
    *,
    worker: str = "w1",
    next_retry_at=None,
    reason: str = "",
) -> bool:
    async with harness.store.transaction() as tx:
        return await tx.settle(
            held.content_id,
            event,
            worker=worker,
            now=harness.clock.now(),
            retry_count=held.retry_count,
            next_retry_at=next_retry_at,
            generation=held.generation,
            reason=reason,
        )


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
