"""The request-log pruner on a real PostgreSQL with a FakeClock: the log older than an hour goes
(the budget reads only the last minute), a batch per transaction, at the pruner's interval; and a
running Uploader does prune (it is in the list the server starts)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from tests.support.harness import Harness, listed_duty
from tests.support.stack import running_stack
from uploader.domain import RequestKind
from uploader.workers import pruner
from uploader.workers.periodic import run_periodically
from uploader.workers.pruner import KEEP, RequestLogPruner


async def record(harness: Harness, count: int, at: datetime) -> None:
    async with harness.store.transaction() as tx:
        await tx.record_requests([(None, RequestKind.LOOK_UP)] * count, "w1", at)


async def logged(harness: Harness) -> int:
    async with harness.pool.connection() as conn:
        row = await (await conn.execute("select count(*) from upload_post_requests")).fetchone()
    assert row is not None
    return int(row[0])


async def test_the_log_older_than_an_hour_goes_a_batch_per_transaction_and_the_hour_stays(
    harness,
):
    now = harness.clock.now()
    await record(harness, 7, now - KEEP - timedelta(seconds=1))
    await record(harness, 2, now - KEEP)  # exactly an hour old: kept
    await record(harness, 3, now - timedelta(seconds=30))  # the budget's minute: kept
    async with harness.store.transaction() as tx:  # one batch is one transaction's worth
        assert await tx.prune_requests(now - KEEP, 3) == 3
    assert await RequestLogPruner(harness.store, harness.clock, batch=3).prune() == 4
    assert await logged(harness) == 5


async def test_the_pruner_runs_from_the_list_of_duties_at_its_interval_on_the_clock(harness):
    duty = listed_duty(harness.store, harness.clock, "pruner")
    assert (duty.interval, duty.batch) == (pruner.INTERVAL, pruner.BATCH)
    await record(harness, 5, harness.clock.now() - KEEP - timedelta(minutes=1))
    stop = asyncio.Event()
    runner = asyncio.create_task(run_periodically(duty, harness.clock, stop))
    await asyncio.wait_for(harness.clock.until_sleeping(), 10)  # its first turn is done
    assert await logged(harness) == 0
    await record(harness, 3, harness.clock.now())
    harness.clock.advance(KEEP)  # a turn: the rows are an hour old, not older, and stay
    await asyncio.wait_for(harness.clock.until_sleeping(), 10)
    assert await logged(harness) == 3
    harness.clock.advance(pruner.INTERVAL)  # the next turn: now they are older
    await asyncio.wait_for(harness.clock.until_sleeping(), 10)
    assert await logged(harness) == 0
    stop.set()
    await asyncio.wait_for(runner, 10)


async def test_a_running_uploader_prunes_the_request_log(harness, database_url):
    await record(harness, 5, datetime.now(UTC))  # forty days before the stack's clock
    async with running_stack(database_url):
        deadline = time.monotonic() + 30
        while await logged(harness) > 0:
            assert time.monotonic() < deadline, "the running Uploader never pruned its log"
            await asyncio.sleep(0.05)  # real: a real server's duties, on their real clock
