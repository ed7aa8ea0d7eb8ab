"""MoveContent races: forty contents moved to one free slot at the same moment, from four client
processes over forty connections to two Allocator replicas, while AssignNext bursts on the same
key reach for that slot too. Exactly one content ends up there; every other move is refused
FAILED_PRECONDITION naming the holder; no slot holds two; the inventory stays right.

Without the key's serialization on the move path (tried by hand: `_serialized` replaced by a
plain transaction in AllocatorService.move_content) two moves both see the slot free: the
unique index then refuses the later one (counted as an index refusal: red below), and with the
index dropped too both stay there (stacked: red below). The last two tests show the same on a
naive read-then-write move (tests/support/naive.py), kept to prove this race can happen.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import psycopg

from allocator.slots import SlotRule, instants_between
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from tests.support.burst import index_refusals, watched_allocators
from tests.support.calls import WIB_SLOTS, stamp, video, wib_slots_after
from tests.support.move_burst import fire_moves
from tests.support.naive import naive_move
from tests.support.processes import allocator_replicas
from tests.test_burst_race import next_wib_midnight

PROCESSES = 4
MOVES_PER_PROCESS = 10
ASSIGNS_PER_PROCESS = 10
CONNECTIONS = 10  # per client process
NAIVE_MOVES = 8  # one database connection each


def seed(address: str, profile_id: str, later: datetime, count: int) -> list[str]:
    """A WIB profile with the six daily slots and `count` contents booked from `later` on."""
    with grpc.insecure_channel(address) as channel:
        stub = AllocatorStub(channel)
        stub.UpsertProfile(
            pb.UpsertProfileRequest(
                profile_id=profile_id,
                name="Mover",
                upload_post_user="Mover",
                timezone="Asia/Jakarta",
            )
        )
        stub.SetSchedule(
            pb.SetScheduleRequest(
                profile_id=profile_id,
                platform=pb.PLATFORM_TIKTOK,
                slots=[pb.Slot(local_time=t) for t in WIB_SLOTS],
            )
        )
        booked = stub.BatchAssign(
            pb.BatchAssignRequest(
                profile_id=profile_id,
                platform=pb.PLATFORM_TIKTOK,
                contents=[video() for _ in range(count)],
                not_before=stamp(later),
            )
        )
    return [a.content_id for a in booked.assignments]


def holders(db, profile_id: str) -> dict[datetime, list[str]]:
    found: dict[datetime, list[str]] = {}
    for at, content_id in db.execute(
        "select scheduled_at, content_id::text from contents where profile_id = %s"
        " and status in ('scheduled', 'retry_pending', 'awaiting_slot', 'unknown_outcome',"
        " 'processing', 'uploading', 'uploaded', 'failed')",
        (profile_id,),
    ):
        found.setdefault(at, []).append(content_id)
    return found


def inventory_mistakes(db, profile_id: str, held: dict[datetime, list[str]]) -> list[str]:
    """Every slot instant from now up to the inventory's mark is free in it or held, not both."""
    (mark,) = db.execute(
        "select materialized_until from schedules where profile_id = %s", (profile_id,)
    ).fetchone()
    rules = [
        SlotRule(t, frozenset(w), s)
        for t, w, s in db.execute(
            "select local_time, weekdays, slot_id from schedule_slots where profile_id = %s",
            (profile_id,),
        )
    ]
    free = {
        at
        for (at,) in db.execute(
            "select scheduled_at from free_slots where profile_id = %s", (profile_id,)
        )
    }
    now = datetime.now(UTC) + timedelta(minutes=5)
    mistakes = []
    for at, _ in instants_between(rules, ZoneInfo("Asia/Jakarta"), now, mark):
        if (at in free) == (at in held):
            mistakes.append(f"{at}: {'free and held' if at in free else 'neither free nor held'}")
    return mistakes


