"""PostgreSQL away and back: health says NOT_SERVING while it is away (every call would answer
UNAVAILABLE), and the service recovers by itself when it is back.

The database goes away through a proxy the test cuts (tests/support/proxy.py), so the
PostgreSQL the other tests share keeps running.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from google.rpc.error_details_pb2 import ErrorInfo, RetryInfo
from grpc_health.v1 import health_pb2, health_pb2_grpc

from allocator.server import start_allocator
from allocator.settings import AllocatorSettings
from queuelabs import grpc_server
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.status import details_of
from tests.support.proxy import CuttableProxy

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PATIENCE = 60  # seconds: how long a change may take on a slow machine before the test fails


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {PATIENCE} s: {what}")
        await asyncio.sleep(0.05)  # real: real servers notice the database on their own


@pytest.fixture
async def behind_a_proxy(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[CuttableProxy, str]]:
    monkeypatch.setattr(grpc_server, "HEALTH_PROBE_SECONDS", 0.2)
    proxy = CuttableProxy(database_url)
    proxied = await proxy.start()
    settings = AllocatorSettings(
        database_url=proxied, listen="127.0.0.1:0", pool_size=2, db_timeout=1.0
    )
    running = await start_allocator(settings)
    try:
        yield proxy, f"127.0.0.1:{running.port}"
    finally:
        proxy.mend()
        await running.stop(grace=1)
        await proxy.stop()


async def test_health_follows_the_database_and_the_service_recovers_by_itself(behind_a_proxy):
    proxy, address = behind_a_proxy
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        allocator = AllocatorStub(channel)

        async def status() -> int:
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            return int(reply.status)

        last_refusal: list[grpc.aio.AioRpcError] = []

        async def upsert() -> grpc.StatusCode:
            try:
                await allocator.UpsertProfile(
                    pb.UpsertProfileRequest(
                        profile_id=str(uuid.uuid4()),
                        name="Away",
                        upload_post_user="away",
                        timezone="UTC",
                    ),
                    timeout=10,
                )
            except grpc.aio.AioRpcError as refused:
                last_refusal[:] = [refused]
                return refused.code()
            return grpc.StatusCode.OK

        assert await status() == SERVING
        assert await upsert() == grpc.StatusCode.OK

        await proxy.cut()
        await eventually(lambda: _is(status, NOT_SERVING), "health says NOT_SERVING")
        assert await upsert() == grpc.StatusCode.UNAVAILABLE
        # A client reads that this may succeed later, and when to ask again.
        [info, retry] = details_of(last_refusal[0])
        assert isinstance(info, ErrorInfo)
        assert info.reason == "DATABASE_UNAVAILABLE"
        assert isinstance(retry, RetryInfo)
        assert retry.retry_delay.seconds == 1
        # The service name answers the same as the server as a whole.
        named = await health.Check(
            health_pb2.HealthCheckRequest(service="queuelabs.allocator.v1.Allocator"), timeout=10
        )
        assert named.status == NOT_SERVING

        proxy.mend()
        await eventually(lambda: _is(status, SERVING), "health says SERVING again")
        # Connections the cut broke are dropped as they fail (each such call UNAVAILABLE, safe
        # to retry); the service needs no restart.
        await eventually(lambda: _is(upsert, grpc.StatusCode.OK), "calls succeed again")


async def _is(read: Callable[[], Awaitable[object]], expected: object) -> bool:
    return await read() == expected
