"""Every part behind a real PgBouncer in transaction pooling mode (tests/support/pgbouncer.py),
where each transaction may run on another server connection: migrate, the incident's
multi-process burst through two Allocator replicas, `schedule show` (through an Allocator),
`check`, and an Uploader publishing due contents, each once."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from collections.abc import Iterator

import grpc
import psycopg
import pytest

from queuelabs.allocator.v1 import allocator_pb2 as apb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from sandbox.server import start_sandbox
from tests.support.burst import fire, grpc_worker
from tests.support.calls import count_uploaded, due_contents, video, wib_slots_after
from tests.support.databases import DatabaseFactory
from tests.support.pgbouncer import running_pgbouncer, through
from tests.support.processes import QUEUELABS, allocator_replicas, service_process
from tests.support.stack import KEY
from tests.test_burst_race import (
    CONNECTIONS,
    INFOKETUA,
    PER_PROCESS,
    PROCESSES,
    create_infoketua,
    next_wib_midnight,
    stacked,
)

SERIAL = 100


@pytest.fixture(scope="module")
def bouncer(databases: DatabaseFactory) -> Iterator[str]:
    with running_pgbouncer(databases.url("postgres")) as url:
        yield url


def queuelabs(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*QUEUELABS, *args, "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_applies_the_schema_through_pgbouncer(bouncer, empty_database_url):
    bounced = through(bouncer, empty_database_url)
    for _ in range(2):  # and again: nothing left to do
        run = queuelabs("migrate", database_url=bounced)
        assert run.returncode == 0, run.stderr
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("select count(*) from alembic_version").fetchone() == (1,)


def test_the_incident_burst_through_pgbouncer_stacks_nothing_and_fails_nothing(
    bouncer, database_url, db
):
    bounced = through(bouncer, database_url)
    not_before = next_wib_midnight()
    with allocator_replicas(bounced, 2, ALLOCATOR_DB_POOL_SIZE="8") as addresses:
        create_infoketua(addresses[0])
        burst = fire(
            grpc_worker, PROCESSES, PER_PROCESS, (addresses, CONNECTIONS, INFOKETUA, not_before)
        )
        # Then one at a time, so each pooled connection runs the same statements many times
        # (psycopg would prepare them server-side after five: the failure PgBouncer showed).
        with grpc.insecure_channel(addresses[0]) as channel:
            one_by_one = [
                AllocatorStub(channel).AssignNext(
                    apb.AssignNextRequest(
                        profile_id=INFOKETUA, platform=apb.PLATFORM_TIKTOK, content=video()
                    ),
                    timeout=30,
                )
                for _ in range(SERIAL)
            ]
        # The calendar through the replicas: GetCalendar's statements through PgBouncer.
        shown = subprocess.run(
            [
                *QUEUELABS,
                "schedule",
                "show",
                "--profile",
                INFOKETUA,
                "--platform",
                "tiktok",
                "--days",
                "60",
                "--allocator",
                addresses[1],
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    total = PROCESSES * PER_PROCESS
    assert [o.error for o in burst.outcomes if o.error] == []  # no INTERNAL, no prepared twin
    instants = [o.scheduled_at for o in burst.succeeded if o.scheduled_at is not None]
    assert len(set(instants)) == total
    assert sorted(instants) == wib_slots_after(not_before, total)
    assert stacked(db) == []
    assert len({a.scheduled_at.ToDatetime() for a in one_by_one}) == SERIAL

    assert shown.returncode == 0, shown.stderr
    assert f"{INFOKETUA} · tiktok · Asia/Jakarta" in shown.stdout
    assert shown.stdout.count(" scheduled ") == total + SERIAL
    checked = queuelabs("check", database_url=bounced)
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_an_uploader_publishes_each_due_content_once_through_pgbouncer(bouncer, database_url):
    bounced = through(bouncer, database_url)
    sandbox = await start_sandbox("127.0.0.1", 0, KEY, async_seconds=0.2)
    try:
        with (
            service_process(
                "allocator",
                "ALLOCATOR_LISTEN",
                DATABASE_URL=bounced,
                UPLOAD_POST_DAILY_CAP_TIKTOK="10000",  # a slot every ten minutes
            ) as allocator,
            service_process(
                "uploader",
                "UPLOADER_LISTEN",
                DATABASE_URL=bounced,
                ALLOCATOR_ADDR=allocator.address,
                UPLOAD_POST_BASE_URL=sandbox.base_url,
                UPLOAD_POST_API_KEY=KEY,
                UPLOADER_IDLE_SECONDS="0.05",
                UPLOAD_POST_REQUESTS_PER_MINUTE="100000",
                UPLOAD_POST_POSTS_PER_MINUTE_PER_PROFILE="100000",
            ),
        ):
            async with grpc.aio.insecure_channel(allocator.address) as channel:
                _, contents = await due_contents(
                    AllocatorStub(channel), database_url, 30, first="-1 minute", spacing="1 s"
                )
            deadline = time.monotonic() + 120
            while count_uploaded(database_url, contents) < len(contents):
                assert time.monotonic() < deadline, "not every due content was published"
                await asyncio.sleep(0.2)  # real: real Uploaders behind a real PgBouncer
            published = Counter(p.idempotency_key.split(":")[1] for p in sandbox.state.publications)
    finally:
        await sandbox.stop()
    assert published == Counter({content_id: 1 for content_id in contents})
