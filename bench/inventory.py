"""What a scheduled (profile, platform) costs the database before any content: its schedule, its
slots and its free-slot inventory (the instants ahead it can offer, a bounded chunk of days),
at QueueLabs' shape: 6 slots a day on TikTok and Instagram.

Run: `uv run python -m bench.inventory` (BENCH_DATABASE_URL, DATABASE_URL, or an embedded
PostgreSQL; a database of its own, dropped at the end); `--profiles N` (500).
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from datetime import time as wall_time

import psycopg
from psycopg import sql

from allocator.domain import Profile, SlotSpec
from allocator.service import AllocatorService
from allocator.storage import AllocatorStore
from bench.database import bench_database
from queuelabs.clock import SystemClock
from queuelabs.database import open_pool
from queuelabs.platforms import Platform

SLOTS = [SlotSpec(wall_time(hour, 0), frozenset()) for hour in (6, 9, 12, 15, 18, 21)]
PLATFORMS = (Platform.TIKTOK, Platform.INSTAGRAM)


async def schedule(database_url: str, profiles: int) -> None:
    pool = await open_pool(database_url, size=2, wait_seconds=60)
    service = AllocatorService(AllocatorStore(pool), SystemClock())
    try:
        for i in range(profiles):
            profile = Profile(uuid.uuid4(), f"p{i}", f"user{i}", "Asia/Jakarta")
            await service.upsert_profile(profile)
            for platform in PLATFORMS:
                await service.set_schedule(profile.profile_id, platform, SLOTS)
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=500)
    args = parser.parse_args()
    keys = args.profiles * len(PLATFORMS)
    with bench_database() as database_url:
        asyncio.run(schedule(database_url, args.profiles))
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("vacuum analyze")
            print(
                f"{args.profiles} profiles x {len(PLATFORMS)} platforms, {len(SLOTS)} slots a day"
            )
            total = 0
            for table in ("profiles", "schedules", "schedule_slots", "free_slots"):
                row = conn.execute(
                    sql.SQL("select count(*), pg_total_relation_size({name}) from {table}").format(
                        name=sql.Literal(table), table=sql.Identifier(table)
                    )
                ).fetchone()
                assert row is not None
                rows, size = int(row[0]), int(row[1])
                total += size
                print(
                    f"  {table:<15} {rows:>9,} rows  {size / max(1, rows):5.0f} bytes a row"
                    f"  {rows / keys:7.1f} rows and {size / keys:8.0f} bytes a key"
                )
            print(f"  together        {total / keys:.0f} bytes a key")


if __name__ == "__main__":
    main()
