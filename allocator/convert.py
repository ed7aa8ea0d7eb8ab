"""Protobuf to domain and back, validating every field on the way in.

Every refusal names the field it is about (`contents[2].media_url: ...`), so a caller sees
exactly what to fix; nothing reaches the service unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from allocator.calendar import Calendar
from allocator.domain import (
    UPDATABLE,
    Assignment,
    AssignmentPage,
    AssignmentQuery,
    BookedContent,
    ContentPatch,
    ContentSpec,
    Profile,
    Schedule,
    SlotSpec,
)
from allocator.errors import InvalidArgument
from queuelabs import posts
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.fields import (
    PLATFORM_TO_PB,
    optional_platform_field,
    page_size_field,
    page_token_in,
    page_token_out,
    platform_field,
    text_field,
    timestamp_in,
    timestamp_out,
    uuid_field,
)
from queuelabs.platforms import MediaType, Platform

__all__ = ["platform_field", "uuid_field"]  # the servicer reaches them through this module

MAX_SLOTS = 1440  # one per minute of the day
MAX_NAME = 200
MAX_TITLE = 2200  # TikTok's caption limit, the longest of the platforms'
MAX_DESCRIPTION = 5000
MAX_URL = 2048
MAX_REASON = 1000

MEDIA_FROM_PB: dict[int, MediaType] = {
    pb.MEDIA_TYPE_VIDEO: MediaType.VIDEO,
    pb.MEDIA_TYPE_PHOTO: MediaType.PHOTO,
    pb.MEDIA_TYPE_TEXT: MediaType.TEXT,
}
MEDIA_TO_PB: dict[MediaType, pb.MediaType.ValueType] = {
    MediaType.VIDEO: pb.MEDIA_TYPE_VIDEO,
    MediaType.PHOTO: pb.MEDIA_TYPE_PHOTO,
    MediaType.TEXT: pb.MEDIA_TYPE_TEXT,
}


# Fields in


def timezone_field(value: str, field: str = "timezone") -> str:
    if not value:
        raise InvalidArgument(field, "is required (an IANA name such as Asia/Jakarta)")
    if value not in _timezones() or value in _NOT_ZONES:
        raise InvalidArgument(field, f"{value[:64]!r} is not an IANA timezone name")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument(field, f"{value!r} has no timezone data here") from None
    return value


_TIMEZONES: frozenset[str] | None = None


def _timezones() -> frozenset[str]:
    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = frozenset(available_timezones())
    return _TIMEZONES


_HH_MM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
# Zone names that are not places: the host's own zone, and tzdata's placeholders.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


def local_time_field(value: str, field: str) -> time:
    if not _HH_MM.fullmatch(value):  # ASCII digits only, not other scripts digits
        raise InvalidArgument(field, f"{value[:16]!r} is not a time as HH:MM (00:00 to 23:59)")
    return time(int(value[:2]), int(value[3:]))


def weekdays_field(values: list[int], field: str) -> frozenset[int]:
    for i, day in enumerate(values):
        if not 1 <= day <= 7:
            raise InvalidArgument(f"{field}[{i}]", f"{day} is not an ISO weekday (1=Mon .. 7=Sun)")
    if len(set(values)) != len(values):
        raise InvalidArgument(field, "names a weekday twice")
    return frozenset(values)


def timestamp_field(message: object, name: str, field: str) -> datetime | None:
    if not message.HasField(name):  # type: ignore[attr-defined]
        return None
    return timestamp_in(getattr(message, name), field)


def profile_in(request: pb.UpsertProfileRequest) -> Profile:
    return Profile(
        profile_id=uuid_field(request.profile_id, "profile_id"),
        name=text_field(request.name, "name", MAX_NAME, required=True),
        upload_post_user=text_field(
            request.upload_post_user, "upload_post_user", MAX_NAME, required=True
        ),
        timezone=timezone_field(request.timezone),
    )


def slots_in(slots: list[pb.Slot]) -> list[SlotSpec]:
    if len(slots) > MAX_SLOTS:
        raise InvalidArgument("slots", f"holds {len(slots)} slots; at most {MAX_SLOTS}")
    specs: list[SlotSpec] = []
    first_index: dict[time, int] = {}
    for i, slot in enumerate(slots):
        at = local_time_field(slot.local_time, f"slots[{i}].local_time")
        if at in first_index:
            raise InvalidArgument(
                f"slots[{i}].local_time", f"repeats slots[{first_index[at]}].local_time"
            )
        first_index[at] = i
        specs.append(SlotSpec(at, weekdays_field(list(slot.weekdays), f"slots[{i}].weekdays")))
    return specs


def content_in(content: pb.Content, field: str, platform: Platform) -> ContentSpec:
    """A content to assign on `platform`, each field checked and the post as a whole checked
    against what the platform takes (queuelabs/posts.py)."""
    content_id = uuid_field(content.content_id, f"{field}.content_id")
    values: dict[str, Any] = {"content_id": content_id}
    options: posts.Options | None = None
    for path in UPDATABLE:
        got, options_set = _part_in(content, field, platform, path)
        values |= got
        options = options_set or options
    spec = ContentSpec(**values)
    assert options is not None
    posts.check_post(platform, spec.post(options), field)
    return spec


def content_patch_in(
    content: pb.Content, field: str, platform: Platform, paths: Sequence[str]
) -> ContentPatch:
    """UpdateContent's change: the fields its paths name, each checked on its own (the content
    as a whole is checked once the change is applied to what is stored)."""
    values: dict[str, Any] = {}
    options: posts.Options | None = None
    for path in paths:
        got, options_set = _part_in(content, field, platform, path)
        values |= got
        options = options_set or options
    return ContentPatch(tuple(paths), values, options)


def _part_in(
    content: pb.Content, field: str, platform: Platform, path: str
) -> tuple[dict[str, Any], posts.Options | None]:
    """The ContentSpec fields of one UpdateContent path (see UPDATABLE), checked on their own;
    for `options`, also the options as set."""
    if path == "media":
        media_type, media = _media_in(content, field)
        url = media[0].url if media else ""
        return {"media_type": media_type, "media": media, "media_url": url}, None
    if path == "options":
        member = content.WhichOneof("options") or ""
        options = posts.options_in(
            platform,
            getattr(content, member) if member else None,
            member,
            content.platform_options,
            field,
        )
        return {"platform_options": posts.wire_of(options)}, options
    limit = {
        "title": MAX_TITLE,
        "description": MAX_DESCRIPTION,
        "first_comment": posts.MAX_FIRST_COMMENT,
        "alt_text": posts.MAX_ALT_TEXT,
    }[path]
    return {path: text_field(getattr(content, path), f"{field}.{path}", limit)}, None


def _media_in(content: pb.Content, field: str) -> tuple[MediaType, tuple[posts.MediaItem, ...]]:
    """The kind of post and its items: from `media`, or the one `media_url` of old."""
    # GetContent answers a one-item post with both (media_url for callers that know only it):
    # the same URL sent back beside its one item is that echo, not a second media.
    echoed = len(content.media) == 1 and content.media_url == content.media[0].url
    if content.media_url and content.media and not echoed:
        raise InvalidArgument(
            f"{field}.media",
            f"is set beside {field}.media_url: set one of the two (media for several items)",
        )
    if len(content.media) > posts.MAX_MEDIA:
        raise InvalidArgument(
            f"{field}.media", f"holds {len(content.media)} items; at most {posts.MAX_MEDIA}"
        )
    items = tuple(
        media_item_in(item, f"{field}.media[{i}]") for i, item in enumerate(content.media)
    )
    if content.media_type == pb.MEDIA_TYPE_UNSPECIFIED:
        if not items:
            raise InvalidArgument(
                f"{field}.media_type", "is required (VIDEO, PHOTO or TEXT) when media is empty"
            )
        return posts.media_type_of(items), items
    if content.media_type not in MEDIA_FROM_PB:
        raise InvalidArgument(f"{field}.media_type", f"{content.media_type} is not a media type")
    media_type = MEDIA_FROM_PB[content.media_type]
    if media_type is MediaType.TEXT:
        if content.media_url:
            raise InvalidArgument(f"{field}.media_url", "must be empty for a TEXT post")
        return media_type, items  # (items of a TEXT post: refused by the post's check)
    if items:
        return media_type, items
    url = url_field(content.media_url, f"{field}.media_url")
    item_type = MediaType.VIDEO if media_type is MediaType.VIDEO else MediaType.PHOTO
    return media_type, (posts.MediaItem(url, item_type),)


ITEM_TYPES = {pb.MEDIA_TYPE_PHOTO: MediaType.PHOTO, pb.MEDIA_TYPE_VIDEO: MediaType.VIDEO}


def media_item_in(item: pb.MediaItem, field: str) -> posts.MediaItem:
    if item.type not in ITEM_TYPES:
        raise InvalidArgument(
            f"{field}.type",
            "is required: MEDIA_TYPE_PHOTO or MEDIA_TYPE_VIDEO"
            if item.type == pb.MEDIA_TYPE_UNSPECIFIED
            else f"{pb.MediaType.Name(item.type) if item.type in MEDIA_FROM_PB else item.type} "
            "is no type of a media item (MEDIA_TYPE_PHOTO or MEDIA_TYPE_VIDEO)",
        )
    return posts.MediaItem(url_field(item.url, f"{field}.url"), ITEM_TYPES[item.type])


def url_field(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(field, "is required for video and photo content")
    if not value.startswith(("https://", "http://")) or len(value) <= len("https://"):
        raise InvalidArgument(field, f"{value[:64]!r} is not an http(s) URL")
    return text_field(value, field, MAX_URL)


# UpdateContent's paths by the names a caller may use: each field of Content it replaces.
MASK_PATHS: dict[str, str] = {path: path for path in UPDATABLE} | {
    "media_url": "media",
    "media_type": "media",
    "platform_options": "options",
    **{posts.message_name(p): "options" for p in Platform},
}


def update_mask_in(request: pb.UpdateContentRequest) -> list[str]:
    """The paths an UpdateContent replaces, in UPDATABLE's order; an empty mask is all."""
    if not request.update_mask.paths:
        return list(UPDATABLE)
    named: set[str] = set()
    for i, path in enumerate(request.update_mask.paths):
        if path not in MASK_PATHS:
            raise InvalidArgument(
                f"update_mask.paths[{i}]",
                f"{path[:64]!r} is not a field UpdateContent changes "
                f"(one of {', '.join(UPDATABLE)})",
            )
        named.add(MASK_PATHS[path])
    return [path for path in UPDATABLE if path in named]


