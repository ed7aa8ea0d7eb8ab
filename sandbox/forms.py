"""What the real API checks in a posting form, as the sandbox's own literal copy: which endpoint
each platform takes, how many items, which fields it requires, and the values an option may
have. It is written out here on purpose and imports nothing of QueueLabs' own validator
(queuelabs/posts.py): the sandbox stands in for Upload-Post, so when the two disagree a test
shows it. A check that fails names the field, as the real API's form errors do.

Stricter than the real API in one way, to catch a QueueLabs bug: a single-valued field sent twice
(two `user`, two `title`) is refused; the real API would read one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

VIDEO, PHOTOS, TEXT = "/api/upload", "/api/upload_photos", "/api/upload_text"


@dataclass(frozen=True)
class Takes:
    """What one platform takes."""

    video: bool = True  # /upload
    photos: int = 0  # the most photos[] items of /upload_photos; 0: no photo posts
    mixed: bool = False  # videos among photos[] (a mixed carousel)
    text: bool = False  # /upload_text
    first_comment: bool = True
    alt_text: bool = False  # photo posts only
    title_required: bool = False  # on every endpoint (text posts always need one)
    required: tuple[str, ...] = ()  # fields every post to it must carry


# Upload-Post's documented table (docs/upload-post.md), by hand.
TAKES: dict[str, Takes] = {
    "tiktok": Takes(photos=35, first_comment=False),
    "instagram": Takes(photos=10, mixed=True, alt_text=True),
    "youtube": Takes(title_required=True),
    "facebook": Takes(photos=10, text=True, alt_text=True),
    "linkedin": Takes(photos=20, text=True, alt_text=True),
    "x": Takes(photos=4, text=True, alt_text=True),
    "threads": Takes(photos=10, mixed=True, text=True, alt_text=True),
    "pinterest": Takes(photos=5, first_comment=False, alt_text=True),
    "reddit": Takes(photos=1, text=True, title_required=True, required=("subreddit",)),
    "bluesky": Takes(photos=4, text=True, alt_text=True),
}
PLATFORMS = frozenset(TAKES)  # the names Upload-Post takes in platform[]

# The options whose values are one of a list.
CHOICES: dict[str, frozenset[str]] = {
    "privacy_level": frozenset(
        {"PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY"}
    ),
    "post_mode": frozenset({"DIRECT_POST", "MEDIA_UPLOAD"}),
    "media_type": frozenset({"REELS", "STORIES", "IMAGE"}),
    "privacyStatus": frozenset({"public", "unlisted", "private"}),
    "facebook_media_type": frozenset({"POSTS", "REELS", "STORIES", "VIDEO"}),
    "video_state": frozenset({"PUBLISHED", "DRAFT"}),
    "visibility": frozenset({"PUBLIC", "CONNECTIONS", "LOGGED_IN"}),
    "reply_settings": frozenset(
        {"everyone", "following", "mentionedUsers", "subscribers", "verified"}
    ),
}
# Booleans are the strings "true" and "false", nothing else.
BOOLEANS = frozenset(
    {
        "async_upload",
        "add_to_queue",
        "disable_comment",
        "disable_duet",
        "disable_stitch",
        "is_aigc",
        "auto_add_music",
        "brand_content_toggle",
        "brand_organic_toggle",
        "share_to_feed",
        "selfDeclaredMadeForKids",
        "containsSyntheticMedia",
        "embeddable",
        "x_long_text_as_post",
        "threads_long_text_as_post",
    }
)
INTEGERS = frozenset({"cover_timestamp", "photo_cover_index", "poll_duration"})
# Lists sent as the field repeated, with how many items they take.
LISTS: dict[str, tuple[int, int]] = {
    "platform[]": (1, len(TAKES)),
    "photos[]": (1, 35),
    "tags[]": (1, 500),
    "poll_options[]": (2, 4),
    "tagged_user_ids[]": (1, 10),
}
# Fields that ask Upload-Post to schedule the post itself instead of posting it now.
SCHEDULING = ("scheduled_date", "add_to_queue")
VIDEO_ENDINGS = (".mp4", ".mov", ".m4v", ".webm", ".avi", ".mkv")


class FormError(ValueError):
    """The form is refused; the message names the field."""


def is_video(url: str) -> bool:
    """Whether an item of photos[] is a video (the real API looks at the file; the sandbox, which
    fetches nothing, at the URL's ending)."""
    return urlsplit(url).path.lower().endswith(VIDEO_ENDINGS)


def scheduling(fields: Sequence[tuple[str, str]]) -> bool:
    """Whether the form asks Upload-Post's own scheduler to post it later."""
    names = dict(fields)
    return bool(names.get("scheduled_date")) or names.get("add_to_queue") == "true"


def check(path: str, fields: Sequence[tuple[str, str]]) -> None:
    """Refuses (FormError) a form the real API would refuse (or that sends a field twice)."""
    values: dict[str, list[str]] = {}
    for name, value in fields:
        values.setdefault(name, []).append(value)
    for name, items in values.items():
        if name.endswith("[]"):
            low, high = LISTS.get(name, (1, 1000))
            if not low <= len(items) <= high:
                raise FormError(f"{name}: {len(items)} items; it takes {low} to {high}")
        elif len(items) > 1:
            raise FormError(f"{name}: sent {len(items)} times; it is one value")
    one = {name: items[0] for name, items in values.items()}
    if not one.get("user"):
        raise FormError("user: Username required in form data")
    platforms = values.get("platform[]", [])
    unknown = [p for p in platforms if p not in TAKES]
    if not platforms or unknown:
        raise FormError(f"platform[]: Invalid platform(s): {unknown or platforms}")
    for platform in platforms:
        _check_platform(platform, TAKES[platform], path, values, one)
    _check_values(one)


def _check_platform(
    platform: str, takes: Takes, path: str, values: dict[str, list[str]], one: dict[str, str]
) -> None:
    if path == VIDEO:
        if not takes.video:
            raise FormError(f"video: {platform} takes no video posts")
        if not one.get("video"):
            raise FormError("video: video is required")
    elif path == PHOTOS:
        photos = values.get("photos[]", [])
        if not takes.photos:
            raise FormError(f"photos[]: {platform} takes no photo posts")
        if not photos:
            raise FormError("photos[]: photos[] is required")
        if len(photos) > takes.photos:
            raise FormError(
                f"photos[]: {len(photos)} items; {platform} takes at most {takes.photos}"
            )
        videos = [i for i, url in enumerate(photos) if is_video(url)]
        if videos and not takes.mixed:
            raise FormError(f"photos[]: item {videos[0]} is a video; {platform} takes photos only")
    else:
        if not takes.text:
            raise FormError(f"platform[]: {platform} takes no text posts")
        if "video" in one or "photos[]" in values:
            raise FormError("video: a text post carries no media")
    if (path == TEXT or takes.title_required) and not one.get("title"):
        raise FormError(f"title: title is required for {platform}")
    if one.get("first_comment") and not takes.first_comment:
        raise FormError(f"first_comment: {platform} takes no first comment")
    if one.get("alt_text") and not (takes.alt_text and path == PHOTOS):
        raise FormError(f"alt_text: {platform} takes alt text on photo posts only")
    for name in takes.required:
        if not one.get(name):
            raise FormError(f"{name}: {name} is required for {platform}")
    if path == VIDEO and "photos[]" in values:
        raise FormError("photos[]: a video post carries no photos[]")


def _check_values(one: dict[str, str]) -> None:
    for name, allowed in CHOICES.items():
        if name in one and one[name] not in allowed:
            raise FormError(f"{name}: {one[name]!r} is not one of {', '.join(sorted(allowed))}")
    for name in BOOLEANS:
        if name in one and one[name] not in ("true", "false"):
            raise FormError(f"{name}: {one[name]!r} must be true or false")
    for name in INTEGERS:
        if name in one and not one[name].isdigit():
            raise FormError(f"{name}: {one[name]!r} must be a whole number")
    subreddit = one.get("subreddit", "")
    if subreddit and subreddit.lower().startswith(("r/", "/r/")):
        raise FormError(f"subreddit: {subreddit!r}: name it without r/")
