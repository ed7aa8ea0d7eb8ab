"""The advisory lock, held to its job: two Allocator replicas (each its own server, pool and
stripes) placing contents for one (profile, platform) at the same moment keep its daily cap,
which no index enforces. Without the lock each would count the cap on what it alone placed.

The moment is made, not hoped for: the test holds a lock on the contents table that lets every
read through but no insert, fires both replicas, waits until both are stuck on a lock (with
the advisory lock, one on the table and the other behind it on the advisory lock; without it,
both on the table, each having chosen its slots), then lets go.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import psycopg
import pytest

from allocator.server import RunningAllocator, start_allocator
from allocator.settings import AllocatorSettings
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.caps import fullest_window
from queuelabs.clock import FakeClock
from queuelabs.platforms import Platform
from tests.support.calls import make_profile, stamp, video
from tests.support.databases import lock_waiters

CAP = 3
SUNDAY_NOON = datetime(2026, 3, 29, 12, tzinfo=UTC)
MONDAY, TUESDAY = datetime(2026, 3, 30, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC)


@pytest.fixture
async def replicas(database_url: str, clock: FakeClock) -> AsyncIterator[list[AllocatorStub]]:
    """Two Allocator servers on one database, TikTok capped at CAP posts in 24 hours; each
    waits up to a minute for a lock (the test holds one until both are waiting)."""
    settings = AllocatorSettings(
        database_url=database_url,
        listen="127.0.0.1:0",
        pool_size=2,
        db_timeout=60,
        daily_caps={Platform.TIKTOK: CAP},
    )
    running: list[RunningAllocator] = []
    try:
        for _ in range(2):
            running.append(await start_allocator(settings, clock))
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{r.port}") for r in running]
        try:
            yield [AllocatorStub(channel) for channel in channels]
        finally:
            for channel in channels:
                await channel.close()
    finally:
        for server in running:
            await server.stop(grace=1)


@pytest.mark.timeout(120)
async def test_two_replicas_at_once_keep_a_daily_cap_that_no_index_enforces(
    replicas: list[AllocatorStub], database_url: str, clock: FakeClock, db
):
    first, second = replicas
    # Mondays 20:00-22:00 and Tuesdays 01:00-03:00 UTC: each day within the cap, but both days'
    # slots lie within 24 hours, so only three of the six can hold contents.
    profile_id = await make_profile(first, timezone="UTC", slots=[])
    await first.SetSchedule(
        pb.SetScheduleRequest(
            profile_id=profile_id,
            platform=pb.PLATFORM_TIKTOK,
            slots=[pb.Slot(local_time=t, weekdays=[1]) for t in ("20:00", "21:00", "22:00")]
            + [pb.Slot(local_time=t, weekdays=[2]) for t in ("01:00", "02:00", "03:00")],
        )
    )
    clock.set(SUNDAY_NOON)

    def batch(not_before: datetime) -> pb.BatchAssignRequest:
        return pb.BatchAssignRequest(
            profile_id=profile_id,
            platform=pb.PLATFORM_TIKTOK,
            contents=[video() for _ in range(CAP)],
            not_before=stamp(not_before),
        )

    async with await psycopg.AsyncConnection.connect(database_url) as held:
        # SHARE: every read goes through, no insert into contents does.
        await held.execute("lock table contents in share mode")
        calls = [
            asyncio.ensure_future(first.BatchAssign(batch(MONDAY))),  # alone: Monday 20-22
            asyncio.ensure_future(second.BatchAssign(batch(TUESDAY))),  # alone: Tuesday 01-03
        ]
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as look:
            while await lock_waiters(look) < 2:
                assert not any(call.done() for call in calls), [c.result() for c in calls]
                await asyncio.sleep(0.01)  # real: real sessions reach the lock on their own
        await held.rollback()
        results = await asyncio.gather(*calls)

    told = sorted(a.scheduled_at.ToDatetime(tzinfo=UTC) for r in results for a in r.assignments)
    stored = [
        row[0]
        for row in db.execute(
            "select scheduled_at from contents where profile_id = %s order by 1", (profile_id,)
        )
    ]
    assert stored == told
    assert len(told) == 2 * CAP
    assert fullest_window(told) <= CAP, f"the cap of {CAP} was exceeded: {told}"
    # One replica got its own earliest slots; the other, seeing them, went a week on.
    assert told[:CAP] in (
        [MONDAY + timedelta(hours=h) for h in (20, 21, 22)],
        [TUESDAY + timedelta(hours=h) for h in (1, 2, 3)],
    )
