"""GetCalendar on a real Allocator: every slot instant of a (profile, platform) in a window, free
or with its content, the contents at instants that are no slot today, the past with what was
published there, daylight-saving days, and the window's limits."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import grpc
import pytest

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.clock import FakeClock
from tests.conftest import T0
from tests.support.calls import WIB, assign, instant, make_profile, stamp, video, wib_slots_after

TIKTOK = pb.PLATFORM_TIKTOK


def ask(profile_id: str, start: datetime | None = None, end: datetime | None = None):
    request = pb.GetCalendarRequest(profile_id=profile_id, platform=TIKTOK)
    if start is not None:
        request.start_time.CopyFrom(stamp(start))
    if end is not None:
        request.end_time.CopyFrom(stamp(end))
    return request


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_every_slot_of_the_week_free_or_with_its_content(allocator: AllocatorStub):
    profile_id = await make_profile(allocator)
    first = await assign(allocator, profile_id, video(title="Morning news"))
    second = await assign(allocator, profile_id)
    await allocator.Release(pb.ReleaseRequest(content_id=second.content_id))  # free again

    calendar = await allocator.GetCalendar(ask(profile_id))  # default: now, 7 days

    assert calendar.profile_id == profile_id
    assert calendar.platform == TIKTOK
    assert calendar.timezone == "Asia/Jakarta"
    instants = [instant(s.scheduled_at) for s in calendar.slots]
    assert instants == wib_slots_after(T0, 42)  # six a day, seven days, in time order
    schedule = await allocator.GetSchedule(
        pb.GetScheduleRequest(profile_id=profile_id, platform=TIKTOK)
    )
    slot_ids = {s.local_time: s.slot_id for s in schedule.slots}
    for slot in calendar.slots:
        local = instant(slot.scheduled_at) + WIB
        assert slot.local_time == f"{local:%Y-%m-%dT%H:%M}"
        assert slot.slot_id == slot_ids[f"{local:%H:%M}"]
    taken = [s for s in calendar.slots if not s.free]
    assert [(s.content_id, s.title, s.status) for s in taken] == [
        (first.content_id, "Morning news", "scheduled")
    ]
    assert instant(taken[0].scheduled_at) == instant(first.scheduled_at)
    free = [s for s in calendar.slots if s.free]
    assert len(free) == 41
    assert all(s.content_id == s.title == s.status == "" for s in free)


async def test_a_content_booked_under_an_older_schedule_shows_with_no_slot(
    allocator: AllocatorStub,
):
    profile_id = await make_profile(allocator)
    booked = await assign(allocator, profile_id)
    await allocator.SetSchedule(
        pb.SetScheduleRequest(
            profile_id=profile_id, platform=TIKTOK, slots=[pb.Slot(local_time="09:30")]
        )
    )
    calendar = await allocator.GetCalendar(ask(profile_id))
    off = [s for s in calendar.slots if s.slot_id == ""]
    assert [(s.content_id, s.status, s.free) for s in off] == [
        (booked.content_id, "scheduled", False)
    ]
    on = [s for s in calendar.slots if s.slot_id]
    assert len(on) == 7
    assert all(s.free and s.local_time.endswith("T09:30") for s in on)
    assert [s.scheduled_at for s in calendar.slots] == sorted(
        (s.scheduled_at for s in calendar.slots), key=lambda t: (t.seconds, t.nanos)
    )


async def test_the_past_shows_what_was_published_or_failed_there(
    allocator: AllocatorStub, clock: FakeClock, db
):
    profile_id = await make_profile(allocator)
    published = await assign(allocator, profile_id, video(title="Went out"))
    failed = await assign(allocator, profile_id, video(title="Did not"))
    db.execute(
        "update contents set status = 'uploaded', uploaded_at = scheduled_at where content_id = %s",
        (published.content_id,),
    )
    db.execute(
        "update contents set status = 'failed', status_reason = 'gave up' where content_id = %s",
        (failed.content_id,),
    )
    clock.advance(timedelta(days=3))
    calendar = await allocator.GetCalendar(ask(profile_id, T0, T0 + timedelta(days=7)))
    shown = [(s.content_id, s.title, s.status) for s in calendar.slots if not s.free]
    assert shown == [
        (published.content_id, "Went out", "uploaded"),
        (failed.content_id, "Did not", "failed"),
    ]
    assert len(calendar.slots) == 42  # past and future slots alike


async def test_a_daylight_saving_day_keeps_its_slots_on_the_wall_clock(allocator: AllocatorStub):
    """Berlin springs forward on 29 March 2026 (02:00 -> 03:00): the 02:30 slot, which does not
    exist that day, falls where the clock would have been without the jump, 03:30 CEST."""
    profile_id = await make_profile(allocator, timezone="Europe/Berlin", slots=["02:30", "09:00"])
    start = datetime(2026, 3, 27, 23, 0, tzinfo=T0.tzinfo)  # 28 March 00:00 CET
    calendar = await allocator.GetCalendar(ask(profile_id, start, start + timedelta(days=3)))
    shown = [(s.local_time, instant(s.scheduled_at).strftime("%d %H:%M")) for s in calendar.slots]
    assert shown == [
        ("2026-03-28T02:30", "28 01:30"),  # CET, UTC+1
        ("2026-03-28T09:00", "28 08:00"),
        ("2026-03-29T03:30", "29 01:30"),  # the skipped 02:30, one hour on
        ("2026-03-29T09:00", "29 07:00"),  # CEST, UTC+2
        ("2026-03-30T02:30", "30 00:30"),
        ("2026-03-30T09:00", "30 07:00"),
    ]


async def test_the_window_is_checked(allocator: AllocatorStub):
    profile_id = await make_profile(allocator)
    cases = [
        (ask(profile_id, T0, T0), grpc.StatusCode.INVALID_ARGUMENT, "end_time: must be after"),
        (
            ask(profile_id, T0, T0 - timedelta(hours=1)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "end_time: must be after",
        ),
        (
            ask(profile_id, T0, T0 + timedelta(days=35, seconds=1)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "end_time: is more than 35 days after start_time",
        ),
        (
            ask(profile_id, end=T0 - timedelta(days=1)),  # start defaults to now
            grpc.StatusCode.INVALID_ARGUMENT,
            "end_time: must be after",
        ),
        (
            pb.GetCalendarRequest(profile_id="nope", platform=TIKTOK),
            grpc.StatusCode.INVALID_ARGUMENT,
            "profile_id: ",
        ),
        (
            pb.GetCalendarRequest(profile_id=profile_id),
            grpc.StatusCode.INVALID_ARGUMENT,
            "platform: ",
        ),
        (
            pb.GetCalendarRequest(profile_id=str(uuid.uuid4()), platform=TIKTOK),
            grpc.StatusCode.NOT_FOUND,
            "no profile ",
        ),
        (
            pb.GetCalendarRequest(profile_id=profile_id, platform=pb.PLATFORM_YOUTUBE),
            grpc.StatusCode.NOT_FOUND,
            f"profile {profile_id} has no youtube schedule",
        ),
    ]
    for request, code, said in cases:
        error = await refused(allocator.GetCalendar(request))
        assert (error.code(), error.details()[: len(said)]) == (code, said)
    widest = await allocator.GetCalendar(ask(profile_id, T0, T0 + timedelta(days=35)))
    assert len(widest.slots) == 35 * 6
    # GetSchedule answers a missing schedule the same way.
    error = await refused(
        allocator.GetSchedule(
            pb.GetScheduleRequest(profile_id=profile_id, platform=pb.PLATFORM_YOUTUBE)
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
