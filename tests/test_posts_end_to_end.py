"""Every kind of post end to end (the real Allocator and Uploader on PostgreSQL, the Upload-Post
sandbox over loopback): each is assigned through AssignNext with its media and typed options,
published to UPLOADED, and the sandbox saw exactly the fields expected, in order (read through
its /_sandbox/received endpoint); never a `scheduled_date`, never a field twice. The Upload
carries the platform's post id and URL from whichever path learnt them: the sync answer, the
status look-up (async), the history look-up, or Upload-Post's upload_completed webhook.

The expected forms are literals (Upload-Post's documented field names), not built by the code
under test."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import pytest
from psycopg.types.json import Jsonb

from queuelabs.allocator.v1 import allocator_pb2 as apb
from queuelabs.uploader.v1 import uploader_pb2 as upb
from tests.support.calls import assign, make_profile
from tests.support.stack import Stack, running_stack, settled
from tests.test_hearing_upload_post import asked, hearing_stack, state_becomes

UPLOADED = upb.UPLOAD_STATE_UPLOADED
CLIP = "https://cdn.example.com/clip.mp4"
P1, P2, P3 = (f"https://cdn.example.com/p{n}.jpg" for n in (1, 2, 3))


def photo(url: str) -> apb.MediaItem:
    return apb.MediaItem(url=url, type=apb.MEDIA_TYPE_PHOTO)


def a_video(url: str) -> apb.MediaItem:
    return apb.MediaItem(url=url, type=apb.MEDIA_TYPE_VIDEO)


def ours(platform: str, asynchronous: bool, title: str = "") -> list[list[str]]:
    """The fields the Uploader sets itself, first and in this order (request_id: any)."""
    fields = [["user", "InfoKetua"], ["platform[]", platform], ["request_id", "*"]]
    fields.append(["async_upload", "true" if asynchronous else "false"])
    return fields + ([["title", title]] if title else [])


async def received(stack: Stack) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.sandbox.port}") as http:
        answer = await http.get("/_sandbox/received")
    body: dict[str, Any] = answer.json()
    return body


def without_request_id(fields: list[list[str]]) -> list[list[str]]:
    return [[name, "*" if name == "request_id" else value] for name, value in fields]


# (case, platform, content, the path and the fields the sandbox must have received)
POSTS = [
    (
        "instagram carousel mixing photos and a video (async)",
        apb.PLATFORM_INSTAGRAM,
        apb.Content(
            media=[photo(P1), a_video(CLIP), photo(P2)],
            description="three of them",
            first_comment="#beach",
            alt_text="a beach at dusk",
            instagram=apb.InstagramOptions(collaborators=["budi", "citra"]),
        ),
        "/api/upload_photos",
        [
            *ours("instagram", True),
            ["description", "three of them"],
            ["photos[]", P1],
            ["photos[]", CLIP],
            ["photos[]", P2],
            ["first_comment", "#beach"],
            ["alt_text", "a beach at dusk"],
            ["collaborators", "budi,citra"],
        ],
    ),
    (
        "tiktok photo post with options",
        apb.PLATFORM_TIKTOK,
        apb.Content(
            media=[photo(P1), photo(P2), photo(P3)],
            title="Three photos",
            tiktok=apb.TikTokOptions(
                privacy_level=apb.TIK_TOK_PRIVACY_LEVEL_SELF_ONLY,
                photo_cover_index=2,
                auto_add_music=True,
            ),
        ),
        "/api/upload_photos",
        [
            *ours("tiktok", False, "Three photos"),
            ["photos[]", P1],
            ["photos[]", P2],
            ["photos[]", P3],
            ["auto_add_music", "true"],
            ["photo_cover_index", "2"],
            ["privacy_level", "SELF_ONLY"],
        ],
    ),
    (
        "x text post with a poll",
        apb.PLATFORM_X,
        apb.Content(
            media_type=apb.MEDIA_TYPE_TEXT,
            title="Which one?",
            x=apb.XOptions(poll_options=["red", "green", "blue"], poll_duration_minutes=60),
        ),
        "/api/upload_text",
        [
            *ours("x", False, "Which one?"),
            ["poll_duration", "60"],
            ["poll_options[]", "red"],
            ["poll_options[]", "green"],
            ["poll_options[]", "blue"],
        ],
    ),
    (
        "youtube video with tags",
        apb.PLATFORM_YOUTUBE,
        apb.Content(
            media=[a_video(CLIP)],
            title="A video",
            youtube=apb.YouTubeOptions(
                tags=["cats", "dogs"], privacy_status=apb.YOU_TUBE_PRIVACY_STATUS_UNLISTED
            ),
        ),
        "/api/upload",
        [
            *ours("youtube", True, "A video"),
            ["video", CLIP],
            ["privacyStatus", "unlisted"],
            ["tags[]", "cats"],
            ["tags[]", "dogs"],
        ],
    ),
    (
        "reddit text post",
        apb.PLATFORM_REDDIT,
        apb.Content(
            media_type=apb.MEDIA_TYPE_TEXT,
            title="Show r/python: a scheduler",
            description="It books slots.",
            reddit=apb.RedditOptions(subreddit="python"),
        ),
        "/api/upload_text",
        [
            *ours("reddit", False, "Show r/python: a scheduler"),
            ["description", "It books slots."],
            ["subreddit", "python"],
        ],
    ),
    (
        "bluesky photo post",
        apb.PLATFORM_BLUESKY,
        apb.Content(media=[photo(P1), photo(P2)], alt_text="two skies"),
        "/api/upload_photos",
        [*ours("bluesky", False), ["photos[]", P1], ["photos[]", P2], ["alt_text", "two skies"]],
    ),
]


@pytest.mark.parametrize(
    ("platform", "content", "path", "fields"), [p[1:] for p in POSTS], ids=[p[0] for p in POSTS]
)
async def test_each_kind_of_post_is_published_with_exactly_its_fields(
    database_url, platform, content, path, fields
):
    async with running_stack(database_url) as stack:
        profile_id = await make_profile(stack.allocator, platform=platform)
        content.content_id = str(uuid.uuid4())
        assignment = await assign(stack.allocator, profile_id, content, platform=platform)
        upload = await settled(stack, assignment.content_id)
        seen = await received(stack)
    assert upload.state == UPLOADED, upload
    [job] = stack.sandbox.state.publications
    [form] = seen["forms"]
    assert (form["path"], form["status"]) == (path, 200)
    assert without_request_id(form["fields"]) == fields
    assert seen["scheduled"] == 0
    assert upload.platform_post_id
    assert upload.post_url.endswith(f"/p/{upload.platform_post_id}")
    assert job.request_id in {a.request_id for a in upload.attempts}


async def assigned(stack: Stack, platform: apb.Platform.ValueType = apb.PLATFORM_TIKTOK) -> str:
    profile_id = await make_profile(stack.allocator, platform=platform)
    content = apb.Content(
        content_id=str(uuid.uuid4()), media=[a_video(CLIP)], title="a clip"
    )  # a video every platform takes
    return (await assign(stack.allocator, profile_id, content, platform=platform)).content_id


async def published_event(stack: Stack, content_id: str) -> upb.UploadPublished:
    cursor = await stack.db.execute(
        "select data from events where content_id = %s and type = 'upload.published'",
        (content_id,),
    )
    [(data,)] = await cursor.fetchall()
    assert isinstance(data, dict)
    return upb.UploadPublished(**data)


def the_job(stack: Stack) -> Any:
    [job] = stack.sandbox.state.jobs.values()
    return job


async def test_the_sync_answer_gives_the_post_id(database_url):
    async with running_stack(database_url) as stack:
        content_id = await assigned(stack)
        upload = await settled(stack, content_id)
        event = await published_event(stack, content_id)
        job = the_job(stack)
    assert [a.outcome for a in upload.attempts] == ["publish: published"]
    assert (upload.platform_post_id, upload.post_url) == (job.post_id, job.post_url)
    assert (event.platform_post_id, event.post_url) == (job.post_id, job.post_url)


async def test_the_status_look_up_of_an_async_job_gives_the_post_id(database_url):
    async with running_stack(database_url) as stack:
        content_id = await assigned(stack, apb.PLATFORM_INSTAGRAM)  # Instagram goes async
        upload = await settled(stack, content_id)
        event = await published_event(stack, content_id)
        job = the_job(stack)
        listed = await stack.uploader.ListUploads(upb.ListUploadsRequest())
    assert [a.outcome for a in upload.attempts][-1] == "reconcile: published"
    assert (upload.platform_post_id, upload.post_url) == (job.post_id, job.post_url)
    assert (event.platform_post_id, event.post_url) == (job.post_id, job.post_url)
    [one] = listed.uploads  # ListUploads answers it too
    assert one.platform_post_id == job.post_id


async def test_the_history_look_up_gives_the_post_id(database_url):
    async with running_stack(database_url) as stack:
        # Accepted in the background, then the status endpoint has no record of the job (a
        # 404): the history is read.
        stack.sandbox.state.queue_faults("instagram", "status_missing")
        stack.sandbox.state.async_seconds = 0.0  # the job has ended when it is looked up
        content_id = await assigned(stack, apb.PLATFORM_INSTAGRAM)
        upload = await settled(stack, content_id)
        event = await published_event(stack, content_id)
        job = the_job(stack)
        looked_up = [e.path for e in stack.sandbox.state.log]
    assert "/api/uploadposts/history" in looked_up
    assert [a.outcome for a in upload.attempts] == ["publish: accepted", "reconcile: published"]
    assert (upload.platform_post_id, upload.post_url) == (job.post_id, job.post_url)
    assert (event.platform_post_id, event.post_url) == (job.post_id, job.post_url)


async def test_upload_posts_webhook_gives_the_post_id(database_url):
    async with hearing_stack(database_url) as stack:
        content_id = await assigned(stack, apb.PLATFORM_INSTAGRAM)  # async: the webhook settles
        upload = await state_becomes(stack, content_id, UPLOADED)
        event = await published_event(stack, content_id)
        job = the_job(stack)
        assert asked(stack, "/api/uploadposts/status") == 0
    assert [a.outcome for a in upload.attempts] == ["publish: accepted", "notice: published"]
    assert (upload.platform_post_id, upload.post_url) == (job.post_id, job.post_url)
    assert (event.platform_post_id, event.post_url) == (job.post_id, job.post_url)


async def test_an_old_rows_reserved_and_scheduling_keys_are_never_sent(database_url, caplog):
    async with running_stack(database_url) as stack:
        content_id = await assigned(stack)
        # A row stored before the Allocator refused such keys (written by hand here).
        await stack.db.execute(
            "update contents set platform_options = %s where content_id = %s",
            (
                Jsonb(
                    {
                        "scheduled_date": "2026-12-24T10:00:00Z",
                        "user": "someone-else",
                        "title": "a second title",
                        "privacy_level": "SELF_ONLY",
                    }
                ),
                content_id,
            ),
        )
        with caplog.at_level(logging.WARNING, logger="uploader.publisher"):
            upload = await settled(stack, content_id)
        seen = await received(stack)
    assert upload.state == UPLOADED
    [form] = seen["forms"]
    assert without_request_id(form["fields"]) == [
        *ours("tiktok", False, "a clip"),
        ["video", CLIP],
        ["privacy_level", "SELF_ONLY"],
    ]
    assert seen["scheduled"] == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    [warning] = [w for w in warnings if "scheduled_date" in w]
    assert "scheduled_date, title, user" in warning
    assert "someone-else" not in warning
    assert "2026-12-24" not in warning
