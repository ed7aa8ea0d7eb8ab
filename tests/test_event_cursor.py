"""The event log's reader (events_after) against concurrent writers on a real PostgreSQL: in
cursor order, no gap and no duplicate even when a transaction that took a lower number commits
after one that took a higher number; the naive "highest number seen" reader loses that row."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from queuelabs.database import open_pool
from queuelabs.events import START, Cursor, EventType
from queuelabs.platforms import Platform
from tests.support.naive_reader import HighestSeqReader
from uploader.domain import StoredEvent
from uploader.storage import UploaderStore


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[UploaderStore]:
    pool: AsyncConnectionPool = await open_pool(database_url, 4, 10.0)
    try:
        yield UploaderStore(pool)
    finally:
        await pool.close()


@pytest.fixture
async def connect(database_url: str) -> AsyncIterator[Any]:
    """Opens connections of its own (closed at the end): one per concurrent writer."""
    opened: list[psycopg.AsyncConnection[Any]] = []

    async def open_one(autocommit: bool = False) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(database_url, autocommit=autocommit)
        opened.append(conn)
        return conn

    yield open_one
    for conn in opened:
        await conn.close()


async def write_event(
    conn: psycopg.AsyncConnection[Any],
    type_: EventType = EventType.CONTENT_ASSIGNED,
    profile_id: UUID | None = None,
    platform: Platform = Platform.TIKTOK,
) -> UUID:
    """One event row in `conn`'s current transaction (what a change's own statement writes)."""
    cursor = await conn.execute(
        "insert into events (type, occurred_at, content_id, profile_id, platform)"
        " values (%s, now(), %s, %s, %s) returning event_id",
        (type_.value, uuid4(), profile_id or uuid4(), platform.value),
    )
    row = await cursor.fetchone()
    assert row is not None
    return UUID(str(row[0]))


class LogReader:
    """The real reader, keeping its cursor as a watcher does."""

    def __init__(self, store: UploaderStore, cursor: Cursor = START) -> None:
        self._store = store
        self.cursor = cursor

    async def read(self, wanted: int = 0) -> list[UUID]:
        """What the log holds after the cursor, read again until that is `wanted` events (or
        60 s pass: the bound is for a hang). Again, because the horizon is the whole server's:
        a transaction of another session, even of another database, holds it back a moment."""
        deadline = time.monotonic() + 60
        found: list[UUID] = []
        while True:
            async with self._store.transaction() as tx:
                events = await tx.events_after(self.cursor, 1000)
            if events:
                self.cursor = events[-1].cursor
            found += [e.event_id for e in events]
            if len(found) >= wanted or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.01)  # real: the server's other sessions move on their own


async def late_commit(connect: Any, reader: Any) -> tuple[list[UUID], list[UUID]]:
    """Two writers: the first takes the lower number and holds its transaction open while the
    second commits; the reader reads, then the first commits, then the reader reads again until
    it holds both. Returns (what the reader saw, both events in the order they were numbered)."""
    early, late = await connect(), await connect()
    held = await write_event(early)  # the lower seq, in a transaction still open
    quick = await write_event(late)
    await late.commit()
    seen = await reader.read()
    await early.commit()
    seen += await reader.read(2 - len(seen))
    return seen, [held, quick]


async def test_a_row_that_commits_late_with_a_lower_number_is_read_in_order(store, connect):
    seen, numbered = await late_commit(connect, LogReader(store))
    assert seen == numbered


async def test_the_naive_highest_number_reader_loses_the_row_that_commits_late(connect):
    reader = HighestSeqReader(await connect(autocommit=True))
    seen, numbered = await late_commit(connect, reader)
    held, quick = numbered
    assert held not in seen, "the naive reader saw the late row: this test could not fail"
    assert seen == [quick]
    assert await reader.read() == []  # and it never will: it is past the row's number


async def test_a_watcher_from_now_on_misses_nothing_that_commits_after_it_starts(store, connect):
    straddling = await connect()  # takes its number first, commits after the watcher starts
    open_then = await write_event(straddling)
    before = await connect()
    await write_event(before)
    await before.commit()  # a higher number, committed before the watcher starts
    async with store.transaction() as tx:
        now_on = await tx.events_horizon()
    after = await connect()
    later = await write_event(after)
    await after.commit()
    await straddling.commit()
    seen = await LogReader(store, now_on).read(2)
    # What committed before the start may be read or not; what committed after must be.
    assert {open_then, later} <= set(seen)
    assert seen.index(open_then) < seen.index(later)


async def test_events_after_filters_and_bounds_without_skipping(store, connect):
    writer = await connect()
    profile = uuid4()
    ids = [
        await write_event(writer, EventType.CONTENT_ASSIGNED, profile),
        await write_event(writer, EventType.UPLOAD_PUBLISHED, profile, Platform.INSTAGRAM),
        await write_event(writer, EventType.CONTENT_ASSIGNED),
        await write_event(writer, EventType.UPLOAD_FAILED, profile),
    ]
    await writer.commit()
    assert await LogReader(store).read(len(ids)) == ids  # once readable, readable for good

    async def read(cursor: Cursor = START, limit: int = 100, **filters: Any) -> list[StoredEvent]:
        async with store.transaction() as tx:
            return await tx.events_after(cursor, limit, **filters)

    everything = await read()
    assert [e.event_id for e in everything] == ids
    assert [e.cursor for e in everything] == sorted(e.cursor for e in everything)
    assert [e.event_id for e in await read(profile_ids=[profile])] == [ids[0], ids[1], ids[3]]
    assert [e.event_id for e in await read(platforms=[Platform.INSTAGRAM])] == [ids[1]]
    types = [EventType.UPLOAD_PUBLISHED, EventType.UPLOAD_FAILED]
    assert [e.event_id for e in await read(types=types)] == [ids[1], ids[3]]
    first_two = await read(limit=2)
    rest = await read(first_two[-1].cursor, limit=100)
    assert [e.event_id for e in first_two + rest] == ids
    assert await read(everything[-1].cursor) == []
    async with store.transaction() as tx:
        assert await tx.events_horizon() == everything[-1].cursor


async def test_an_open_transaction_delays_later_events_but_loses_none(store, connect):
    blocker = await connect()
    await blocker.execute("select pg_current_xact_id()")  # holds an xid, writes no event
    writer = await connect()
    written = await write_event(writer)
    await writer.commit()
    reader = LogReader(store)
    assert await reader.read() == []  # not yet: the open transaction might still write below
    await blocker.rollback()
    assert await reader.read(1) == [written]
