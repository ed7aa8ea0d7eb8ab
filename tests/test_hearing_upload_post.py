"""Upload-Post's webhooks heard end to end: the real Uploader with its receiver on, the sandbox
registered with it and sending as Upload-Post sends (late, repeated, out of order). The
Uploader's clock stands still here, so a status poll never falls due by itself: what settles a
job is the webhook, and the sandbox's record shows whether anything was asked."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import httpx

from queuelabs.allocator.v1 import allocator_pb2 as apb
from queuelabs.uploader.v1 import uploader_pb2 as upb
from sandbox.accounts import AccountState
from tests.support.calls import assign, make_profile
from tests.support.polling import until_found
from tests.support.stack import Stack, running_stack, settled
from uploader.settings import NoticeSettings

USER = "InfoKetua"  # make_profile's Upload-Post user
UPLOADED = upb.UPLOAD_STATE_UPLOADED
PROCESSING = upb.UPLOAD_STATE_PROCESSING
SECRET = secrets.token_urlsafe(32)


@asynccontextmanager
async def hearing_stack(database_url: str, **faults: object) -> AsyncIterator[Stack]:
    """The stack with the Uploader's receiver on, registered with the sandbox as a caller would
    (POST .../uploadposts/users/notifications), the sandbox's delivery `faults` set."""
    notices = NoticeSettings(listen="127.0.0.1:0", secret=SECRET)
    async with running_stack(database_url, notices=notices) as stack:
        assert stack.uploader_server.notices is not None
        port = stack.uploader_server.notices.port
        sandbox = stack.sandbox.base_url.removesuffix("/api")
        async with httpx.AsyncClient(timeout=10) as http:
            registered = await http.post(
                f"{stack.sandbox.base_url}/uploadposts/users/notifications",
                headers={"Authorization": "Apikey sandbox-test-key"},
                json={
                    "channels": {"webhook": True, "telegram": False},
                    "webhook_url": f"http://127.0.0.1:{port}/upload-post/webhooks/{SECRET}",
                },
            )
            assert registered.status_code == 200, registered.text
            if faults:
                changed = await http.post(
                    f"{sandbox}/_sandbox/settings", json={"notifications": faults}
                )
                assert changed.status_code == 200, changed.text
        yield stack


def asked(stack: Stack, path: str) -> int:
    """Requests the sandbox received at `path`."""
    return sum(1 for entry in stack.sandbox.state.log if entry.path == path)


def published(stack: Stack) -> Counter[str]:
    return Counter(p.idempotency_key.split(":")[1] for p in stack.sandbox.state.publications)


async def state_becomes(stack: Stack, content_id: str, state: int) -> upb.Upload:
    found: list[upb.Upload] = []

    async def reached() -> bool:
        found[:] = [await stack.uploader.GetUpload(upb.GetUploadRequest(content_id=content_id))]
        return found[0].state == state

    await until_found(reached)
    return found[0]


async def instagram_profile(stack: Stack) -> str:
    return await make_profile(stack.allocator, platform=apb.PLATFORM_INSTAGRAM)


async def test_an_accepted_job_is_settled_by_its_webhook_with_no_status_request(database_url):
    async with hearing_stack(database_url) as stack:
        profile_id = await instagram_profile(stack)
        content = await assign(stack.allocator, profile_id, platform=apb.PLATFORM_INSTAGRAM)
        upload = await state_becomes(stack, content.content_id, UPLOADED)
        assert asked(stack, "/api/uploadposts/status") == 0
        assert asked(stack, "/api/uploadposts/history") == 0
        assert [a.outcome for a in upload.attempts] == ["publish: accepted", "notice: published"]
        assert upload.post_url.startswith("https://www.instagram.com/")
        cursor = await stack.db.execute(
            "select type, data->>'request_id' from events where content_id = %s order by xid, seq",
            (content.content_id,),
        )
        told = await cursor.fetchall()
        job = upload.attempts[0].request_id
        assert told == [
            ("content.assigned", None),
            ("upload.processing", job),
            ("upload.published", job),
        ]


async def test_a_webhook_that_beats_the_accepted_answer_is_kept_for_it(database_url):
    # The sandbox finishes the job before it answers the POST: the webhook finds the content
    # still uploading, and the "accepted" answer, once written, finds the webhook.
    async with hearing_stack(database_url) as stack:
        stack.sandbox.state.async_seconds = 0.05
        stack.sandbox.state.queue_faults("instagram", "slow:1")
        profile_id = await instagram_profile(stack)
        content = await assign(stack.allocator, profile_id, platform=apb.PLATFORM_INSTAGRAM)
        upload = await state_becomes(stack, content.content_id, UPLOADED)
        found = await stack.db.execute(
            "select n.received_at, a.finished_at, n.job_id, a.idempotency_key"
            "  from upload_attempts a"
            "  join upload_post_notices n"
            "    on n.job_id = a.request_id or n.job_id = a.upstream_request_id"
            " where a.content_id = %s and a.kind = 'publish'",
            (content.content_id,),
        )
        [(received_at, finished_at, job, key)] = await found.fetchall()
        assert asked(stack, "/api/uploadposts/status") == 0
        assert [a.outcome for a in upload.attempts] == ["publish: accepted", "notice: published"]
    # The notice was kept no later than the answer was written. Both times are the Uploader's
    # clock, which stands still here (tests/support/stack.py): the same instant, so they cannot
    # say which came first. The sandbox's own (real) clock does: it began the webhook's delivery
    # (which the Uploader took in: 200) before it answered the POST, a second late (`slow:1`).
    assert isinstance(received_at, datetime)
    assert isinstance(finished_at, datetime)
    assert received_at <= finished_at
    [delivered] = [d for d in stack.sandbox.state.sender.deliveries if d.job_id == job]
    [answered] = [e for e in stack.sandbox.state.log if e.method == "POST" and e.key == key]
    assert delivered.status == 200
    assert delivered.at < answered.at


