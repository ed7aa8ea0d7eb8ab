"""`queuelabs dev`: the whole system on one machine, listening on 127.0.0.1 only.

Uses DATABASE_URL when set, else an embedded PostgreSQL whose data stays in one folder between
runs; applies migrations; serves the Allocator; creates the demo profile "InfoKetua"; prints
grpcurl commands that work as pasted; stops everything on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import logging
from datetime import time
from pathlib import Path
from uuid import UUID

from queuelabs.config import AllocatorSettings, Env
from queuelabs.database import EmbeddedPostgres, migrate

log = logging.getLogger(__name__)

DEMO_PROFILE_ID = UUID("00000000-0000-4000-8000-000000000001")
DEMO_SLOTS_WIB = ["02:00", "06:00", "10:00", "14:00", "18:00", "22:00"]


async def run_dev(env: Env, data_dir: Path, allocator_port: int) -> int:
    from allocator.server import start_allocator
    from queuelabs.cli import until_signalled

    embedded: EmbeddedPostgres | None = None
    database_url = env.database_url()
    if database_url is None:
        embedded = EmbeddedPostgres(data_dir)
        database_url = embedded.start()
        log.info("embedded PostgreSQL running, data in %s", embedded.data_dir)
    try:
        migrate(database_url)
        settings = AllocatorSettings.from_env(
            env, database_url=database_url, listen=f"127.0.0.1:{allocator_port}"
        )
        allocator = await start_allocator(settings)
        try:
            await _create_demo_profile(database_url)
            print(_banner(allocator.port, embedded, database_url), flush=True)
            await until_signalled()
            log.info("stopping")
        finally:
            await allocator.stop(settings.shutdown_grace)
    finally:
        if embedded is not None:
            embedded.stop()
            log.info("embedded PostgreSQL stopped")
    return 0


async def _create_demo_profile(database_url: str) -> None:
    from allocator.domain import Profile, SlotSpec
    from allocator.service import AllocatorService
    from allocator.storage import AllocatorStore
    from queuelabs.clock import SystemClock
    from queuelabs.database import open_pool
    from queuelabs.platforms import Platform

    pool = await open_pool(database_url, size=1, wait_seconds=10)
    try:
        service = AllocatorService(AllocatorStore(pool), SystemClock())
        await service.upsert_profile(
            Profile(DEMO_PROFILE_ID, "InfoKetua", "InfoKetua", "Asia/Jakarta")
        )
        slots = [SlotSpec(time.fromisoformat(at), frozenset()) for at in DEMO_SLOTS_WIB]
        for platform in (Platform.TIKTOK, Platform.INSTAGRAM):
            await service.set_schedule(DEMO_PROFILE_ID, platform, slots)
    finally:
        await pool.close()


def _banner(port: int, embedded: EmbeddedPostgres | None, database_url: str) -> str:
    address = f"127.0.0.1:{port}"
    where = f"embedded, data in {embedded.data_dir}" if embedded else "from DATABASE_URL"
    psql = f"\n  psql '{database_url}'" if embedded else ""
    new_id = "$(python3 -c 'import uuid; print(uuid.uuid4())')"
    return f"""
QueueLabs dev stack is up.
  Allocator   {address}   (gRPC, reflection and health on)
  PostgreSQL  {where}{psql}
  Demo profile "InfoKetua" ({DEMO_PROFILE_ID}), TikTok and Instagram slots at
  {", ".join(DEMO_SLOTS_WIB)} Asia/Jakarta (WIB).

Try, in another terminal:
  grpcurl -plaintext {address} list
  grpcurl -plaintext -d '{{"profile_id": "{DEMO_PROFILE_ID}", "platform": "PLATFORM_TIKTOK"}}' \\
    {address} queuelabs.allocator.v1.Allocator/GetSchedule
  grpcurl -plaintext -d '{{"profile_id": "{DEMO_PROFILE_ID}", "platform": "PLATFORM_TIKTOK",
    "content": {{"content_id": "'{new_id}'", "media_type": "MEDIA_TYPE_VIDEO",
    "media_url": "https://example.com/clip.mp4", "title": "Hello"}}}}' \\
    {address} queuelabs.allocator.v1.Allocator/AssignNext
  grpcurl -plaintext -d '{{"profile_id": "{DEMO_PROFILE_ID}"}}' \\
    {address} queuelabs.allocator.v1.Allocator/ListAssignments

Ctrl-C stops everything.
"""
