"""MoveContent: one content to a chosen free slot instant of its own (profile, platform), the
slot it leaves given back to the inventory, one `content.moved` event; every refusal precise.
The race against concurrent assignments is in tests/test_move_race.py."""

from __future__ import annotations

from datetime import datetime, timedelta

import grpc
import pytest

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.status import error_info
from tests.conftest import T0
from tests.support.calls import assign, instant, make_profile, stamp, wib_slots_after

LEAD = timedelta(seconds=60)


def move(content_id: str, to: datetime, reason: str = "") -> pb.MoveContentRequest:
    return pb.MoveContentRequest(content_id=content_id, scheduled_at=stamp(to), reason=reason)


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


def moved_events(db, content_id: str) -> list[tuple[object, ...]]:
    return db.execute(
        "select data->>'from_scheduled_at', data->>'to_scheduled_at', data->>'reason'"
        " from events where type = 'content.moved' and content_id = %s order by event_id",
        (content_id,),
    ).fetchall()


def inventory(db, profile_id: str) -> set[datetime]:
    return {
        at
        for (at,) in db.execute(
            "select scheduled_at from free_slots where profile_id = %s", (profile_id,)
        )
    }


async def test_a_content_moves_to_a_chosen_free_slot_and_its_old_slot_is_free_again(
    allocator: AllocatorStub, db
):
    profile_id = await make_profile(allocator)
    first = await assign(allocator, profile_id)
    slots = wib_slots_after(T0 + LEAD, 10)
    assert instant(first.scheduled_at) == slots[0]
    assert slots[5] in inventory(db, profile_id)

    moved = await allocator.MoveContent(move(first.content_id, slots[5], "the editor asked"))

    assert instant(moved.scheduled_at) == slots[5]
    assert moved.status == "scheduled"
    schedule = await allocator.GetSchedule(
        pb.GetScheduleRequest(profile_id=profile_id, platform=pb.PLATFORM_TIKTOK)
    )
    local = f"{slots[5] + timedelta(hours=7):%H:%M}"
    assert moved.slot_id == next(s.slot_id for s in schedule.slots if s.local_time == local)
    assert moved_events(db, first.content_id) == [
        (slots[0].isoformat(), slots[5].isoformat(), "the editor asked")
    ]
    free = inventory(db, profile_id)
    assert slots[0] in free
    assert slots[5] not in free
    # The next assignment takes the slot the move left, not the one it took.
    second = await assign(allocator, profile_id)
    assert instant(second.scheduled_at) == slots[0]
    third = [instant((await assign(allocator, profile_id)).scheduled_at) for _ in range(5)]
    assert slots[5] not in third


async def test_moving_a_content_to_where_it_is_changes_nothing_and_tells_nothing(
    allocator: AllocatorStub, db
):
    profile_id = await make_profile(allocator)
    first = await assign(allocator, profile_id)
    before = db.execute("select * from contents").fetchall()
    again = await allocator.MoveContent(move(first.content_id, instant(first.scheduled_at)))
    assert again == first
    assert db.execute("select * from contents").fetchall() == before
    assert moved_events(db, first.content_id) == []
    # A move repeated (a client retry) answers the same and tells once.
    to = wib_slots_after(T0 + LEAD, 4)[3]
    once = await allocator.MoveContent(move(first.content_id, to, "retry me"))
    twice = await allocator.MoveContent(move(first.content_id, to, "retry me"))
    assert once == twice
    assert len(moved_events(db, first.content_id)) == 1


