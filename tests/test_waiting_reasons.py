"""Why a content waits, as an operator sees it: every reason through GetUpload or ListUploads on
a real Uploader (real PostgreSQL, the Allocator, the Upload-Post sandbox), and the `queuelabs
waiting` command reading them. The Uploader's clock stands still unless a test moves it (see
tests/support/stack.py), so a content that waits goes on waiting while it is looked at."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

import uploader
from queuelabs.allocator.v1 import allocator_pb2 as apb
from queuelabs.security import Security
from queuelabs.sql import QueryRunner
from queuelabs.uploader.v1 import uploader_pb2 as upb
from tests.support.calls import assign, instant, make_profile
from tests.support.processes import QUEUELABS, unanswered_address
from tests.support.stack import Stack, running_stack, settled
from uploader.pacing import Limits

S = upb.UploadState
W = upb.WaitReason
# The window the Uploader counts a minute's requests in: a minute and a two-second margin.
WINDOW = timedelta(seconds=62)


async def reached(
    stack: Stack,
    content_id: str,
    state: int,
    metadata: Sequence[tuple[str, str]] = (),
    seconds: float = 30,
) -> upb.Upload:
    """Polls GetUpload until the content is in `state`, leaving the clock where it stands."""
    deadline = time.monotonic() + seconds
    while True:
        upload = await stack.uploader.GetUpload(
            upb.GetUploadRequest(content_id=content_id), metadata=metadata
        )
        if upload.state == state:
            return upload
        if time.monotonic() > deadline:
            raise AssertionError(f"still {S.Name(upload.state)}:\n{upload}")
        stack.uploader_server.claimer.wake()
        await asyncio.sleep(0.02)  # real: polls real servers over gRPC (see SteeredClock)


async def left_behind(
    stack: Stack,
    content_ids: list[str],
    state: upb.UploadState.ValueType,
    count: int,
    seconds: float = 30,
) -> list[str]:
    """Polls until `count` of the contents are in `state`; the others' ids."""
    deadline = time.monotonic() + seconds
    while True:
        states = {c: (await get(stack, c)).state for c in content_ids}
        if sum(s == state for s in states.values()) >= count:
            return [c for c in content_ids if states[c] != state]
        if time.monotonic() > deadline:
            raise AssertionError(f"not {count} in {S.Name(state)}: {states}")
        stack.uploader_server.claimer.wake()
        await asyncio.sleep(0.02)  # real: polls real servers over gRPC (see SteeredClock)


def until(upload: upb.Upload) -> datetime | None:
    return instant(upload.waiting.until) if upload.waiting.HasField("until") else None


def ahead_of(stack: Stack, value: datetime | None) -> bool:
    """Whether `value` is later than the Uploader's now."""
    return value is not None and value > stack.clock.now()


def next_retry_at(upload: upb.Upload) -> datetime | None:
    return instant(upload.next_retry_at) if upload.HasField("next_retry_at") else None


async def get(stack: Stack, content_id: str) -> upb.Upload:
    return await stack.uploader.GetUpload(upb.GetUploadRequest(content_id=content_id))


async def test_three_upload_nows_for_one_user_the_third_waits_for_its_rate_never_in_the_past(
    database_url,
):
    # The case: Upload-Post lets each user post twice a minute.
    async with running_stack(
        database_url, ahead=timedelta(0), limits=Limits(100, posts_per_minute_per_profile=2)
    ) as stack:
        profile_id = await make_profile(stack.allocator)
        contents = [(await assign(stack.allocator, profile_id)).content_id for _ in range(3)]
        for content_id in contents:
            await stack.uploader.UploadNow(upb.UploadNowRequest(content_id=content_id))
        # They go one at a time (one account); which two go first depends on when the claimer
        # woke, so the one held back is the one left.
        [third] = await left_behind(stack, contents, S.UPLOAD_STATE_UPLOADED, count=2)
        held = await get(stack, third)
        posted = await stack.db.execute(
            "select min(sent_at) from upload_post_requests where kind = 'post'"
        )
        (oldest,) = await posted.fetchone() or (None,)
        assert isinstance(oldest, datetime)

        assert held.state == S.UPLOAD_STATE_SCHEDULED
        assert held.waiting.reason == W.WAIT_REASON_PROFILE_RATE
        assert until(held) == oldest + WINDOW
        assert ahead_of(stack, until(held))
        assert "sent 2 posts in the last minute" in held.waiting.detail

        # Half a minute on, UploadNow's stored time is in the past; what is reported is not.
        stack.clock.advance(timedelta(seconds=30))
        later = await get(stack, third)
        assert later.waiting.reason == W.WAIT_REASON_PROFILE_RATE
        assert next_retry_at(later) == oldest + WINDOW
        assert ahead_of(stack, next_retry_at(later))

        # Once the oldest post has left the window, it goes.
        stack.clock.set(oldest + WINDOW)
        done = await settled(stack, third)
    assert done.state == S.UPLOAD_STATE_UPLOADED
    assert not done.HasField("waiting")


