"""The event log is written with the change: every change a caller cares about writes exactly one
event in the same transaction as the change (in the change's own statement), with its fields;
none for a change that rolls back, nor for a move inside the services. Which lifecycle moves are
told is one table (queuelabs/events.TOLD) that every lifecycle event is in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg.rows import dict_row

from allocator.domain import ContentSpec
from allocator.errors import ContentIdInUse
from queuelabs.allocator.v1 import allocator_pb2 as apb
from queuelabs.events import TOLD, EventType, told
from queuelabs.lifecycle import ContentState, Event
from queuelabs.platforms import MediaType, Platform
from queuelabs.sql import by_event
from queuelabs.uploader.v1 import uploader_pb2 as upb
from tests.support.calls import assign, make_profile, video
from tests.support.harness import Harness
from tests.support.stack import running_stack, settled
from uploader import decisions
from uploader.allocator_client import AllocatorGateway
from uploader.decisions import Decision
from uploader.settler import Settler
from uploader.storage import QUERIES as UPLOADER_QUERIES

# What a test compares of an event: everything but its ids and place in the log.
Told = tuple[str, UUID, UUID, str, dict[str, Any]]


def test_every_lifecycle_event_decides_whether_callers_are_told_of_it():
    assert set(TOLD) == set(Event)


def test_the_moves_callers_are_told_of():
    assert {event: told(event) for event in Event if told(event)} == {
        Event.RESCHEDULE: EventType.CONTENT_MOVED,
        Event.RELEASE: EventType.CONTENT_RELEASED,
        Event.SUCCEED: EventType.UPLOAD_PUBLISHED,
        Event.RETRY_LATER: EventType.UPLOAD_RETRYING,
        Event.AWAIT: EventType.UPLOAD_PROCESSING,
        Event.FAIL: EventType.UPLOAD_FAILED,
    }


def test_a_statement_that_carries_out_a_move_names_its_event_type_as_a_constant():
    for event in Event:
        settle = UPLOADER_QUERIES[by_event("settle", event)]
        written = told(event)
        expected = "null" if written is None else f"'{written.value}'"
        assert f"where {expected} is not null" in settle


def iso(instant: datetime) -> str:
    """An instant as the log's data holds it (jsonb of a timestamptz, the session in UTC)."""
    return instant.astimezone(UTC).isoformat()


async def events(harness: Harness) -> list[dict[str, Any]]:
    """The whole log, in cursor order."""
    async with harness.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("select * from events order by xid, seq")
        return await cur.fetchall()


async def told_of(harness: Harness) -> list[Told]:
    return [
        (e["type"], e["content_id"], e["profile_id"], e["platform"], e["data"])
        for e in await events(harness)
    ]


def clip(content_id: UUID | None = None) -> ContentSpec:
    return ContentSpec(content_id or uuid4(), MediaType.VIDEO, "https://cdn.example.com/a.mp4")


# The Allocator's changes (its service on a real PostgreSQL, a FakeClock)


async def test_an_assignment_writes_one_content_assigned_event_with_its_slot(harness):
    profile_id = await harness.profile()
    content = clip()
    first = await harness.allocator.assign_next(profile_id, Platform.TIKTOK, content, None)
    again = await harness.allocator.assign_next(profile_id, Platform.TIKTOK, content, None)
    assert again == first  # a client retry: no change, so nothing more is told
    [event] = await events(harness)
    assert event["type"] == EventType.CONTENT_ASSIGNED
    assert (event["content_id"], event["profile_id"], event["platform"]) == (
        content.content_id,
        profile_id,
        "tiktok",
    )
    assert event["occurred_at"] == harness.clock.now()
    assert event["data"] == {"slot_id": str(first.slot_id), "scheduled_at": iso(first.scheduled_at)}
    assert isinstance(event["event_id"], UUID)


async def test_a_batch_tells_each_content_once_in_slot_order(harness):
    profile_id = await harness.profile()
    batch = [clip() for _ in range(3)]
    placed = await harness.allocator.batch_assign(profile_id, Platform.TIKTOK, batch, None)
    assert [(t, c, d["scheduled_at"]) for t, c, _, _, d in await told_of(harness)] == [
        (EventType.CONTENT_ASSIGNED, a.content_id, iso(a.scheduled_at)) for a in placed
    ]
    assert len({e["event_id"] for e in await events(harness)}) == 3


async def test_a_batch_refused_half_way_writes_no_event(harness):
    profile_id = await harness.profile()
    other = await harness.profile()
    taken = clip()
    await harness.allocator.assign_next(other, Platform.TIKTOK, taken, None)
    before = await told_of(harness)
    with pytest.raises(ContentIdInUse):  # all or nothing: the first two are not kept either
        await harness.allocator.batch_assign(
            profile_id, Platform.TIKTOK, [clip(), clip(), taken], None
        )
    assert await told_of(harness) == before