def revision_field(value: int) -> int:
    if value < 0:
        raise InvalidArgument("expected_revision", f"{value} is negative (0: any revision)")
    return value


def reason_field(value: str) -> str:
    return text_field(value, "reason", MAX_REASON)


def assignment_query_in(request: pb.ListAssignmentsRequest) -> AssignmentQuery:
    start = timestamp_field(request, "start_time", "start_time")
    end = timestamp_field(request, "end_time", "end_time")
    if start and end and end <= start:
        raise InvalidArgument("end_time", "must be after start_time")
    query = AssignmentQuery(
        profile_id=uuid_field(request.profile_id, "profile_id"),
        platform=optional_platform_field(request.platform),
        start_time=start,
        end_time=end,
        page_size=page_size_field(request.page_size),
        after=None,
    )
    return replace(query, after=page_token_in(request.page_token, _filters(query)))


def _filters(query: AssignmentQuery) -> list[object]:
    return [query.profile_id, query.platform, query.start_time, query.end_time]


# Messages out


def profile_out(profile: Profile) -> pb.Profile:
    return pb.Profile(
        profile_id=str(profile.profile_id),
        name=profile.name,
        upload_post_user=profile.upload_post_user,
        timezone=profile.timezone,
        create_time=timestamp_out(profile.created_at),
        update_time=timestamp_out(profile.updated_at),
    )


