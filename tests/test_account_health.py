"""A social account that must be reconnected, or whose daily cap is full, end to end: the real
Uploader, Allocator, PostgreSQL and the Upload-Post sandbox answering as Upload-Post answers a
dead token or a full cap. One dead account costs one request, not one per content; its contents
wait, keeping their slots, until it is reconnected or an operator resumes it."""

from __future__ import annotations

from collections import Counter

import psycopg

from queuelabs.allocator.v1 import allocator_pb2 as apb
from queuelabs.uploader.v1 import uploader_pb2 as upb
from sandbox.accounts import AccountState
from sandbox.limits import SandboxLimits
from tests.support.calls import assign, make_profile
from tests.support.polling import until_found
from tests.support.stack import Stack, running_stack, settled

USER = "InfoKetua"  # make_profile's Upload-Post user
SCHEDULED = upb.UPLOAD_STATE_SCHEDULED
UPLOADED = upb.UPLOAD_STATE_UPLOADED
RETRY_PENDING = upb.UPLOAD_STATE_RETRY_PENDING


def posts_to(stack: Stack, platform: str) -> int:
    """Posting requests the sandbox received for `platform`."""
    return sum(1 for r in stack.sandbox.state.requests if r["form"].get("platform[]") == platform)


async def fetch(db: psycopg.AsyncConnection, query: str, *args: object) -> list[tuple]:
    cursor = await db.execute(query, args)
    return await cursor.fetchall()


async def account_events(stack: Stack, profile_id: str) -> list[tuple]:
    return await fetch(
        stack.db,
        "select type, data->>'source' from events where type like 'account.%%'"
        " and profile_id = %s order by xid, seq",
        profile_id,
    )


async def reaches(stack: Stack, content_id: str, state: int) -> upb.Upload:
    """Waits until the content is in `state`, the Uploader's clock left where it is (`settled`
    moves it to each content's next moment, and a day later a full cap has freed)."""
    seen: list[upb.Upload] = []

    async def there() -> bool:
        seen[:] = [await stack.uploader.GetUpload(upb.GetUploadRequest(content_id=content_id))]
        return seen[0].state == state

    await until_found(there)
    return seen[0]


async def quiet_turns(stack: Stack, turns: int = 5) -> None:
    """Has the claimer look at the queue a few more times (it claims nothing held)."""
    for _ in range(turns):
        assert await stack.uploader_server.claimer.claim_due() == []


async def test_a_dead_account_costs_one_request_and_its_contents_wait_until_resumed(database_url):
    async with running_stack(database_url) as stack:
        stack.sandbox.state.set_account(USER, "tiktok", AccountState.REAUTH_REQUIRED)
        profile_id = await make_profile(stack.allocator)
        contents = [(await assign(stack.allocator, profile_id)).content_id for _ in range(4)]

        async def marked() -> bool:
            rows = await fetch(
                stack.db,
                "select reconnect_since is not null from accounts where profile_id = %s",
                profile_id,
            )
            return rows == [(True,)]

        await until_found(marked)
        await quiet_turns(stack)
        assert posts_to(stack, "tiktok") == 1  # the first answer held the other three back
        uploads = [
            await stack.uploader.GetUpload(upb.GetUploadRequest(content_id=c)) for c in contents
        ]
        assert {u.state for u in uploads} == {SCHEDULED}  # waiting, each in its slot
        [tried] = [u for u in uploads if u.attempts]
        assert tried.attempts[0].outcome == "publish: reconnect"
        assert tried.retry_count == 0  # not a try of its own retries
        assert await account_events(stack, profile_id) == [
            ("account.reconnect_required", "a publish answer")
        ]

        # Reconnected in Upload-Post, and an operator lets the account go.
        stack.sandbox.state.set_account(USER, "tiktok", AccountState.CONNECTED)
        await stack.uploader.ResumeProfile(
            upb.ResumeProfileRequest(profile_id=profile_id, platform=uploads[0].platform)
        )
        done = [await settled(stack, c) for c in contents]
        assert {u.state for u in done} == {UPLOADED}
        published = Counter(
            p.idempotency_key.split(":")[1] for p in stack.sandbox.state.publications
        )
        assert published == Counter({c: 1 for c in contents})
        assert (await account_events(stack, profile_id))[-1] == (
            "account.reconnected",
            "an operator's ResumeProfile",
        )


async def test_a_full_daily_cap_holds_the_account_until_the_window_frees(database_url):
    async with running_stack(database_url) as stack:
        stack.sandbox.state.meter.limits = SandboxLimits(daily_caps={"tiktok": 1})
        profile_id = await make_profile(stack.allocator)
        first, second, third = [
            (await assign(stack.allocator, profile_id)).content_id for _ in range(3)
        ]
        assert (await reaches(stack, first, UPLOADED)).state == UPLOADED
        capped = await reaches(stack, second, RETRY_PENDING)
        await quiet_turns(stack)
        assert posts_to(stack, "tiktok") == 2  # the one published, the one the cap refused
        assert capped.retry_count == 0  # a cap is no failure of the content's
        assert capped.attempts[-1].outcome == "publish: capped"
        [(until,)] = await fetch(
            stack.db, "select capped_until from accounts where profile_id = %s", profile_id
        )
        # The sandbox's window frees a day after the first publication (Retry-After, rounded).
        assert capped.next_retry_at.ToDatetime().timestamp() == until.timestamp()
        third_upload = await stack.uploader.GetUpload(upb.GetUploadRequest(content_id=third))
        assert third_upload.state == SCHEDULED
        assert not third_upload.attempts


async def test_a_dead_account_on_an_async_platform_costs_one_request_too(database_url):
    # Instagram answers "accepted" at once; the dead token shows only when the job fails. The
    # account takes one job at a time, so nothing more is sent before that.
    async with running_stack(database_url) as stack:
        stack.sandbox.state.set_account(USER, "instagram", AccountState.REAUTH_REQUIRED)
        profile_id = await make_profile(stack.allocator, platform=apb.PLATFORM_INSTAGRAM)
        contents = [
            (await assign(stack.allocator, profile_id, platform=apb.PLATFORM_INSTAGRAM)).content_id
            for _ in range(3)
        ]

        async def marked() -> bool:
            for content_id in contents:  # the first job's poll falls due in the Uploader's time
                await stack.advance_to_next_due(content_id)
            rows = await fetch(
                stack.db,
                "select reconnect_since is not null from accounts where profile_id = %s",
                profile_id,
            )
            return rows == [(True,)]

        await until_found(marked)
        await quiet_turns(stack)
        assert posts_to(stack, "instagram") == 1
        uploads = [
            await stack.uploader.GetUpload(upb.GetUploadRequest(content_id=c)) for c in contents
        ]
        assert {u.state for u in uploads} == {SCHEDULED}
