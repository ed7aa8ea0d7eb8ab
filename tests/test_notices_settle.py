"""Upload-Post's word on a job (its webhook) against the workers that look at the same job, on a
real PostgreSQL with a FakeClock: the word never hands a content a worker holds to a second
worker, the holder finds it when it settles, and a word that comes while the "accepted" answer
is being written is found by one side or the other."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import cast

import psycopg

from queuelabs.lifecycle import ContentState, Event
from queuelabs.platforms import Platform
from tests.support.databases import lock_waiters
from tests.support.harness import LEASE, Harness
from tests.support.polling import until_found
from uploader.allocator_client import AllocatorGateway
from uploader.decisions import Decision, Hold
from uploader.domain import AttemptKind, Claimed, Notice
from uploader.listening import Listening
from uploader.outcomes import Outcome
from uploader.settler import Settler

JOB = "job-1"


def word() -> Notice:
    return Notice(
        JOB, True, "https://www.instagram.com/p/1", "1", "", {"event": "upload_completed"}
    )


async def a_claimed_post(harness: Harness) -> Claimed:
    """An Instagram content claimed to publish, its call (our request id JOB) begun."""
    profile_id = await harness.profile((Platform.INSTAGRAM,))
    await harness.assign(profile_id, 1, Platform.INSTAGRAM)
    harness.clock.advance(timedelta(hours=2))
    [claimed] = await harness.claim()
    async with harness.store.transaction() as tx:
        await tx.start_attempt(
            claimed.content_id,
            AttemptKind.PUBLISH,
            JOB,
            claimed.idempotency_key,
            "w1",
            harness.clock.now(),
        )
    return claimed


async def accepted(harness: Harness, claimed: Claimed, tx) -> None:
    """The publish call's answer: accepted, the content processing, due at its first poll."""
    now = harness.clock.now()
    await tx.finish_attempt(claimed.content_id, 1, Outcome.ACCEPTED, 200, "", now)
    assert await tx.settle(
        claimed.content_id,
        Event.AWAIT,
        worker="w1",
        now=now,
        retry_count=0,
        next_retry_at=now + timedelta(seconds=5),
        generation=claimed.generation,
        job=JOB,
    )


async def due_at(harness: Harness, claimed: Claimed):
    async with harness.store.transaction() as tx:
        view = await tx.view(claimed.content_id)
    assert view is not None
    return view.next_retry_at


async def poll_claim(harness: Harness, worker: str) -> list[Claimed]:
    now = harness.clock.now()
    async with harness.store.transaction() as tx:
        return await tx.claim(Event.CLAIM_TO_POLL, 10, worker, now, now + LEASE)


async def test_a_word_never_hands_a_held_look_to_a_second_worker_and_the_holder_finds_it(
    harness,
):
    claimed = await a_claimed_post(harness)
    async with harness.store.transaction() as tx:
        await accepted(harness, claimed, tx)
    harness.clock.advance(timedelta(seconds=5))
    [held] = await poll_claim(harness, "w1")  # w1 asks Upload-Post how the job goes
    async with harness.store.transaction() as tx:
        assert await tx.note_upload_result(word(), harness.clock.now()) == claimed.content_id
    assert await poll_claim(harness, "w2") == []  # not due: w1 holds it
    assert await due_at(harness, claimed) == harness.clock.now() + LEASE

    # w1's look came back "still pending": it settles a later poll, and finds the word.
    nobody = cast(AllocatorGateway, None)  # no slot is asked for here
    hearing = Listening(harness.store, harness.clock, listening_since=harness.clock.now())
    settler = Settler(harness.store, nobody, harness.clock, "w1", hearing)
    later = harness.clock.now() + timedelta(seconds=120)
    assert await settler.settle(held, Decision(Event.POLL_LATER, 0, later, held.generation))
    assert await due_at(harness, claimed) == harness.clock.now()
    [again] = await poll_claim(harness, "w2")
    assert again.content_id == claimed.content_id
    assert again.previous_state is ContentState.PROCESSING


async def test_a_word_that_comes_while_the_accepted_answer_is_written_is_found(
    harness, database_url
):
    claimed = await a_claimed_post(harness)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as watcher:
        async with harness.store.transaction() as writing:
            await accepted(harness, claimed, writing)  # written, not yet committed

            async def hear() -> object:
                async with harness.store.transaction() as tx:
                    return await tx.note_upload_result(word(), harness.clock.now())

            hearing = asyncio.create_task(hear())

            async def waits_for_the_row() -> bool:
                return await lock_waiters(watcher) >= 1

            await until_found(waits_for_the_row)  # the word waits for the answer's row
        assert await hearing == claimed.content_id
    # The word came after the answer committed: the content is due now, not at its first poll.
    assert await due_at(harness, claimed) == harness.clock.now()


async def test_a_dead_token_found_late_does_not_undo_a_reconnection_told_since(harness):
    claimed = await a_claimed_post(harness)
    call_started = harness.clock.now()
    harness.clock.advance(timedelta(minutes=3))
    async with harness.store.transaction() as tx:  # Upload-Post: reconnected, at +3 min
        now = harness.clock.now()
        await tx.clear_profiles_reconnect(
            [claimed.profile_id], Platform.INSTAGRAM, "webhook", now, now
        )
    harness.clock.advance(timedelta(minutes=2))
    # The job's failure on the old token is read only now, at +5 min.
    nobody = cast(AllocatorGateway, None)
    settler = Settler(harness.store, nobody, harness.clock, "w1")
    dead = Decision(
        Event.WAIT_FOR_ACCOUNT,
        0,
        None,
        claimed.generation + 1,
        "token expired",
        hold=Hold.RECONNECT,
        hold_as_of=call_started,
    )
    assert await settler.settle(claimed, dead)
    async with harness.store.transaction() as tx:
        assert await tx.accounts_to_reconnect() == 0
