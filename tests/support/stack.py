"""The whole system in the test's own process: Allocator, Upload-Post sandbox and Uploader,
over loopback, on the test's database.

The Uploader's `now()` is a FakeClock's, set `ahead` of the Allocator's real one (so assigned
slots are due at once), and tests drive it: `settled()` moves it straight to the moment a waiting
content is next due, so the production retry ladders and polling rhythms run in fake time, not on
the wall clock. Its waits (the workers' idle pauses) run on real time, like everything around it
here (gRPC, the sandbox's HTTP, read timeouts): see SteeredClock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import grpc
import psycopg

from allocator.server import RunningAllocator, start_allocator
from allocator.settings import AllocatorSettings
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.caps import DEFAULT_DAILY_CAPS
from queuelabs.clock import FakeClock, SystemClock, seconds
from queuelabs.platforms import Platform
from queuelabs.uploader.v1 import uploader_pb2 as upb
from queuelabs.uploader.v1.uploader_pb2_grpc import UploaderStub
from sandbox.server import RunningSandbox, start_sandbox
from uploader.pacing import Limits
from uploader.policies import DEFAULT_POLICIES, RetryPolicy
from uploader.server import RunningUploader, start_uploader
from uploader.settings import UploaderSettings

KEY = "sandbox-test-key"


def production_policies(read_timeout: float = 2.0) -> dict[Platform, RetryPolicy]:
    """Production's ladders and polling rhythm (they run in fake time); a short read timeout,
    which is real."""
    return {p: replace(policy, read_timeout=read_timeout) for p, policy in DEFAULT_POLICIES.items()}


class SteeredClock(FakeClock):
    """A FakeClock whose `now()` the test sets but whose waits take real time. The whole system
    here runs on real servers and real sockets; were the workers' waits fake, every loop would
    stand until the test moved the clock in step with I/O it cannot see. Unit and storage tests
    use the FakeClock itself, whose waits are fake."""

    async def sleep(self, delay: timedelta | float) -> None:
        await asyncio.sleep(max(0.0, seconds(delay)))


@dataclass
class Stack:
    allocator: AllocatorStub
    uploader: UploaderStub
    sandbox: RunningSandbox
    allocator_server: RunningAllocator
    uploader_server: RunningUploader
    clock: FakeClock  # the Uploader's
    db: psycopg.AsyncConnection[tuple[object, ...]]

    async def advance_to_next_due(self, content_id: str) -> None:
        """Moves the Uploader's clock to when `content_id` is next due, if it waits unheld for
        a later moment, and wakes the claimer. A held content is left alone: jumping past its
        lease would have it rescued mid-call."""
        cursor = await self.db.execute(
            "select coalesce(next_retry_at, scheduled_at), lease_owner from contents"
            " where content_id = %s",
            (content_id,),
        )
        row = await cursor.fetchone()
        if row is not None:
            due, holder = row
            assert isinstance(due, datetime)
            if holder is None and due > self.clock.now():
                self.clock.set(due)
        self.uploader_server.claimer.wake()


async def settled(
    stack: Stack,
    content_id: str,
    states: tuple[int, ...] = (upb.UPLOAD_STATE_UPLOADED, upb.UPLOAD_STATE_FAILED),
    seconds: float = 30,
) -> upb.Upload:
    """Polls GetUpload until the content reaches one of `states`, driving the clock on."""
    deadline = time.monotonic() + seconds
    while True:
        upload = await stack.uploader.GetUpload(upb.GetUploadRequest(content_id=content_id))
        if upload.state in states:
            return upload
        if time.monotonic() > deadline:
            raise AssertionError(f"still {upb.UploadState.Name(upload.state)}:\n{upload}")
        await stack.advance_to_next_due(content_id)
        await asyncio.sleep(0.02)  # real: polls real servers over gRPC (see SteeredClock)


@asynccontextmanager
async def running_stack(
    database_url: str,
    *,
    ahead: timedelta = timedelta(days=40),
    allocator_addr: str | None = None,
    daily_caps: dict[Platform, int] | None = None,
    **uploader_overrides: object,
) -> AsyncIterator[Stack]:
    """`daily_caps`, when given, for both services (else Upload-Post's)."""
    caps = dict(DEFAULT_DAILY_CAPS) if daily_caps is None else daily_caps
    sandbox = await start_sandbox("127.0.0.1", 0, KEY, async_seconds=0.2)
    allocator = await start_allocator(
        AllocatorSettings(
            database_url,
            listen="127.0.0.1:0",
            pool_size=4,
            lead_time=timedelta(0),
            daily_caps=caps,
        ),
        SystemClock(),
    )
    settings = UploaderSettings(
        database_url=database_url,
        allocator_addr=allocator_addr or f"127.0.0.1:{allocator.port}",
        upload_post_api_key=KEY,
        upload_post_base_url=sandbox.base_url,
        listen="127.0.0.1:0",
        pool_size=4,
        lease=timedelta(hours=1),  # longer than any jump of the clock while a call is in flight
        idle=timedelta(seconds=0.05),
        max_lateness=timedelta(days=3650),
        policies=production_policies(),
        limits=Limits(100_000, 100_000),  # pacing has tests of its own
        daily_caps=caps,
        # The Allocator writes its events on the real clock, `ahead` behind the Uploader's: a
        # retention shorter than that would have the event pruner take them at once.
        events_retention=ahead + timedelta(days=3650),
    )
    settings = replace(settings, **uploader_overrides)  # type: ignore[arg-type]
    clock = SteeredClock(datetime.now(UTC) + ahead)
    uploader = await start_uploader(settings, clock)
    allocator_channel = grpc.aio.insecure_channel(f"127.0.0.1:{allocator.port}")
    uploader_channel = grpc.aio.insecure_channel(f"127.0.0.1:{uploader.port}")
    db = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    try:
        yield Stack(
            AllocatorStub(allocator_channel),
            UploaderStub(uploader_channel),
            sandbox,
            allocator,
            uploader,
            clock,
            db,
        )
    finally:
        await db.close()
        await allocator_channel.close()
        await uploader_channel.close()
        await uploader.stop(grace=1)
        await allocator.stop(grace=1)
        await sandbox.stop()
