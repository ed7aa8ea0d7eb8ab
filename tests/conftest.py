"""Test fixtures: a real PostgreSQL, a fresh database per test, Allocator servers.

The server is TEST_DATABASE_URL or DATABASE_URL when set, else an embedded one started for this
run. Each test gets its own database, cloned from a template migrated once per run; every
database this run creates is dropped at its end.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import grpc
import psycopg
import pytest

from allocator.server import RunningAllocator, start_allocator
from allocator.settings import AllocatorSettings
from bench.database import postgres_server
from queuelabs.allocator.v1 import allocator_pb2_grpc
from queuelabs.clock import FakeClock
from queuelabs.database import migrate
from queuelabs.platforms import Platform
from tests.support.databases import DatabaseFactory
from tests.support.harness import Harness, open_harness

# Thursday 2026-03-26, 00:00 UTC: a few days before Europe's spring-forward change.
T0 = datetime(2026, 3, 26, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """TEST_DATABASE_URL, DATABASE_URL, or an embedded PostgreSQL of this run's own."""
    with postgres_server("TEST_DATABASE_URL", "DATABASE_URL", prefix="queuelabs-test-") as url:
        yield url


@pytest.fixture(scope="session")
def databases(pg_server_url: str) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(pg_server_url, run_id=uuid.uuid4().hex[:10])
    template = factory.create("template")
    migrate(factory.url(template))
    factory.template = template
    try:
        yield factory
    finally:
        factory.drop_all()


@pytest.fixture
def database_url(databases: DatabaseFactory) -> str:
    """A fresh, migrated database for this test alone."""
    return databases.url(databases.create_from_template())


@pytest.fixture
def empty_database_url(databases: DatabaseFactory) -> str:
    """A fresh database with no schema at all."""
    return databases.url(databases.create_empty())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def allocator_server(database_url: str, clock: FakeClock) -> AsyncIterator[RunningAllocator]:
    settings = AllocatorSettings(database_url=database_url, listen="127.0.0.1:0", pool_size=4)
    running = await start_allocator(settings, clock)
    try:
        yield running
    finally:
        await running.stop(grace=1)


@pytest.fixture
async def allocator(
    allocator_server: RunningAllocator,
) -> AsyncIterator[allocator_pb2_grpc.AllocatorStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{allocator_server.port}") as channel:
        yield allocator_pb2_grpc.AllocatorStub(channel)


@pytest.fixture
async def capped(
    database_url: str, clock: FakeClock
) -> AsyncIterator[allocator_pb2_grpc.AllocatorStub]:
    """An Allocator whose TikTok cap is 3 posts in 24 hours."""
    settings = AllocatorSettings(
        database_url=database_url,
        listen="127.0.0.1:0",
        pool_size=4,
        daily_caps={Platform.TIKTOK: 3},
    )
    running = await start_allocator(settings, clock)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield allocator_pb2_grpc.AllocatorStub(channel)
    finally:
        await running.stop(grace=1)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A plain autocommit connection to this test's database, for looking at what is stored."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    """The Uploader's storage on this test's database, a FakeClock and an Allocator to fill it."""
    async with open_harness(database_url) as opened:
        yield opened
