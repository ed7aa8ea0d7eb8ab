"""Retention (`queuelabs prune --older-than`): what finished before the period goes, with its
attempts and success records, and the inventory's past instants; nothing live or recent is
touched; again is a no-op; several at once are safe; and pruning while a burst of assignments
runs changes no live content and stacks nothing."""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from importlib import import_module

import pytest

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.env import ConfigError
from queuelabs.lifecycle import FINISHED
from queuelabs.retention import PRUNE_BATCH, prune, retention_period
from tests.support.burst import fire, grpc_worker
from tests.support.calls import assign, make_profile
from tests.support.processes import QUEUELABS, allocator_replicas
from tests.test_burst_race import (
    CONNECTIONS,
    INFOKETUA,
    PER_PROCESS,
    PROCESSES,
    create_infoketua,
    next_wib_midnight,
    stacked,
)

NOW = datetime.now(UTC)


def test_a_retention_period_is_days_hours_or_minutes():
    assert retention_period("90d") == timedelta(days=90)
    assert retention_period("36h") == timedelta(hours=36)
    assert retention_period(" 30m ") == timedelta(minutes=30)
    for bad in ("", "90", "0d", "-1d", "1w", "d"):
        with pytest.raises(ConfigError, match="--older-than"):
            retention_period(bad)


def test_the_migration_lists_the_finished_states_of_the_lifecycle():
    migration = import_module("migrations.versions.0006_retention")
    listed = ", ".join(f"'{s.value}'" for s in sorted(FINISHED))
    assert listed == migration.FINISHED


def plant(db, profile_id: str, rows: Sequence[tuple[str, str, datetime | None]]) -> list[str]:
    """Contents of a TikTok key by (status, column that says when it finished, when), each
    with an attempt and, if uploaded, a success record."""
    ids = []
    for i, (status, column, when) in enumerate(rows):
        content_id = str(uuid.uuid4())
        db.execute(
            "insert into contents (content_id, profile_id, platform, status, slot_id,"
            " scheduled_at, media_type, updated_at) values (%s, %s, 'tiktok', %s, %s, %s,"
            " 'video', %s)",
            (
                content_id,
                profile_id,
                status,
                str(uuid.uuid4()),
                NOW + timedelta(days=400, minutes=i),
                when or NOW,
            ),
        )
        if column != "updated_at" and when is not None:
            db.execute(
                f"update contents set {column} = %s where content_id = %s", (when, content_id)
            )
        db.execute(
            "insert into upload_attempts (content_id, number, kind, request_id, idempotency_key,"
            " worker, started_at) values (%s, 1, 'publish', %s, 'k', 'w', %s)",
            (content_id, str(uuid.uuid4()), when or NOW),
        )
        if status == "uploaded":
            db.execute(
                "insert into upload_successes (content_id, platform, request_id, uploaded_at)"
                " values (%s, 'tiktok', 'r', %s)",
                (content_id, when or NOW),
            )
        ids.append(content_id)
    return ids


def remaining(db, ids: list[str]) -> set[str]:
    rows = db.execute(
        "select content_id::text from contents where content_id = any(%s::uuid[])", (ids,)
    ).fetchall()
    return {r[0] for r in rows}


def orphans(db) -> int:
    row = db.execute(
        "select (select count(*) from upload_attempts a where not exists"
        "          (select 1 from contents c where c.content_id = a.content_id))"
        "     + (select count(*) from upload_successes s where not exists"
        "          (select 1 from contents c where c.content_id = s.content_id))"
    ).fetchone()
    return int(row[0])


async def test_prune_takes_what_finished_long_ago_and_nothing_else(allocator, database_url, db):
    profile_id = await make_profile(allocator, slots=["06:00"])
    old = NOW - timedelta(days=100)
    recent = NOW - timedelta(days=10)
    gone = plant(
        db,
        profile_id,
        [
            ("uploaded", "uploaded_at", old),
            ("failed", "updated_at", old),
            ("removed", "removed_at", old),
        ],
    )
    kept = plant(
        db,
        profile_id,
        [
            ("uploaded", "uploaded_at", recent),
            ("failed", "updated_at", recent),
            ("scheduled", "updated_at", old),  # in line: never pruned, however old its row
            ("retry_pending", "updated_at", old),
            ("uploading", "updated_at", old),
        ],
    )
    db.execute(
        "insert into free_slots (profile_id, platform, scheduled_at, slot_id)"
        " values (%s, 'tiktok', %s, %s)",
        (profile_id, NOW - timedelta(days=3), str(uuid.uuid4())),
    )
    past = db.execute("select count(*) from free_slots where scheduled_at < %s", (NOW,)).fetchone()
    future = db.execute(
        "select count(*) from free_slots where scheduled_at >= %s", (NOW,)
    ).fetchone()
    done = prune(database_url, NOW - timedelta(days=90), NOW, batch=2)
    assert (done.contents, done.free_slots) == (3, past[0])
    assert db.execute("select count(*) from free_slots").fetchone() == future  # the rest kept
    assert remaining(db, gone) == set()
    assert remaining(db, kept) == set(kept)
    assert orphans(db) == 0
    again = prune(database_url, NOW - timedelta(days=90), NOW)
    assert (again.contents, again.free_slots) == (0, 0)