def schedule_out(schedule: Schedule) -> pb.Schedule:
    return pb.Schedule(
        profile_id=str(schedule.profile_id),
        platform=PLATFORM_TO_PB[schedule.platform],
        slots=[
            pb.Slot(
                local_time=f"{rule.local_time:%H:%M}",
                weekdays=sorted(rule.weekdays),
                slot_id=str(rule.slot_id),
            )
            for rule in schedule.slots
        ],
        update_time=timestamp_out(schedule.updated_at),
    )


def assignment_out(assignment: Assignment) -> pb.Assignment:
    return pb.Assignment(
        content_id=str(assignment.content_id),
        profile_id=str(assignment.profile_id),
        platform=PLATFORM_TO_PB[assignment.platform],
        slot_id=str(assignment.slot_id),
        scheduled_at=timestamp_out(assignment.scheduled_at),
        status=assignment.state.value,
    )


def content_out(booked: BookedContent) -> pb.Content:
    """A content as stored: its options as the platform's typed message, and any stored key
    that message cannot hold (an old row's) in platform_options, as text."""
    spec, platform = booked.spec, booked.assignment.platform
    typed, rest = posts.typed_of(platform, spec.platform_options)
    message = pb.Content(
        content_id=str(spec.content_id),
        # The one URL of a one-item post, as callers before `media` read it; none for several.
        media_url=spec.media[0].url if len(spec.media) == 1 else "",
        title=spec.title,
        description=spec.description,
        media_type=MEDIA_TO_PB[spec.media_type],
        platform_options=rest,
        media=[pb.MediaItem(url=item.url, type=MEDIA_TO_PB[item.type]) for item in spec.media],
        first_comment=spec.first_comment,
        alt_text=spec.alt_text,
        revision=spec.revision,
        update_time=timestamp_out(spec.updated_at),
    )
    if typed is not None:
        getattr(message, posts.message_name(platform)).CopyFrom(typed)
    return message


def page_out(query: AssignmentQuery, page: AssignmentPage) -> pb.ListAssignmentsResponse:
    return pb.ListAssignmentsResponse(
        assignments=[assignment_out(a) for a in page.assignments],
        next_page_token=page_token_out(_filters(query), page.next_after),
    )


def calendar_out(calendar: Calendar) -> pb.Calendar:
    return pb.Calendar(
        profile_id=str(calendar.profile_id),
        platform=PLATFORM_TO_PB[calendar.platform],
        timezone=calendar.timezone,
        slots=[
            pb.CalendarSlot(
                scheduled_at=timestamp_out(entry.scheduled_at),
                local_time=entry.local_time,
                slot_id=str(entry.slot_id) if entry.slot_id else "",
                free=entry.free,
                content_id=str(entry.content_id) if entry.content_id else "",
                title=entry.title,
                status=entry.state.value if entry.state else "",
            )
            for entry in calendar.entries
        ],
    )
