"""What a post may be on each platform, and its typed options (queuelabs/posts.py), through the
conversion a request's content goes through (allocator/convert.py): each case is a content for a
platform, and either the wire form of its options it is stored with, or the field its refusal
names and a piece of the refusal's message."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from allocator.convert import content_in, content_out
from allocator.domain import Assignment, BookedContent
from queuelabs import posts
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.errors import InvalidArgument
from queuelabs.lifecycle import ContentState
from queuelabs.platforms import MediaType, Platform

P = Platform
ID = str(uuid.uuid4())
VIDEO_URL = "https://cdn.example.com/clip.mp4"


def photo(i: int = 0) -> pb.MediaItem:
    return pb.MediaItem(url=f"https://cdn.example.com/{i}.jpg", type=pb.MEDIA_TYPE_PHOTO)


def clip(i: int = 0) -> pb.MediaItem:
    return pb.MediaItem(url=f"https://cdn.example.com/{i}.mp4", type=pb.MEDIA_TYPE_VIDEO)


def video(**fields: Any) -> pb.Content:
    base: dict[str, Any] = dict(
        content_id=ID, media_type=pb.MEDIA_TYPE_VIDEO, media_url=VIDEO_URL, title="a title"
    )
    return pb.Content(**{**base, **fields})


def photos(count: int, **fields: Any) -> pb.Content:
    base: dict[str, Any] = dict(
        content_id=ID, media=[photo(i) for i in range(count)], title="a title"
    )
    return pb.Content(**{**base, **fields})


def text(**fields: Any) -> pb.Content:
    base: dict[str, Any] = dict(content_id=ID, media_type=pb.MEDIA_TYPE_TEXT, title="some words")
    return pb.Content(**{**base, **fields})


def reddit(content: pb.Content) -> pb.Content:
    if not content.HasField("reddit") and not content.platform_options:
        content.reddit.subreddit = "queuelabs"
    return content


OK = None
# (id, platform, content, the wire form stored | (field, a piece of the message))
CASES: list[tuple[str, Platform, pb.Content, dict[str, Any] | tuple[str, str] | None]] = [
    # Kinds of post and their media
    ("tiktok video", P.TIKTOK, video(), {}),
    ("tiktok 35 photos", P.TIKTOK, photos(35), {}),
    ("tiktok 36 photos", P.TIKTOK, photos(36), ("content.media", "at most 35")),
    ("tiktok text", P.TIKTOK, text(), ("content.media_type", "tiktok takes no TEXT posts")),
    (
        "tiktok mixed carousel",
        P.TIKTOK,
        photos(2, media=[photo(0), clip(1)]),
        ("content.media[1].type", "is a video"),
    ),
    ("instagram mixed carousel", P.INSTAGRAM, photos(2, media=[photo(0), clip(1)]), {}),
    ("instagram 11 items", P.INSTAGRAM, photos(11), ("content.media", "at most 10")),
    ("threads mixed carousel", P.THREADS, photos(3, media=[clip(0), photo(1), clip(2)]), {}),
    ("threads text", P.THREADS, text(), {}),
    ("youtube photos", P.YOUTUBE, photos(1), ("content.media_type", "youtube takes no PHOTO")),
    ("youtube without title", P.YOUTUBE, video(title=""), ("content.title", "is required")),
    ("youtube text", P.YOUTUBE, text(), ("content.media_type", "takes no TEXT")),
    ("x 4 photos", P.X, photos(4), {}),
    ("x 5 photos", P.X, photos(5), ("content.media", "x takes at most 4")),
    ("linkedin 20 photos", P.LINKEDIN, photos(20), {}),
    ("linkedin 21 photos", P.LINKEDIN, photos(21), ("content.media", "at most 20")),
    ("facebook 11 photos", P.FACEBOOK, photos(11), ("content.media", "at most 10")),
    ("pinterest 5 photos", P.PINTEREST, photos(5), {}),
    ("pinterest 6 photos", P.PINTEREST, photos(6), ("content.media", "at most 5")),
    ("pinterest text", P.PINTEREST, text(), ("content.media_type", "takes no TEXT")),
    ("reddit one photo", P.REDDIT, reddit(photos(1)), {"subreddit": "queuelabs"}),
    ("reddit two photos", P.REDDIT, reddit(photos(2)), ("content.media", "at most 1")),
    ("reddit without title", P.REDDIT, reddit(video(title="")), ("content.title", "required")),
    ("bluesky 4 photos", P.BLUESKY, photos(4), {}),
    ("bluesky 5 photos", P.BLUESKY, photos(5), ("content.media", "at most 4")),
    ("text without title", P.X, text(title=" "), ("content.title", "is required")),
    ("text with media", P.X, text(media=[photo()]), ("content.media", "must be empty")),
    ("text with a url", P.X, text(media_url=VIDEO_URL), ("content.media_url", "must be empty")),
    (
        "media and media_url",
        P.X,
        photos(1, media_url=VIDEO_URL),
        ("content.media", "beside content.media_url"),
    ),
    ("one video item is a video post", P.X, pb.Content(content_id=ID, media=[clip()]), {}),
    (
        "video post of a photo",
        P.X,
        photos(1, media_type=pb.MEDIA_TYPE_VIDEO),
        ("content.media", "one video item"),
    ),
    (
        "video post of two videos",
        P.INSTAGRAM,
        photos(0, media=[clip(0), clip(1)], media_type=pb.MEDIA_TYPE_VIDEO),
        ("content.media", "one video item"),
    ),
    (
        "item without type",
        P.X,
        photos(2, media=[photo(), pb.MediaItem(url=VIDEO_URL)]),
        ("content.media[1].type", "is required"),
    ),
    (
        "item of type text",
        P.X,
        photos(1, media=[pb.MediaItem(url=VIDEO_URL, type=pb.MEDIA_TYPE_TEXT)]),
        ("content.media[0].type", "MEDIA_TYPE_TEXT is no type"),
    ),
    (
        "item url not http",
        P.X,
        photos(1, media=[pb.MediaItem(url="ftp://x/a.jpg", type=pb.MEDIA_TYPE_PHOTO)]),
        ("content.media[0].url", "not an http(s) URL"),
    ),
    ("nothing to post", P.X, pb.Content(content_id=ID), ("content.media_type", "is required")),
    # First comment and alt text
    ("tiktok first comment", P.TIKTOK, video(first_comment="hi"), ("content.first_comment", "")),
    ("instagram first comment", P.INSTAGRAM, video(first_comment="hi"), {}),
    ("x alt text on photos", P.X, photos(2, alt_text="a cat"), {}),
    ("x alt text on a video", P.X, video(alt_text="a cat"), ("content.alt_text", "photo posts")),
    ("youtube alt text", P.YOUTUBE, video(alt_text="a cat"), ("content.alt_text", "no alt text")),
    (
        "alt text too long",
        P.X,
        photos(1, alt_text="a" * 1001),
        ("content.alt_text", "at most 1000"),
    ),
    # TikTok
    (
        "tiktok typed options",
        P.TIKTOK,
        video(
            tiktok=pb.TikTokOptions(
                privacy_level=pb.TIK_TOK_PRIVACY_LEVEL_SELF_ONLY,
                disable_duet=False,
                cover_timestamp_ms=1500,
                ai_generated=True,
                branded_content=True,
            )
        ),
        {
            "privacy_level": "SELF_ONLY",
            "disable_duet": "false",
            "cover_timestamp": "1500",
            "is_aigc": "true",
            "brand_content_toggle": "true",
        },
    ),
    (
        "tiktok map options",
        P.TIKTOK,
        video(platform_options={"privacy_level": "SELF_ONLY", "disable_duet": "false"}),
        {"privacy_level": "SELF_ONLY", "disable_duet": "false"},
    ),
    (
        "tiktok duet on photos",
        P.TIKTOK,
        photos(2, tiktok=pb.TikTokOptions(disable_duet=True)),
        ("content.tiktok.disable_duet", "is for video posts only"),
    ),
    (
        "tiktok stitch on photos, by the map",
        P.TIKTOK,
        photos(2, platform_options={"disable_stitch": "true"}),
        ('content.platform_options["disable_stitch"]', "is for video posts only"),
    ),
    (
        "tiktok photo cover index",
        P.TIKTOK,
        photos(3, tiktok=pb.TikTokOptions(photo_cover_index=2, auto_add_music=True)),
        {"photo_cover_index": "2", "auto_add_music": "true"},
    ),
    (
        "tiktok photo cover index past the items",
        P.TIKTOK,
        photos(3, tiktok=pb.TikTokOptions(photo_cover_index=3)),
        ("content.tiktok.photo_cover_index", "3 is no item of this post"),
    ),
    (
        "tiktok music on a video",
        P.TIKTOK,
        video(tiktok=pb.TikTokOptions(auto_add_music=True)),
        ("content.tiktok.auto_add_music", "photo posts only"),
    ),
    (
        "tiktok privacy unknown",
        P.TIKTOK,
        video(tiktok=pb.TikTokOptions(privacy_level=9)),  # type: ignore[arg-type]
        ("content.tiktok.privacy_level", "9 is not a TikTokPrivacyLevel"),
    ),
    (
        "tiktok privacy by the map, not a value",
        P.TIKTOK,
        video(platform_options={"privacy_level": "public"}),
        ('content.platform_options["privacy_level"]', "is not one of PUBLIC_TO_EVERYONE"),
    ),
    (
        "tiktok boolean not a boolean",
        P.TIKTOK,
        video(platform_options={"disable_comment": "yes"}),
        ('content.platform_options["disable_comment"]', "is not a boolean"),
    ),
    (
        "tiktok cover timestamp negative",
        P.TIKTOK,
        video(tiktok=pb.TikTokOptions(cover_timestamp_ms=-1)),
        ("content.tiktok.cover_timestamp_ms", "out of range"),
    ),
    (
        "tiktok cover timestamp by the map not a number",
        P.TIKTOK,
        video(platform_options={"cover_timestamp": "1.5s"}),
        ('content.platform_options["cover_timestamp"]', "is not an integer"),
    ),
    # Instagram
    (
        "instagram reel",
        P.INSTAGRAM,
        video(
            instagram=pb.InstagramOptions(
                media_type=pb.INSTAGRAM_MEDIA_TYPE_REELS,
                share_to_feed=True,
                collaborators=["ann", "bo.b"],
                cover_url="https://cdn.example.com/c.jpg",
                user_tags=["cy"],
                location_id="123",
                audio_name="Original audio",
            )
        ),
        {
            "media_type": "REELS",
            "share_to_feed": "true",
            "collaborators": "ann,bo.b",
            "cover_url": "https://cdn.example.com/c.jpg",
            "user_tags": "cy",
            "location_id": "123",
            "audio_name": "Original audio",
        },
    ),
    (
        "instagram share to feed of an unset media type video",
        P.INSTAGRAM,
        video(instagram=pb.InstagramOptions(share_to_feed=False)),
        {"share_to_feed": "false"},
    ),
    (
        "instagram reels of photos",
        P.INSTAGRAM,
        photos(2, instagram=pb.InstagramOptions(media_type=pb.INSTAGRAM_MEDIA_TYPE_REELS)),
        ("content.instagram.media_type", "REELS is for video posts only"),
    ),
    (
        "instagram image of a video",
        P.INSTAGRAM,
        video(platform_options={"media_type": "IMAGE"}),
        ('content.platform_options["media_type"]', "IMAGE is for photo posts only"),
    ),
    (
        "instagram story of two photos",
        P.INSTAGRAM,
        photos(2, instagram=pb.InstagramOptions(media_type=pb.INSTAGRAM_MEDIA_TYPE_STORIES)),
        ("content.instagram.media_type", "STORIES takes at most 1"),
    ),
    (
        "instagram story of one photo",
        P.INSTAGRAM,
        photos(1, instagram=pb.InstagramOptions(media_type=pb.INSTAGRAM_MEDIA_TYPE_STORIES)),
        {"media_type": "STORIES"},
    ),
    (
        "instagram share to feed of a story",
        P.INSTAGRAM,
        video(
            instagram=pb.InstagramOptions(
                media_type=pb.INSTAGRAM_MEDIA_TYPE_STORIES, share_to_feed=True
            )
        ),
        ("content.instagram.share_to_feed", "is for REELS only"),
    ),
    (
        "instagram four collaborators",
        P.INSTAGRAM,
        video(instagram=pb.InstagramOptions(collaborators=["a", "b", "c", "d"])),
        ("content.instagram.collaborators", "holds 4 items"),
    ),
    (
        "instagram collaborators by the map",
        P.INSTAGRAM,
        video(platform_options={"collaborators": "ann, bob"}),
        {"collaborators": "ann,bob"},
    ),
    (
        "instagram collaborator with a space",
        P.INSTAGRAM,
        video(instagram=pb.InstagramOptions(collaborators=["ann smith"])),
        ("content.instagram.collaborators[0]", "is not an Instagram username"),
    ),
    (
        "instagram cover not a url",
        P.INSTAGRAM,
        video(instagram=pb.InstagramOptions(cover_url="cdn/c.jpg")),
        ("content.instagram.cover_url", "not an http(s) URL"),
    ),
    # YouTube
    (
        "youtube typed options",
        P.YOUTUBE,
        video(
            youtube=pb.YouTubeOptions(
                tags=["news", "daily"],
                privacy_status=pb.YOU_TUBE_PRIVACY_STATUS_UNLISTED,
                category_id="22",
                thumbnail_url="https://cdn.example.com/t.jpg",
                made_for_kids=False,
                contains_synthetic_media=True,
                playlist_id="PL123",
                embeddable=True,
                default_language="id",
            )
        ),
        {
            "tags[]": ["news", "daily"],
            "privacyStatus": "unlisted",
            "categoryId": "22",
            "thumbnail_url": "https://cdn.example.com/t.jpg",
            "selfDeclaredMadeForKids": "false",
            "containsSyntheticMedia": "true",
            "youtube_playlist_id": "PL123",
            "embeddable": "true",
            "defaultLanguage": "id",
        },
    ),
    (
        "youtube tags by the map",
        P.YOUTUBE,
        video(platform_options={"tags[]": "news,daily , sport"}),
        {"tags[]": ["news", "daily", "sport"]},
    ),
    (
        "youtube empty tag",
        P.YOUTUBE,
        video(platform_options={"tags[]": "news,,sport"}),
        ('content.platform_options["tags[]"][1]', "is empty"),
    ),
    (
        "youtube category not a number",
        P.YOUTUBE,
        video(youtube=pb.YouTubeOptions(category_id="music")),
        ("content.youtube.category_id", "is not a number"),
    ),
    (
        "youtube language",
        P.YOUTUBE,
        video(youtube=pb.YouTubeOptions(default_language="in donesian")),
        ("content.youtube.default_language", "holds a space"),
    ),
    # Facebook
    (
        "facebook reel",
        P.FACEBOOK,
        video(
            facebook=pb.FacebookOptions(
                page_id="1234",
                media_type=pb.FACEBOOK_MEDIA_TYPE_REELS,
                video_state=pb.FACEBOOK_VIDEO_STATE_DRAFT,
                thumbnail_url="https://cdn.example.com/t.jpg",
            )
        ),
        {
            "facebook_page_id": "1234",
            "facebook_media_type": "REELS",
            "video_state": "DRAFT",
            "thumbnail_url": "https://cdn.example.com/t.jpg",
        },
    ),
    (
        "facebook posts of a video",
        P.FACEBOOK,
        video(facebook=pb.FacebookOptions(media_type=pb.FACEBOOK_MEDIA_TYPE_POSTS)),
        ("content.facebook.media_type", "POSTS is for photo posts only"),
    ),
    (
        "facebook media type of a text",
        P.FACEBOOK,
        text(facebook=pb.FacebookOptions(media_type=pb.FACEBOOK_MEDIA_TYPE_POSTS)),
        ("content.facebook.media_type", "is for video posts and photo posts only"),
    ),
    (
        "facebook link of a text",
        P.FACEBOOK,
        text(facebook=pb.FacebookOptions(link_url="https://example.com/a")),
        {"facebook_link_url": "https://example.com/a"},
    ),
    (
        "facebook link of photos",
        P.FACEBOOK,
        photos(1, facebook=pb.FacebookOptions(link_url="https://example.com/a")),
        ("content.facebook.link_url", "is for text posts only"),
    ),
    (
        "facebook video state of photos",
        P.FACEBOOK,
        photos(1, platform_options={"video_state": "DRAFT"}),
        ('content.platform_options["video_state"]', "is for video posts only"),
    ),
    # LinkedIn
    (
        "linkedin connections of a text",
        P.LINKEDIN,
        text(linkedin=pb.LinkedInOptions(visibility=pb.LINKED_IN_VISIBILITY_CONNECTIONS)),
        {"visibility": "CONNECTIONS"},
    ),
    (
        "linkedin connections of photos",
        P.LINKEDIN,
        photos(2, linkedin=pb.LinkedInOptions(visibility=pb.LINKED_IN_VISIBILITY_CONNECTIONS)),
        ("content.linkedin.visibility", "CONNECTIONS is for video posts and text posts only"),
    ),
    (
        "linkedin public photos on a page",
        P.LINKEDIN,
        photos(
            2, linkedin=pb.LinkedInOptions(visibility=pb.LINKED_IN_VISIBILITY_PUBLIC, page_id="987")
        ),
        {"visibility": "PUBLIC", "target_linkedin_page_id": "987"},
    ),
    (
        "linkedin link of a video",
        P.LINKEDIN,
        video(linkedin=pb.LinkedInOptions(link_url="https://example.com")),
        ("content.linkedin.link_url", "text posts only"),
    ),
    # X
    (
        "x poll",
        P.X,
        text(
            x=pb.XOptions(
                poll_options=["yes", "no"],
                poll_duration_minutes=60,
                reply_settings=pb.X_REPLY_SETTINGS_MENTIONED_USERS,
                long_text_as_post=True,
                community_id="1600",
            )
        ),
        {
            "poll_options[]": ["yes", "no"],
            "poll_duration": "60",
            "reply_settings": "mentionedUsers",
            "x_long_text_as_post": "true",
            "community_id": "1600",
        },
    ),
    (
        "x poll of one choice",
        P.X,
        text(x=pb.XOptions(poll_options=["yes"])),
        ("content.x.poll_options", "holds 1 items; 2 to 4"),
    ),
    (
        "x poll of five choices by the map",
        P.X,
        text(platform_options={"poll_options[]": "a,b,c,d,e"}),
        ('content.platform_options["poll_options[]"]', "holds 5 items"),
    ),
    (
        "x poll choice too long",
        P.X,
        text(x=pb.XOptions(poll_options=["yes", "n" * 26])),
        ("content.x.poll_options[1]", "at most 25"),
    ),
    (
        "x poll on a video",
        P.X,
        video(x=pb.XOptions(poll_options=["yes", "no"])),
        ("content.x.poll_options", "is for text posts only"),
    ),
    (
        "x poll duration without a poll",
        P.X,
        text(x=pb.XOptions(poll_duration_minutes=60)),
        ("content.x.poll_duration_minutes", "needs content.x.poll_options"),
    ),
    (
        "x poll duration too short",
        P.X,
        text(x=pb.XOptions(poll_options=["a", "b"], poll_duration_minutes=4)),
        ("content.x.poll_duration_minutes", "out of range (5 to 10080)"),
    ),
    (
        "x poll duration too long",
        P.X,
        text(x=pb.XOptions(poll_options=["a", "b"], poll_duration_minutes=10081)),
        ("content.x.poll_duration_minutes", "out of range"),
    ),
    (
        "x tagged users of photos",
        P.X,
        photos(1, x=pb.XOptions(tagged_user_ids=["12", "34"])),
        {"tagged_user_ids[]": ["12", "34"]},
    ),
    (
        "x tagged user not numeric",
        P.X,
        photos(1, x=pb.XOptions(tagged_user_ids=["@ann"])),
        ("content.x.tagged_user_ids[0]", "is not a numeric user id"),
    ),
    (
        "x eleven tagged users",
        P.X,
        photos(1, x=pb.XOptions(tagged_user_ids=[str(i) for i in range(11)])),
        ("content.x.tagged_user_ids", "holds 11 items"),
    ),
    (
        "x tagged users of a text",
        P.X,
        text(x=pb.XOptions(tagged_user_ids=["12"])),
        ("content.x.tagged_user_ids", "is for photo posts only"),
    ),
    (
        "x quote not numeric",
        P.X,
        text(x=pb.XOptions(quote_tweet_id="abc")),
        ("content.x.quote_tweet_id", "is not numeric"),
    ),
    # Threads
    (
        "threads topic",
        P.THREADS,
        text(threads=pb.ThreadsOptions(topic_tag="Jakarta news", long_text_as_post=False)),
        {"threads_topic_tag": "Jakarta news", "threads_long_text_as_post": "false"},
    ),
    (
        "threads topic with a hash",
        P.THREADS,
        text(threads=pb.ThreadsOptions(topic_tag="#news")),
        ("content.threads.topic_tag", "may not hold '#'"),
    ),
    (
        "threads topic with a dot and an ampersand",
        P.THREADS,
        text(threads=pb.ThreadsOptions(topic_tag="a.b&c")),
        ("content.threads.topic_tag", "may not hold '&' '.'"),
    ),
    (
        "threads topic too long",
        P.THREADS,
        text(threads=pb.ThreadsOptions(topic_tag="t" * 51)),
        ("content.threads.topic_tag", "at most 50"),
    ),
    # Pinterest
    (
        "pinterest pin",
        P.PINTEREST,
        video(
            pinterest=pb.PinterestOptions(
                board_id="b1", link="https://shop.example", cover_image_url="https://c.example/c"
            )
        ),
        {
            "pinterest_board_id": "b1",
            "pinterest_link": "https://shop.example",
            "pinterest_cover_image_url": "https://c.example/c",
        },
    ),
    (
        "pinterest cover of photos",
        P.PINTEREST,
        photos(1, pinterest=pb.PinterestOptions(cover_image_url="https://c.example/c")),
        ("content.pinterest.cover_image_url", "video posts only"),
    ),
    (
        "pinterest board id with a space",
        P.PINTEREST,
        photos(1, pinterest=pb.PinterestOptions(board_id="my board")),
        ("content.pinterest.board_id", "holds a space"),
    ),
    # Reddit
    (
        "reddit link post",
        P.REDDIT,
        text(
            reddit=pb.RedditOptions(
                subreddit="Python_3", flair_id="f-1", link_url="https://example.com"
            )
        ),
        {"subreddit": "Python_3", "flair_id": "f-1", "reddit_link_url": "https://example.com"},
    ),
    ("reddit without subreddit", P.REDDIT, text(), ("content.reddit.subreddit", "is required")),
    (
        "reddit subreddit with r/",
        P.REDDIT,
        text(reddit=pb.RedditOptions(subreddit="r/python")),
        ("content.reddit.subreddit", "without r/"),
    ),
    (
        "reddit subreddit too short by the map",
        P.REDDIT,
        text(platform_options={"subreddit": "py"}),
        ('content.platform_options["subreddit"]', "3 to 21"),
    ),
    (
        "reddit link of a video",
        P.REDDIT,
        video(reddit=pb.RedditOptions(subreddit="python", link_url="https://example.com")),
        ("content.reddit.link_url", "text posts only"),
    ),
    # Bluesky
    (
        "bluesky link card",
        P.BLUESKY,
        text(bluesky=pb.BlueskyOptions(link_url="https://example.com")),
        {"bluesky_link_url": "https://example.com"},
    ),
    (
        "bluesky link of photos",
        P.BLUESKY,
        photos(1, bluesky=pb.BlueskyOptions(link_url="https://example.com")),
        ("content.bluesky.link_url", "text posts only"),
    ),
    # The options' own field: reserved, scheduling, unknown keys; one way, one platform
    (
        "scheduled_date",
        P.TIKTOK,
        video(platform_options={"scheduled_date": "2026-12-24T10:00:00Z"}),
        ('content.platform_options["scheduled_date"]', "the Allocator's slots do the scheduling"),
    ),
    (
        "timezone",
        P.X,
        text(platform_options={"timezone": "UTC"}),
        ('content.platform_options["timezone"]', "Upload-Post schedule the post itself"),
    ),
    (
        "add_to_queue",
        P.X,
        text(platform_options={"add_to_queue": "true"}),
        ('content.platform_options["add_to_queue"]', "slots do the scheduling"),
    ),
    (
        "max_posts_per_slot",
        P.X,
        text(platform_options={"max_posts_per_slot": "2"}),
        ('content.platform_options["max_posts_per_slot"]', "slots do the scheduling"),
    ),
    *[
        (
            f"reserved {key}",
            P.TIKTOK,
            video(platform_options={key: "x"}),
            (f'content.platform_options["{key}"]', "is set by QueueLabs"),
        )
        for key in (
            "user",
            "platform[]",
            "platform",
            "request_id",
            "async_upload",
            "title",
            "description",
            "video",
            "photos[]",
            "first_comment",
            "alt_text",
            "external_id",
            "Idempotency-Key",
        )
    ],
    (
        "unknown key",
        P.TIKTOK,
        video(platform_options={"share_to_feed": "true"}),
        ('content.platform_options["share_to_feed"]', "accepted: privacy_level, disable_comment"),
    ),
    (
        "another platform's key",
        P.X,
        text(platform_options={"privacy_level": "SELF_ONLY"}),
        ('content.platform_options["privacy_level"]', "is no x option"),
    ),
    (
        "typed and map both",
        P.TIKTOK,
        video(tiktok=pb.TikTokOptions(disable_duet=True), platform_options={"is_aigc": "true"}),
        ("content.platform_options", "not both"),
    ),
    (
        "another platform's message",
        P.X,
        text(tiktok=pb.TikTokOptions(disable_comment=True)),
        ("content.tiktok", "its options go in content.x"),
    ),
    ("empty typed message", P.X, text(x=pb.XOptions()), {}),
]


@pytest.mark.parametrize(
    ("platform", "content", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_content_is_stored_as_its_wire_form_or_refused_naming_the_field(
    platform: Platform, content: pb.Content, expected: dict[str, Any] | tuple[str, str]
):
    if isinstance(expected, dict):
        spec = content_in(content, "content", platform)
        assert spec.platform_options == expected
        return
    field, fragment = expected
    with pytest.raises(InvalidArgument) as refused:
        content_in(content, "content", platform)
    assert refused.value.field == field, str(refused.value)
    assert fragment in refused.value.problem, str(refused.value)


def test_a_batch_names_the_content_by_its_place():
    with pytest.raises(InvalidArgument) as refused:
        content_in(photos(5), "contents[2]", P.X)
    assert refused.value.field == "contents[2].media"
    with pytest.raises(InvalidArgument) as refused:
        content_in(photos(1, media=[photo(), photo(), clip()]), "contents[2]", P.X)
    assert refused.value.field == "contents[2].media[2].type"


def test_single_url_contents_keep_their_one_item():
    spec = content_in(video(), "content", P.TIKTOK)
    assert (spec.media_type, spec.media_url) == (MediaType.VIDEO, VIDEO_URL)
    assert spec.media == (posts.MediaItem(VIDEO_URL, MediaType.VIDEO),)
    one = "https://cdn.example.com/one.jpg"
    spec = content_in(
        pb.Content(content_id=ID, media_type=pb.MEDIA_TYPE_PHOTO, media_url=one), "content", P.X
    )
    assert spec.media == (posts.MediaItem(one, MediaType.PHOTO),)
    spec = content_in(photos(3), "content", P.X)  # media_type left unset: a carousel
    assert (spec.media_type, spec.media_url) == (MediaType.PHOTO, "https://cdn.example.com/0.jpg")
    assert content_in(text(), "content", P.X).media == ()


# The tables against the proto and the contract


# The contract (issue 22, stored.md): proto field -> Upload-Post field, per platform.
CONTRACT = {
    P.TIKTOK: {
        "privacy_level": "privacy_level",
        "disable_comment": "disable_comment",
        "disable_duet": "disable_duet",
        "disable_stitch": "disable_stitch",
        "cover_timestamp_ms": "cover_timestamp",
        "ai_generated": "is_aigc",
        "post_mode": "post_mode",
        "photo_cover_index": "photo_cover_index",
        "auto_add_music": "auto_add_music",
        "branded_content": "brand_content_toggle",
        "brand_organic": "brand_organic_toggle",
    },
    P.INSTAGRAM: {
        "media_type": "media_type",
        "share_to_feed": "share_to_feed",
        "collaborators": "collaborators",
        "cover_url": "cover_url",
        "user_tags": "user_tags",
        "location_id": "location_id",
        "audio_name": "audio_name",
    },
    P.YOUTUBE: {
        "tags": "tags[]",
        "privacy_status": "privacyStatus",
        "category_id": "categoryId",
        "thumbnail_url": "thumbnail_url",
        "made_for_kids": "selfDeclaredMadeForKids",
        "contains_synthetic_media": "containsSyntheticMedia",
        "playlist_id": "youtube_playlist_id",
        "embeddable": "embeddable",
        "default_language": "defaultLanguage",
    },
    P.FACEBOOK: {
        "page_id": "facebook_page_id",
        "media_type": "facebook_media_type",
        "video_state": "video_state",
        "thumbnail_url": "thumbnail_url",
        "link_url": "facebook_link_url",
    },
    P.LINKEDIN: {
        "visibility": "visibility",
        "page_id": "target_linkedin_page_id",
        "link_url": "linkedin_link_url",
    },
    P.X: {
        "reply_settings": "reply_settings",
        "poll_options": "poll_options[]",
        "poll_duration_minutes": "poll_duration",
        "quote_tweet_id": "quote_tweet_id",
        "tagged_user_ids": "tagged_user_ids[]",
        "long_text_as_post": "x_long_text_as_post",
        "community_id": "community_id",
    },
    P.THREADS: {"topic_tag": "threads_topic_tag", "long_text_as_post": "threads_long_text_as_post"},
    P.PINTEREST: {
        "board_id": "pinterest_board_id",
        "link": "pinterest_link",
        "cover_image_url": "pinterest_cover_image_url",
    },
    P.REDDIT: {"subreddit": "subreddit", "flair_id": "flair_id", "link_url": "reddit_link_url"},
    P.BLUESKY: {"link_url": "bluesky_link_url"},
}


def message_of(platform: Platform) -> Any:
    return pb.Content.DESCRIPTOR.fields_by_name[posts.message_name(platform)].message_type


def test_every_platform_has_its_rules_and_every_typed_field_its_option():
    assert set(posts.RULES) == set(Platform) == set(posts.OPTIONS)
    for platform in Platform:
        fields = {f.name for f in message_of(platform).fields}
        assert set(posts.OPTIONS[platform]) == fields, platform
        assert {n: o.wire for n, o in posts.OPTIONS[platform].items()} == CONTRACT[platform]
        # a list's wire name ends in [] exactly when it is sent repeated
        for option in posts.OPTIONS[platform].values():
            assert option.wire.endswith("[]") == (option.kind is posts.Kind.LIST)
            assert option.wire.lower() not in posts.RESERVED_KEYS | posts.SCHEDULING_KEYS


def test_an_enums_wire_values_follow_its_members_in_order():
    for platform in Platform:
        for name, option in posts.OPTIONS[platform].items():
            field = message_of(platform).fields_by_name[name]
            if option.kind is not posts.Kind.ENUM:
                assert field.enum_type is None, name
                continue
            members = [v.name for v in field.enum_type.values if v.number != 0]
            assert [v.number for v in field.enum_type.values][1:] == list(
                range(1, len(members) + 1)
            )
            squashed = [m.replace("_", "").lower() for m in members]
            for value, member in zip(option.values, squashed, strict=True):
                assert member.endswith(value.replace("_", "").lower()), (name, value, member)


def every_option_set(platform: Platform) -> pb.Content:
    """A content of the kind most of the platform's options apply to, with each option set
    that applies to it, typed."""
    kind = {P.TIKTOK: "video", P.INSTAGRAM: "video", P.YOUTUBE: "video", P.PINTEREST: "video"}
    samples: dict[Platform, dict[str, Any]] = {
        P.TIKTOK: dict(
            privacy_level=2,
            disable_comment=True,
            disable_duet=False,
            disable_stitch=True,
            cover_timestamp_ms=0,
            ai_generated=True,
            post_mode=2,
            branded_content=False,
            brand_organic=True,
        ),
        P.INSTAGRAM: dict(
            media_type=1,
            share_to_feed=True,
            collaborators=["a", "b"],
            cover_url="https://c.example/c.jpg",
            user_tags=["c"],
            location_id="9",
            audio_name="song",
        ),
        P.YOUTUBE: dict(
            tags=["a", "b c"],
            privacy_status=3,
            category_id="10",
            thumbnail_url="https://c.example/t.jpg",
            made_for_kids=True,
            contains_synthetic_media=False,
            playlist_id="PL1",
            embeddable=False,
            default_language="en-US",
        ),
        P.FACEBOOK: dict(page_id="77", link_url="https://example.com"),
        P.LINKEDIN: dict(visibility=3, page_id="5", link_url="https://example.com"),
        P.X: dict(
            reply_settings=5,
            poll_options=["a", "b", "c"],
            poll_duration_minutes=5,
            quote_tweet_id="1",
            long_text_as_post=False,
            community_id="2",
        ),
        P.THREADS: dict(topic_tag="t", long_text_as_post=True),
        P.PINTEREST: dict(board_id="b", link="https://l.example", cover_image_url="https://c.ex"),
        P.REDDIT: dict(subreddit="abc", flair_id="f", link_url="https://example.com"),
        P.BLUESKY: dict(link_url="https://example.com"),
    }
    base = video() if kind.get(platform) == "video" else text()
    getattr(base, posts.message_name(platform)).CopyFrom(
        type(getattr(base, posts.message_name(platform)))(**samples[platform])
    )
    return base


@pytest.mark.parametrize("platform", list(Platform), ids=[p.value for p in Platform])
def test_typed_options_come_back_as_sent_and_the_map_form_equals_the_typed(platform):
    sent = every_option_set(platform)
    spec = content_in(sent, "content", platform)
    member = posts.message_name(platform)
    assert len(spec.platform_options) == len([f for f, _ in getattr(sent, member).ListFields()]), (
        "every option set is stored"
    )
    booked = BookedContent(
        Assignment(
            spec.content_id,
            uuid.uuid4(),
            platform,
            uuid.uuid4(),
            datetime(2026, 12, 7, tzinfo=UTC),
            ContentState.SCHEDULED,
        ),
        spec,
    )
    out = content_out(booked)
    assert out.WhichOneof("options") == member
    assert getattr(out, member) == getattr(sent, member)
    assert dict(out.platform_options) == {}
    # The same options through the map: the same wire form.
    as_map = pb.Content()
    as_map.CopyFrom(sent)
    as_map.ClearField(member)
    for key, value in spec.platform_options.items():
        as_map.platform_options[key] = ",".join(value) if isinstance(value, list) else value
    assert content_in(as_map, "content", platform).platform_options == spec.platform_options


def test_stored_keys_the_table_does_not_know_stay_in_the_map():
    typed, rest = posts.typed_of(
        P.TIKTOK,
        {"disable_duet": "true", "scheduled_date": "2026-12-24", "privacy_level": "odd"},
    )
    assert typed == pb.TikTokOptions(disable_duet=True)
    assert rest == {"scheduled_date": "2026-12-24", "privacy_level": "odd"}
    assert posts.typed_of(P.X, {}) == (None, {})
    typed, rest = posts.typed_of(P.YOUTUBE, {"tags[]": ["a", "b"], "other[]": ["c", "d"]})
    assert typed == pb.YouTubeOptions(tags=["a", "b"])
    assert rest == {"other[]": "c,d"}
