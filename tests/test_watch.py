"""The watch engine (uploader/watch.py) on a real PostgreSQL with the clock injected: a watcher
reads batch after batch until caught up, then waits for the replica's tail to see the log move;
a narrow filter skips nothing; the tail's stop ends every watcher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from queuelabs.database import open_pool
from queuelabs.events import START, Cursor, EventType
from tests.support.polling import until
from uploader.domain import StoredEvent
from uploader.errors import Stopping
from uploader.storage import UploaderStore
from uploader.watch import POLL, EventWatch, LogTail, Watch


async def next_of(events: AsyncIterator[StoredEvent]) -> StoredEvent:
    """The watcher's next event; the bound is for a hang (a skipped event never comes)."""
    return await asyncio.wait_for(anext(events), 60)


async def look_until(tail: LogTail, done: Any) -> None:
    """Has the tail look until `done()` (a look may not pass what was just written yet: the
    horizon is the whole server's, held back a moment by any session's transaction)."""
    async with asyncio.timeout(60):  # the bound is for a hang
        await tail.look()
        while not done():
            await asyncio.sleep(0.01)  # real: the server's other sessions move on their own
            await tail.look()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[UploaderStore]:
    pool: AsyncConnectionPool = await open_pool(database_url, 4, 10.0)
    try:
        yield UploaderStore(pool)
    finally:
        await pool.close()


@pytest.fixture
async def writer(database_url: str) -> AsyncIterator[Any]:
    """Commits one event per call (a change elsewhere: the Allocator, another replica)."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:

        async def write(profile_id: UUID | None = None) -> tuple[UUID, Cursor]:
            cursor = await conn.execute(
                "insert into events (type, occurred_at, content_id, profile_id, platform)"
                " values (%s, now(), %s, %s, 'tiktok') returning event_id, xid::text, seq",
                (EventType.CONTENT_ASSIGNED.value, uuid4(), profile_id or uuid4()),
            )
            row = await cursor.fetchone()
            assert row is not None
            return UUID(str(row[0])), Cursor(int(row[1]), row[2])

        yield write


async def test_a_watcher_reads_batch_after_batch_then_waits_for_the_tail(store, writer, clock):
    tail = LogTail(store, clock)
    written = [await writer() for _ in range(5)]
    await look_until(tail, lambda: tail.position == written[-1][1])  # ahead of the first batch
    events = EventWatch(store, tail, batch=2).events(Watch(after=START), START)
    assert [(await next_of(events)).event_id for _ in written] == [w[0] for w in written]
    waiting = asyncio.ensure_future(next_of(events))
    await until(lambda: tail.waiting == 1)  # caught up: it waits for the tail
    later, _ = await writer()
    await look_until(tail, waiting.done)
    assert waiting.result().event_id == later


async def test_a_narrow_watch_skips_nothing_that_matches(store, writer, clock):
    tail = LogTail(store, clock)
    mine = uuid4()
    first, _ = await writer(mine)
    others = [await writer() for _ in range(3)]
    await look_until(tail, lambda: tail.position == others[-1][1])
    watch = Watch(after=START, profile_ids=frozenset({mine}))
    events = EventWatch(store, tail, batch=2).events(watch, START)
    assert (await next_of(events)).event_id == first
    waiting = asyncio.ensure_future(next_of(events))
    await writer()
    second, _ = await writer(mine)
    await look_until(tail, waiting.done)
    assert waiting.result().event_id == second


async def test_the_tail_polls_on_the_clock_and_its_stop_ends_every_watcher(store, writer, clock):
    tail = LogTail(store, clock)
    stop = asyncio.Event()
    running = asyncio.ensure_future(tail.run(stop))
    watching, from_now = EventWatch(store, tail), Watch(after=None)
    events = watching.events(from_now, await watching.start(from_now))
    waiting = asyncio.ensure_future(next_of(events))
    await until(lambda: tail.waiting == 1)
    written, _ = await writer()
    async with asyncio.timeout(60):  # the bound is for a hang
        while not waiting.done():  # the tail's next look, and more while the horizon lags
            await clock.until_sleeping()
            clock.advance(POLL)
            await asyncio.sleep(0.01)  # real: the look reads PostgreSQL
    assert waiting.result().event_id == written
    waiting = asyncio.ensure_future(next_of(events))
    await until(lambda: tail.waiting == 1)
    stop.set()
    await running
    with pytest.raises(Stopping):
        await waiting
