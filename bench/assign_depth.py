"""Does an assignment cost more when the queue is deep? Time per AssignNext at depth 0 and at
depth 10,000 for one (profile, platform), against a ceiling measured in the same run.

The ceiling is the cheapest transaction an assignment could possibly be on this database: take
the key's advisory lock, read one row, commit. Ratios, not seconds, are what to compare across
machines. Run: `uv run python bench/assign_depth.py` (uses BENCH_DATABASE_URL, else
DATABASE_URL, else an embedded PostgreSQL; always in a database of its own, dropped at the end).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import time as wall_time

from allocator.domain import ContentSpec, Profile, SlotSpec
from allocator.service import AllocatorService
from allocator.storage import AllocatorStore, advisory_key
from bench.database import bench_database
from queuelabs.clock import SystemClock
from queuelabs.database import open_pool
from queuelabs.platforms import MediaType, Platform

DEPTH = 10_000
SAMPLES = 300
SLOTS_PER_DAY = 48  # every 30 minutes: 10,000 contents reach about 208 days ahead


def content() -> ContentSpec:
    return ContentSpec(uuid.uuid4(), MediaType.VIDEO, "https://cdn.example.com/clip.mp4", "t")


async def per_call(samples: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        await call()
        timings.append(time.perf_counter() - started)
    return timings


def summary(label: str, timings: list[float], ceiling: float) -> str:
    mean = statistics.fmean(timings)
    p95 = sorted(timings)[int(len(timings) * 0.95)]
    return (
        f"{label:<34} mean {mean * 1e3:6.2f} ms  p95 {p95 * 1e3:6.2f} ms  "
        f"throughput {1 / mean:7.0f}/s = {ceiling / mean:5.2f} of the ceiling"
    )


async def run(database_url: str) -> None:
    pool = await open_pool(database_url, size=2, wait_seconds=30)
    service = AllocatorService(AllocatorStore(pool), SystemClock())
    slots = [SlotSpec(wall_time(h, m), frozenset()) for h in range(24) for m in (0, 30)]
    keys = []
    for name in ("shallow", "deep"):
        profile = Profile(uuid.uuid4(), name, name, "Asia/Jakarta")
        await service.upsert_profile(profile)
        await service.set_schedule(profile.profile_id, Platform.LINKEDIN, slots)
        keys.append(profile.profile_id)
    shallow, deep = keys

    print(f"filling one key to depth {DEPTH:,} ...", flush=True)
    for _ in range(DEPTH // 100):
        await service.batch_assign(deep, Platform.LINKEDIN, [content() for _ in range(100)], None)

    async def ceiling_call() -> None:
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(
                "select pg_advisory_xact_lock(%s)", (advisory_key(deep, Platform.LINKEDIN),)
            )
            await conn.execute("select 1 from profiles where profile_id = %s", (deep,))

    async def assign_shallow() -> None:
        await service.assign_next(shallow, Platform.LINKEDIN, content(), None)

    async def assign_deep() -> None:
        await service.assign_next(deep, Platform.LINKEDIN, content(), None)

    await per_call(50, ceiling_call)  # warm up
    ceiling = statistics.fmean(await per_call(SAMPLES, ceiling_call))
    at_zero = await per_call(SAMPLES, assign_shallow)
    at_depth = await per_call(SAMPLES, assign_deep)
    await pool.close()

    print(f"ceiling (lock + read + commit)     mean {ceiling * 1e3:6.2f} ms")
    print(summary("AssignNext at depth 0", at_zero, ceiling))
    print(summary(f"AssignNext at depth {DEPTH:,}", at_depth, ceiling))
    ratio = statistics.fmean(at_depth) / statistics.fmean(at_zero)
    print(f"depth {DEPTH:,} / depth 0 time per assignment: {ratio:.2f}")


def main() -> None:
    with bench_database() as database_url:
        asyncio.run(run(database_url))


if __name__ == "__main__":
    main()
