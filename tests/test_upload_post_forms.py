"""The form the Uploader sends for every kind of post on every platform, field by field and in
order: the media list as `video` or `photos[]` repeated, first_comment and alt_text when set, the
options' wire form with a list as its field repeated; a reserved or scheduling key an old row
holds is dropped (named in one warning, never valued), and no field goes twice.

The expected forms are literals written from Upload-Post's documentation, not built by the code
under test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from queuelabs.clock import FakeClock
from queuelabs.lifecycle import ContentState
from queuelabs.platforms import MediaType, Platform
from queuelabs.posts import MediaItem
from uploader.domain import Claimed
from uploader.upload_post import PublishRequest, UploadPostClient, sendable

CLIP = "https://cdn.example.com/clip.mp4"
P1, P2, P3 = (f"https://cdn.example.com/p{n}.jpg" for n in (1, 2, 3))


def ours(platform: str, title: str = "") -> list[tuple[str, str]]:
    fields = [("user", "ana"), ("platform[]", platform), ("request_id", "req-1")]
    fields.append(("async_upload", "false"))
    return fields + ([("title", title)] if title else [])


def request(platform: Platform, kind: MediaType, *media: str, **more: Any) -> PublishRequest:
    return PublishRequest(
        "ana", platform, kind, "req-1", "queuelabs:c:p:1", False, media=media, **more
    )


# (case, request, the form expected)
CASES = [
    (
        "tiktok video with options",
        request(
            Platform.TIKTOK,
            MediaType.VIDEO,
            CLIP,
            title="Hello",
            options={
                "privacy_level": "SELF_ONLY",
                "disable_duet": "true",
                "cover_timestamp": "1500",
            },
        ),
        [
            *ours("tiktok", "Hello"),
            ("video", CLIP),
            ("cover_timestamp", "1500"),
            ("disable_duet", "true"),
            ("privacy_level", "SELF_ONLY"),
        ],
    ),
    (
        "tiktok photo post",
        request(
            Platform.TIKTOK,
            MediaType.PHOTO,
            P1,
            P2,
            P3,
            options={"photo_cover_index": "2", "auto_add_music": "true"},
        ),
        [
            *ours("tiktok"),
            ("photos[]", P1),
            ("photos[]", P2),
            ("photos[]", P3),
            ("auto_add_music", "true"),
            ("photo_cover_index", "2"),
        ],
    ),
    (
        "instagram mixed carousel",
        request(
            Platform.INSTAGRAM,
            MediaType.PHOTO,
            P1,
            CLIP,
            P2,
            description="three",
            first_comment="#tags",
            alt_text="a beach",
            options={"collaborators": "ana,budi", "media_type": "IMAGE"},
        ),
        [
            *ours("instagram"),
            ("description", "three"),
            ("photos[]", P1),
            ("photos[]", CLIP),
            ("photos[]", P2),
            ("first_comment", "#tags"),
            ("alt_text", "a beach"),
            ("collaborators", "ana,budi"),
            ("media_type", "IMAGE"),
        ],
    ),
    (
        "youtube video with tags",
        request(
            Platform.YOUTUBE,
            MediaType.VIDEO,
            CLIP,
            title="A video",
            options={"tags[]": ["cats", "dogs"], "privacyStatus": "unlisted"},
        ),
        [
            *ours("youtube", "A video"),
            ("video", CLIP),
            ("privacyStatus", "unlisted"),
            ("tags[]", "cats"),
            ("tags[]", "dogs"),
        ],
    ),
    (
        "facebook text with a link",
        request(
            Platform.FACEBOOK,
            MediaType.TEXT,
            title="Read this",
            options={"facebook_link_url": "https://example.com", "facebook_page_id": "42"},
        ),
        [
            *ours("facebook", "Read this"),
            ("facebook_link_url", "https://example.com"),
            ("facebook_page_id", "42"),
        ],
    ),
    (
        "linkedin photos",
        request(Platform.LINKEDIN, MediaType.PHOTO, P1, P2, options={"visibility": "PUBLIC"}),
        [*ours("linkedin"), ("photos[]", P1), ("photos[]", P2), ("visibility", "PUBLIC")],
    ),
    (
        "x text with a poll",
        request(
            Platform.X,
            MediaType.TEXT,
            title="Which?",
            options={"poll_options[]": ["yes", "no", "maybe"], "poll_duration": "60"},
        ),
        [
            *ours("x", "Which?"),
            ("poll_duration", "60"),
            ("poll_options[]", "yes"),
            ("poll_options[]", "no"),
            ("poll_options[]", "maybe"),
        ],
    ),
    (
        "threads text",
        request(Platform.THREADS, MediaType.TEXT, title="t", options={"threads_topic_tag": "x"}),
        [*ours("threads", "t"), ("threads_topic_tag", "x")],
    ),
    (
        "pinterest photo",
        request(
            Platform.PINTEREST,
            MediaType.PHOTO,
            P1,
            alt_text="a pin",
            options={"pinterest_board_id": "b1"},
        ),
        [*ours("pinterest"), ("photos[]", P1), ("alt_text", "a pin"), ("pinterest_board_id", "b1")],
    ),
    (
        "reddit text",
        request(
            Platform.REDDIT,
            MediaType.TEXT,
            title="Show r/python",
            first_comment="source inside",
            options={"subreddit": "python", "flair_id": "f1"},
        ),
        [
            *ours("reddit", "Show r/python"),
            ("first_comment", "source inside"),
            ("flair_id", "f1"),
            ("subreddit", "python"),
        ],
    ),
    (
        "bluesky photos",
        request(Platform.BLUESKY, MediaType.PHOTO, P1, P2, alt_text="two"),
        [*ours("bluesky"), ("photos[]", P1), ("photos[]", P2), ("alt_text", "two")],
    ),
    (
        "an old row's reserved and scheduling keys",
        request(
            Platform.TIKTOK,
            MediaType.VIDEO,
            CLIP,
            title="Hello",
            options={
                "user": "someone-else",
                "platform[]": "instagram",
                "request_id": "theirs",
                "async_upload": "true",
                "title": "twice",
                "video": "https://cdn.example.com/other.mp4",
                "scheduled_date": "2026-12-24T10:00:00Z",
                "timezone": "UTC",
                "add_to_queue": "true",
                "privacy_level": "SELF_ONLY",
            },
        ),
        [*ours("tiktok", "Hello"), ("video", CLIP), ("privacy_level", "SELF_ONLY")],
    ),
]


@pytest.mark.parametrize(("built", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_kind_of_post_is_sent_as_these_fields_in_this_order(built, expected):
    fields = built.form()
    assert fields == expected
    singles = [name for name, _ in fields if not name.endswith("[]")]
    assert len(singles) == len(set(singles))  # nothing sent twice


def test_old_rows_options_are_sent_in_wire_form_and_what_we_set_ourselves_is_named():
    options, dropped = sendable(
        {
            "privacy_level": "SELF_ONLY",
            "disable_duet": True,  # a boolean a hand-written row may hold
            "tags[]": ["a", "b"],
            "tagged_user_ids[]": [],  # nothing to send
            "user": "x",
            "scheduled_date": "2026-12-24",
            "max_posts_per_slot": "3",
            "alt_text": "twice",
        }
    )
    assert options == {"privacy_level": "SELF_ONLY", "disable_duet": "true", "tags[]": ["a", "b"]}
    assert dropped == ["alt_text", "max_posts_per_slot", "scheduled_date", "user"]


def claimed(**row: object) -> Claimed:
    base: dict[str, object] = {
        "content_id": UUID(int=1),
        "profile_id": UUID(int=2),
        "platform": "tiktok",
        "upload_post_user": "ana",
        "media_type": "video",
        "media_url": CLIP,
        "title": "t",
        "description": "",
        "platform_options": {},
        "scheduled_at": datetime(2026, 12, 7, tzinfo=UTC),
        "previous_status": ContentState.SCHEDULED.value,
        "retry_count": 0,
        "idempotency_generation": 1,
        "upload_now": False,
        "status_reason": "",
        "next_retry_at": None,
    }
    return Claimed.from_row(base | row)


def test_a_rows_media_list_is_sent_else_its_media_url_as_before_media_lists():
    carousel = [{"url": P1, "type": "photo"}, {"url": CLIP, "type": "video"}]
    row = claimed(platform="instagram", media_type="photo", media_url=P1, media=carousel)
    assert row.media == (MediaItem(P1, MediaType.PHOTO), MediaItem(CLIP, MediaType.VIDEO))
    assert row.media_urls == (P1, CLIP)
    assert claimed(media=[]).media_urls == (CLIP,)  # a row older than 0013
    assert claimed().media_urls == (CLIP,)  # read before the columns existed
    assert claimed(media_type="text", media_url="").media_urls == ()
    both = claimed(first_comment="hi", alt_text="a cat")
    assert (both.first_comment, both.alt_text) == ("hi", "a cat")


async def test_the_form_goes_out_as_those_multipart_parts_in_that_order():
    bodies: list[bytes] = []

    def handle(http_request: httpx.Request) -> httpx.Response:
        bodies.append(http_request.read())
        return httpx.Response(200, json={"success": True, "results": {"x": {"success": True}}})

    up = UploadPostClient(
        "https://upload-post.test/api",
        "key",
        transport=httpx.MockTransport(handle),
        clock=FakeClock(datetime(2026, 12, 7, tzinfo=UTC)),
    )
    built = dict((c[0], c[1]) for c in CASES)["x text with a poll"]
    try:
        await up.publish(built, read_timeout=5)
    finally:
        await up.close()
    body = bodies[0].decode()
    at = [body.index(f'name="{name}"\r\n\r\n{value}\r\n') for name, value in built.form()]
    assert at == sorted(at)
