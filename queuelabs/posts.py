"""What a post may be on each platform, and its typed options: one table each, read by both
services (pure: no I/O).

`RULES` says, per platform, which kinds of post it takes (a video, photos up to a count, videos
mixed into a carousel, text), whether it offers a first comment and alt text, and whether a
title is required. `OPTIONS` says, per platform, every field of its `*Options` message: the
Upload-Post form field it is sent as, its kind of value, the kinds of post it applies to and its
limits. The code below reads the tables; a platform's difference is a row, never an `if`.

Options travel in three forms:
- typed: the platform's `*Options` message of `Content.options` (the oneof);
- the map: `Content.platform_options`, keyed by Upload-Post's field names (a list's items
  separated by commas), kept for callers that used it before the typed messages;
- wire: what is stored in `contents.platform_options` and sent, `{field: str | [str, ...]}`
  (an array is the field repeated, one part per item; booleans "true"/"false", integers in
  decimal).
Either input form becomes `Options` (values by proto field name, each with the path the caller
set it at, so a refusal names it), which is checked against the post as a whole
(`check_post`) and written out as the wire form (`wire_of`). Stored wire forms come back as the
typed message for output (`typed_of`); a key the table does not know stays in the map.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from google.protobuf.message import Message

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.errors import InvalidArgument
from queuelabs.platforms import MediaType, Platform

_V, _P, _T = MediaType.VIDEO, MediaType.PHOTO, MediaType.TEXT
ANY_POST: frozenset[MediaType] = frozenset(MediaType)
VIDEO_ONLY: frozenset[MediaType] = frozenset({_V})
PHOTOS_ONLY: frozenset[MediaType] = frozenset({_P})
TEXT_ONLY: frozenset[MediaType] = frozenset({_T})
WITH_MEDIA: frozenset[MediaType] = frozenset({_V, _P})

MAX_URL = 2048
MAX_FIRST_COMMENT = 2200
MAX_ALT_TEXT = 1000  # X's limit, the shortest of the platforms that take one
MAX_MEDIA = 35  # the most any platform takes (TikTok's photo posts)


# What a post may be


@dataclass(frozen=True)
class PostRules:
    """What one platform takes (docs/posts.md shows this table)."""

    video: bool  # a post of one video
    max_photos: int  # the most items of a photo post (a carousel when more than one); 0: none
    mixed: bool  # videos may be items of a carousel (sent in photos[] with the photos)
    text: bool  # a post of text only
    first_comment: bool  # offers a first comment
    alt_text: frozenset[MediaType]  # the kinds of post alt text is taken for
    title_required: bool  # every post needs a title


RULES: dict[Platform, PostRules] = {
    Platform.TIKTOK: PostRules(True, 35, False, False, False, frozenset(), False),
    Platform.INSTAGRAM: PostRules(True, 10, True, False, True, PHOTOS_ONLY, False),
    Platform.YOUTUBE: PostRules(True, 0, False, False, True, frozenset(), True),
    Platform.FACEBOOK: PostRules(True, 10, False, True, True, PHOTOS_ONLY, False),
    Platform.LINKEDIN: PostRules(True, 20, False, True, True, PHOTOS_ONLY, False),
    Platform.X: PostRules(True, 4, False, True, True, PHOTOS_ONLY, False),
    Platform.THREADS: PostRules(True, 10, True, True, True, PHOTOS_ONLY, False),
    Platform.PINTEREST: PostRules(True, 5, False, False, False, PHOTOS_ONLY, False),
    Platform.REDDIT: PostRules(True, 1, False, True, True, frozenset(), True),
    Platform.BLUESKY: PostRules(True, 4, False, True, True, PHOTOS_ONLY, False),
}


def takes(rules: PostRules, kind: MediaType) -> bool:
    """Whether a platform takes a post of this kind at all."""
    return {_V: rules.video, _P: rules.max_photos > 0, _T: rules.text}[kind]


@dataclass(frozen=True)
class MediaItem:
    url: str
    type: MediaType  # PHOTO or VIDEO


# Typed options


class Kind(StrEnum):
    """The kind of value an option holds, which says how it is checked and written."""

    ENUM = "enum"  # one of `values` (the proto enum's members, in number order)
    BOOL = "bool"  # "true" / "false"
    INT = "int"  # decimal, minimum..maximum
    TEXT = "text"  # 1..max_len characters, matching `pattern` when given
    URL = "url"  # an http(s) URL
    ID = "id"  # 1..max_len printable characters, no spaces (`pattern` narrows it)
    LIST = "list"  # items, sent as the field repeated ("name[]")
    CSV = "csv"  # items, sent as one string joined by ","


@dataclass(frozen=True)
class OnlyWith:
    """An option that needs another option of the post set (to one of `values`, when given;
    an unset enum counts as `default_for` the post's kind says)."""

    option: str
    values: tuple[str, ...] = ()
    # What the other option means when unset, by kind of post (Instagram's media_type: REELS
    # for a video, IMAGE for photos).
    default_for: Mapping[MediaType, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Option:
    """One field of a platform's `*Options` message."""

    wire: str  # the Upload-Post form field
    kind: Kind
    posts: frozenset[MediaType] = ANY_POST  # the kinds of post it applies to
    values: tuple[str, ...] = ()  # ENUM: the wire values of members 1, 2, ...
    # ENUM: a value that applies to fewer kinds of post, or to fewer items, than the option
    value_posts: Mapping[str, frozenset[MediaType]] = field(default_factory=dict)
    value_max_items: Mapping[str, int] = field(default_factory=dict)
    minimum: int = 0  # INT
    maximum: int = 2**31 - 1  # INT
    max_len: int = 128  # TEXT, ID, and each item of a LIST or CSV
    pattern: str = ""  # TEXT, ID, items: a full match required
    forbidden: str = ""  # TEXT, items: characters refused
    what: str = ""  # how a pattern reads in a refusal ("a numeric id")
    min_items: int = 1  # LIST, CSV
    max_items: int = 50  # LIST, CSV
    required: bool = False  # every post of the platform must set it
    only_with: OnlyWith | None = None
    below_items: bool = False  # INT: an index among the post's media items

    @property
    def listed(self) -> bool:
        return self.kind in (Kind.LIST, Kind.CSV)


def _one_of(values: str) -> tuple[str, ...]:
    """An ENUM's wire values, in the order of the proto enum's members (1, 2, ...)."""
    return tuple(values.split())


_USERNAME = r"[A-Za-z0-9._]{1,30}"
_NUMERIC = r"[0-9]{1,32}"
_LANGUAGE = r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*"
_SUBREDDIT = r"[A-Za-z0-9_]{3,21}"
_REELS = OnlyWith("media_type", ("REELS",), {_V: "REELS", _P: "IMAGE"})

# Per platform: proto field name -> its option. The message each platform's options live in is
# Content's oneof member named as the platform (`content.tiktok`: TikTokOptions).
OPTIONS: dict[Platform, dict[str, Option]] = {
    Platform.TIKTOK: {
        "privacy_level": Option(
            "privacy_level",
            Kind.ENUM,
            values=_one_of(
                "PUBLIC_TO_EVERYONE MUTUAL_FOLLOW_FRIENDS FOLLOWER_OF_CREATOR SELF_ONLY"
            ),
        ),
        "disable_comment": Option("disable_comment", Kind.BOOL),
        "disable_duet": Option("disable_duet", Kind.BOOL, VIDEO_ONLY),
        "disable_stitch": Option("disable_stitch", Kind.BOOL, VIDEO_ONLY),
        "cover_timestamp_ms": Option(
            "cover_timestamp", Kind.INT, VIDEO_ONLY, maximum=24 * 3600 * 1000
        ),
        "ai_generated": Option("is_aigc", Kind.BOOL),
        "post_mode": Option("post_mode", Kind.ENUM, values=_one_of("DIRECT_POST MEDIA_UPLOAD")),
        "photo_cover_index": Option(
            "photo_cover_index", Kind.INT, PHOTOS_ONLY, maximum=MAX_MEDIA - 1, below_items=True
        ),
        "auto_add_music": Option("auto_add_music", Kind.BOOL, PHOTOS_ONLY),
        "branded_content": Option("brand_content_toggle", Kind.BOOL),
        "brand_organic": Option("brand_organic_toggle", Kind.BOOL),
    },
    Platform.INSTAGRAM: {
        "media_type": Option(
            "media_type",
            Kind.ENUM,
            WITH_MEDIA,
            values=_one_of("REELS STORIES IMAGE"),
            value_posts={"REELS": VIDEO_ONLY, "IMAGE": PHOTOS_ONLY},
            value_max_items={"STORIES": 1},
        ),
        "share_to_feed": Option("share_to_feed", Kind.BOOL, VIDEO_ONLY, only_with=_REELS),
        "collaborators": Option(
            "collaborators", Kind.CSV, max_items=3, pattern=_USERNAME, what="an Instagram username"
        ),
        "cover_url": Option("cover_url", Kind.URL, VIDEO_ONLY, only_with=_REELS),
        "user_tags": Option(
            "user_tags", Kind.CSV, max_items=20, pattern=_USERNAME, what="an Instagram username"
        ),
        "location_id": Option("location_id", Kind.ID),
        "audio_name": Option("audio_name", Kind.TEXT, VIDEO_ONLY, max_len=100, only_with=_REELS),
    },
    Platform.YOUTUBE: {
        "tags": Option("tags[]", Kind.LIST, max_items=50, max_len=100, forbidden="<>,"),
        "privacy_status": Option(
            "privacyStatus", Kind.ENUM, values=_one_of("public unlisted private")
        ),
        "category_id": Option("categoryId", Kind.ID, pattern=r"[0-9]{1,4}", what="a number"),
        "thumbnail_url": Option("thumbnail_url", Kind.URL),
        "made_for_kids": Option("selfDeclaredMadeForKids", Kind.BOOL),
        "contains_synthetic_media": Option("containsSyntheticMedia", Kind.BOOL),
        "playlist_id": Option("youtube_playlist_id", Kind.ID),
        "embeddable": Option("embeddable", Kind.BOOL),
        "default_language": Option(
            "defaultLanguage", Kind.ID, pattern=_LANGUAGE, what="a BCP-47 tag such as id or en-US"
        ),
    },
    Platform.FACEBOOK: {
        "page_id": Option("facebook_page_id", Kind.ID),
        "media_type": Option(
            "facebook_media_type",
            Kind.ENUM,
            WITH_MEDIA,
            values=_one_of("POSTS REELS STORIES VIDEO"),
            value_posts={"POSTS": PHOTOS_ONLY, "REELS": VIDEO_ONLY, "VIDEO": VIDEO_ONLY},
        ),
        "video_state": Option(
            "video_state", Kind.ENUM, VIDEO_ONLY, values=_one_of("PUBLISHED DRAFT")
        ),
        "thumbnail_url": Option("thumbnail_url", Kind.URL, VIDEO_ONLY),
        "link_url": Option("facebook_link_url", Kind.URL, TEXT_ONLY),
    },
    Platform.LINKEDIN: {
        "visibility": Option(
            "visibility",
            Kind.ENUM,
            values=_one_of("PUBLIC CONNECTIONS LOGGED_IN"),
            value_posts={
                "CONNECTIONS": frozenset({_V, _T}),
                "LOGGED_IN": frozenset({_V, _T}),
            },
        ),
        "page_id": Option("target_linkedin_page_id", Kind.ID),
        "link_url": Option("linkedin_link_url", Kind.URL, TEXT_ONLY),
    },
    Platform.X: {
        "reply_settings": Option(
            "reply_settings",
            Kind.ENUM,
            values=_one_of("everyone following mentionedUsers subscribers verified"),
        ),
        "poll_options": Option(
            "poll_options[]", Kind.LIST, TEXT_ONLY, min_items=2, max_items=4, max_len=25
        ),
        "poll_duration_minutes": Option(
            "poll_duration",
            Kind.INT,
            TEXT_ONLY,
            minimum=5,
            maximum=10080,
            only_with=OnlyWith("poll_options"),
        ),
        "quote_tweet_id": Option("quote_tweet_id", Kind.ID, pattern=_NUMERIC, what="numeric"),
        "tagged_user_ids": Option(
            "tagged_user_ids[]",
            Kind.LIST,
            PHOTOS_ONLY,
            max_items=10,
            pattern=_NUMERIC,
            what="a numeric user id",
        ),
        "long_text_as_post": Option("x_long_text_as_post", Kind.BOOL),
        "community_id": Option("community_id", Kind.ID, pattern=_NUMERIC, what="numeric"),
    },
    Platform.THREADS: {
        "topic_tag": Option("threads_topic_tag", Kind.TEXT, max_len=50, forbidden=".&#"),
        "long_text_as_post": Option("threads_long_text_as_post", Kind.BOOL),
    },
    Platform.PINTEREST: {
        "board_id": Option("pinterest_board_id", Kind.ID),
        "link": Option("pinterest_link", Kind.URL),
        "cover_image_url": Option("pinterest_cover_image_url", Kind.URL, VIDEO_ONLY),
    },
    Platform.REDDIT: {
        "subreddit": Option(
            "subreddit",
            Kind.ID,
            pattern=_SUBREDDIT,
            what="a subreddit's name: 3 to 21 letters, digits or '_', without r/",
            required=True,
        ),
        "flair_id": Option("flair_id", Kind.ID),
        "link_url": Option("reddit_link_url", Kind.URL, TEXT_ONLY),
    },
    Platform.BLUESKY: {
        "link_url": Option("bluesky_link_url", Kind.URL, TEXT_ONLY),
    },
}

# The Upload-Post fields QueueLabs sets itself: never taken from a caller's options. Compared
# without regard to case. The Uploader drops any an old stored row holds (with a warning).
RESERVED_KEYS: frozenset[str] = frozenset(
    {
        "user",
        "platform",
        "platform[]",
        "request_id",
        "async_upload",
        "title",
        "description",
        "video",
        "photos",
        "photos[]",
        "first_comment",
        "alt_text",
        "external_id",
        "idempotency-key",
        "idempotency_key",
    }
)
# Upload-Post's own scheduling: a post given one is queued by Upload-Post (202 and a job id)
# instead of published now, beside the Allocator's slots.
SCHEDULING_KEYS: frozenset[str] = frozenset(
    {"scheduled_date", "timezone", "add_to_queue", "max_posts_per_slot"}
)

MAX_MAP_OPTIONS = 50
MAX_MAP_KEY = 64
MAX_MAP_VALUE = 2000

Value = str | bool | int | tuple[str, ...]
Wire = dict[str, str | list[str]]


@dataclass(frozen=True)
class Options:
    """A platform's options as set: values by proto field name (an ENUM by its wire value), and
    the path each was set at (`content.tiktok.disable_duet`, `content.platform_options["..."]`)."""

    platform: Platform
    values: Mapping[str, Value] = field(default_factory=dict)
    paths: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Post:
    """What check_post looks at: a content's post, as it would be stored."""

    media_type: MediaType
    media: tuple[MediaItem, ...]
    title: str
    first_comment: str
    alt_text: str
    options: Options


def message_name(platform: Platform) -> str:
    """The oneof member of Content that holds the platform's options (`tiktok`, ...)."""
    return platform.value


def _by_wire(platform: Platform) -> dict[str, str]:
    return {option.wire: name for name, option in OPTIONS[platform].items()}


def accepted_keys(platform: Platform) -> list[str]:
    """The map keys a platform's options take: Upload-Post's field names, as documented."""
    return [option.wire for option in OPTIONS[platform].values()]


# Options in


def options_in(
    platform: Platform,
    typed: Message | None,
    typed_member: str,
    mapped: Mapping[str, str],
    field_prefix: str,
) -> Options:
    """The options a content sets: its oneof member `typed_member` (None/"" when unset), or its
    map; refusing both at once, another platform's message, and any key the map may not hold."""
    if typed is not None and typed_member:
        if mapped:
            raise InvalidArgument(
                f"{field_prefix}.platform_options",
                f"is set beside {field_prefix}.{typed_member}: set the options one way "
                f"(the typed {typed_member} message, or this map), not both",
            )
        if typed_member != message_name(platform):
            raise InvalidArgument(
                f"{field_prefix}.{typed_member}",
                f"is set on a {platform.value} content; its options go in "
                f"{field_prefix}.{message_name(platform)}",
            )
        return _typed_in(platform, typed, f"{field_prefix}.{typed_member}")
    return _map_in(platform, mapped, f"{field_prefix}.platform_options")


def _typed_in(platform: Platform, message: Message, prefix: str) -> Options:
    values: dict[str, Value] = {}
    paths: dict[str, str] = {}
    for name, option in OPTIONS[platform].items():
        descriptor = message.DESCRIPTOR.fields_by_name[name]
        raw = getattr(message, name)
        path = f"{prefix}.{name}"
        if descriptor.has_presence:
            if not message.HasField(name):
                continue
        elif not raw:  # proto3 scalars without presence: the zero value is unset
            continue
        values[name] = _typed_value(option, raw, path, descriptor)
        paths[name] = path
    return Options(platform, values, paths)


def _typed_value(option: Option, raw: Any, path: str, descriptor: Any) -> Value:
    if option.kind is Kind.ENUM:
        if not 1 <= raw <= len(option.values):
            raise InvalidArgument(path, f"{raw} is not a {descriptor.enum_type.name}")
        return option.values[raw - 1]
    if option.kind is Kind.BOOL:
        return bool(raw)
    if option.kind is Kind.INT:
        return int(raw)
    if option.listed:
        return tuple(raw)
    return str(raw)


def _map_in(platform: Platform, mapped: Mapping[str, str], prefix: str) -> Options:
    if len(mapped) > MAX_MAP_OPTIONS:
        raise InvalidArgument(prefix, f"holds {len(mapped)} options; at most {MAX_MAP_OPTIONS}")
    by_wire = _by_wire(platform)
    values: dict[str, Value] = {}
    paths: dict[str, str] = {}
    for key, text in mapped.items():
        path = f"{prefix}[{json.dumps(key[:MAX_MAP_KEY])}]"
        if not key or len(key) > MAX_MAP_KEY or "\x00" in key:
            raise InvalidArgument(prefix, f"key {key[:64]!r} must be 1 to {MAX_MAP_KEY} characters")
        if key.lower() in SCHEDULING_KEYS:
            raise InvalidArgument(
                path,
                "is Upload-Post's own scheduling, refused: the Allocator's slots do the "
                "scheduling (assign the content to a slot, or MoveContent it to another); "
                f"{key} would make Upload-Post schedule the post itself",
            )
        if key.lower() in RESERVED_KEYS:
            raise InvalidArgument(
                path, "is set by QueueLabs (from the content's own fields), not an option"
            )
        if key not in by_wire:
            raise InvalidArgument(
                path,
                f"is no {platform.value} option; accepted: "
                f"{', '.join(accepted_keys(platform))} (or the typed "
                f"content.{message_name(platform)})",
            )
        if "\x00" in text or len(text) > MAX_MAP_VALUE:
            raise InvalidArgument(path, f"must be at most {MAX_MAP_VALUE} characters, no NUL")
        name = by_wire[key]
        values[name] = _text_value(OPTIONS[platform][name], text, path)
        paths[name] = path
    return Options(platform, values, paths)


def _text_value(option: Option, text: str, path: str) -> Value:
    """A value given as text (the map, or a stored wire string)."""
    if option.kind is Kind.BOOL:
        if text not in ("true", "false"):
            raise InvalidArgument(path, f"{text[:64]!r} is not a boolean (true or false)")
        return text == "true"
    if option.kind is Kind.INT:
        if not re.fullmatch(r"-?[0-9]{1,10}", text):
            raise InvalidArgument(path, f"{text[:64]!r} is not an integer")
        return int(text)
    if option.kind is Kind.ENUM:
        if text not in option.values:
            raise InvalidArgument(path, f"{text[:64]!r} is not one of {', '.join(option.values)}")
        return text
    if option.listed:
        return tuple(item.strip() for item in text.split(","))
    return text


# Options out


def wire_of(options: Options) -> Wire:
    """The options in Upload-Post's wire form, as stored and sent, in the table's order."""
    wire: Wire = {}
    for name, option in OPTIONS[options.platform].items():
        if name not in options.values:
            continue
        value = options.values[name]
        if option.kind is Kind.BOOL:
            wire[option.wire] = "true" if value else "false"
        elif option.kind is Kind.LIST:
            assert isinstance(value, tuple)
            wire[option.wire] = list(value)
        elif option.kind is Kind.CSV:
            assert isinstance(value, tuple)
            wire[option.wire] = ",".join(value)
        else:
            wire[option.wire] = str(value)
    return wire


def options_of_wire(platform: Platform, wire: Mapping[str, Any], prefix: str) -> Options:
    """The options a stored wire form holds, that the table knows and can read (an old row's
    other keys are left out); paths as the typed message's."""
    values, _ = _read_wire(platform, wire, f"{prefix}.{message_name(platform)}")
    return Options(
        platform, values, {name: f"{prefix}.{message_name(platform)}.{name}" for name in values}
    )


def _read_wire(
    platform: Platform, wire: Mapping[str, Any], prefix: str
) -> tuple[dict[str, Value], dict[str, str]]:
    """A stored wire form read back: the values the table knows, and every other key as text."""
    by_wire = _by_wire(platform)
    values: dict[str, Value] = {}
    rest: dict[str, str] = {}
    for key, stored in wire.items():
        name = by_wire.get(key)
        try:
            if name is None:
                raise ValueError
            option = OPTIONS[platform][name]
            if option.kind is Kind.LIST and isinstance(stored, list):
                values[name] = tuple(str(item) for item in stored)
            elif isinstance(stored, str):
                values[name] = _text_value(option, stored, f"{prefix}.{name}")
            else:
                raise ValueError
        except (ValueError, InvalidArgument):
            rest[key] = ",".join(map(str, stored)) if isinstance(stored, list) else str(stored)
    return values, rest


def typed_of(platform: Platform, wire: Mapping[str, Any]) -> tuple[Message | None, dict[str, str]]:
    """A stored wire form for output: the platform's typed message (None when nothing of it is
    set), and the keys it cannot hold, as text (a list's items joined by commas)."""
    values, rest = _read_wire(platform, wire, message_name(platform))
    if not values:
        return None, rest
    message = type(getattr(pb.Content(), message_name(platform)))()
    for name, value in values.items():
        option = OPTIONS[platform][name]
        if option.kind is Kind.ENUM:
            assert isinstance(value, str)
            setattr(message, name, option.values.index(value) + 1)
        elif option.listed:
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)
    return message, rest


# The post as a whole


def check_post(platform: Platform, post: Post, prefix: str) -> None:
    """Refuses a post the platform does not take, naming the field: its kind, its items, its
    title, first comment and alt text, and each option against the post."""
    rules = RULES[platform]
    kind = post.media_type
    if not takes(rules, kind):
        offered = ", ".join(k.name for k in MediaType if takes(rules, k))
        raise InvalidArgument(
            f"{prefix}.media_type",
            f"{platform.value} takes no {kind.name} posts (it takes {offered})",
        )
    _check_media(platform, rules, post, prefix)
    if rules.title_required and not post.title.strip():
        raise InvalidArgument(f"{prefix}.title", f"is required for {platform.value} posts")
    if kind is MediaType.TEXT and not post.title.strip():
        raise InvalidArgument(f"{prefix}.title", "is required for a TEXT post (it is the text)")
    if post.first_comment and not rules.first_comment:
        raise InvalidArgument(
            f"{prefix}.first_comment", f"{platform.value} offers no first comment"
        )
    if post.alt_text and kind not in rules.alt_text:
        where = (
            f"is taken for {platform.value} photo posts only, this is a {kind.name} post"
            if rules.alt_text
            else f"{platform.value} takes no alt text"
        )
        raise InvalidArgument(f"{prefix}.alt_text", where)
    _check_options(platform, post, prefix)


def _check_media(platform: Platform, rules: PostRules, post: Post, prefix: str) -> None:
    items = post.media
    if post.media_type is MediaType.TEXT:
        if items:
            raise InvalidArgument(f"{prefix}.media", "must be empty for a TEXT post")
        return
    if not items:
        raise InvalidArgument(f"{prefix}.media", "is required for video and photo posts")
    if post.media_type is MediaType.VIDEO:
        if len(items) != 1 or items[0].type is not MediaType.VIDEO:
            raise InvalidArgument(
                f"{prefix}.media",
                "a VIDEO post is one video item (photos, or several items: a PHOTO post)",
            )
        return
    if len(items) > rules.max_photos:
        raise InvalidArgument(
            f"{prefix}.media",
            f"holds {len(items)} items; {platform.value} takes at most {rules.max_photos}",
        )
    for i, item in enumerate(items):
        if item.type is MediaType.VIDEO and not rules.mixed:
            raise InvalidArgument(
                f"{prefix}.media[{i}].type",
                f"is a video: {platform.value} takes photos only in a photo post "
                "(a video is a VIDEO post of its own)",
            )


def _check_options(platform: Platform, post: Post, prefix: str) -> None:
    table = OPTIONS[platform]
    options = post.options
    kind = post.media_type
    for name, option in table.items():
        if option.required and name not in options.values:
            raise InvalidArgument(
                f"{prefix}.{message_name(platform)}.{name}",
                f"is required for {platform.value} posts",
            )
    for name, value in options.values.items():
        option = table[name]
        path = options.paths.get(name, f"{prefix}.{message_name(platform)}.{name}")
        if kind not in option.posts:
            raise InvalidArgument(path, f"is for {_kinds(option.posts)} only; this is {_a(kind)}")
        _check_value(option, value, path)
        if option.kind is Kind.ENUM:
            assert isinstance(value, str)
            allowed = option.value_posts.get(value)
            if allowed is not None and kind not in allowed:
                raise InvalidArgument(
                    path, f"{value} is for {_kinds(allowed)} only; this is {_a(kind)}"
                )
            most = option.value_max_items.get(value)
            if most is not None and len(post.media) > most:
                raise InvalidArgument(
                    path,
                    f"{value} takes at most {most} media item; this post has {len(post.media)}",
                )
        if option.below_items:
            assert isinstance(value, int)
            if value >= len(post.media):
                raise InvalidArgument(
                    path, f"{value} is no item of this post (it has {len(post.media)}; from 0)"
                )
        if option.only_with is not None:
            _check_only_with(options, option.only_with, kind, path, prefix, platform)


def _check_only_with(
    options: Options,
    needs: OnlyWith,
    kind: MediaType,
    path: str,
    prefix: str,
    platform: Platform,
) -> None:
    other = options.values.get(needs.option, needs.default_for.get(kind))
    other_path = options.paths.get(
        needs.option, f"{prefix}.{message_name(platform)}.{needs.option}"
    )
    if other is None:
        raise InvalidArgument(path, f"needs {other_path} set too")
    if needs.values and other not in needs.values:
        raise InvalidArgument(
            path, f"is for {' or '.join(needs.values)} only; {other_path} is {other}"
        )


def _check_value(option: Option, value: Value, path: str) -> None:
    if option.kind is Kind.INT:
        assert isinstance(value, int)
        if not option.minimum <= value <= option.maximum:
            raise InvalidArgument(
                path, f"{value} is out of range ({option.minimum} to {option.maximum})"
            )
    elif option.kind is Kind.URL:
        assert isinstance(value, str)
        _check_url(value, path)
    elif option.kind in (Kind.TEXT, Kind.ID):
        assert isinstance(value, str)
        _check_text(option, value, path)
    elif option.listed:
        assert isinstance(value, tuple)
        if not option.min_items <= len(value) <= option.max_items:
            raise InvalidArgument(
                path,
                f"holds {len(value)} items; {option.min_items} to {option.max_items} allowed",
            )
        for i, item in enumerate(value):
            _check_text(option, item, f"{path}[{i}]")


def _check_url(value: str, path: str) -> None:
    if not value.startswith(("https://", "http://")) or len(value) <= len("https://"):
        raise InvalidArgument(path, f"{value[:64]!r} is not an http(s) URL")
    if len(value) > MAX_URL or any(c.isspace() or not c.isprintable() for c in value):
        raise InvalidArgument(path, f"must be at most {MAX_URL} printable characters, no spaces")


def _check_text(option: Option, value: str, path: str) -> None:
    if not value.strip():
        raise InvalidArgument(path, "is empty")
    if len(value) > option.max_len:
        raise InvalidArgument(path, f"is {len(value)} characters long; at most {option.max_len}")
    if not value.isprintable():
        raise InvalidArgument(path, "holds a character that is not printable")
    if option.kind is Kind.ID and any(c.isspace() for c in value):
        raise InvalidArgument(path, f"{value[:64]!r} holds a space; an id has none")
    bad = sorted({c for c in value if c in option.forbidden})
    if bad:
        raise InvalidArgument(path, f"may not hold {' '.join(repr(c) for c in bad)}")
    if option.pattern and not re.fullmatch(option.pattern, value):
        raise InvalidArgument(path, f"{value[:64]!r} is not {option.what or 'valid'}")


def _kinds(kinds: frozenset[MediaType]) -> str:
    return " and ".join(f"{k.value} posts" for k in MediaType if k in kinds)


def _a(kind: MediaType) -> str:
    return f"a {kind.value} post"


def media_type_of(items: Sequence[MediaItem]) -> MediaType:
    """The kind of post a media list is when none is named: one video, a VIDEO post; anything
    else, a PHOTO post (a photo, or a carousel)."""
    if len(items) == 1 and items[0].type is MediaType.VIDEO:
        return MediaType.VIDEO
    return MediaType.PHOTO
