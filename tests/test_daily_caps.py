"""Daily caps in the Allocator: no (profile, platform) ever gets more contents into a rolling
24 hours than Upload-Post lets it post, counting what is queued and what was published; a
schedule with more slots on a day than the cap is refused, naming the cap and the day."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.caps import WINDOW, fullest_window
from tests.conftest import T0
from tests.support.calls import assign, instant, make_profile

TIKTOK = pb.PLATFORM_TIKTOK


def slots(*times: str, weekdays: tuple[int, ...] = ()) -> list[pb.Slot]:
    return [pb.Slot(local_time=t, weekdays=list(weekdays)) for t in times]


async def refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return error.value


async def test_a_schedule_with_more_slots_a_day_than_the_cap_is_refused_naming_both(
    allocator: AllocatorStub, db
):
    profile_id = await make_profile(allocator)  # six WIB slots: within TikTok's 15
    before = db.execute("select * from schedule_slots order by local_time").fetchall()
    sixteen = slots(*(f"{h:02d}:00" for h in range(16)))
    error = await refused(
        allocator.SetSchedule(
            pb.SetScheduleRequest(profile_id=profile_id, platform=TIKTOK, slots=sixteen)
        )
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == (
        "16 tiktok slots on Mondays, but Upload-Post allows at most 15 tiktok posts per account "
        "in 24 hours (UPLOAD_POST_DAILY_CAP_TIKTOK)"
    )
    assert db.execute("select * from schedule_slots order by local_time").fetchall() == before


async def test_weekday_slots_count_on_their_own_days(allocator: AllocatorStub):
    profile_id = await make_profile(allocator)
    every_day = slots(*(f"{h:02d}:00" for h in range(10)))
    fridays = slots(*(f"{h:02d}:30" for h in range(10, 16)), weekdays=(5,))
    error = await refused(
        allocator.SetSchedule(
            pb.SetScheduleRequest(profile_id=profile_id, platform=TIKTOK, slots=every_day + fridays)
        )
    )
    assert error.details().startswith("16 tiktok slots on Fridays")
    fine = every_day + fridays[:5]  # 15 on Fridays, 10 on the other days
    await allocator.SetSchedule(
        pb.SetScheduleRequest(profile_id=profile_id, platform=TIKTOK, slots=fine)
    )


async def test_assignment_skips_slots_that_would_overfill_a_rolling_day(capped, clock):
    # Mondays 20:00-22:00 and Tuesdays 01:00-03:00 UTC: each day within the cap of 3, but the
    # Tuesday slots fall within 24 hours of Monday's, so they are passed over.
    profile_id = await make_profile(capped, timezone="UTC", slots=[])
    await capped.SetSchedule(
        pb.SetScheduleRequest(
            profile_id=profile_id,
            platform=TIKTOK,
            slots=slots("20:00", "21:00", "22:00", weekdays=(1,))
            + slots("01:00", "02:00", "03:00", weekdays=(2,)),
        )
    )
    clock.set(datetime(2026, 3, 29, 12, tzinfo=UTC))  # Sunday noon
    got = [instant((await assign(capped, profile_id)).scheduled_at) for _ in range(5)]
    monday, next_monday = datetime(2026, 3, 30, tzinfo=UTC), datetime(2026, 4, 6, tzinfo=UTC)
    assert got == [
        monday + timedelta(hours=20),
        monday + timedelta(hours=21),
        monday + timedelta(hours=22),
        next_monday + timedelta(hours=20),  # Tuesday's 01:00-03:00 passed over, both weeks
        next_monday + timedelta(hours=21),
    ]


async def test_a_passed_over_slot_is_offered_once_a_release_makes_room(capped, clock):
    profile_id = await make_profile(capped, timezone="UTC", slots=[])
    await capped.SetSchedule(
        pb.SetScheduleRequest(
            profile_id=profile_id,
            platform=TIKTOK,
            slots=slots("20:00", "21:00", "22:00", weekdays=(1,)) + slots("01:00", weekdays=(2,)),
        )
    )
    clock.set(datetime(2026, 3, 29, 12, tzinfo=UTC))
    first = await assign(capped, profile_id)  # Monday 20:00
    for _ in range(2):
        await assign(capped, profile_id)  # 21:00, 22:00
    await capped.Release(pb.ReleaseRequest(content_id=first.content_id, reason="pulled"))
    # Monday 20:00 is free again and earliest; after it, the Tuesday 01:00 slot is still too
    # close, until another is released.
    assert instant((await assign(capped, profile_id)).scheduled_at) == instant(first.scheduled_at)


async def test_published_contents_count_when_they_were_published(capped, clock, db):
    profile_id = await make_profile(capped, timezone="UTC", slots=["09:00", "15:00", "21:00"])
    clock.set(datetime(2026, 3, 26, 8, tzinfo=UTC))
    early = await assign(capped, profile_id)  # 09:00 today
    # Published ahead of its slot, at 08:00 (an UploadNow): it counts at 08:00.
    db.execute(
        "update contents set status = 'uploaded', uploaded_at = %s where content_id = %s",
        (clock.now(), early.content_id),
    )
    got = [instant((await assign(capped, profile_id)).scheduled_at) for _ in range(3)]
    today = datetime(2026, 3, 26, tzinfo=UTC)
    assert got == [
        today + timedelta(hours=15),
        today + timedelta(hours=21),
        today + timedelta(days=1, hours=9),  # 08:00 + 24 h has passed by then
    ]


async def test_the_cap_counts_real_hours_across_a_daylight_saving_change(capped, clock):
    # Berlin springs forward on Sunday 2026-03-29: that day is 23 hours long, so its 03:30 comes
    # only 23 hours after Saturday's, and a cap of 3 in 24 real hours passes it over.
    profile_id = await make_profile(
        capped, timezone="Europe/Berlin", slots=["01:30", "03:30", "12:00"]
    )
    clock.set(T0)  # Thursday 2026-03-26
    got = [instant((await assign(capped, profile_id)).scheduled_at) for _ in range(14)]
    assert fullest_window(got) <= 3
    assert all(got[i + 3] - got[i] >= WINDOW for i in range(len(got) - 3))
    sunday_0330 = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert sunday_0330 not in got
    assert datetime(2026, 3, 29, 0, 30, tzinfo=UTC) in got  # Sunday 01:30 CET is 24 h after
    assert datetime(2026, 3, 30, 1, 30, tzinfo=UTC) in got  # Monday 03:30 CEST


async def test_a_burst_never_overfills_a_day(capped):
    profile_id = await make_profile(capped, slots=["02:00", "06:00", "10:00"])
    results = await asyncio.gather(*(assign(capped, profile_id) for _ in range(30)))
    got = sorted(instant(r.scheduled_at) for r in results)
    assert len(set(got)) == 30
    assert all(got[i + 3] - got[i] >= WINDOW for i in range(len(got) - 3))
