"""The Uploader end to end: real PostgreSQL, the Allocator, and the Upload-Post sandbox."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from queuelabs.allocator.v1 import allocator_pb2 as apb
from queuelabs.platforms import Platform
from queuelabs.uploader.v1 import uploader_pb2 as upb
from tests.support.calls import assign, make_profile, video
from tests.support.processes import unanswered_address
from tests.support.stack import Stack, production_policies, running_stack, settled

UPLOADED = upb.UPLOAD_STATE_UPLOADED
FAILED = upb.UPLOAD_STATE_FAILED
AWAITING_SLOT = upb.UPLOAD_STATE_AWAITING_SLOT


def published(stack: Stack) -> Counter[str]:
    """How many times each request id's job was published, by idempotency key's content."""
    return Counter(p.idempotency_key.split(":")[1] for p in stack.sandbox.state.publications)


async def test_assigned_contents_are_published_once_each_when_due(database_url, db):
    async with running_stack(database_url) as stack:
        profile_id = await make_profile(stack.allocator)
        await stack.allocator.SetSchedule(
            apb.SetScheduleRequest(
                profile_id=profile_id,
                platform=apb.PLATFORM_INSTAGRAM,
                slots=[apb.Slot(local_time="09:00")],
            )
        )
        tiktok = [await assign(stack.allocator, profile_id) for _ in range(10)]
        instagram = [
            await assign(stack.allocator, profile_id, platform=apb.PLATFORM_INSTAGRAM)
            for _ in range(5)
        ]
        uploads = [await settled(stack, a.content_id) for a in tiktok + instagram]
        assert {u.state for u in uploads} == {UPLOADED}
        assert all(u.post_url.startswith("https://www.") for u in uploads)
        assert published(stack) == Counter({a.content_id: 1 for a in tiktok + instagram})
        modes = {
            (r["form"]["platform[]"], r["form"]["async_upload"])
            for r in stack.sandbox.state.requests
        }
        assert modes == {("tiktok", "false"), ("instagram", "true")}  # Instagram goes async
    assert db.execute("select count(*) from upload_successes").fetchone() == (15,)


async def test_a_504_after_the_upload_went_through_ends_uploaded_once(database_url):
    async with running_stack(database_url) as stack:
        stack.sandbox.state.dedupe = False  # only our reconciliation stands between us and a twin
        stack.sandbox.state.queue_faults("tiktok", "504_after")
        profile_id = await make_profile(stack.allocator)
        content = await assign(stack.allocator, profile_id)
        upload = await settled(stack, content.content_id)
        assert upload.state == UPLOADED
        assert published(stack) == Counter({content.content_id: 1})
        assert [(a.outcome, a.http_status) for a in upload.attempts] == [
            ("publish: unknown", 504),
            ("reconcile: published", 200),
        ]
        assert upload.attempts[0].request_id == upload.attempts[1].request_id


@pytest.mark.parametrize("status", ["400", "401", "403"])
async def test_a_permanent_refusal_fails_at_once_with_the_reason(database_url, status):
    async with running_stack(database_url) as stack:
        stack.sandbox.state.queue_faults("tiktok", status)
        profile_id = await make_profile(stack.allocator)
        content = await assign(stack.allocator, profile_id)
        upload = await settled(stack, content.content_id)
        stack.clock.advance(timedelta(days=1))  # time enough for any retry, were there one
        assert await stack.uploader_server.claimer.claim_due() == []
        again = await stack.uploader.GetUpload(upb.GetUploadRequest(content_id=content.content_id))
    assert upload.state == FAILED
    assert f"HTTP {status}" in upload.failure_reason
    assert len(again.attempts) == 1
    assert again.retry_count == 0
    assert published(stack) == Counter()


async def test_exhausted_retries_move_the_content_through_the_allocator_then_publish(
    database_url, db
):
    async with running_stack(database_url) as stack:
        stack.sandbox.state.queue_faults("tiktok", "500", "502", "503", "500")
        profile_id = await make_profile(stack.allocator)
        content = await assign(stack.allocator, profile_id)
        upload = await settled(stack, content.content_id)
    assert upload.state == UPLOADED
    assert published(stack) == Counter({content.content_id: 1})
    assert [a.http_status for a in upload.attempts] == [500, 502, 503, 500, 200]
    # The Allocator moved it once (here back into the same slot: it is still the earliest free).
    moved = "select reschedule_count from contents where content_id = %s"
    assert db.execute(moved, (content.content_id,)).fetchone() == (1,)


async def test_an_unreachable_allocator_leaves_the_content_awaiting_a_slot_not_lost(database_url):
    with unanswered_address() as dead:
        async with running_stack(database_url, allocator_addr=dead) as stack:
            stack.sandbox.state.queue_faults("tiktok", *["500"] * 4)
            profile_id = await make_profile(stack.allocator)
            content = await assign(stack.allocator, profile_id)
            upload = await settled(stack, content.content_id, states=(AWAITING_SLOT,))
    assert len(upload.attempts) == 4
    assert upload.retry_count == 3  # the ladder's length: nothing pushed past it
    # Asked again after the documented 30 s (stored times on the Uploader's standing clock).
    asked_at = upload.attempts[-1].finished_at.ToDatetime()
    assert upload.next_retry_at.ToDatetime() == asked_at + timedelta(seconds=30)


async def test_operators_can_look_pause_publish_now_cancel_and_retry(database_url):
    async with running_stack(database_url, ahead=timedelta(0)) as stack:
        profile_id = await make_profile(stack.allocator)
        first, second = [await assign(stack.allocator, profile_id) for _ in range(2)]
        key: dict[str, Any] = {"profile_id": profile_id, "platform": apb.PLATFORM_TIKTOK}

        paused = await stack.uploader.PauseProfile(upb.PauseProfileRequest(**key))
        assert paused.paused
        now = await stack.uploader.UploadNow(upb.UploadNowRequest(content_id=first.content_id))
        assert now.state == upb.UPLOAD_STATE_SCHEDULED
        assert await stack.uploader_server.claimer.claim_due() == []  # paused: nothing goes out
        assert published(stack) == Counter()
        resumed = await stack.uploader.ResumeProfile(upb.ResumeProfileRequest(**key))
        assert not resumed.paused
        assert (await settled(stack, first.content_id)).state == UPLOADED

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stack.uploader.UploadNow(upb.UploadNowRequest(content_id=first.content_id))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert refused.value.details() == (
            f"content {first.content_id} is uploaded; UploadNow needs one of: "
            "retry_pending, scheduled"
        )

        cancelled = await stack.uploader.CancelUpload(
            upb.CancelUploadRequest(content_id=second.content_id, reason="pulled")
        )
        assert cancelled.state == upb.UPLOAD_STATE_CANCELLED

        listed = await stack.uploader.ListUploads(
            upb.ListUploadsRequest(profile_id=profile_id, states=[UPLOADED])
        )
        assert [u.content_id for u in listed.uploads] == [first.content_id]

        stack.sandbox.state.queue_faults("tiktok", "400")
        third = await assign(stack.allocator, profile_id, video())
        await stack.uploader.UploadNow(upb.UploadNowRequest(content_id=third.content_id))
        assert (await settled(stack, third.content_id)).state == FAILED
        retried = await stack.uploader.RetryUpload(
            upb.RetryUploadRequest(content_id=third.content_id)
        )
        assert retried.state in (upb.UPLOAD_STATE_SCHEDULED, upb.UPLOAD_STATE_UPLOADING)
        assert (await settled(stack, third.content_id)).state == UPLOADED  # its new slot is due


@pytest.mark.parametrize(
    ("method", "request_", "code"),
    [
        ("GetUpload", upb.GetUploadRequest(content_id="nope"), grpc.StatusCode.INVALID_ARGUMENT),
        (
            "GetUpload",
            upb.GetUploadRequest(content_id="6c1b3c0e-2f7e-4a61-9d0e-0d3c1f2b7e61"),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            "PauseProfile",
            upb.PauseProfileRequest(
                profile_id="6c1b3c0e-2f7e-4a61-9d0e-0d3c1f2b7e61", platform=apb.PLATFORM_TIKTOK
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            "PauseProfile",
            upb.PauseProfileRequest(profile_id="6c1b3c0e-2f7e-4a61-9d0e-0d3c1f2b7e61"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "ListUploads",
            upb.ListUploadsRequest(
                profile_id="6c1b3c0e-2f7e-4a61-9d0e-0d3c1f2b7e61",
                states=[42],  # type: ignore[list-item]
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        ("RetryUpload", upb.RetryUploadRequest(), grpc.StatusCode.INVALID_ARGUMENT),
        (
            "CancelUpload",
            upb.CancelUploadRequest(content_id="6c1b3c0e-2f7e-4a61-9d0e-0d3c1f2b7e61"),
            grpc.StatusCode.NOT_FOUND,
        ),
    ],
)
async def test_bad_operator_requests_get_a_precise_status(database_url, method, request_, code):
    async with running_stack(database_url) as stack:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await getattr(stack.uploader, method)(request_)
    assert refused.value.code() == code


async def test_a_slot_missed_by_too_much_is_moved_through_the_allocator_not_published_late(
    database_url, db
):
    async with running_stack(
        database_url, ahead=timedelta(0), max_lateness=timedelta(hours=1)
    ) as stack:
        profile_id = await make_profile(stack.allocator)
        content = await assign(stack.allocator, profile_id)
        # The service was down: the slot passed three hours ago.
        db.execute(
            "update contents set scheduled_at = now() - interval '3 hours' where content_id = %s",
            (content.content_id,),
        )
        stack.uploader_server.claimer.wake()
        deadline = time.monotonic() + 20
        moved = 0
        while moved == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # real: polls the real stack (see SteeredClock)
            (moved,) = db.execute(
                "select reschedule_count from contents where content_id = %s",
                (content.content_id,),
            ).fetchone()
        upload = await stack.uploader.GetUpload(upb.GetUploadRequest(content_id=content.content_id))
    assert moved == 1
    assert upload.state == upb.UPLOAD_STATE_SCHEDULED
    assert upload.scheduled_at.ToDatetime(tzinfo=UTC) > datetime.now(UTC)
    assert published(stack) == Counter()
    assert upload.attempts == []  # nothing was sent for the missed slot


async def test_a_job_still_pending_past_the_limit_fails_for_a_person_never_retried(database_url):
    slow_poll = {
        platform: replace(policy, poll_give_up=60)
        for platform, policy in production_policies().items()
    }
    async with running_stack(database_url, policies=slow_poll) as stack:
        stack.sandbox.state.async_seconds = 30  # the job does not finish while we watch
        profile_id = await make_profile(stack.allocator, platform=apb.PLATFORM_INSTAGRAM)
        content = await assign(stack.allocator, profile_id, platform=apb.PLATFORM_INSTAGRAM)
        upload = await settled(stack, content.content_id)
    assert upload.state == FAILED
    assert "still pending at Upload-Post" in upload.failure_reason
    assert "check the platform before RetryUpload" in upload.failure_reason
    publishes = [a for a in upload.attempts if a.outcome.startswith("publish")]
    assert len(publishes) == 1  # never sent again while the first job may still post


async def test_an_allocator_that_refuses_a_new_slot_fails_the_content_with_its_reason(
    database_url,
):
    async with running_stack(database_url) as stack:
        stack.sandbox.state.queue_faults("tiktok", *["500"] * 4)
        profile_id = await make_profile(stack.allocator)
        content = await assign(stack.allocator, profile_id)
        await stack.allocator.SetSchedule(  # no slots left to move it to
            apb.SetScheduleRequest(profile_id=profile_id, platform=apb.PLATFORM_TIKTOK)
        )
        upload = await settled(stack, content.content_id)
    assert upload.state == FAILED
    assert "the Allocator refused" in upload.failure_reason
    assert "no tiktok slots" in upload.failure_reason


async def test_upload_now_that_would_overfill_a_day_is_refused_naming_the_cap(database_url, db):
    async with running_stack(
        database_url, ahead=timedelta(0), daily_caps={Platform.TIKTOK: 2}
    ) as stack:
        profile_id = await make_profile(stack.allocator, timezone="UTC", slots=["02:00", "06:00"])
        first, _, third = [await assign(stack.allocator, profile_id) for _ in range(3)]
        # The cap holds the queue to two a day: the third waits for the next day's 02:00.
        assert third.scheduled_at.ToDatetime() - first.scheduled_at.ToDatetime() == timedelta(
            days=1
        )
        before = db.execute("select * from contents order by content_id").fetchall()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            # Now, with the first two queued within the next 24 hours: one too many.
            await stack.uploader.UploadNow(upb.UploadNowRequest(content_id=third.content_id))
        after = db.execute("select * from contents order by content_id").fetchall()
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    earliest = third.scheduled_at.ToDatetime()  # 24 h after the first, which is its own slot
    assert refused.value.details() == (
        f"publishing {third.content_id} now would put more than 2 tiktok posts into 24 hours "
        f"(UPLOAD_POST_DAILY_CAP_TIKTOK); the earliest it may go is {earliest:%Y-%m-%d %H:%M} UTC"
    )
    assert after == before
