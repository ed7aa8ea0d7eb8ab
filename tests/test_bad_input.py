"""Every bad input gets a precise status naming the problem, and changes nothing stored."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.rpc.error_details_pb2 import BadRequest

from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.status import details_of, error_info
from tests.conftest import T0
from tests.support.calls import assign, make_profile, stamp, video

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
REASONS = {
    INVALID: {"INVALID_ARGUMENT"},
    NOT_FOUND: {"PROFILE_NOT_FOUND", "SCHEDULE_NOT_FOUND", "CONTENT_NOT_FOUND"},
    PRECONDITION: {"NO_SCHEDULE", "OVER_DAILY_CAP", "WRONG_STATE"},
    grpc.StatusCode.ALREADY_EXISTS: {"CONTENT_ID_REUSED"},
}


@dataclass
class Seed:
    profile_id: str
    scheduled_content: str
    removed_content: str
    removed_message: pb.Content


def upsert(**fields: Any) -> Callable[[Seed], tuple[str, Any]]:
    def build(seed: Seed) -> tuple[str, Any]:
        base = dict(
            profile_id=seed.profile_id,
            name="InfoKetua",
            upload_post_user="InfoKetua",
            timezone="Asia/Jakarta",
        )
        return "UpsertProfile", pb.UpsertProfileRequest(**{**base, **fields})

    return build


def set_schedule(slots: list[pb.Slot], **fields: Any) -> Callable[[Seed], tuple[str, Any]]:
    def build(seed: Seed) -> tuple[str, Any]:
        base = dict(profile_id=seed.profile_id, platform=pb.PLATFORM_TIKTOK)
        return "SetSchedule", pb.SetScheduleRequest(**{**base, **fields}, slots=slots)

    return build


def assign_next(content: pb.Content | None = None, **fields: Any):
    def build(seed: Seed) -> tuple[str, Any]:
        base: dict[str, Any] = dict(profile_id=seed.profile_id, platform=pb.PLATFORM_TIKTOK)
        if content is not None:
            base["content"] = content
        return "AssignNext", pb.AssignNextRequest(**{**base, **fields})

    return build


def batch(contents: list[pb.Content]):
    def build(seed: Seed) -> tuple[str, Any]:
        return "BatchAssign", pb.BatchAssignRequest(
            profile_id=seed.profile_id, platform=pb.PLATFORM_TIKTOK, contents=contents
        )

    return build


def listing(**fields: Any):
    def build(seed: Seed) -> tuple[str, Any]:
        return "ListAssignments", pb.ListAssignmentsRequest(
            **{"profile_id": seed.profile_id, **fields}
        )

    return build


UNKNOWN = str(uuid.uuid4())
SAME = str(uuid.uuid4())
TOO_FAR = stamp(T0 + timedelta(days=400))
URL = "https://cdn.example.com/a.mp4"


def content(**fields: Any) -> pb.Content:
    base = dict(content_id=str(uuid.uuid4()), media_type=pb.MEDIA_TYPE_VIDEO, media_url=URL)
    return pb.Content(**{**base, **fields})


CASES: list[tuple[str, Callable[[Seed], tuple[str, Any]], grpc.StatusCode, str]] = [
    ("profile id missing", upsert(profile_id=""), INVALID, "profile_id: is required"),
    ("profile id not a uuid", upsert(profile_id="infoketua"), INVALID, "profile_id: 'infoketua'"),
    ("profile name empty", upsert(name="  "), INVALID, "name: is required"),
    ("profile name too long", upsert(name="x" * 201), INVALID, "name: is 201 characters"),
    ("upload-post user empty", upsert(upload_post_user=""), INVALID, "upload_post_user"),
    ("timezone unknown", upsert(timezone="Mars/Olympus"), INVALID, "timezone: 'Mars/Olympus'"),
    ("timezone missing", upsert(timezone=""), INVALID, "timezone: is required"),
    ("timezone as offset", upsert(timezone="+07:00"), INVALID, "timezone"),
    ("timezone of the host", upsert(timezone="localtime"), INVALID, "timezone: 'localtime'"),
    ("name with NUL", upsert(name="Info\x00Ketua"), INVALID, "name: holds a NUL character"),
    ("schedule for unknown profile", set_schedule([], profile_id=UNKNOWN), NOT_FOUND, UNKNOWN),
    ("schedule platform unspecified", set_schedule([], platform=0), INVALID, "platform"),
    ("schedule platform unknown", set_schedule([], platform=99), INVALID, "platform: 99"),
    (
        "slot hour 25",
        set_schedule([pb.Slot(local_time="25:00")]),
        INVALID,
        "slots[0].local_time: '25:00'",
    ),
    (
        "slot without leading zero",
        set_schedule([pb.Slot(local_time="6:00")]),
        INVALID,
        "slots[0].local_time",
    ),
    ("slot minute 60", set_schedule([pb.Slot(local_time="06:60")]), INVALID, "slots[0].local_time"),
    ("slot time empty", set_schedule([pb.Slot()]), INVALID, "slots[0].local_time"),
    (
        "slot with superscript digit",
        set_schedule([pb.Slot(local_time="0\u00b2:00")]),
        INVALID,
        "slots[0].local_time",
    ),
    (
        "slot with arabic digits",
        set_schedule([pb.Slot(local_time="\u0660\u0666:\u0660\u0660")]),
        INVALID,
        "slots[0].local_time",
    ),
    (
        "weekday 0",
        set_schedule([pb.Slot(local_time="06:00", weekdays=[0])]),
        INVALID,
        "slots[0].weekdays[0]: 0 is not an ISO weekday",
    ),
    (
        "weekday 8",
        set_schedule([pb.Slot(local_time="06:00", weekdays=[1, 8])]),
        INVALID,
        "slots[0].weekdays[1]",
    ),
    (
        "weekday twice",
        set_schedule([pb.Slot(local_time="06:00", weekdays=[2, 2])]),
        INVALID,
        "slots[0].weekdays: names a weekday twice",
    ),
    (
        "slot time twice",
        set_schedule([pb.Slot(local_time="06:00"), pb.Slot(local_time="06:00")]),
        INVALID,
        "slots[1].local_time: repeats slots[0].local_time",
    ),
    (
        "schedule of unknown profile",
        lambda s: (
            "GetSchedule",
            pb.GetScheduleRequest(profile_id=UNKNOWN, platform=pb.PLATFORM_TIKTOK),
        ),
        NOT_FOUND,
        UNKNOWN,
    ),
    (
        "schedule never set",
        lambda s: (
            "GetSchedule",
            pb.GetScheduleRequest(profile_id=s.profile_id, platform=pb.PLATFORM_PINTEREST),
        ),
        NOT_FOUND,
        "pinterest",
    ),
    ("content missing", assign_next(), INVALID, "content: is required"),
    ("content id missing", assign_next(content(content_id="")), INVALID, "content.content_id"),
    ("content id not a uuid", assign_next(content(content_id="42")), INVALID, "content.content_id"),
    ("media type unspecified", assign_next(content(media_type=0)), INVALID, "content.media_type"),
    ("media type unknown", assign_next(content(media_type=7)), INVALID, "content.media_type: 7"),
    ("video without url", assign_next(content(media_url="")), INVALID, "content.media_url"),
    (
        "video url not http",
        assign_next(content(media_url="ftp://x/a.mp4")),
        INVALID,
        "content.media_url: 'ftp://x/a.mp4'",
    ),
    (
        "text without title",
        assign_next(content(media_type=pb.MEDIA_TYPE_TEXT, media_url=""), platform=pb.PLATFORM_X),
        INVALID,
        "content.title: is required",
    ),
    ("title too long", assign_next(content(title="t" * 2201)), INVALID, "content.title"),
    (
        "option key empty",
        assign_next(content(platform_options={"": "x"})),
        INVALID,
        "content.platform_options",
    ),
    ("assign to unknown profile", assign_next(content(), profile_id=UNKNOWN), NOT_FOUND, UNKNOWN),
    (
        "assign without schedule",
        assign_next(content(title="a video"), platform=pb.PLATFORM_YOUTUBE),
        PRECONDITION,
        "no youtube slots",
    ),
    (
        "assign beyond horizon",
        assign_next(content(), not_before=TOO_FAR),
        INVALID,
        "not_before: is more than 365 days ahead",
    ),
    (
        "assign a removed content again",
        lambda s: assign_next(s.removed_message)(s),
        PRECONDITION,
        "was removed; to queue it again use a new content_id",
    ),
    ("batch empty", batch([]), INVALID, "contents: must hold at least one"),
    ("batch too large", batch([content() for _ in range(101)]), INVALID, "at most 100 per batch"),
    (
        "batch repeats an id",
        batch([content(content_id=SAME), content(content_id=SAME)]),
        INVALID,
        "contents[1].content_id: repeats contents[0].content_id",
    ),
    (
        "batch with a bad item",
        batch([content(), content(media_url="nope")]),
        INVALID,
        "contents[1].media_url",
    ),
    (
        "reschedule bad id",
        lambda s: ("Reschedule", pb.RescheduleRequest(content_id="x")),
        INVALID,
        "content_id",
    ),
    (
        "reschedule unknown",
        lambda s: ("Reschedule", pb.RescheduleRequest(content_id=UNKNOWN)),
        NOT_FOUND,
        UNKNOWN,
    ),
    (
        "reschedule removed",
        lambda s: ("Reschedule", pb.RescheduleRequest(content_id=s.removed_content)),
        PRECONDITION,
        "content is removed",
    ),
    (
        "reschedule reason too long",
        lambda s: (
            "Reschedule",
            pb.RescheduleRequest(content_id=s.scheduled_content, reason="r" * 1001),
        ),
        INVALID,
        "reason",
    ),
    (
        "release unknown",
        lambda s: ("Release", pb.ReleaseRequest(content_id=UNKNOWN)),
        NOT_FOUND,
        UNKNOWN,
    ),
    ("release without id", lambda s: ("Release", pb.ReleaseRequest()), INVALID, "content_id"),
    ("page size negative", listing(page_size=-1), INVALID, "page_size: -1 is negative"),
    ("page size too large", listing(page_size=1001), INVALID, "page_size"),
    ("page token forged", listing(page_token="garbage"), INVALID, "page_token"),
    (
        "page token with a number for id",
        listing(
            page_token="eyJhdCI6ICIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgImlkIjogNSwgInEiOiAieCJ9"
        ),
        INVALID,
        "page_token",
    ),
    ("end before start", listing(start_time=stamp(T0), end_time=stamp(T0)), INVALID, "end_time"),
    ("list unknown profile", listing(profile_id=UNKNOWN), NOT_FOUND, UNKNOWN),
]


def snapshot(db) -> dict[str, list[tuple[Any, ...]]]:
    tables = ["profiles", "schedules", "schedule_slots", "free_slots", "contents"]
    return {t: db.execute(f"select * from {t} order by 1, 2, 3").fetchall() for t in tables}


@pytest.mark.parametrize(
    ("build", "code", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_bad_input_is_refused_precisely_and_changes_nothing(
    allocator, db, build, code, message
):
    profile_id = await make_profile(allocator)
    scheduled = await assign(allocator, profile_id)
    removed_message = video()
    removed = await assign(allocator, profile_id, removed_message)
    await allocator.Release(pb.ReleaseRequest(content_id=removed.content_id))
    seed = Seed(profile_id, scheduled.content_id, removed.content_id, removed_message)
    method, request = build(seed)
    before = snapshot(db)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await getattr(allocator, method)(request)
    assert refused.value.code() == code, refused.value.details()
    assert message in refused.value.details()
    assert snapshot(db) == before
    # The refusal's details, as a client reads them (AIP-193): a stable reason in our domain,
    # and for a bad field, the field.
    info = error_info(refused.value)
    assert info is not None
    assert info.domain == "queuelabs"
    assert info.reason in REASONS[code], (info.reason, code)
    if code == INVALID:
        [bad] = [d for d in details_of(refused.value) if isinstance(d, BadRequest)]
        [violation] = bad.field_violations
        assert refused.value.details().startswith(f"{violation.field}: ")
        assert violation.description in refused.value.details()
