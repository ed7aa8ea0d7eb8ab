"""Each platform's retry ladder, end to end (the Allocator, the Upload-Post sandbox and the
Uploader on a real PostgreSQL): every wait is exactly the documented step, read from the
attempts' stored timestamps on the Uploader's fake clock, so a longer or a shorter ladder fails.

The expected waits are literals from the specification (the documented "Retry policies per
platform" table; Instagram's is the incident plan's), not read from uploader/policies.py.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from queuelabs.allocator.v1 import allocator_pb2 as apb
from queuelabs.uploader.v1 import uploader_pb2 as upb
from tests.support.calls import assign, make_profile
from tests.support.stack import Stack, running_stack, settled

LADDERS = {
    apb.PLATFORM_INSTAGRAM: (30, 60, 120),
    apb.PLATFORM_YOUTUBE: (30, 120, 300),
    apb.PLATFORM_TIKTOK: (15, 60, 240),
    apb.PLATFORM_FACEBOOK: (15, 60, 240),
    apb.PLATFORM_LINKEDIN: (15, 60, 240),
    apb.PLATFORM_X: (15, 60, 240),
    apb.PLATFORM_THREADS: (15, 60, 240),
    apb.PLATFORM_PINTEREST: (15, 60, 240),
    apb.PLATFORM_REDDIT: (15, 60, 240),
    apb.PLATFORM_BLUESKY: (15, 60, 240),
}


def sandbox_name(platform: apb.Platform.ValueType) -> str:
    """The platform as Upload-Post names it (the sandbox queues faults by that name)."""
    return apb.Platform.Name(platform).removeprefix("PLATFORM_").lower()


def published(stack: Stack) -> Counter[str]:
    return Counter(p.idempotency_key.split(":")[1] for p in stack.sandbox.state.publications)


def waits(earlier: list[upb.Attempt], later: list[upb.Attempt]) -> list[timedelta]:
    """From each earlier attempt's end to the start of the later one beside it."""
    return [
        after.started_at.ToDatetime() - before.finished_at.ToDatetime()
        for before, after in zip(earlier, later, strict=True)
    ]


@pytest.mark.parametrize(
    ("platform", "ladder"), LADDERS.items(), ids=[sandbox_name(p) for p in LADDERS]
)
async def test_each_platform_waits_exactly_its_ladders_steps_between_tries(
    database_url, platform, ladder
):
    async with running_stack(database_url) as stack:
        stack.sandbox.state.queue_faults(sandbox_name(platform), *["500"] * len(ladder))
        profile_id = await make_profile(stack.allocator, platform=platform)
        content = await assign(stack.allocator, profile_id, platform=platform)
        upload = await settled(stack, content.content_id)
    assert upload.state == upb.UPLOAD_STATE_UPLOADED
    assert published(stack) == Counter({content.content_id: 1})
    tries = [a for a in upload.attempts if a.outcome.startswith("publish")]
    assert [a.http_status for a in tries] == [500] * len(ladder) + [200]
    assert waits(tries[:-1], tries[1:]) == [timedelta(seconds=step) for step in ladder]
    assert upload.retry_count == len(ladder)


async def test_an_instagram_504_storm_follows_the_ladder_async_then_publishes_once(database_url):
    async with running_stack(database_url) as stack:
        stack.sandbox.state.queue_faults("instagram", *["504_before"] * 3)
        profile_id = await make_profile(stack.allocator, platform=apb.PLATFORM_INSTAGRAM)
        content = await assign(stack.allocator, profile_id, platform=apb.PLATFORM_INSTAGRAM)
        upload = await settled(stack, content.content_id)
    assert upload.state == upb.UPLOAD_STATE_UPLOADED
    assert published(stack) == Counter({content.content_id: 1})
    publishes = [a for a in upload.attempts if a.outcome.startswith("publish")]
    assert [a.outcome for a in publishes] == ["publish: unknown"] * 3 + ["publish: accepted"]
    assert all(r["form"]["async_upload"] == "true" for r in stack.sandbox.state.requests)
    # Each unknown outcome is looked up first; the next try waits its step from that look-up:
    # the incident plan's 30, 60, 120 s, no more and no less.
    reconciled = [a for a in upload.attempts if a.outcome == "reconcile: not_found"]
    expected = [timedelta(seconds=step) for step in (30, 60, 120)]
    assert waits(reconciled, publishes[1:]) == expected
    assert upload.retry_count == 3


@pytest.mark.parametrize(
    ("asked", "waited"),
    [
        (40, 40),  # longer than TikTok's first step (15 s): Upload-Post's word wins
        (2, 15),  # shorter: the ladder's step still holds
    ],
)
async def test_a_rate_limit_waits_the_longer_of_retry_after_and_the_step(
    database_url, asked, waited
):
    async with running_stack(database_url) as stack:
        stack.sandbox.state.queue_faults("tiktok", f"429:{asked}")
        profile_id = await make_profile(stack.allocator)
        content = await assign(stack.allocator, profile_id)
        upload = await settled(stack, content.content_id)
    first, second = upload.attempts
    assert (first.outcome, first.http_status) == ("publish: retryable", 429)
    assert waits([first], [second]) == [timedelta(seconds=waited)]
    assert upload.state == upb.UPLOAD_STATE_UPLOADED
