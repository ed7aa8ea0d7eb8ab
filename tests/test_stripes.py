"""The in-process stripes (allocator/locks.py), held to their job: while a (profile, platform) is
busy, a replica's other requests for it wait in memory, not on a pooled database connection each,
so the replica still serves other keys. Without the stripes, each of them would hold a
connection while it waits for the key's advisory lock, and a busy key would starve the pool.

Nothing here waits on the clock: the test holds the key's advisory lock itself, and asyncio runs
a task until it first waits, so a second request for the key has either parked on its stripe or
taken a connection before the request for another key asks for one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import time

import psycopg
import pytest

from allocator.domain import Profile, SlotSpec
from allocator.service import AllocationPolicy, AllocatorService
from allocator.storage import AllocatorStore, advisory_key
from queuelabs.clock import FakeClock
from queuelabs.database import open_pool
from queuelabs.platforms import Platform
from tests.conftest import T0
from tests.support.databases import lock_waiters

POOL_SIZE = 2
SLOTS = [SlotSpec(time(h, 0), frozenset()) for h in (6, 12, 18)]


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[AllocatorService]:
    # A generous wait for a lock or a connection: the request that waits for the key the test
    # holds must still be waiting when the test lets go.
    pool = await open_pool(database_url, POOL_SIZE, 30)
    try:
        yield AllocatorService(AllocatorStore(pool), FakeClock(T0), AllocationPolicy())
    finally:
        await pool.close()


async def new_key(service: AllocatorService) -> uuid.UUID:
    profile = Profile(uuid.uuid4(), "Striped", "striped", "UTC")
    await service.upsert_profile(profile)
    await service.set_schedule(profile.profile_id, Platform.TIKTOK, SLOTS)
    return profile.profile_id


@pytest.mark.timeout(120)
async def test_requests_waiting_for_a_busy_key_hold_no_connection_so_other_keys_are_served(
    service: AllocatorService, database_url: str
):
    busy = await new_key(service)
    other = await new_key(service)
    while service._stripes.of(other, Platform.TIKTOK) is service._stripes.of(
        busy, Platform.TIKTOK
    ):  # two keys may share a stripe (1 in 1024): then the other key would wait too
        other = await new_key(service)

    async with await psycopg.AsyncConnection.connect(database_url) as holder:
        # The key is busy: another replica (here, the test) holds its advisory lock.
        await holder.execute(
            "select pg_advisory_xact_lock(%s)", (advisory_key(busy, Platform.TIKTOK),)
        )
        first = asyncio.create_task(service.set_schedule(busy, Platform.TIKTOK, SLOTS))
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as look:
            while await lock_waiters(look, "advisory") < 1:  # the first holds a connection, waiting
                assert not first.done(), first.result()
                await asyncio.sleep(0.01)  # real: a real session reaches the lock on its own
        # More requests for the busy key than the pool has connections left.
        more = [
            asyncio.create_task(service.set_schedule(busy, Platform.TIKTOK, SLOTS))
            for _ in range(POOL_SIZE - 1)
        ]
        # Another key is served all the same: the waiters for the busy one left it a connection.
        # (A task of its own, started after theirs: they run first, up to where they wait.)
        schedule = await asyncio.create_task(service.get_schedule(other, Platform.TIKTOK))
        assert schedule.profile_id == other
        # ...at once: not after the busy key's first request gave up waiting and freed one.
        assert not first.done(), f"{other} was served only after {first}"
        assert not any(task.done() for task in more)
        await holder.rollback()  # the key is free again: its requests go through, one by one
    for done in await asyncio.gather(first, *more):
        assert done.profile_id == busy
