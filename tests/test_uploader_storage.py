"""The Uploader's storage alone, on a real PostgreSQL, with the clock injected: claims, leases
and settling, each pinned without the wall clock. Each worker has its own test file."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from queuelabs.lifecycle import ContentState, Event
from queuelabs.platforms import Platform
from tests.support.harness import LEASE, Harness
from uploader.domain import Claimed


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
