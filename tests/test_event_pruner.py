"""The event log's retention on a real PostgreSQL with a FakeClock: events older than
EVENTS_RETENTION (default 30 days) go, a batch per transaction, by the Uploader's event pruner (in
the list of duties, at its interval) and by `queuelabs prune`, which run one statement; a row
another transaction holds is skipped, never waited for."""

from __future__ import annotations

import asyncio
import os
import subprocess
from datetime import datetime, timedelta

import psycopg
import pytest

from queuelabs.env import ConfigError, Env
from queuelabs.events import EventType
from queuelabs.retention import prune
from tests.support.harness import Harness, listed_duty
from tests.support.processes import QUEUELABS
from uploader.settings import UploaderSettings
from uploader.workers import event_pruner
from uploader.workers.event_pruner import EventPruner
from uploader.workers.periodic import run_periodically

RETENTION = timedelta(days=30)


async def log(harness: Harness, count: int, at: datetime) -> None:
    async with harness.pool.connection() as conn:
        await conn.execute(
            "insert into events (type, occurred_at, data)"
            " select %s, %s, '{}' from generate_series(1, %s)",
            (EventType.CONTENT_RELEASED.value, at, count),
        )


async def logged(harness: Harness) -> int:
    async with harness.pool.connection() as conn:
        row = await (await conn.execute("select count(*) from events")).fetchone()
    assert row is not None
    return int(row[0])


def test_the_retention_is_events_retention_thirty_days_unless_it_says():
    def settings(env: dict[str, str]) -> UploaderSettings:
        base = {"DATABASE_URL": "postgresql://x@h/d", "ALLOCATOR_ADDR": "h:1"}
        return UploaderSettings.from_env(Env({**base, **env}), upload_post=("http://h/api", "key"))

    assert settings({}).events_retention == RETENTION
    assert settings({"EVENTS_RETENTION": "7d"}).events_retention == timedelta(days=7)
    assert settings({"EVENTS_RETENTION": "36h"}).events_retention == timedelta(hours=36)
    with pytest.raises(ConfigError, match="EVENTS_RETENTION: 'a month'"):
        settings({"EVENTS_RETENTION": "a month"})


async def test_events_older_than_the_retention_go_a_batch_per_transaction(harness):
    now = harness.clock.now()
    await log(harness, 7, now - RETENTION - timedelta(seconds=1))
    await log(harness, 2, now - RETENTION)  # exactly as old as the retention: kept
    await log(harness, 3, now - timedelta(minutes=1))
    async with harness.store.transaction() as tx:  # one batch is one transaction's worth
        assert await tx.prune_events(now - RETENTION, 3) == 3
    assert await EventPruner(harness.store, harness.clock, RETENTION, batch=3).prune() == 4
    assert await logged(harness) == 5


async def test_a_prune_skips_an_event_another_transaction_holds_instead_of_waiting(
    harness, database_url
):
    old = harness.clock.now() - RETENTION - timedelta(days=1)
    await log(harness, 4, old)
    with psycopg.connect(database_url) as holder:
        holder.execute("select 1 from events order by seq limit 1 for update")
        # Waiting would end in the pool's lock timeout, an error: this must not wait at all.
        assert await EventPruner(harness.store, harness.clock, RETENTION).prune() == 3
        holder.rollback()
    assert await logged(harness) == 1


async def test_the_event_pruner_runs_from_the_list_of_duties_at_its_interval_on_the_clock(
    harness,
):
    duty = listed_duty(harness.store, harness.clock, "event_pruner")
    assert (duty.interval, duty.batch) == (event_pruner.INTERVAL, event_pruner.BATCH)
    await log(harness, 5, harness.clock.now() - RETENTION - timedelta(minutes=1))
    stop = asyncio.Event()
    runner = asyncio.create_task(run_periodically(duty, harness.clock, stop))
    await asyncio.wait_for(harness.clock.until_sleeping(), 10)  # its first turn is done
    assert await logged(harness) == 0
    await log(harness, 3, harness.clock.now())
    harness.clock.advance(RETENTION)  # a turn: the events are as old as the retention, and stay
    await asyncio.wait_for(harness.clock.until_sleeping(), 10)
    assert await logged(harness) == 3
    harness.clock.advance(event_pruner.INTERVAL)  # the next turn: now they are older
    await asyncio.wait_for(harness.clock.until_sleeping(), 10)
    assert await logged(harness) == 0
    stop.set()
    await asyncio.wait_for(runner, 10)


async def test_queuelabs_prune_deletes_events_past_their_own_retention(harness, database_url):
    now = harness.clock.now()
    await log(harness, 4, now - timedelta(days=8))
    await log(harness, 2, now - timedelta(days=6))
    done = prune(database_url, now - timedelta(days=90), now, 3, events_before=now - RETENTION)
    assert (done.events, await logged(harness)) == (0, 6)  # thirty days: all are younger
    done = prune(database_url, now - timedelta(days=90), now, 3, events_before=now - timedelta(7))
    assert (done.events, await logged(harness)) == (4, 2)
    assert await logged(harness) == 2


def test_the_prune_command_takes_the_event_retention_from_its_flag_or_events_retention(
    database_url, db
):
    def run(*flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*QUEUELABS, "prune", "--older-than", "90d", "--database-url", database_url, *flags],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **(env or {})},
        )

    def log_days_ago(*days: int) -> None:
        for day in days:
            db.execute(
                "insert into events (type, occurred_at) values (%s, now() - %s * interval '1d')",
                (EventType.CONTENT_RELEASED.value, day),
            )

    log_days_ago(3, 10, 40)
    default = run(env={"EVENTS_RETENTION": ""})
    assert default.returncode == 0, default.stderr
    assert "and 1 event(s) from before" in default.stdout  # 30 days
    from_setting = run(env={"EVENTS_RETENTION": "7d"})
    assert "and 1 event(s) from before" in from_setting.stdout
    from_flag = run("--events-older-than", "2d", env={"EVENTS_RETENTION": "7d"})
    assert "and 1 event(s) from before" in from_flag.stdout
    assert db.execute("select count(*) from events").fetchone() == (0,)
    bad = run(env={"EVENTS_RETENTION": "soon"})
    assert bad.returncode != 0
    assert "EVENTS_RETENTION: 'soon' is not a retention period" in bad.stderr
