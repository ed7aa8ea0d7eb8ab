"""ListUploads across every profile and by what changed: without a profile_id every profile's
contents, paged without a gap or a repeat; changed_after_cursor and changed_since keep the
contents with an event after the cursor or since the instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc.error_details_pb2 import BadRequest

from queuelabs.allocator.v1 import allocator_pb2 as apb
from queuelabs.status import details_of
from queuelabs.uploader.v1 import uploader_pb2 as upb
from tests.support.calls import assign, make_profile, stamp
from tests.support.stack import Stack, running_stack


async def listed(stack: Stack, page_size: int = 2, **filters: Any) -> list[str]:
    """Every content ListUploads gives for `filters`, page after page."""
    found: list[str] = []
    token = ""
    while True:
        page = await stack.uploader.ListUploads(
            upb.ListUploadsRequest(page_size=page_size, page_token=token, **filters)
        )
        found += [u.content_id for u in page.uploads]
        token = page.next_page_token
        if not token:
            return found


def newest_cursor(db: Any) -> str:
    """The cursor of the log's newest event, as WatchEvents would have given it."""
    row = db.execute(
        "select lpad(to_hex(xid::text::bigint), 16, '0') || lpad(to_hex(seq), 16, '0')"
        "  from events order by xid desc, seq desc limit 1"
    ).fetchone()
    return str(row[0])


async def test_without_a_profile_every_profiles_contents_are_listed_in_stable_pages(
    database_url,
):
    async with running_stack(database_url, ahead=timedelta(0)) as stack:
        profiles = [await make_profile(stack.allocator, name=f"p{i}") for i in range(3)]
        made = [await assign(stack.allocator, p) for p in profiles for _ in range(3)]
        everything = await listed(stack)
        order = sorted(made, key=lambda a: (a.scheduled_at.ToDatetime(), a.content_id))
        assert everything == [a.content_id for a in order]
        assert await listed(stack, profile_id=profiles[1]) == [
            a.content_id for a in order if a.profile_id == profiles[1]
        ]


async def test_changed_after_a_cursor_or_since_an_instant_keeps_what_has_an_event_there(
    database_url, db
):
    async with running_stack(database_url, ahead=timedelta(0)) as stack:
        profile_id = await make_profile(stack.allocator)
        other = await make_profile(stack.allocator, name="Other")
        before = [await assign(stack.allocator, p) for p in (profile_id, profile_id, other)]
        cursor = newest_cursor(db)
        since = datetime.now(UTC)  # the Allocator writes its events on the system clock
        released = before[0].content_id
        await stack.allocator.Release(apb.ReleaseRequest(content_id=released, reason="pulled"))
        fresh = await assign(stack.allocator, other)
        changed = sorted([released, fresh.content_id], key=lambda c: c != released)
        assert await listed(stack, changed_after_cursor=cursor) == changed
        assert await listed(stack, changed_since=stamp(since)) == changed
        assert await listed(stack, changed_after_cursor="0") == [
            a.content_id
            for a in sorted([*before, fresh], key=lambda a: (a.scheduled_at.seconds, a.content_id))
        ]
        assert await listed(stack, profile_id=other, changed_after_cursor=cursor) == [
            fresh.content_id
        ]
        assert await listed(stack, changed_after_cursor=newest_cursor(db)) == []


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"changed_after_cursor": "yesterday"}, "changed_after_cursor"),
        ({"profile_id": "nope"}, "profile_id"),
        (
            {"changed_since": Timestamp(nanos=-1)},
            "changed_since",
        ),
    ],
)
async def test_a_bad_changed_filter_is_refused_naming_it(database_url, filters, field):
    async with running_stack(database_url, ahead=timedelta(0)) as stack:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stack.uploader.ListUploads(upb.ListUploadsRequest(**filters))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [bad] = [d for d in details_of(refused.value) if isinstance(d, BadRequest)]
    assert [v.field for v in bad.field_violations] == [field]


async def test_a_page_token_holds_only_for_the_changed_filter_it_was_given_for(database_url):
    async with running_stack(database_url, ahead=timedelta(0)) as stack:
        profile_id = await make_profile(stack.allocator)
        for _ in range(3):
            await assign(stack.allocator, profile_id)
        page = await stack.uploader.ListUploads(
            upb.ListUploadsRequest(page_size=1, changed_after_cursor="0")
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stack.uploader.ListUploads(
                upb.ListUploadsRequest(page_size=1, page_token=page.next_page_token)
            )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in (refused.value.details() or "")