async def test_prunes_run_at_once_from_several_places_delete_each_row_once(
    allocator, database_url, db
):
    profile_id = await make_profile(allocator, slots=["06:00"])
    ids = plant(db, profile_id, [("uploaded", "uploaded_at", NOW - timedelta(days=200))] * 300)
    totals: list[int] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            totals.append(prune(database_url, NOW - timedelta(days=90), NOW, batch=25).contents)
        except BaseException as failed:
            errors.append(failed)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert remaining(db, ids) == set()  # every one gone...
    assert sum(totals) == 300  # ...each by one of them
    assert orphans(db) == 0


def test_pruning_under_a_running_burst_changes_no_live_content_and_stacks_nothing(database_url, db):
    not_before = next_wib_midnight()
    with allocator_replicas(database_url, 2, ALLOCATOR_DB_POOL_SIZE="8") as addresses:
        create_infoketua(addresses[0])
        db.execute(  # years of history of the same key, set-based
            "insert into contents (content_id, profile_id, platform, status, slot_id,"
            " scheduled_at, media_type, uploaded_at)"
            " select gen_random_uuid(), %s, 'tiktok', 'uploaded', gen_random_uuid(),"
            "        now() - interval '3 years' + n * interval '1 hour', 'video',"
            "        now() - interval '3 years' + n * interval '1 hour'"
            "   from generate_series(1, 5000) n",
            (INFOKETUA,),
        )
        stop = threading.Event()
        pruned: list[int] = []

        def prune_in_a_loop() -> None:
            while not stop.is_set():
                pruned.append(prune(database_url, NOW - timedelta(days=90), NOW, 200).contents)

        pruner = threading.Thread(target=prune_in_a_loop)
        pruner.start()
        try:
            burst = fire(
                grpc_worker,
                PROCESSES,
                PER_PROCESS,
                (addresses, CONNECTIONS, INFOKETUA, not_before),
            )
        finally:
            stop.set()
            pruner.join(timeout=120)
    total = PROCESSES * PER_PROCESS
    assert [o.error for o in burst.outcomes if o.error] == []
    assert len({o.scheduled_at for o in burst.succeeded}) == total
    assert stacked(db) == []
    live = db.execute(
        "select content_id::text, scheduled_at, status from contents"
        " where status = 'scheduled' and profile_id = %s",
        (INFOKETUA,),
    ).fetchall()
    told = {o.content_id: o.scheduled_at for o in burst.succeeded}
    assert {row[0]: row[1] for row in live} == told  # each live content where it was told
    assert pruned  # at least one round ran while the burst was on
    left = prune(database_url, NOW - timedelta(days=90), NOW).contents
    assert sum(pruned) + left == 5000


async def test_the_allocator_prunes_the_past_instants_of_the_key_it_extends_and_no_other(
    allocator, clock, db
):
    # 48 LinkedIn slots a day: the first extension lists 35 days of them, more than a batch.
    half_hours = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)]
    mine, other = [
        await make_profile(allocator, "UTC", half_hours, pb.PLATFORM_LINKEDIN) for _ in range(2)
    ]

    def past(profile_id: str) -> int:
        row = db.execute(
            "select count(*) from free_slots where profile_id = %s and scheduled_at < %s",
            (profile_id, clock.now()),
        ).fetchone()
        return int(row[0])

    clock.advance(timedelta(days=40))  # every listed instant is past now
    assert past(mine) == past(other) > PRUNE_BATCH
    others = past(other)
    await assign(allocator, mine, platform=pb.PLATFORM_LINKEDIN)  # extends the inventory
    assert past(mine) == 0  # every batch of them
    assert past(other) == others  # left to `queuelabs prune`


def test_the_prune_command_says_what_it_did(database_url):
    run = subprocess.run(
        [*QUEUELABS, "prune", "--older-than", "90d", "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("pruned 0 content(s) finished before ")
    bad = subprocess.run(
        [*QUEUELABS, "prune", "--older-than", "forever", "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0
    assert "--older-than: 'forever' is not a retention period" in bad.stderr
