"""The rescuer on a real PostgreSQL with a FakeClock: an expired lease becomes an unknown
outcome (never due again directly), once, a batch per transaction."""

from __future__ import annotations

from datetime import timedelta

from queuelabs.lifecycle import ContentState
from tests.support.harness import LEASE, START
from uploader.domain import AttemptKind, Unanswered
from uploader.workers.rescuer import Rescuer


async def test_an_expired_lease_becomes_an_unknown_outcome_never_due_again_directly(harness):
    profile_id = await harness.profile()
    [content] = await harness.assign(profile_id, 1)
    harness.clock.advance(timedelta(hours=1))
    [held] = await harness.claim(worker="dead")
    async with harness.store.transaction() as tx:
        await tx.start_attempt(
            content, AttemptKind.PUBLISH, "req-1", held.idempotency_key, "dead", START
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


async def test_many_expired_leases_are_rescued_a_batch_per_transaction(harness):
    contents = await harness.one_each(7)  # seven accounts: one claim takes all seven
    harness.clock.advance(timedelta(hours=1))
    await harness.claim(worker="dead")
    harness.clock.advance(LEASE + timedelta(seconds=1))
    async with harness.store.transaction() as tx:  # one batch is one transaction's worth
        assert len(await tx.rescue_expired(harness.clock.now(), 3)) == 3
    rescued = await Rescuer(harness.store, harness.clock, batch=3).rescue_expired()
    assert len(rescued) == 4  # 3, then 1: the short batch ends the turn
    assert {await harness.state(c) for c in contents} == {ContentState.UNKNOWN_OUTCOME}
