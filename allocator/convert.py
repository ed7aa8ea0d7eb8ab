"""Protobuf to domain and back, validating every field on the way in.

Every refusal names the field it is about (`contents[2].media_url: ...`), so a caller sees
exactly what to fix; nothing reaches the service unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from allocator.domain import (
    Assignment,
    AssignmentPage,
    AssignmentQuery,
    ContentSpec,
    Profile,
    Schedule,
    SlotSpec,
)
from allocator.errors import InvalidArgument
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
from queuelabs.platforms import MediaType

__all__ = ["platform_field", "uuid_field"]  # the servicer reaches them through this module

MAX_SLOTS = 1440  # one per minute of the day
MAX_NAME = 200
MAX_TITLE = 2200  # TikTok's caption limit, the longest of the platforms'
MAX_DESCRIPTION = 5000
MAX_URL = 2048
MAX_REASON = 1000
MAX_OPTIONS = 50
MAX_OPTION_KEY = 64
MAX_OPTION_VALUE = 2000

MEDIA_FROM_PB: dict[int, MediaType] = {
    pb.MEDIA_TYPE_VIDEO: MediaType.VIDEO,
    pb.MEDIA_TYPE_PHOTO: MediaType.PHOTO,
    pb.MEDIA_TYPE_TEXT: MediaType.TEXT,
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


def content_in(content: pb.Content, field: str) -> ContentSpec:
    content_id = uuid_field(content.content_id, f"{field}.content_id")
    if content.media_type == pb.MEDIA_TYPE_UNSPECIFIED:
        raise InvalidArgument(f"{field}.media_type", "is required (VIDEO, PHOTO or TEXT)")
    if content.media_type not in MEDIA_FROM_PB:
        raise InvalidArgument(f"{field}.media_type", f"{content.media_type} is not a media type")
    media_type = MEDIA_FROM_PB[content.media_type]
    if media_type is MediaType.TEXT:
        media_url = text_field(content.media_url, f"{field}.media_url", MAX_URL)
    else:
        media_url = url_field(content.media_url, f"{field}.media_url")
    return ContentSpec(
        content_id=content_id,
        media_type=media_type,
        media_url=media_url,
        title=text_field(
            content.title, f"{field}.title", MAX_TITLE, required=media_type is MediaType.TEXT
        ),
        description=text_field(content.description, f"{field}.description", MAX_DESCRIPTION),
        platform_options=options_field(content.platform_options, f"{field}.platform_options"),
    )


def url_field(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(field, "is required for video and photo content")
    if not value.startswith(("https://", "http://")) or len(value) <= len("https://"):
        raise InvalidArgument(field, f"{value[:64]!r} is not an http(s) URL")
    return text_field(value, field, MAX_URL)


def options_field(options: Mapping[str, str], field: str) -> dict[str, str]:
    if not options:
        return {}
    if len(options) > MAX_OPTIONS:
        raise InvalidArgument(field, f"holds {len(options)} options; at most {MAX_OPTIONS}")
    for key, value in options.items():
        if not key or len(key) > MAX_OPTION_KEY or "\x00" in key:
            raise InvalidArgument(
                field, f"key {key[:64]!r} must be 1 to {MAX_OPTION_KEY} characters"
            )
        text_field(value, f"{field}[{key!r}]", MAX_OPTION_VALUE)
    return dict(options)


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


def page_out(query: AssignmentQuery, page: AssignmentPage) -> pb.ListAssignmentsResponse:
    return pb.ListAssignmentsResponse(
        assignments=[assignment_out(a) for a in page.assignments],
        next_page_token=page_token_out(_filters(query), page.next_after),
    )
