"""The Uploader's storage on a real PostgreSQL with a FakeClock, and an Allocator to fill it:
what the storage and worker tests (claimer, rescuer, backlog gauge, pruner) stand on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from typing import cast
from uuid import UUID, uuid4

from psycopg_pool import AsyncConnectionPool

from allocator.domain import ContentSpec, Profile, SlotSpec
from allocator.service import AllocationPolicy, AllocatorService
from allocator.storage import AllocatorStore
from queuelabs.clock import FakeClock
from queuelabs.database import open_pool
from queuelabs.lifecycle import ContentState, Event
from queuelabs.platforms import MediaType, Platform
from uploader.budget import RequestBudget
from uploader.domain import Claimed
from uploader.pacing import Limits
from uploader.publisher import Publisher
from uploader.settings import UploaderSettings
from uploader.storage import UploaderStore
from uploader.workers.claimer import Claimer
from uploader.workers.duties import uploader_duties
from uploader.workers.periodic import Duty

# Thursday 2026-03-26, 00:30 UTC: the hourly slots fall at 01:00, 02:00, ...
START = datetime(2026, 3, 26, 0, 30, tzinfo=UTC)

LEASE = timedelta(minutes=5)
MAX_LATENESS = timedelta(hours=1)  # the setting's default
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

    async def assign(
        self,
        profile_id: UUID,
        count: int,
        platform=Platform.TIKTOK,
        not_before: datetime | None = None,
    ) -> list[UUID]:
        """`count` contents of one social account, in its next free slots (hourly). A claim
        takes one of them at a time: see `one_each` for contents that go out together."""
        ids = []
        for _ in range(count):
            spec = ContentSpec(uuid4(), MediaType.VIDEO, "https://cdn.example.com/a.mp4")
            await self.allocator.assign_next(profile_id, platform, spec, not_before)
            ids.append(spec.content_id)
        return ids

    async def one_each(
        self,
        count: int,
        platform=Platform.TIKTOK,
        user: str | None = None,
        apart: timedelta = timedelta(0),
    ) -> list[UUID]:
        """One content to each of `count` new profiles: `count` social accounts, so a claim
        may take all of them at once (it takes one content per account). The n-th (from 0)
        goes in the first slot at least `apart` times n from now; `user`: the Upload-Post user
        the profiles share (each its own by default)."""
        now = self.clock.now()
        ids = []
        for n in range(count):
            profile_id = await self.profile((platform,), user)
            ids += await self.assign(profile_id, 1, platform, now + n * apart)
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


@asynccontextmanager
async def open_harness(database_url: str) -> AsyncIterator[Harness]:
    clock = FakeClock(START)
    pool = await open_pool(database_url, 4, 5)
    allocator = AllocatorService(
        AllocatorStore(pool), clock, AllocationPolicy(lead_time=timedelta(0), daily_caps={})
    )
    try:
        yield Harness(pool, UploaderStore(pool), allocator, clock)
    finally:
        await pool.close()


def listed_duty(store: UploaderStore, clock: FakeClock, module: str) -> Duty:
    """The duty of uploader/workers/`module`.py as the server starts it: from the one list."""
    budget = RequestBudget(store, Limits(), clock, "w1")
    nobody = cast(Publisher, None)  # nothing is due in these tests: the claimer never publishes
    claimer = Claimer(
        store, nobody, budget, clock, "w1", max_in_flight=1, lease=LEASE, max_lateness=MAX_LATENESS
    )
    settings = UploaderSettings(database_url="", allocator_addr="", upload_post_api_key="")
    duties = uploader_duties(store, clock, claimer, settings)
    [duty] = [d for d in duties if d.turn.__module__ == f"uploader.workers.{module}"]
    return duty