async def test_repeated_webhooks_settle_once(database_url):
    async with hearing_stack(database_url, repeat=3) as stack:
        profile_id = await instagram_profile(stack)
        contents = [
            (await assign(stack.allocator, profile_id, platform=apb.PLATFORM_INSTAGRAM)).content_id
            for _ in range(3)
        ]
        for content_id in contents:
            await state_becomes(stack, content_id, UPLOADED)

        async def all_delivered() -> bool:
            return len(stack.sandbox.state.sender.deliveries) >= 9

        await until_found(all_delivered)
        assert published(stack) == Counter({c: 1 for c in contents})
        cursor = await stack.db.execute(
            "select count(*) from events where type = 'upload.published'"
        )
        assert await cursor.fetchone() == (3,)
        assert asked(stack, "/api/uploadposts/status") == 0


async def test_a_lost_webhook_leaves_the_job_to_polling(database_url):
    async with hearing_stack(database_url, drop=1.0) as stack:
        profile_id = await instagram_profile(stack)
        content = await assign(stack.allocator, profile_id, platform=apb.PLATFORM_INSTAGRAM)
        await state_becomes(stack, content.content_id, PROCESSING)
        upload = await settled(stack, content.content_id)  # moves the clock to each poll
        assert upload.state == UPLOADED
        assert asked(stack, "/api/uploadposts/status") >= 1
        assert published(stack) == Counter({content.content_id: 1})


async def account_rows(stack: Stack, profile_id: str) -> list[tuple]:
    cursor = await stack.db.execute(
        "select reconnect_since is not null, reconnect_source from accounts"
        " where profile_id = %s and platform = 'tiktok'",
        (profile_id,),
    )
    return await cursor.fetchall()


async def test_upload_posts_account_webhooks_mark_and_clear_the_account(database_url):
    async with hearing_stack(database_url) as stack:
        profile_id = await make_profile(stack.allocator)
        stack.sandbox.state.set_account(USER, "tiktok", AccountState.REAUTH_REQUIRED)

        async def marked() -> bool:
            return await account_rows(stack, profile_id) == [
                (True, "Upload-Post webhook social_account_reauth_required")
            ]

        await until_found(marked)
        content = await assign(stack.allocator, profile_id)
        await stack.uploader_server.claimer.claim_due()
        assert not [r for r in stack.sandbox.state.requests if r["form"]["platform[]"] == "tiktok"]

        stack.sandbox.state.set_account(USER, "tiktok", AccountState.CONNECTED)
        upload = await settled(stack, content.content_id)  # goes once the account is back
        assert upload.state == UPLOADED
        assert (await account_rows(stack, profile_id))[0][0] is False
        cursor = await stack.db.execute(
            "select type from events where profile_id = %s and type like 'account.%%'"
            " order by xid, seq",
            (profile_id,),
        )
        assert [t for (t,) in await cursor.fetchall()] == [
            "account.reconnect_required",
            "account.reconnected",
        ]


async def test_an_account_webhook_that_comes_late_does_not_undo_a_newer_one(database_url):
    async with hearing_stack(database_url, reorder=True, reorder_seconds=60) as stack:
        profile_id = await make_profile(stack.allocator)
        stack.sandbox.state.set_account(USER, "tiktok", AccountState.REAUTH_REQUIRED)
        stack.sandbox.state.set_account(USER, "tiktok", AccountState.CONNECTED)
        assert stack.sandbox.state.sender.flush() == 2  # sent newest first: connected, then reauth

        async def both_arrived() -> bool:
            return len(stack.sandbox.state.sender.deliveries) == 2

        await until_found(both_arrived)
        await until_found(lambda: _settled_rows(stack, profile_id))
        assert (await account_rows(stack, profile_id))[0][0] is False  # connected stands
        cursor = await stack.db.execute(
            "select count(*) from events where profile_id = %s and type like 'account.%%'",
            (profile_id,),
        )
        assert await cursor.fetchone() == (0,)  # nothing changed, nothing told


async def _settled_rows(stack: Stack, profile_id: str) -> bool:
    return bool(await account_rows(stack, profile_id))
