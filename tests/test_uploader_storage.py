"""The Uploader's storage alone, on a real PostgreSQL, with the clock injected: claims, leases
and settling, each pinned without the wall clock. Each worker has its own test file."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from uuid import UUID

from queuelabs.lifecycle import ContentState, Event
from queuelabs.platforms import Platform
from tests.support.harness import LEASE, MAX_LATENESS, Harness
from uploader.domain import Claimed


async def test_nothing_is_claimed_before_its_slot_and_everything_due_is_claimed_in_order(harness):
    # three accounts (a claim takes one content of each), due at 01:00, 02:00, 03:00
    first, second, third = await harness.one_each(3, apart=timedelta(hours=1))
    assert await harness.claim() == []
    harness.clock.advance(timedelta(hours=2))
    claimed = await harness.claim()
    assert [c.content_id for c in claimed] == [first, second]
    assert {c.previous_state for c in claimed} == {ContentState.SCHEDULED}
    assert {await harness.state(c) for c in (first, second)} == {ContentState.UPLOADING}
    assert await harness.state(third) is ContentState.SCHEDULED


async def test_a_claimed_content_is_not_claimed_again_by_another_worker(harness):
    await harness.one_each(2)  # two accounts: both may go at once
    harness.clock.advance(timedelta(hours=1))
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
        await tx.resume(profile_id, Platform.INSTAGRAM, harness.clock.now())
    assert [c.content_id for c in await harness.claim()] == [instagram]


async def test_an_account_gets_one_call_at_a_time_and_other_accounts_go_meanwhile(harness):
    profile_id = await harness.profile()
    first, second = await harness.assign(profile_id, 2)  # 01:00, 02:00: one social account
    harness.clock.advance(timedelta(hours=1, minutes=30))  # 02:00: both are due
    [held] = await harness.claim()  # one content per account in a claim: its earliest
    assert held.content_id == first
    [other] = await harness.one_each(1)  # another account, due now
    # While the account's first is being sent, nothing else of it goes; the other account does.
    assert [c.content_id for c in await harness.claim()] == [other]
    assert await harness.claim() == []
    assert await settle(harness, held, Event.SUCCEED)
    assert [c.content_id for c in await harness.claim()] == [second]


async def test_nothing_is_claimed_for_an_account_to_reconnect_until_it_is_reconnected(harness):
    held, healthy = await harness.one_each(2)  # 01:00, two accounts
    harness.clock.advance(timedelta(hours=1))
    await set_account(harness, held, reconnect_since=harness.clock.now())
    assert [c.content_id for c in await harness.claim()] == [healthy]
    assert await harness.claim() == []
    await set_account(harness, held, reconnect_since=None)  # reconnected: the mark is cleared
    assert [c.content_id for c in await harness.claim()] == [held]


async def test_nothing_is_claimed_for_an_account_whose_daily_cap_is_full_until_it_frees(harness):
    held, healthy = await harness.one_each(2)  # 01:00, two accounts
    harness.clock.advance(timedelta(hours=1))
    frees_at = harness.clock.now() + timedelta(minutes=10)
    await set_account(harness, held, capped_until=frees_at)
    assert [c.content_id for c in await harness.claim()] == [healthy]
    harness.clock.advance(timedelta(minutes=10) - timedelta(seconds=1))
    assert await harness.claim() == []
    harness.clock.advance(timedelta(seconds=1))  # the cap's window frees
    assert [c.content_id for c in await harness.claim()] == [held]


async def test_a_content_of_an_account_to_reconnect_is_moved_once_its_slot_is_missed(harness):
    # All three at 01:00; two accounts to be reconnected, one of them paused; one reconnected
    # already (its row stays, unmarked).
    missed, paused, healthy = await harness.one_each(3)
    for content in (missed, paused):
        await set_account(harness, content, reconnect_since=harness.clock.now())
    await set_account(harness, healthy, reconnect_since=None)
    async with harness.store.transaction() as tx:
        view = await tx.view(paused)
        assert view is not None
        await tx.pause(view.profile_id, view.platform, harness.clock.now())
    harness.clock.advance(timedelta(minutes=30) + MAX_LATENESS)  # late by max_lateness: not more
    assert await claim_missed_slots(harness) == []
    harness.clock.advance(timedelta(seconds=1))
    [taken] = await claim_missed_slots(harness)  # not the paused one, nor the healthy one
    assert (taken.content_id, taken.previous_state) == (missed, ContentState.SCHEDULED)
    assert await claim_missed_slots(harness) == []  # taken once
    assert {await harness.state(c) for c in (paused, healthy)} == {ContentState.SCHEDULED}


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


async def claim_missed_slots(harness: Harness) -> list[Claimed]:
    now = harness.clock.now()
    async with harness.store.transaction() as tx:
        return await tx.claim_missed_slots(10, MAX_LATENESS, "w1", now, now + LEASE)


async def set_account(
    harness: Harness,
    content_id: UUID,
    *,
    reconnect_since: datetime | None = None,
    capped_until: datetime | None = None,
) -> None:
    """Writes the row of `content_id`'s social account in `accounts` as Upload-Post's word
    leaves it: to be reconnected since `reconnect_since`, its daily cap full until
    `capped_until` (None: not)."""
    async with harness.pool.connection() as conn:
        await conn.execute(
            """
            insert into accounts (profile_id, platform, reconnect_since, capped_until)
            select profile_id, platform, %(since)s, %(until)s
              from contents where content_id = %(content_id)s
            on conflict (profile_id, platform) do update
               set reconnect_since = excluded.reconnect_since,
                   capped_until = excluded.capped_until
            """,
            {"since": reconnect_since, "until": capped_until, "content_id": content_id},
        )
