"""The whole system in the test's own process: Allocator, Upload-Post sandbox and Uploader,
over loopback, on the test's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta

import grpc

from allocator.server import RunningAllocator, start_allocator
from allocator.settings import AllocatorSettings
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.clock import OffsetClock, SystemClock
from queuelabs.platforms import Platform
from queuelabs.uploader.v1.uploader_pb2_grpc import UploaderStub
from sandbox.server import RunningSandbox, start_sandbox
from uploader.policies import DEFAULT_POLICIES, RetryPolicy
from uploader.server import RunningUploader, start_uploader
from uploader.settings import UploaderSettings

KEY = "sandbox-test-key"
SCALE = 0.01  # every retry wait and poll interval a hundredth of production's


def fast_policies(read_timeout: float = 2.0) -> dict[Platform, RetryPolicy]:
    return {
        platform: replace(policy.scaled(SCALE), read_timeout=read_timeout)
        for platform, policy in DEFAULT_POLICIES.items()
    }


@dataclass
class Stack:
    allocator: AllocatorStub
    uploader: UploaderStub
    sandbox: RunningSandbox
    allocator_server: RunningAllocator
    uploader_server: RunningUploader


@asynccontextmanager
async def running_stack(
    database_url: str,
    *,
    ahead: timedelta = timedelta(days=40),
    allocator_addr: str | None = None,
    **uploader_overrides: object,
) -> AsyncIterator[Stack]:
    """The Uploader's clock runs `ahead` of the Allocator's, so assigned slots are due now."""
    sandbox = await start_sandbox("127.0.0.1", 0, KEY, async_seconds=0.2)
    allocator = await start_allocator(
        AllocatorSettings(database_url, listen="127.0.0.1:0", pool_size=4, lead_time=timedelta(0)),
        SystemClock(),
    )
    settings = UploaderSettings(
        database_url=database_url,
        allocator_addr=allocator_addr or f"127.0.0.1:{allocator.port}",
        upload_post_api_key=KEY,
        upload_post_base_url=sandbox.base_url,
        listen="127.0.0.1:0",
        pool_size=4,
        lease=timedelta(seconds=5),
        idle=timedelta(seconds=0.05),
        max_lateness=timedelta(days=3650),
        policies=fast_policies(),
    )
    settings = replace(settings, **uploader_overrides)  # type: ignore[arg-type]
    uploader = await start_uploader(settings, OffsetClock(ahead))
    allocator_channel = grpc.aio.insecure_channel(f"127.0.0.1:{allocator.port}")
    uploader_channel = grpc.aio.insecure_channel(f"127.0.0.1:{uploader.port}")
    try:
        yield Stack(
            AllocatorStub(allocator_channel),
            UploaderStub(uploader_channel),
            sandbox,
            allocator,
            uploader,
        )
    finally:
        await allocator_channel.close()
        await uploader_channel.close()
        await uploader.stop(grace=1)
        await allocator.stop(grace=1)
        await sandbox.stop()