async def test_an_attempt_the_unique_index_refuses_rolls_back_with_its_events(harness):
    profile_id = await harness.profile()
    first = await harness.allocator.assign_next(profile_id, Platform.TIKTOK, clip(), None)
    async with harness.pool.connection() as conn:  # an inventory that offers a held instant
        await conn.execute(
            "insert into free_slots (profile_id, platform, scheduled_at, slot_id)"
            " values (%s, 'tiktok', %s, %s)",
            (profile_id, first.scheduled_at, first.slot_id),
        )
    # The first attempt places the batch on the held instant (refused) and the next (inserted,
    # with its event), then rolls back; the second attempt places both anew.
    placed = await harness.allocator.batch_assign(
        profile_id, Platform.TIKTOK, [clip(), clip()], None
    )
    assert all(a.scheduled_at > first.scheduled_at for a in placed)
    assert [(c, d["scheduled_at"]) for _, c, _, _, d in await told_of(harness)] == [
        (a.content_id, iso(a.scheduled_at)) for a in [first, *placed]
    ]


async def test_a_reschedule_tells_where_from_where_to_and_why(harness):
    profile_id = await harness.profile()
    [content_id] = await harness.assign(profile_id, 1)
    before = await harness.allocator.reschedule(content_id, None, "")  # the same slot: a move
    later = harness.clock.now() + timedelta(hours=5)
    moved = await harness.allocator.reschedule(content_id, later, "the artist asked")
    *_, event = await told_of(harness)
    assert event == (
        EventType.CONTENT_MOVED,
        content_id,
        profile_id,
        "tiktok",
        {
            "from_scheduled_at": iso(before.scheduled_at),
            "to_scheduled_at": iso(moved.scheduled_at),
            "slot_id": str(moved.slot_id),
            "reason": "the artist asked",
        },
    )
    assert [t for t, *_ in await told_of(harness)] == [
        EventType.CONTENT_ASSIGNED,
        EventType.CONTENT_MOVED,
        EventType.CONTENT_MOVED,
    ]


@pytest.mark.parametrize(
    ("cancel", "type_"),
    [(False, EventType.CONTENT_RELEASED), (True, EventType.UPLOAD_CANCELLED)],
    ids=["release", "cancel"],
)
async def test_a_release_is_told_once_as_a_release_or_as_a_cancel(harness, cancel, type_):
    profile_id = await harness.profile()
    [content_id] = await harness.assign(profile_id, 1)
    await harness.allocator.release(content_id, "pulled", cancel)
    await harness.allocator.release(content_id, "pulled again", cancel)  # no change: no event
    await harness.allocator.release(content_id, "pulled again", not cancel)
    assert (await told_of(harness))[1:] == [
        (type_, content_id, profile_id, "tiktok", {"reason": "pulled"})
    ]


# The Uploader's changes


def settler(harness: Harness) -> Settler:
    nobody = cast(AllocatorGateway, None)  # these moves ask the Allocator nothing
    return Settler(harness.store, nobody, harness.clock, "w1")


async def test_a_move_inside_the_uploader_tells_nothing_and_a_rolled_back_one_neither(harness):
    profile_id = await harness.profile()
    [content_id] = await harness.assign(profile_id, 1)
    harness.clock.advance(timedelta(hours=1))
    [claimed] = await harness.claim()
    before = await told_of(harness)
    lost = Decision(Event.LOSE_TRACK, 0, harness.clock.now(), 0, "504")
    assert await settler(harness).settle(claimed, lost)
    assert await told_of(harness) == before  # claimed and lost track: nothing a caller sees
    [claimed] = await harness.claim()  # to reconcile

    async def fail_after_the_move() -> None:
        async with harness.store.transaction() as tx:
            assert await tx.settle(
                content_id,
                Event.FAIL,
                worker="w1",
                now=harness.clock.now(),
                retry_count=0,
                next_retry_at=None,
                generation=0,
                reason="gave up",
            )
            raise RuntimeError("the transaction fails after the move")

    with pytest.raises(RuntimeError):
        await fail_after_the_move()
    assert await told_of(harness) == before
    assert await harness.state(content_id) is ContentState.UNKNOWN_OUTCOME


async def test_a_claim_handed_back_at_shutdown_tells_nothing(harness):
    profile_id = await harness.profile()
    [content_id] = await harness.assign(profile_id, 1)
    harness.clock.advance(timedelta(hours=1))
    [claimed] = await harness.claim()
    retry = Decision(Event.RETRY_LATER, 1, harness.clock.now(), 0, "HTTP 500")
    assert await settler(harness).settle(claimed, retry)
    told_once = await told_of(harness)
    assert told_once[-1][0] == EventType.UPLOAD_RETRYING
    [claimed] = await harness.claim()  # a retry pending, claimed again; then the worker stops
    handed_back = decisions.at_shutdown(claimed, [], harness.clock.now())
    assert handed_back.event is Event.RETRY_LATER  # the same move, but nothing new to tell
    assert await settler(harness).settle(claimed, handed_back)
    assert await harness.state(content_id) is ContentState.RETRY_PENDING
    assert await told_of(harness) == told_once


def stack_events(db: psycopg.Connection[Any], content_id: str) -> list[tuple[str, Any]]:
    rows = db.execute(
        "select type, data from events where content_id = %s order by xid, seq", (content_id,)
    )
    return rows.fetchall()