async def test_a_content_before_its_slot_waits_for_it_in_get_and_in_list(database_url):
    async with running_stack(database_url, ahead=timedelta(0)) as stack:
        profile_id = await make_profile(stack.allocator)
        content = await assign(stack.allocator, profile_id)
        upload = await get(stack, content.content_id)
        listed = await stack.uploader.ListUploads(upb.ListUploadsRequest(profile_id=profile_id))
    assert upload.state == S.UPLOAD_STATE_SCHEDULED
    assert upload.waiting.reason == W.WAIT_REASON_SLOT
    assert until(upload) == instant(content.scheduled_at)
    assert not upload.HasField("next_retry_at")  # nothing stored: its slot is its next look
    assert [u.waiting for u in listed.uploads] == [upload.waiting]


TOKENS = {"ops-ana": "tok-ana", "ops-budi": "tok-budi"}
ANA = [("authorization", "Bearer tok-ana")]
BUDI = [("authorization", "Bearer tok-budi")]


async def test_a_pause_says_who_paused_it_when_and_why_and_holds_the_content(database_url):
    async with running_stack(database_url, security=Security(tokens=TOKENS)) as stack:
        profile_id = await make_profile(stack.allocator)
        key: dict[str, Any] = {"profile_id": profile_id, "platform": apb.PLATFORM_TIKTOK}
        paused = await stack.uploader.PauseProfile(
            upb.PauseProfileRequest(**key, reason="Upload-Post is down for TikTok"), metadata=ANA
        )
        again = await stack.uploader.PauseProfile(
            upb.PauseProfileRequest(**key, reason="another reason"), metadata=BUDI
        )
        content = await assign(stack.allocator, profile_id)  # due at once: the clock is ahead
        upload = await reached(stack, content.content_id, S.UPLOAD_STATE_SCHEDULED, ANA)
        resumed = await stack.uploader.ResumeProfile(upb.ResumeProfileRequest(**key), metadata=ANA)
    assert (paused.paused, paused.paused_by, paused.reason) == (
        True,
        "ops-ana",
        "Upload-Post is down for TikTok",
    )
    assert again == paused  # a key paused already keeps its pause: whose, since when, why
    at = instant(paused.paused_at)
    assert upload.waiting == upb.Waiting(
        reason=W.WAIT_REASON_PAUSED,
        detail=f"paused by ops-ana at {at:%Y-%m-%d %H:%M:%S} UTC: Upload-Post is down for TikTok",
    )
    assert (resumed.paused, resumed.paused_by, resumed.reason) == (False, "", "")


async def test_a_pause_with_auth_off_names_nobody_and_a_long_reason_is_refused(database_url):
    async with running_stack(database_url) as stack:
        profile_id = await make_profile(stack.allocator)
        key: dict[str, Any] = {"profile_id": profile_id, "platform": apb.PLATFORM_TIKTOK}
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stack.uploader.PauseProfile(upb.PauseProfileRequest(**key, reason="x" * 1001))
        listed = await stack.uploader.ListUploads(upb.ListUploadsRequest(profile_id=profile_id))
        paused = await stack.uploader.PauseProfile(upb.PauseProfileRequest(**key))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "reason: is 1001 characters long; at most 1000"
    assert listed.uploads == []
    assert (paused.paused, paused.paused_by, paused.reason) == (True, "", "")


async def hold_account(stack: Stack, profile_id: str, **columns: object) -> None:
    """Writes the account's row as the Uploader keeps it (the lead's code sets it from
    Upload-Post's answers and webhooks; set by hand here)."""
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    await stack.db.execute(
        f"insert into accounts (profile_id, platform, {names}) values (%s, 'tiktok', {marks})",
        (profile_id, *columns.values()),
    )


