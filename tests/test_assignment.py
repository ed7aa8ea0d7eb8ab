"""AssignNext, BatchAssign, Reschedule, Release and ListAssignments against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import psycopg
import pytest

from allocator.server import start_allocator
from allocator.settings import AllocatorSettings
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.clock import FakeClock
from tests.conftest import T0
from tests.support.calls import assign, instant, make_profile, stamp, video, wib_slots_after

EARLIEST = T0 + timedelta(seconds=60)  # the clock plus the default lead time


async def test_assignments_take_the_earliest_free_slots_in_order(allocator: AllocatorStub):
    profile_id = await make_profile(allocator)
    got = [instant((await assign(allocator, profile_id)).scheduled_at) for _ in range(8)]
    assert got == wib_slots_after(EARLIEST, 8)


async def test_assignment_reports_slot_and_state(allocator: AllocatorStub):
    profile_id = await make_profile(allocator)
    schedule = await allocator.GetSchedule(
        pb.GetScheduleRequest(profile_id=profile_id, platform=pb.PLATFORM_TIKTOK)
    )
    content = video()
    result = await assign(allocator, profile_id, content)
    ten_wib = next(s for s in schedule.slots if s.local_time == "10:00")
    assert result.content_id == content.content_id
    assert result.profile_id == profile_id
    assert result.platform == pb.PLATFORM_TIKTOK
    assert result.slot_id == ten_wib.slot_id
    assert result.status == "scheduled"


async def test_repeating_a_request_returns_the_same_assignment(allocator, db):
    profile_id = await make_profile(allocator)
    content = video()
    first = await assign(allocator, profile_id, content)
    again = await assign(allocator, profile_id, content)
    other = await assign(allocator, profile_id)
    assert again == first
    assert instant(other.scheduled_at) == wib_slots_after(EARLIEST, 2)[1]
    assert db.execute("select count(*) from contents").fetchone() == (2,)


async def test_a_content_id_cannot_move_to_another_profile_or_platform(allocator, db):
    profile_id = await make_profile(allocator)
    other_profile = await make_profile(allocator, name="Other")
    content = video()
    # A post X takes too (TikTok's privacy_level is no X option: refused before the id is
    # looked at).
    content.platform_options.clear()
    await assign(allocator, profile_id, content)
    for target, platform in ((other_profile, pb.PLATFORM_TIKTOK), (profile_id, pb.PLATFORM_X)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await assign(allocator, target, content, platform=platform)
        assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert content.content_id in refused.value.details()
    assert db.execute("select count(*) from contents").fetchone() == (1,)


async def test_a_content_id_cannot_be_reused_for_other_content(allocator):
    profile_id = await make_profile(allocator)
    content = video(title="first")
    await assign(allocator, profile_id, content)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await assign(allocator, profile_id, video(content.content_id, title="second"))
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_release_then_assign_fills_the_gap(allocator, db):
    profile_id = await make_profile(allocator)
    assigned = [await assign(allocator, profile_id) for _ in range(5)]
    released = await allocator.Release(
        pb.ReleaseRequest(content_id=assigned[1].content_id, reason="withdrawn by the editor")
    )
    assert released.assignment.status == "removed"
    assert instant(released.removed_at) == T0
    refill = await assign(allocator, profile_id)
    assert refill.scheduled_at == assigned[1].scheduled_at
    after = await assign(allocator, profile_id)
    assert instant(after.scheduled_at) == wib_slots_after(EARLIEST, 6)[5]
    row = db.execute(
        "select status, status_reason, removed_at from contents where content_id = %s",
        (assigned[1].content_id,),
    ).fetchone()
    assert row == ("removed", "withdrawn by the editor", T0)


async def test_release_is_idempotent_and_content_cannot_come_back(allocator):
    profile_id = await make_profile(allocator)
    content = video()
    await assign(allocator, profile_id, content)
    first = await allocator.Release(pb.ReleaseRequest(content_id=content.content_id))
    again = await allocator.Release(pb.ReleaseRequest(content_id=content.content_id))
    assert again == first
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await assign(allocator, profile_id, content)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "new content_id" in refused.value.details()


async def test_reschedule_respects_not_before_and_frees_the_old_slot(allocator, clock):
    profile_id = await make_profile(allocator)
    first, second, _ = [await assign(allocator, profile_id) for _ in range(3)]
    not_before = T0 + timedelta(days=3, hours=1)
    moved = await allocator.Reschedule(
        pb.RescheduleRequest(
            content_id=first.content_id, not_before=stamp(not_before), reason="editor asked"
        )
    )
    assert instant(moved.scheduled_at) == wib_slots_after(not_before, 1)[0]
    assert moved.slot_id != ""
    assert moved.status == "scheduled"
    # The slot it left is the earliest free one now.
    refill = await assign(allocator, profile_id)
    assert refill.scheduled_at == first.scheduled_at
    # Rescheduling without not_before starts from now (plus the lead time).
    clock.advance(timedelta(days=1))
    again = await allocator.Reschedule(pb.RescheduleRequest(content_id=second.content_id))
    assert instant(again.scheduled_at) >= clock.now()


async def test_not_before_moves_the_search_start(allocator):
    profile_id = await make_profile(allocator)
    not_before = T0 + timedelta(days=10, minutes=5)
    got = await assign(allocator, profile_id, not_before=not_before)
    assert instant(got.scheduled_at) == wib_slots_after(not_before, 1)[0]
    # Earlier slots stay free for requests without not_before.
    early = await assign(allocator, profile_id)
    assert instant(early.scheduled_at) == wib_slots_after(EARLIEST, 1)[0]


async def test_batch_assign_is_ordered_repeatable_and_all_or_nothing(allocator, db):
    profile_id = await make_profile(allocator)
    contents = [video() for _ in range(5)]
    request = pb.BatchAssignRequest(
        profile_id=profile_id, platform=pb.PLATFORM_TIKTOK, contents=contents
    )
    batch = await allocator.BatchAssign(request)
    assert [a.content_id for a in batch.assignments] == [c.content_id for c in contents]
    assert [instant(a.scheduled_at) for a in batch.assignments] == wib_slots_after(EARLIEST, 5)
    assert await allocator.BatchAssign(request) == batch

    # One bad content (its id belongs to another profile) sinks the whole batch.
    other_profile = await make_profile(allocator, name="Other")
    taken = video()
    await assign(allocator, other_profile, taken)
    mixed = pb.BatchAssignRequest(
        profile_id=profile_id, platform=pb.PLATFORM_TIKTOK, contents=[video(), taken, video()]
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await allocator.BatchAssign(mixed)
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    count = "select count(*) from contents where profile_id = %s"
    assert db.execute(count, (profile_id,)).fetchone() == (5,)
    # The sixth slot is still free: the failed batch took nothing.
    sixth = wib_slots_after(EARLIEST, 6)[5]
    following = await assign(allocator, profile_id)
    assert instant(following.scheduled_at) == sixth


async def test_the_search_stops_at_the_horizon(database_url, clock):
    settings = AllocatorSettings(
        database_url=database_url, listen="127.0.0.1:0", pool_size=2, horizon=timedelta(days=3)
    )
    running = await start_allocator(settings, clock)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = AllocatorStub(channel)
            profile_id = await make_profile(stub)
            got = [await assign(stub, profile_id) for _ in range(18)]  # 6 a day, 3 days
            assert len({a.scheduled_at.seconds for a in got}) == 18
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await assign(stub, profile_id)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "3-day horizon" in refused.value.details()
            with pytest.raises(grpc.aio.AioRpcError) as too_far:
                await assign(stub, profile_id, not_before=T0 + timedelta(days=4))
            assert too_far.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await running.stop(grace=1)


async def test_assignments_follow_berlin_wall_clock_across_both_dst_changes(allocator):
    profile_id = await make_profile(allocator, timezone="Europe/Berlin", slots=["02:30", "06:00"])

    async def local_times(not_before: datetime, count: int) -> list[str]:
        batch = await allocator.BatchAssign(
            pb.BatchAssignRequest(
                profile_id=profile_id,
                platform=pb.PLATFORM_TIKTOK,
                contents=[video() for _ in range(count)],
                not_before=stamp(not_before),
            )
        )
        from zoneinfo import ZoneInfo

        berlin = ZoneInfo("Europe/Berlin")
        return [
            f"{instant(a.scheduled_at).astimezone(berlin):%m-%d %H:%M %Z}"
            for a in batch.assignments
        ]

    assert await local_times(datetime(2026, 3, 27, 23, 0, tzinfo=UTC), 6) == [
        "03-28 02:30 CET",
        "03-28 06:00 CET",
        "03-29 03:30 CEST",
        "03-29 06:00 CEST",
        "03-30 02:30 CEST",
        "03-30 06:00 CEST",
    ]
    assert await local_times(datetime(2026, 10, 23, 22, 0, tzinfo=UTC), 6) == [
        "10-24 02:30 CEST",
        "10-24 06:00 CEST",
        "10-25 02:30 CEST",
        "10-25 06:00 CET",
        "10-26 02:30 CET",
        "10-26 06:00 CET",
    ]


async def test_a_new_timezone_applies_to_new_assignments_only(allocator):
    profile_id = await make_profile(allocator, slots=["10:00"])
    before = await assign(allocator, profile_id)
    await allocator.UpsertProfile(
        pb.UpsertProfileRequest(
            profile_id=profile_id,
            name="InfoKetua",
            upload_post_user="InfoKetua",
            timezone="Europe/Berlin",
        )
    )
    after = await assign(allocator, profile_id)
    # 10:00 in Berlin (CET, UTC+1) on the same day is after 10:00 WIB: 09:00 UTC.
    assert instant(before.scheduled_at) == datetime(2026, 3, 26, 3, 0, tzinfo=UTC)
    assert instant(after.scheduled_at) == datetime(2026, 3, 26, 9, 0, tzinfo=UTC)


async def test_a_new_schedule_applies_to_new_assignments_only(allocator, db):
    profile_id = await make_profile(allocator, slots=["10:00"])
    before = await assign(allocator, profile_id)
    schedule = await allocator.SetSchedule(
        pb.SetScheduleRequest(
            profile_id=profile_id,
            platform=pb.PLATFORM_TIKTOK,
            slots=[pb.Slot(local_time="10:00"), pb.Slot(local_time="08:00", weekdays=[5, 4])],
        )
    )
    assert [(s.local_time, list(s.weekdays)) for s in schedule.slots] == [
        ("08:00", [4, 5]),
        ("10:00", []),
    ]
    after = [instant((await assign(allocator, profile_id)).scheduled_at) for _ in range(2)]
    # Thursday 26th 08:00 WIB is new; 10:00 WIB is taken; then Friday 27th 08:00 WIB.
    assert after == [datetime(2026, 3, 26, 1, tzinfo=UTC), datetime(2026, 3, 27, 1, tzinfo=UTC)]
    assert instant(before.scheduled_at) == datetime(2026, 3, 26, 3, 0, tzinfo=UTC)


async def test_list_assignments_pages_through_in_time_order(allocator):
    profile_id = await make_profile(allocator)
    assigned = [await assign(allocator, profile_id) for _ in range(7)]
    await allocator.Release(pb.ReleaseRequest(content_id=assigned[3].content_id))
    listed, token, pages = [], "", 0
    while True:
        page = await allocator.ListAssignments(
            pb.ListAssignmentsRequest(profile_id=profile_id, page_size=3, page_token=token)
        )
        listed += page.assignments
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 2
    assert [a.content_id for a in listed] == [
        a.content_id for i, a in enumerate(assigned) if i != 3
    ]
    first = await allocator.ListAssignments(
        pb.ListAssignmentsRequest(profile_id=profile_id, page_size=2)
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await allocator.ListAssignments(
            pb.ListAssignmentsRequest(
                profile_id=profile_id, platform=pb.PLATFORM_X, page_token=first.next_page_token
            )
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in refused.value.details()
    window = await allocator.ListAssignments(
        pb.ListAssignmentsRequest(
            profile_id=profile_id,
            start_time=assigned[1].scheduled_at,
            end_time=assigned[3].scheduled_at,
        )
    )
    assert [a.content_id for a in window.assignments] == [
        assigned[1].content_id,
        assigned[2].content_id,
    ]


async def test_a_slot_held_behind_the_inventorys_back_is_skipped_not_an_error(allocator, db):
    profile_id = await make_profile(allocator)
    await assign(allocator, profile_id)  # builds the inventory
    second = wib_slots_after(EARLIEST, 2)[1]
    db.execute(
        """insert into contents (content_id, profile_id, platform, status, slot_id, scheduled_at,
                                 media_type)
           values (%s, %s, 'tiktok', 'scheduled', %s, %s, 'text')""",
        (uuid.uuid4(), profile_id, uuid.uuid4(), second),
    )
    got = await assign(allocator, profile_id)
    assert instant(got.scheduled_at) == wib_slots_after(EARLIEST, 3)[2]


def test_the_partial_unique_index_refuses_a_second_content_in_a_slot(db):
    profile_id = uuid.uuid4()
    db.execute(
        "insert into profiles (profile_id, name, upload_post_user, timezone)"
        " values (%s, 'p', 'p', 'UTC')",
        (profile_id,),
    )
    insert = """insert into contents (content_id, profile_id, platform, status, slot_id,
                                      scheduled_at, media_type)
                values (%s, %s, 'tiktok', %s, %s, %s, 'text')"""
    at = datetime(2026, 6, 1, tzinfo=UTC)
    db.execute(insert, (uuid.uuid4(), profile_id, "removed", uuid.uuid4(), at))
    db.execute(insert, (uuid.uuid4(), profile_id, "scheduled", uuid.uuid4(), at))
    with pytest.raises(psycopg.errors.UniqueViolation) as clash:
        db.execute(insert, (uuid.uuid4(), profile_id, "retry_pending", uuid.uuid4(), at))
    assert clash.value.diag.constraint_name == "contents_one_active_per_slot"


async def test_clock_is_fake_here(clock: FakeClock):
    assert clock.now() == T0


async def test_reschedule_after_a_schedule_change_can_keep_or_free_its_own_slot(allocator):
    profile_id = await make_profile(allocator, slots=["10:00"])
    content = await assign(allocator, profile_id)
    await allocator.SetSchedule(
        pb.SetScheduleRequest(
            profile_id=profile_id, platform=pb.PLATFORM_TIKTOK, slots=[pb.Slot(local_time="10:00")]
        )
    )
    moved = await allocator.Reschedule(pb.RescheduleRequest(content_id=content.content_id))
    assert moved.scheduled_at == content.scheduled_at  # still the earliest free slot: its own
    later = await allocator.Reschedule(
        pb.RescheduleRequest(
            content_id=content.content_id, not_before=stamp(T0 + timedelta(days=2))
        )
    )
    assert instant(later.scheduled_at) > instant(content.scheduled_at)
    refill = await assign(allocator, profile_id)
    assert refill.scheduled_at == content.scheduled_at  # the slot it left is offered again


async def test_a_slot_spent_by_an_early_publication_is_not_offered_again(allocator, db):
    profile_id = await make_profile(allocator, slots=["10:00"])
    early = await assign(allocator, profile_id)
    db.execute(
        "update contents set status = 'uploaded' where content_id = %s", (early.content_id,)
    )  # what UploadNow leads to
    await allocator.SetSchedule(  # rebuilds the inventory
        pb.SetScheduleRequest(
            profile_id=profile_id, platform=pb.PLATFORM_TIKTOK, slots=[pb.Slot(local_time="10:00")]
        )
    )
    after = await assign(allocator, profile_id)
    assert instant(after.scheduled_at) == instant(early.scheduled_at) + timedelta(days=1)


async def test_crossed_batches_sharing_ids_end_one_stored_the_other_refused(allocator, db):
    first_profile = await make_profile(allocator, name="One")
    second_profile = await make_profile(allocator, name="Two")
    for _ in range(5):
        x, y = video(), video()

        async def batch(profile_id: str, contents: list[pb.Content]) -> str:
            try:
                await allocator.BatchAssign(
                    pb.BatchAssignRequest(
                        profile_id=profile_id, platform=pb.PLATFORM_TIKTOK, contents=contents
                    )
                )
                return "OK"
            except grpc.aio.AioRpcError as refused:
                return refused.code().name

        outcomes = sorted(
            await asyncio.gather(batch(first_profile, [x, y]), batch(second_profile, [y, x]))
        )
        # Crossed inserts may deadlock in PostgreSQL: the loser is told to retry (ABORTED).
        assert outcomes in (["ALREADY_EXISTS", "OK"], ["ABORTED", "OK"])
        (stored,) = db.execute(
            "select count(distinct profile_id) from contents where content_id = any(%s)",
            ([x.content_id, y.content_id],),
        ).fetchone()
        assert stored == 1  # both contents went with one batch; the other left nothing
