"""A burst for one hot (profile, platform) versus the same burst spread over many keys, each as
throughput against a ceiling measured in the same run.

Every assignment of one key runs in its own transaction under the key's locks, so a hot key is
served one request at a time. The ceiling is the cheapest transaction that could serve one
request under those locks (take the advisory lock, read a row, commit), run back to back.
Run: `uv run python bench/hot_key_burst.py` (BENCH_DATABASE_URL, DATABASE_URL, or embedded).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import time as wall_time

from allocator.domain import ContentSpec, Profile, SlotSpec
from allocator.service import AllocatorService
from allocator.storage import AllocatorStore, advisory_key
from bench.database import bench_database
from queuelabs.clock import SystemClock
from queuelabs.database import open_pool
from queuelabs.platforms import MediaType, Platform

BURST = 600
KEYS_WHEN_SPREAD = 20
POOL = 10


def content() -> ContentSpec:
    return ContentSpec(uuid.uuid4(), MediaType.VIDEO, "https://cdn.example.com/clip.mp4", "t")


async def run(database_url: str) -> None:
    pool = await open_pool(database_url, size=POOL, wait_seconds=60)
    service = AllocatorService(AllocatorStore(pool), SystemClock())
    slots = [SlotSpec(wall_time(h, m), frozenset()) for h in range(24) for m in (0, 30)]
    profiles = []
    for i in range(KEYS_WHEN_SPREAD + 1):
        profile = Profile(uuid.uuid4(), f"p{i}", f"p{i}", "Asia/Jakarta")
        await service.upsert_profile(profile)
        await service.set_schedule(profile.profile_id, Platform.LINKEDIN, slots)
        profiles.append(profile.profile_id)
    hot, spread = profiles[0], profiles[1:]

    async def ceiling_call() -> None:
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(
                "select pg_advisory_xact_lock(%s)", (advisory_key(hot, Platform.LINKEDIN),)
            )
            await conn.execute("select 1 from profiles where profile_id = %s", (hot,))

    started = time.perf_counter()
    for _ in range(BURST):
        await ceiling_call()
    ceiling = BURST / (time.perf_counter() - started)

    async def burst(keys: list[uuid.UUID]) -> float:
        started = time.perf_counter()
        await asyncio.gather(
            *(
                service.assign_next(keys[i % len(keys)], Platform.LINKEDIN, content(), None)
                for i in range(BURST)
            )
        )
        return BURST / (time.perf_counter() - started)

    hot_rate = await burst([hot])
    spread_rate = await burst(spread)
    await pool.close()
    print(f"ceiling: one key, lock + read + commit back to back: {ceiling:7.0f}/s")
    print(
        f"{BURST} AssignNext at once, one hot key:     {hot_rate:7.0f}/s = "
        f"{hot_rate / ceiling:.2f} of the ceiling"
    )
    print(
        f"{BURST} AssignNext at once, {KEYS_WHEN_SPREAD} keys:        {spread_rate:7.0f}/s = "
        f"{spread_rate / ceiling:.2f} of the ceiling ({POOL} connections)"
    )


def main() -> None:
    with bench_database() as database_url:
        asyncio.run(run(database_url))


if __name__ == "__main__":
    main()