async def test_an_account_to_reconnect_holds_its_contents_for_a_person(database_url):
    async with running_stack(database_url) as stack:
        profile_id = await make_profile(stack.allocator)
        since = stack.clock.now() - timedelta(minutes=10)
        await hold_account(
            stack, profile_id, reconnect_since=since, reconnect_reason="token revoked"
        )
        content = await assign(stack.allocator, profile_id)  # due at once
        stack.uploader_server.claimer.wake()
        upload = await get(stack, content.content_id)
    assert upload.state == S.UPLOAD_STATE_SCHEDULED
    assert upload.waiting.reason == W.WAIT_REASON_RECONNECT
    assert not upload.waiting.HasField("until")
    assert f"since {since:%Y-%m-%d %H:%M:%S} UTC: token revoked" in upload.waiting.detail
    assert upload.attempts == []


async def test_a_full_daily_cap_holds_its_contents_until_a_place_frees(database_url):
    async with running_stack(database_url) as stack:
        profile_id = await make_profile(stack.allocator)
        frees = stack.clock.now() + timedelta(hours=3)
        await hold_account(stack, profile_id, capped_until=frees, cap_reason="15 posts in 24 h")
        content = await assign(stack.allocator, profile_id)  # due at once
        stack.uploader_server.claimer.wake()
        upload = await get(stack, content.content_id)
    assert upload.waiting.reason == W.WAIT_REASON_DAILY_CAP
    assert until(upload) == frees
    assert "15 posts in 24 h" in upload.waiting.detail
    assert upload.attempts == []


async def test_a_retry_waits_for_its_time_saying_what_failed(database_url):
    async with running_stack(database_url) as stack:
        stack.sandbox.state.queue_faults("tiktok", "500")
        profile_id = await make_profile(stack.allocator)
        content = await assign(stack.allocator, profile_id)
        upload = await reached(stack, content.content_id, S.UPLOAD_STATE_RETRY_PENDING)
    assert upload.waiting.reason == W.WAIT_REASON_RETRY
    assert until(upload) == next_retry_at(upload)
    assert "500" in upload.waiting.detail


async def test_upload_posts_call_for_a_pause_holds_every_due_content_until_then(database_url):
    async with running_stack(database_url) as stack:
        stack.sandbox.state.queue_faults("tiktok", "429:40")  # the plan's rate: wait 40 s
        first = await make_profile(stack.allocator)
        refused = await assign(stack.allocator, first)
        await reached(stack, refused.content_id, S.UPLOAD_STATE_RETRY_PENDING)
        other = await assign(stack.allocator, await make_profile(stack.allocator))
        stack.uploader_server.claimer.wake()
        upload = await get(stack, other.content_id)
    assert upload.state == S.UPLOAD_STATE_SCHEDULED
    assert upload.waiting.reason == W.WAIT_REASON_PLAN_RATE
    assert until(upload) == stack.clock.now() + timedelta(seconds=40)
    assert "HTTP 429" in upload.waiting.detail


async def test_the_plans_posts_used_up_hold_the_next_until_the_minute_frees(database_url):
    # A plan of two requests a minute keeps one for look-ups: one post a minute.
    async with running_stack(database_url, limits=Limits(2, 100)) as stack:
        first = await assign(stack.allocator, await make_profile(stack.allocator))
        await reached(stack, first.content_id, S.UPLOAD_STATE_UPLOADED)
        other = await assign(stack.allocator, await make_profile(stack.allocator))
        stack.uploader_server.claimer.wake()
        upload = await get(stack, other.content_id)
        posted = await stack.db.execute("select min(sent_at) from upload_post_requests")
        (sent_at,) = await posted.fetchone() or (None,)
    assert upload.waiting.reason == W.WAIT_REASON_PLAN_RATE
    assert isinstance(sent_at, datetime)
    assert until(upload) == sent_at + WINDOW
    assert "requests are used up" in upload.waiting.detail


async def test_a_job_upload_post_took_waits_for_its_word_naming_the_job(database_url):
    async with running_stack(database_url) as stack:
        profile_id = await make_profile(stack.allocator, platform=apb.PLATFORM_INSTAGRAM)
        content = await assign(stack.allocator, profile_id, platform=apb.PLATFORM_INSTAGRAM)
        upload = await reached(stack, content.content_id, S.UPLOAD_STATE_PROCESSING)
    [job] = [
        j for j in stack.sandbox.state.jobs.values() if content.content_id in j.idempotency_key
    ]
    assert upload.waiting.reason == W.WAIT_REASON_PROCESSING
    assert until(upload) == next_retry_at(upload)
    assert ahead_of(stack, until(upload))
    assert job.request_id in upload.waiting.detail


