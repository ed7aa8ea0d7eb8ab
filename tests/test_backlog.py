"""The backlog gauge on a real PostgreSQL with a FakeClock: what is due and unclaimed, per
platform, reported by one replica at a time (the one that leads the duty), not once per replica;
when the leader stops, another takes over once its term runs out."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from psycopg_pool import AsyncConnectionPool

from queuelabs import metrics
from queuelabs.clock import FakeClock
from queuelabs.database import open_pool
from queuelabs.platforms import Platform
from tests.support.harness import listed_duty
from uploader.storage import UploaderStore
from uploader.workers import backlog
from uploader.workers.backlog import BacklogGauge
from uploader.workers.periodic import TERM_IN_TURNS, Leadership, run_periodically


async def test_the_backlog_gauge_counts_what_is_due_per_platform(harness):
    profile_id = await harness.profile((Platform.TIKTOK, Platform.INSTAGRAM))
    await harness.assign(profile_id, 3)
    await harness.assign(profile_id, 1, Platform.INSTAGRAM)
    gauge = BacklogGauge(harness.store, harness.clock)
    assert await gauge.measure() == {}
    harness.clock.advance(timedelta(hours=2))
    assert await gauge.measure() == {Platform.TIKTOK: 2, Platform.INSTAGRAM: 1}


async def test_the_gauge_counts_the_accounts_to_reconnect_and_a_follower_reports_none(harness):
    first = await harness.profile((Platform.TIKTOK, Platform.INSTAGRAM))
    second = await harness.profile()
    now = harness.clock.now()
    async with harness.store.transaction() as tx:
        for profile_id, platform in ((first, Platform.TIKTOK), (second, Platform.TIKTOK)):
            await tx.mark_profiles_reconnect([profile_id], platform, "token", "test", now, now)
        await tx.cap_account(first, Platform.INSTAGRAM, now + timedelta(hours=1), "cap")
    gauge = BacklogGauge(harness.store, harness.clock)
    await gauge.measure()
    assert metrics.ACCOUNTS_TO_RECONNECT._value.get() == 2  # a full cap is not one of them
    async with harness.store.transaction() as tx:
        await tx.clear_profiles_reconnect([second], Platform.TIKTOK, "test", now, now)
    await gauge.measure()
    assert metrics.ACCOUNTS_TO_RECONNECT._value.get() == 1
    gauge.withhold()
    assert metrics.ACCOUNTS_TO_RECONNECT._value.get() == 0


class Replica:
    """The backlog gauge duty as one replica runs it, from the list: its own pool and worker
    name; each report it makes and each time it stands down is recorded."""

    def __init__(self, name: str, pool: AsyncConnectionPool, clock: FakeClock) -> None:
        store = UploaderStore(pool)
        listed = listed_duty(store, clock, "backlog")
        gauge = BacklogGauge(store, clock)
        self.reports: list[dict[Platform, int]] = []
        self.stood_down = 0

        async def reporting() -> None:
            self.reports.append(await gauge.measure())

        def standing_down() -> None:
            self.stood_down += 1
            assert listed.stand_down is not None
            listed.stand_down()

        duty = replace(listed, turn=reporting, stand_down=standing_down)
        self.leadership = Leadership(store, clock, name)
        self.stop = asyncio.Event()
        self.runner = asyncio.create_task(run_periodically(duty, clock, self.stop, self.leadership))

    async def halt(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.runner, 10)


async def test_of_two_replicas_one_reports_the_backlog_and_the_other_takes_over_when_it_stops(
    harness, database_url
):
    profile_id = await harness.profile()
    await harness.assign(profile_id, 2)
    clock = harness.clock
    clock.advance(timedelta(hours=3))  # both are due
    pools = [await open_pool(database_url, 2, 5) for _ in range(2)]
    replicas = [Replica(name, pool, clock) for name, pool in zip("ab", pools, strict=True)]
    try:
        turns = 4
        for _ in range(turns):
            await asyncio.wait_for(clock.until_sleeping(2), 10)  # both took their turn
            clock.advance(backlog.INTERVAL)
        await asyncio.wait_for(clock.until_sleeping(2), 10)
        [leader] = [r for r in replicas if r.reports]
        [other] = [r for r in replicas if r is not leader]
        assert leader.reports == [{Platform.TIKTOK: 2}] * (turns + 1)
        assert (other.reports, other.stood_down) == ([], turns + 1)

        await leader.halt()  # its term runs out TERM_IN_TURNS turns after its last
        for _ in range(TERM_IN_TURNS - 1):
            clock.advance(backlog.INTERVAL)
            await asyncio.wait_for(clock.until_sleeping(1), 10)
        assert other.reports == []
        clock.advance(backlog.INTERVAL)
        await asyncio.wait_for(clock.until_sleeping(1), 10)
        assert other.reports == [{Platform.TIKTOK: 2}]
    finally:
        for replica in replicas:
            await replica.halt()
        for pool in pools:
            await pool.close()


async def test_a_leader_that_stops_and_resigns_is_replaced_at_the_next_turn(harness, database_url):
    profile_id = await harness.profile()
    await harness.assign(profile_id, 1)
    clock = harness.clock
    clock.advance(timedelta(hours=3))
    pools = [await open_pool(database_url, 2, 5) for _ in range(2)]
    replicas = [Replica(name, pool, clock) for name, pool in zip("ab", pools, strict=True)]
    try:
        await asyncio.wait_for(clock.until_sleeping(2), 10)
        [leader] = [r for r in replicas if r.reports]
        [other] = [r for r in replicas if r is not leader]
        await leader.halt()
        await leader.leadership.resign()  # as RunningUploader.stop does
        clock.advance(backlog.INTERVAL)
        await asyncio.wait_for(clock.until_sleeping(1), 10)
        assert other.reports == [{Platform.TIKTOK: 1}]  # not a term later
    finally:
        for replica in replicas:
            await replica.halt()
        for pool in pools:
            await pool.close()


async def test_a_duty_for_one_runner_will_not_run_without_a_leadership(harness):
    duty = listed_duty(harness.store, harness.clock, "backlog")
    assert duty.one_runner
    with pytest.raises(ValueError, match="needs one runner at a time"):
        await run_periodically(duty, harness.clock, asyncio.Event())