async def test_a_slot_held_by_another_content_is_refused_naming_the_holder(
    allocator: AllocatorStub, db
):
    profile_id = await make_profile(allocator)
    first = await assign(allocator, profile_id)
    second = await assign(allocator, profile_id)
    error = await refused(
        allocator.MoveContent(move(second.content_id, instant(first.scheduled_at)))
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"is held by content {first.content_id} (scheduled)" in error.details()
    info = error_info(error)
    assert info is not None
    assert info.reason == "SLOT_TAKEN"
    assert info.metadata["holder"] == first.content_id
    # A published content keeps its instant spent: nobody moves in there either.
    db.execute(
        "update contents set status = 'uploaded', uploaded_at = %s where content_id = %s",
        (T0, first.content_id),
    )
    error = await refused(
        allocator.MoveContent(move(second.content_id, instant(first.scheduled_at)))
    )
    assert f"is held by content {first.content_id} (uploaded)" in error.details()
    assert moved_events(db, second.content_id) == []


@pytest.mark.parametrize(
    ("to", "said"),
    [
        (T0 + timedelta(seconds=30), "ahead of now"),  # within the lead time
        (T0 - timedelta(days=1), "ahead of now"),  # the past
        (wib_slots_after(T0 + timedelta(days=366), 1)[0], "the scheduling horizon"),
        (wib_slots_after(T0 + LEAD, 1)[0] + timedelta(minutes=30), "is no slot instant"),
    ],
    ids=["too-soon", "past", "beyond-horizon", "no-slot"],
)
async def test_a_target_that_is_no_future_slot_instant_is_refused(
    allocator: AllocatorStub, db, to, said
):
    profile_id = await make_profile(allocator)
    content = await assign(allocator, profile_id, not_before=T0 + timedelta(days=2))
    error = await refused(allocator.MoveContent(move(content.content_id, to)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("scheduled_at: ")
    assert said in error.details()
    assert moved_events(db, content.content_id) == []


@pytest.mark.parametrize("state", ["uploading", "unknown_outcome", "processing", "uploaded"])
async def test_a_content_being_published_or_done_is_not_moved(allocator: AllocatorStub, db, state):
    profile_id = await make_profile(allocator)
    content = await assign(allocator, profile_id)
    db.execute("update contents set status = %s where content_id = %s", (state, content.content_id))
    to = wib_slots_after(T0 + LEAD, 3)[2]
    error = await refused(allocator.MoveContent(move(content.content_id, to)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"content is {state}; reschedule needs one of" in error.details()
    assert error_info(error).reason == "WRONG_STATE"  # type: ignore[union-attr]


async def test_a_failed_or_waiting_content_may_be_moved_back_in_line(allocator: AllocatorStub, db):
    profile_id = await make_profile(allocator)
    content = await assign(allocator, profile_id)
    db.execute(
        "update contents set status = 'failed', status_reason = 'gave up' where content_id = %s",
        (content.content_id,),
    )
    to = wib_slots_after(T0 + LEAD, 3)[2]
    moved = await allocator.MoveContent(move(content.content_id, to, "try again"))
    assert moved.status == "scheduled"
    assert instant(moved.scheduled_at) == to


async def test_bad_inputs_are_named(allocator: AllocatorStub):
    profile_id = await make_profile(allocator)
    content = await assign(allocator, profile_id)
    to = wib_slots_after(T0 + LEAD, 2)[1]
    cases = [
        (
            pb.MoveContentRequest(scheduled_at=stamp(to)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "content_id: ",
        ),
        (move("not-a-uuid", to), grpc.StatusCode.INVALID_ARGUMENT, "content_id: "),
        (
            pb.MoveContentRequest(content_id=content.content_id),
            grpc.StatusCode.INVALID_ARGUMENT,
            "scheduled_at: is required",
        ),
        (move(content.content_id, to, "x" * 1001), grpc.StatusCode.INVALID_ARGUMENT, "reason: "),
        (
            move("7a1e0000-0000-4000-8000-000000000000", to),
            grpc.StatusCode.NOT_FOUND,
            "no content 7a1e0000-0000-4000-8000-000000000000",
        ),
    ]
    for request, code, said in cases:
        error = await refused(allocator.MoveContent(request))
        assert (error.code(), error.details()[: len(said)]) == (code, said)


async def test_the_daily_cap_holds_at_the_target(capped: AllocatorStub, db):
    """Mondays 12:00, 16:00, 20:00 and Tuesdays 02:00, 21:00 (UTC): each day within the cap of
    3, but Monday's three and Tuesday 02:00 fall into one 24 hours."""
    profile_id = await make_profile(capped, timezone="UTC", slots=[])
    await capped.SetSchedule(
        pb.SetScheduleRequest(
            profile_id=profile_id,
            platform=pb.PLATFORM_TIKTOK,
            slots=[pb.Slot(local_time=t, weekdays=[1]) for t in ("12:00", "16:00", "20:00")]
            + [pb.Slot(local_time=t, weekdays=[2]) for t in ("02:00", "21:00")],
        )
    )
    monday = datetime(2026, 3, 30, tzinfo=T0.tzinfo)
    assert monday.isoweekday() == 1
    assert monday > T0
    for _ in range(3):
        await assign(capped, profile_id, not_before=monday)
    late = await assign(capped, profile_id, not_before=monday + timedelta(days=1))
    assert instant(late.scheduled_at) == monday + timedelta(days=1, hours=21)  # 02:00 passed over
    error = await refused(
        capped.MoveContent(move(late.content_id, monday + timedelta(days=1, hours=2)))
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "would put more than 3 tiktok posts into 24 hours" in error.details()
    assert error_info(error).reason == "OVER_DAILY_CAP"  # type: ignore[union-attr]
    assert moved_events(db, late.content_id) == []
    # A Monday a week on has room.
    ok = await capped.MoveContent(move(late.content_id, monday + timedelta(days=7, hours=12)))
    assert instant(ok.scheduled_at) == monday + timedelta(days=7, hours=12)