async def test_a_paused_keys_job_waits_for_the_resume_not_for_its_next_look(database_url):
    # No claim takes a paused key's contents, not even to poll: the pause is what it waits for.
    async with running_stack(database_url) as stack:
        profile_id = await make_profile(stack.allocator, platform=apb.PLATFORM_INSTAGRAM)
        key: dict[str, Any] = {"profile_id": profile_id, "platform": apb.PLATFORM_INSTAGRAM}
        content = await assign(stack.allocator, profile_id, platform=apb.PLATFORM_INSTAGRAM)
        looked = await reached(stack, content.content_id, S.UPLOAD_STATE_PROCESSING)
        paused = await stack.uploader.PauseProfile(
            upb.PauseProfileRequest(**key, reason="checking the account")
        )
        held = await get(stack, content.content_id)
        await stack.uploader.ResumeProfile(upb.ResumeProfileRequest(**key))
        done = await settled(stack, content.content_id)
    [job] = [
        j for j in stack.sandbox.state.jobs.values() if content.content_id in j.idempotency_key
    ]
    at = instant(paused.paused_at)
    assert looked.waiting.reason == W.WAIT_REASON_PROCESSING
    assert held.state == S.UPLOAD_STATE_PROCESSING
    assert held.waiting == upb.Waiting(
        reason=W.WAIT_REASON_PAUSED,
        detail=(
            f"paused by an unnamed caller at {at:%Y-%m-%d %H:%M:%S} UTC: checking the account; "
            f"then Upload-Post's job {job.request_id} is looked at"
        ),
    )
    assert done.state == S.UPLOAD_STATE_UPLOADED


async def test_a_call_whose_outcome_is_unknown_is_reconciled_at_its_next_look(database_url):
    async with running_stack(database_url) as stack:
        stack.sandbox.state.queue_faults("tiktok", "504_after")
        profile_id = await make_profile(stack.allocator)
        content = await assign(stack.allocator, profile_id)
        upload = await reached(stack, content.content_id, S.UPLOAD_STATE_UNKNOWN_OUTCOME)
    assert upload.waiting.reason == W.WAIT_REASON_RECONCILING
    assert until(upload) == next_retry_at(upload)
    assert ahead_of(stack, until(upload))


async def test_a_content_awaiting_a_slot_waits_for_the_allocator_saying_why(database_url):
    with unanswered_address() as dead:
        async with running_stack(database_url, allocator_addr=dead) as stack:
            stack.sandbox.state.queue_faults("tiktok", *["500"] * 4)
            profile_id = await make_profile(stack.allocator)
            content = await assign(stack.allocator, profile_id)
            upload = await settled(
                stack, content.content_id, states=(S.UPLOAD_STATE_AWAITING_SLOT,)
            )
    assert upload.waiting.reason == W.WAIT_REASON_NEW_SLOT
    assert until(upload) == next_retry_at(upload)
    assert upload.waiting.detail  # why it needs a slot, as stored


async def test_due_contents_are_next_in_line_one_at_a_time_per_account(database_url):
    async with running_stack(database_url, max_in_flight=1) as stack:
        stack.sandbox.state.released.clear()  # posting requests wait unanswered
        try:
            busy = await make_profile(stack.allocator)
            sending = await assign(stack.allocator, busy)
            await reached(stack, sending.content_id, S.UPLOAD_STATE_UPLOADING)
            behind = await assign(stack.allocator, busy)
            other = await assign(stack.allocator, await make_profile(stack.allocator))
            stack.uploader_server.claimer.wake()
            listed = await stack.uploader.ListUploads(
                upb.ListUploadsRequest(states=[S.UPLOAD_STATE_SCHEDULED, S.UPLOAD_STATE_UPLOADING])
            )
        finally:
            stack.sandbox.state.released.set()
    found = {u.content_id: u for u in listed.uploads}
    assert not found[sending.content_id].HasField("waiting")
    assert found[behind.content_id].waiting.reason == W.WAIT_REASON_NEXT_IN_LINE
    assert "being sent" in found[behind.content_id].waiting.detail
    assert found[other.content_id].waiting == upb.Waiting(
        reason=W.WAIT_REASON_NEXT_IN_LINE, detail="due: the next free worker takes it"
    )


# --- queuelabs waiting -------------------------------------------------------------------------


