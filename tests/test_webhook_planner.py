"""The webhook planner on a real PostgreSQL: each committed event owed once to each endpoint
that wants it, none for a rolled-back change, none from before the endpoint existed, none past a
transaction still running, and one replica at a time per endpoint."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import psycopg
import pytest

from queuelabs.events import EventType
from tests.support.polling import until
from tests.support.receiver import receiving
from tests.support.webhooks import open_hooks, tell
from uploader.workers.webhook_planner import WebhookPlanner


@pytest.fixture
async def hooks(database_url):
    async with open_hooks(database_url) as opened:
        yield opened


def owed(db) -> list[tuple[str, str]]:
    """(endpoint's description, event id) of every delivery planned."""
    rows = db.execute(
        "select e.description, d.event_id::text from webhook_deliveries d"
        " join webhook_endpoints e using (endpoint_id) order by d.event_xid, d.event_seq"
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


async def test_an_endpoint_is_owed_what_commits_after_it_exists_and_matches_its_filters(hooks, db):
    profile = uuid4()
    before = tell(db)
    async with receiving() as receiver:
        everything = await hooks.endpoint(receiver)
        published = await hooks.endpoint(receiver, types=frozenset({EventType.UPLOAD_FAILED}))
        mine = await hooks.endpoint(receiver, profile_ids=frozenset({profile}))
    for endpoint, name in ((everything, "all"), (published, "failed"), (mine, "mine")):
        db.execute(
            "update webhook_endpoints set description = %s where endpoint_id = %s",
            (name, endpoint.endpoint_id),
        )
    [other] = tell(db)
    [failed] = tell(db, type=EventType.UPLOAD_FAILED)
    [ours] = tell(db, profile_id=profile)
    [about_endpoints] = tell(db, type=EventType.WEBHOOK_ENDPOINT_DISABLED)
    db.execute("update events set profile_id = null where event_id = %s", (about_endpoints,))
    await hooks.plan(4 + 1 + 2)
    assert sorted(owed(db)) == sorted(
        [("all", e) for e in (other, failed, ours, about_endpoints)]
        + [("failed", failed)]
        + [("mine", ours), ("mine", about_endpoints)]  # an event of no profile passes
    )
    assert before[0] not in {event for _, event in owed(db)}


async def test_a_rolled_back_change_is_owed_nothing(hooks, db):
    async with receiving() as receiver:
        await hooks.endpoint(receiver)

    def failing_change() -> None:
        with db.transaction():
            tell(db, 3)
            raise RuntimeError("the change fails after writing its events")

    with pytest.raises(RuntimeError):
        failing_change()
    [kept] = tell(db)
    await hooks.plan(1)
    assert [event for _, event in owed(db)] == [kept]


async def test_nothing_is_planned_past_a_transaction_still_running(hooks, db, database_url):
    async with receiving() as receiver:
        await hooks.endpoint(receiver)
    with psycopg.connect(database_url) as late:  # takes its position in the log first...
        late.execute("select pg_current_xact_id()")
        [after] = tell(db)  # ...and this one commits first, above it
        planner = WebhookPlanner(hooks.store, hooks.clock)
        assert await planner.plan() == 0  # not past the open one: it may still commit below
        [early] = tell(late)
        late.commit()
    await hooks.plan(2)
    assert [event for _, event in owed(db)] == [early, after]  # the log's order, nothing lost


async def test_one_replica_plans_an_endpoint_at_a_time_and_another_skips_it(hooks, db):
    async with receiving() as receiver:
        endpoint = await hooks.endpoint(receiver)
    tell(db, 2)
    async with hooks.store.transaction() as tx:
        assert await tx.lock_endpoint_to_plan(endpoint.endpoint_id) is not None
        other = WebhookPlanner(hooks.store, hooks.clock)
        # Under the lock, another replica neither waits nor plans it.
        assert await asyncio.wait_for(other.plan(), timeout=30) == 0
    await hooks.plan(2)


async def test_a_backlog_is_planned_a_batch_per_transaction(hooks, db):
    async with receiving() as receiver:
        await hooks.endpoint(receiver)
    tell(db, 7)
    await hooks.plan(7, batch=3)  # 3, 3, 1: the short batch ends the endpoint's turn
    assert len(owed(db)) == 7


async def test_an_endpoint_far_behind_does_not_keep_another_waiting(hooks, db):
    async with receiving() as receiver:
        behind = await hooks.endpoint(receiver)
        tell(db, 6)  # only `behind` is owed these
        later = await hooks.endpoint(receiver)
        tell(db)
    await until(lambda: readable(db) == 7)  # no other session's transaction holds any back
    at_each_wake: list[list[tuple[str, str]]] = []
    planner = WebhookPlanner(
        hooks.store, hooks.clock, wake_sender=lambda: at_each_wake.append(owed(db)), batch=2
    )
    for endpoint, name in ((behind, "behind"), (later, "later")):
        db.execute(
            "update webhook_endpoints set description = %s where endpoint_id = %s",
            (name, endpoint.endpoint_id),
        )
    assert await planner.plan() == 7 + 1
    # After the first pass, a batch each: the later endpoint has its event while the one far
    # behind has worked through only two of its seven.
    first = [name for name, _ in at_each_wake[0]]
    assert sorted(first) == ["behind", "behind", "later"]
    assert len(at_each_wake) == 4  # passes of 2, 2, 2, 1 for the one behind


def readable(db) -> int:
    """Events a reader may pass now (see events_after)."""
    (count,) = db.execute(
        "select count(*) from events where xid < pg_snapshot_xmin(pg_current_snapshot())"
    ).fetchone()
    return int(count)
