"""Short ways to make Allocator requests in tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from google.protobuf.timestamp_pb2 import Timestamp

from bench.database import count_in
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.allocator.v1.allocator_pb2_grpc import AllocatorStub
from queuelabs.lifecycle import ContentState

WIB_SLOTS = ["02:00", "06:00", "10:00", "14:00", "18:00", "22:00"]


WIB = timedelta(hours=7)  # Asia/Jakarta has no daylight saving


def wib_slots_after(
    start: datetime, count: int, hours: tuple[int, ...] = (2, 6, 10, 14, 18, 22)
) -> list[datetime]:
    """The first `count` WIB slot instants at or after `start`, worked out by hand."""
    day = (start + WIB).date() - timedelta(days=1)
    found: list[datetime] = []
    while len(found) < count:
        for hour in hours:
            at = datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - WIB
            if at >= start and len(found) < count:
                found.append(at)
        day += timedelta(days=1)
    return found


def stamp(instant: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(instant)
    return result


def instant(value: Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


def video(content_id: str | None = None, title: str = "a clip") -> pb.Content:
    return pb.Content(
        content_id=content_id or str(uuid.uuid4()),
        media_type=pb.MEDIA_TYPE_VIDEO,
        media_url="https://cdn.example.com/clip.mp4",
        title=title,
        platform_options={"privacy_level": "PUBLIC_TO_EVERYONE"},
    )


async def make_profile(
    stub: AllocatorStub,
    timezone: str = "Asia/Jakarta",
    slots: list[str] | None = None,
    platform: pb.Platform.ValueType = pb.PLATFORM_TIKTOK,
    name: str = "InfoKetua",
) -> str:
    """A profile with a schedule on `platform`; returns its id."""
    profile_id = str(uuid.uuid4())
    await stub.UpsertProfile(
        pb.UpsertProfileRequest(
            profile_id=profile_id, name=name, upload_post_user=name, timezone=timezone
        )
    )
    await stub.SetSchedule(
        pb.SetScheduleRequest(
            profile_id=profile_id,
            platform=platform,
            slots=[pb.Slot(local_time=t) for t in (WIB_SLOTS if slots is None else slots)],
        )
    )
    return profile_id


async def assign(
    stub: AllocatorStub,
    profile_id: str,
    content: pb.Content | None = None,
    not_before: datetime | None = None,
    platform: pb.Platform.ValueType = pb.PLATFORM_TIKTOK,
) -> pb.Assignment:
    if content is None:
        content = video()
        if platform != pb.PLATFORM_TIKTOK:  # privacy_level is TikTok's own option
            content.ClearField("platform_options")
        if platform == pb.PLATFORM_REDDIT:  # a Reddit post names its subreddit
            content.reddit.subreddit = "python"
    request = pb.AssignNextRequest(profile_id=profile_id, platform=platform, content=content)
    if not_before is not None:
        request.not_before.CopyFrom(stamp(not_before))
    result: pb.Assignment = await stub.AssignNext(request)
    return result


# A slot every ten minutes: more than a daily cap allows (set UPLOAD_POST_DAILY_CAP_TIKTOK), so
# contents can be made due close together.
EVERY_TEN_MINUTES = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(0, 60, 10)]


async def due_contents(
    stub: AllocatorStub, database_url: str, count: int, first: str, spacing: str
) -> tuple[str, list[str]]:
    """A UTC profile with TikTok slots every ten minutes and `count` contents assigned to it,
    then moved by SQL to fall due at now() + `first`, one every `spacing` (PostgreSQL
    intervals, e.g. '2 s' and '300 ms'): the Allocator's slots are minutes apart."""
    profile_id = await make_profile(stub, timezone="UTC", slots=EVERY_TEN_MINUTES, name="Due")
    contents = [(await assign(stub, profile_id)).content_id for _ in range(count)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(  # an instant each: a slot holds one content
            "update contents c set scheduled_at = now() + %s::interval + o.n * %s::interval"
            "  from (select content_id, row_number() over (order by scheduled_at) as n"
            "          from contents where content_id = any(%s::uuid[])) o"
            " where c.content_id = o.content_id",
            (first, spacing, contents),
        )
    return profile_id, contents


def count_uploaded(database_url: str, contents: list[str]) -> int:
    return count_in(database_url, contents, [ContentState.UPLOADED])