async def test_each_change_through_the_real_services_writes_one_event_with_its_fields(
    database_url, db
):
    async with running_stack(database_url) as stack:
        profile_id = await make_profile(stack.allocator)

        stack.sandbox.state.queue_faults("tiktok", "500")
        retried = await assign(stack.allocator, profile_id)
        published = await settled(stack, retried.content_id)
        assert published.state == upb.UPLOAD_STATE_UPLOADED
        [assigned, retrying, done] = stack_events(db, retried.content_id)
        assert assigned[0] == EventType.CONTENT_ASSIGNED
        assert assigned[1]["scheduled_at"] == iso(retried.scheduled_at.ToDatetime(UTC))
        assert retrying[0] == EventType.UPLOAD_RETRYING
        assert retrying[1]["attempt"] == 1
        retry_at = datetime.fromisoformat(retrying[1]["next_retry_at"])
        first_try, second_try = published.attempts
        assert first_try.finished_at.ToDatetime(UTC) < retry_at
        assert retry_at <= second_try.started_at.ToDatetime(UTC)
        assert "500" in retrying[1]["reason"]
        assert done[0] == EventType.UPLOAD_PUBLISHED
        assert done[1]["post_url"] == published.post_url != ""
        assert done[1]["request_id"] != ""
        assert done[1]["platform_post_id"] != ""

        stack.sandbox.state.queue_faults("tiktok", "400")
        refused = await assign(stack.allocator, profile_id)
        failed = await settled(stack, refused.content_id)
        assert failed.state == upb.UPLOAD_STATE_FAILED
        await stack.uploader.RetryUpload(upb.RetryUploadRequest(content_id=refused.content_id))
        assert (await settled(stack, refused.content_id)).state == upb.UPLOAD_STATE_UPLOADED
        told = stack_events(db, refused.content_id)
        assert [t for t, _ in told] == [
            EventType.CONTENT_ASSIGNED,
            EventType.UPLOAD_FAILED,
            EventType.CONTENT_MOVED,
            EventType.UPLOAD_PUBLISHED,
        ]
        assert told[1][1] == {"reason": failed.failure_reason}
        assert told[2][1]["reason"] == "retried by an operator"

        key: dict[str, Any] = {"profile_id": profile_id, "platform": apb.PLATFORM_TIKTOK}
        await stack.uploader.PauseProfile(upb.PauseProfileRequest(**key))
        pulled = await assign(stack.allocator, profile_id, video())
        await stack.uploader.CancelUpload(
            upb.CancelUploadRequest(content_id=pulled.content_id, reason="pulled")
        )
        assert stack_events(db, pulled.content_id) == [
            (EventType.CONTENT_ASSIGNED, assigned_data(pulled)),
            (EventType.UPLOAD_CANCELLED, {"reason": "pulled"}),
        ]
    every = db.execute("select content_id, profile_id, platform from events").fetchall()
    assert {(str(p), platform) for _, p, platform in every} == {(profile_id, "tiktok")}
    assert len(every) == 3 + 4 + 2


def assigned_data(assignment: apb.Assignment) -> dict[str, str]:
    return {
        "slot_id": assignment.slot_id,
        "scheduled_at": iso(assignment.scheduled_at.ToDatetime(UTC)),
    }


async def test_retries_run_out_the_move_and_a_release_are_told_through_the_real_services(
    database_url, db
):
    async with running_stack(database_url) as stack:
        profile_id = await make_profile(stack.allocator)
        stack.sandbox.state.queue_faults("tiktok", "500", "502", "503", "500")
        content = await assign(stack.allocator, profile_id)
        assert (await settled(stack, content.content_id)).state == upb.UPLOAD_STATE_UPLOADED
        told = stack_events(db, content.content_id)
        assert [t for t, _ in told] == [
            EventType.CONTENT_ASSIGNED,
            *[EventType.UPLOAD_RETRYING] * 3,
            EventType.CONTENT_MOVED,  # asked of the Allocator by the Uploader: told once, there
            EventType.UPLOAD_PUBLISHED,
        ]
        assert [data["attempt"] for _, data in told[1:4]] == [1, 2, 3]
        moved = told[4][1]
        assert moved["from_scheduled_at"] == iso(content.scheduled_at.ToDatetime(UTC))
        assert moved["reason"].startswith("gave up after 3 retries")

        key: dict[str, Any] = {"profile_id": profile_id, "platform": apb.PLATFORM_TIKTOK}
        await stack.uploader.PauseProfile(upb.PauseProfileRequest(**key))
        released = await assign(stack.allocator, profile_id)
        request = apb.ReleaseRequest(content_id=released.content_id, reason="no longer wanted")
        await stack.allocator.Release(request)
        await stack.allocator.Release(request)  # again: nothing changes, nothing is told
        assert stack_events(db, released.content_id) == [
            (EventType.CONTENT_ASSIGNED, assigned_data(released)),
            (EventType.CONTENT_RELEASED, {"reason": "no longer wanted"}),
        ]