async def queuelabs_waiting(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AUTH_TOKENS", "ALLOCATOR_TOKEN")}
    process = await asyncio.create_subprocess_exec(
        *QUEUELABS,
        "waiting",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_waiting_command_counts_what_each_account_waits_for(database_url):
    async with running_stack(database_url, ahead=timedelta(0)) as stack:
        later = await make_profile(stack.allocator)
        # The paused profile's id sorts after the other's: it is listed first for its reason.
        paused = "ffffffff-ffff-4fff-8fff-ffffffffffff"
        await stack.allocator.UpsertProfile(
            apb.UpsertProfileRequest(
                profile_id=paused, name="Last", upload_post_user="last", timezone="Asia/Jakarta"
            )
        )
        await stack.allocator.SetSchedule(
            apb.SetScheduleRequest(
                profile_id=paused,
                platform=apb.PLATFORM_TIKTOK,
                slots=[apb.Slot(local_time="09:00")],
            )
        )
        await stack.uploader.PauseProfile(
            upb.PauseProfileRequest(
                profile_id=paused, platform=apb.PLATFORM_TIKTOK, reason="checking the account"
            )
        )
        for _ in range(2):
            await assign(stack.allocator, paused)
        slots = [await assign(stack.allocator, later) for _ in range(3)]
        address = f"127.0.0.1:{stack.uploader_server.port}"
        code, out, err = await queuelabs_waiting("--uploader", address)
        one_code, one, _ = await queuelabs_waiting(
            "--uploader", address, "--profile", later, "--platform", "tiktok"
        )
        bad_code, bad, _ = await queuelabs_waiting("--uploader", address, "--profile", "nope")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("5 content(s) in line at ")
    assert lines[0].endswith("; 2 wait for a person (paused, or an account to reconnect)")
    assert lines[2].split()[:5] == ["PROFILE", "PLATFORM", "WAITING", "FOR", "COUNT"]
    rows = {line.split()[0]: line for line in lines[3:]}
    assert list(rows) == [paused, later]  # what needs a person first
    assert rows[paused].split()[1:5] == ["tiktok", "paused", "(!)", "2"]
    assert "until resumed" in rows[paused]
    assert rows[paused].endswith(": checking the account")
    first_slot = instant(slots[0].scheduled_at)
    assert rows[later].split()[1:4] == ["tiktok", "slot", "3"]
    assert f"{first_slot:%H:%M:%S}" in rows[later] or f"{first_slot:%Y-%m-%d %H:%M}" in rows[later]
    assert one_code == 0
    assert one.splitlines()[0].startswith("3 content(s) in line at ")
    assert paused not in one
    assert bad_code == 1
    assert bad.strip() == f"{address}: INVALID_ARGUMENT: profile_id: 'nope' is not a UUID"


async def test_the_waiting_command_says_so_when_the_uploader_is_away():
    with unanswered_address() as nobody:
        code, out, _ = await queuelabs_waiting("--uploader", nobody)
    assert code == 1
    assert out.startswith(f"{nobody}: UNAVAILABLE")


# The statements that read why contents wait (the workers run others meanwhile).
WAITING_SQL = Path(uploader.__file__).with_name("waiting.sql").read_text()
WAITING_STATEMENTS = set(re.findall(r"^-- (\w+) --$", WAITING_SQL, re.MULTILINE))


async def test_a_page_reads_why_its_contents_wait_in_one_set_of_statements(
    database_url, monkeypatch
):
    ran: list[str] = []
    rows = QueryRunner._rows

    async def counted(self: QueryRunner, query: str, /, **params: Any) -> Any:
        ran.append(query)
        return await rows(self, query, **params)

    monkeypatch.setattr(QueryRunner, "_rows", counted)
    async with running_stack(database_url, ahead=timedelta(0)) as stack:
        profiles = [await make_profile(stack.allocator) for _ in range(3)]
        for profile_id in profiles:
            for _ in range(4):
                await assign(stack.allocator, profile_id)
        statements = []
        for page_size in (1, 12):
            ran.clear()
            page = await stack.uploader.ListUploads(upb.ListUploadsRequest(page_size=page_size))
            assert len(page.uploads) == page_size
            assert all(u.waiting.reason == W.WAIT_REASON_SLOT for u in page.uploads)
            statements.append(sorted(q for q in ran if q in WAITING_STATEMENTS))
    one, twelve = statements
    assert one == sorted(WAITING_STATEMENTS)  # each once
    assert twelve == one  # twelve contents of three accounts: as many statements as one