def test_moves_racing_assignments_to_one_slot_leave_exactly_one_content_there(database_url, db):
    profile_id = str(uuid.uuid4())
    not_before = next_wib_midnight()
    target = wib_slots_after(not_before, 1)[0]
    movers = PROCESSES * MOVES_PER_PROCESS
    with watched_allocators(database_url, 2, ALLOCATOR_DB_POOL_SIZE="8") as replicas:
        addresses = [replica.address for replica in replicas]
        booked = seed(addresses[0], profile_id, target + timedelta(days=1), movers)
        answers = fire_moves(
            addresses,
            CONNECTIONS,
            profile_id,
            target,
            [booked[i::PROCESSES] for i in range(PROCESSES)],
            ASSIGNS_PER_PROCESS,
        )
        refused_by_the_index = index_refusals(replicas)

    moves = [a for a in answers if a.rpc == "MoveContent"]
    assigns = [a for a in answers if a.rpc == "AssignNext"]
    assert len(moves) == movers
    assert len(assigns) == PROCESSES * ASSIGNS_PER_PROCESS
    held = holders(db, profile_id)
    assert {at: ids for at, ids in held.items() if len(ids) > 1} == {}  # nothing stacked
    [winner] = held[target]
    moved = [a for a in moves if a.code == "OK"]
    assert [a.scheduled_at for a in moved] == [target] * len(moved)
    print(
        f"\nmove race: {'a move' if moved else 'an assignment'} took the slot;"
        f" {len(moves) - len(moved)} moves refused, index refusals {refused_by_the_index}"
    )
    assert [a.content_id for a in moved] in ([], [winner])  # a move won, or an assignment did
    for lost in (a for a in moves if a.code != "OK"):
        assert lost.code == "FAILED_PRECONDITION", lost
        assert f"is held by content {winner}" in lost.details, lost
    assert [a for a in assigns if a.code != "OK"] == []
    assert refused_by_the_index == 0  # the locks serialized every move and placement
    assert db.execute("select count(*) from events where type = 'content.moved'").fetchone() == (
        len(moved),
    )
    assert inventory_mistakes(db, profile_id, held) == []


def naive_moves(database_url: str, profile_id: str, booked: list[str], to: datetime) -> list[str]:
    """Every content of `booked` moved to `to` at once, each over its own connection, the naive
    way; the outcome of each ("moved", "held", or the error's name)."""
    conns = [psycopg.connect(database_url, autocommit=True) for _ in booked]
    start = threading.Barrier(len(booked))

    def one(i: int) -> str:
        start.wait(30)
        try:
            return "moved" if naive_move(conns[i], profile_id, booked[i], to) else "held"
        except psycopg.Error as failed:
            return type(failed).__name__

    try:
        with ThreadPoolExecutor(len(booked)) as threads:
            return list(threads.map(one, range(len(booked))))
    finally:
        for conn in conns:
            conn.close()


def seeded(database_url: str, count: int) -> tuple[str, datetime, list[str]]:
    profile_id = str(uuid.uuid4())
    target = wib_slots_after(next_wib_midnight(), 1)[0]
    with allocator_replicas(database_url, 1) as [address]:
        booked = seed(address, profile_id, target + timedelta(days=1), count)
    return profile_id, target, booked


def test_naive_moves_to_one_slot_stack_there(database_url, db):
    db.execute("drop index contents_one_active_per_slot")  # the old schema: nothing on the slot
    profile_id, target, booked = seeded(database_url, NAIVE_MOVES)
    outcomes = naive_moves(database_url, profile_id, booked, target)
    piled = holders(db, profile_id)[target]
    print(f"\nnaive moves: {len(piled)} contents in one slot")
    assert len(piled) > 1, "the naive moves did not stack: this race test could not fail"
    assert outcomes.count("moved") == len(piled)


def test_the_unique_index_alone_turns_naive_moves_into_errors(database_url, db):
    profile_id, target, booked = seeded(database_url, NAIVE_MOVES)
    outcomes = naive_moves(database_url, profile_id, booked, target)
    assert len(holders(db, profile_id)[target]) == 1
    assert outcomes.count("moved") == 1
    assert "UniqueViolation" in outcomes  # the last line of defence held, loudly
