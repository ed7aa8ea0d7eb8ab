"""The incident, replayed: a burst of parallel assignments for "InfoKetua" never stacks.

Production saw six TikTok contents of InfoKetua in the 06:00 WIB slot, created 100-300 ms
apart (plan-en.md, problem 3). Here 200 requests leave four client processes at the same
moment, over 40 connections, to two Allocator server processes sharing one PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from tests.support.burst import (
    BurstResult,
    fire,
    grpc_worker,
    index_refusals,
    naive_worker,
    watched_allocators,
)
from tests.support.calls import WIB_SLOTS, instant, stamp, video, wib_slots_after
from tests.support.processes import allocator_replicas

PROCESSES = 4
PER_PROCESS = 50
CONNECTIONS = 10  # per client process
INFOKETUA = "5b0c1f0e-6a36-4c57-a3a1-0d4f1c2b7e61"


def next_wib_midnight() -> datetime:
    """A fixed search start for the burst, safely past now plus the lead time."""
    now = datetime.now(UTC)
    wib = now + timedelta(hours=7)
    return (
        datetime(wib.year, wib.month, wib.day, tzinfo=UTC) + timedelta(days=2) - timedelta(hours=7)
    )


def create_infoketua(address: str) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = AllocatorStub(channel)
        stub.UpsertProfile(
            pb.UpsertProfileRequest(
                profile_id=INFOKETUA,
                name="InfoKetua",
                upload_post_user="InfoKetua",
                timezone="Asia/Jakarta",
            )
        )
        stub.SetSchedule(
            pb.SetScheduleRequest(
                profile_id=INFOKETUA,
                platform=pb.PLATFORM_TIKTOK,
                slots=[pb.Slot(local_time=t) for t in WIB_SLOTS],
            )
        )


def stacked(db) -> list[tuple[datetime, int]]:
    return db.execute(
        "select scheduled_at, count(*) from contents where status = 'scheduled'"
        " group by scheduled_at having count(*) > 1 order by 2 desc"
    ).fetchall()


def report(label: str, burst: BurstResult) -> None:
    latencies = sorted(o.seconds for o in burst.outcomes)
    print(
        f"\n{label}: {len(burst.outcomes)} requests from {PROCESSES} processes, "
        f"{len(burst.succeeded)} succeeded in {burst.wall_seconds:.2f} s; "
        f"latency p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms"
    )


def test_parallel_burst_for_one_profile_never_stacks(database_url, db):
    not_before = next_wib_midnight()
    with watched_allocators(database_url, 2, ALLOCATOR_DB_POOL_SIZE="8") as replicas:
        addresses = [replica.address for replica in replicas]
        create_infoketua(addresses[0])
        burst = fire(
            grpc_worker, PROCESSES, PER_PROCESS, (addresses, CONNECTIONS, INFOKETUA, not_before)
        )
        refused_by_the_index = index_refusals(replicas)
    report("Allocator burst", burst)
    total = PROCESSES * PER_PROCESS
    assert [o.error for o in burst.outcomes if o.error] == []
    assert len(burst.succeeded) == total
    assert {o.served_by for o in burst.succeeded} == set(addresses)  # both replicas took part
    instants = [o.scheduled_at for o in burst.succeeded if o.scheduled_at is not None]
    assert len(set(instants)) == total, "two contents share a slot"
    assert sorted(instants) == wib_slots_after(not_before, total)  # the earliest, no gaps
    assert stacked(db) == []
    assert db.execute("select count(*) from contents").fetchone() == (total,)
    # The locks serialized every placement: the index, the last line of defence, never had to
    # refuse one (without the advisory lock it refuses some, and their groups are placed again).
    assert refused_by_the_index == 0


@pytest.fixture
def without_unique_index(db):
    """The old system's schema: no constraint on the slot."""
    db.execute("drop index contents_one_active_per_slot")


def seed_infoketua_directly(db) -> None:
    with allocator_replicas(db.info.dsn, 1) as [address]:
        create_infoketua(address)


def test_the_same_burst_stacks_on_the_naive_read_then_write_path(
    database_url, db, without_unique_index
):
    seed_infoketua_directly(db)
    not_before = next_wib_midnight()
    burst = fire(
        naive_worker, PROCESSES, PER_PROCESS, (database_url, CONNECTIONS, INFOKETUA, not_before)
    )
    report("Naive burst", burst)
    piles = stacked(db)
    print(f"naive path: {len(piles)} slots hold more than one content, up to {piles[0][1]}")
    assert piles, "the naive path did not stack: this race test could not fail"


def test_the_unique_index_alone_turns_stacking_into_errors(database_url, db):
    seed_infoketua_directly(db)
    burst = fire(
        naive_worker,
        PROCESSES,
        PER_PROCESS,
        (database_url, CONNECTIONS, INFOKETUA, next_wib_midnight()),
    )
    assert stacked(db) == []
    refused = Counter(o.error.split(":")[0] for o in burst.outcomes if o.error)
    assert refused["UniqueViolation"] > 0  # the last line of defence held, loudly


async def test_batches_racing_single_assignments_never_overlap_and_repeat_exactly(database_url, db):
    not_before = next_wib_midnight()
    with watched_allocators(database_url, 2) as replicas:
        addresses = [replica.address for replica in replicas]
        create_infoketua(addresses[0])
        channels = [
            grpc.aio.insecure_channel(
                addresses[i % 2], options=[("grpc.use_local_subchannel_pool", 1)]
            )
            for i in range(20)
        ]
        stubs = [AllocatorStub(c) for c in channels]
        batches = [
            pb.BatchAssignRequest(
                profile_id=INFOKETUA,
                platform=pb.PLATFORM_TIKTOK,
                contents=[video() for _ in range(20)],
                not_before=stamp(not_before),
            )
            for _ in range(5)
        ]
        singles = [
            pb.AssignNextRequest(
                profile_id=INFOKETUA,
                platform=pb.PLATFORM_TIKTOK,
                content=video(),
                not_before=stamp(not_before),
            )
            for _ in range(100)
        ]

        async def everything():
            calls = [stubs[i % 20].BatchAssign(b) for i, b in enumerate(batches)]
            calls += [stubs[(i + 5) % 20].AssignNext(s) for i, s in enumerate(singles)]
            results = await asyncio.gather(*calls)
            return list(results[: len(batches)]), list(results[len(batches) :])

        try:
            batch_results, single_results = await everything()
            repeated = await everything()
        finally:
            await asyncio.gather(*(c.close() for c in channels))
        assert index_refusals(replicas) == 0

    assert repeated == (batch_results, single_results)  # retries change nothing
    expected = wib_slots_after(not_before, 200)
    batch_instants = [[instant(a.scheduled_at) for a in r.assignments] for r in batch_results]
    single_instants = [instant(a.scheduled_at) for a in single_results]
    every = [at for b in batch_instants for at in b] + single_instants
    assert sorted(every) == expected  # no overlap, no gap
    for request, result, instants in zip(batches, batch_results, batch_instants, strict=True):
        assert [a.content_id for a in result.assignments] == [
            c.content_id for c in request.contents
        ]
        first = expected.index(instants[0])
        assert instants == expected[first : first + 20]  # a batch takes consecutive slots
    assert db.execute("select count(*) from contents").fetchone() == (200,)
