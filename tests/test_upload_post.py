"""The Upload-Post client against the sandbox over loopback: shapes, faults, what each means."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from queuelabs.platforms import MediaType, Platform
from sandbox.server import RunningSandbox, start_sandbox
from tests.support.processes import unanswered_address
from uploader.upload_post import Outcome, PublishRequest, UploadPostClient

KEY = "sandbox-test-key"


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    running = await start_sandbox("127.0.0.1", 0, KEY, async_seconds=0.2)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client(sandbox: RunningSandbox) -> AsyncIterator[UploadPostClient]:
    up = UploadPostClient(sandbox.base_url, KEY)
    try:
        yield up
    finally:
        await up.close()


def video(platform: Platform = Platform.TIKTOK, async_upload: bool = False, key: str = ""):
    request_id = str(uuid.uuid4())
    return PublishRequest(
        user="InfoKetua",
        platform=platform,
        media_type=MediaType.VIDEO,
        request_id=request_id,
        idempotency_key=key or f"{request_id}:key",
        async_upload=async_upload,
        media=("https://cdn.example.com/clip.mp4",),
        title="Hello",
        options={"privacy_level": "SELF_ONLY"},
    )


async def test_a_video_is_posted_as_the_real_api_expects(sandbox, client):
    request = video()
    result = await client.publish(request, read_timeout=5)
    assert result.outcome is Outcome.PUBLISHED
    assert result.post_url.startswith("https://www.tiktok.com/p/")
    [sent] = sandbox.state.requests
    assert sent["path"] == "/api/upload"
    assert sent["form"] == {
        "user": "InfoKetua",
        "platform[]": "tiktok",
        "request_id": request.request_id,
        "async_upload": "false",
        "title": "Hello",
        "video": "https://cdn.example.com/clip.mp4",
        "privacy_level": "SELF_ONLY",
    }
    assert sent["headers"]["Idempotency-Key"] == request.idempotency_key
    assert sent["headers"]["Content-Type"].startswith("multipart/form-data")
    assert len(sandbox.state.publications) == 1


async def test_photo_and_text_posts_use_their_endpoints(sandbox, client):
    base = video()
    photo = PublishRequest(
        **{
            **base.__dict__,
            "media_type": MediaType.PHOTO,
            "media": ("https://cdn.example.com/a.jpg", "https://cdn.example.com/b.jpg"),
            "request_id": "p1",
            "idempotency_key": "p1",
        }
    )
    text = PublishRequest(
        **{
            **base.__dict__,
            "media_type": MediaType.TEXT,
            "platform": Platform.X,
            "media": (),
            "options": {},
            "request_id": "t1",
            "idempotency_key": "t1",
        }
    )
    assert (await client.publish(photo, 5)).outcome is Outcome.PUBLISHED
    assert (await client.publish(text, 5)).outcome is Outcome.PUBLISHED
    paths = [
        (r["path"], "photos[]" in r["form"], "video" in r["form"]) for r in sandbox.state.requests
    ]
    assert paths == [("/api/upload_photos", True, False), ("/api/upload_text", False, False)]


async def test_the_same_idempotency_key_publishes_once(sandbox, client):
    first = video(key="content-1:tiktok:1")
    again = PublishRequest(**{**first.__dict__, "request_id": str(uuid.uuid4())})
    assert (await client.publish(first, 5)).outcome is Outcome.PUBLISHED
    assert (await client.publish(again, 5)).outcome is Outcome.PUBLISHED
    assert len(sandbox.state.publications) == 1


@pytest.mark.parametrize(
    ("fault", "outcome", "published"),
    [
        ("504_after", Outcome.UNKNOWN, 1),
        ("504_before", Outcome.UNKNOWN, 0),
        ("drop_after", Outcome.UNKNOWN, 1),
        ("drop_before", Outcome.UNKNOWN, 0),
        ("500", Outcome.RETRYABLE, 0),
        ("502", Outcome.RETRYABLE, 0),
        ("503", Outcome.RETRYABLE, 0),
        ("partial", Outcome.RETRYABLE, 0),
        ("400", Outcome.FAILED, 0),
        ("401", Outcome.FAILED, 0),
        ("403", Outcome.FAILED, 0),
        ("404", Outcome.FAILED, 0),
    ],
)
async def test_each_fault_means_what_it_must(sandbox, client, fault, outcome, published):
    sandbox.state.queue_faults("tiktok", fault)
    result = await client.publish(video(), read_timeout=5)
    assert result.outcome is outcome, result
    assert len(sandbox.state.publications) == published


async def test_a_rate_limit_says_how_long_to_wait(sandbox, client):
    sandbox.state.queue_faults("tiktok", "429:7")
    result = await client.publish(video(), read_timeout=5)
    assert result.outcome is Outcome.RETRYABLE
    assert result.http_status == 429
    assert result.retry_after == 7


async def test_an_answer_slower_than_the_timeout_is_unknown_and_reconciles_to_published(
    sandbox, client
):
    sandbox.state.queue_faults("tiktok", "slow:1.5")
    request = video()
    result = await client.publish(request, read_timeout=0.3)
    assert result.outcome is Outcome.UNKNOWN
    found = await client.status(request.request_id, Platform.TIKTOK)
    assert found.outcome is Outcome.PUBLISHED
    assert found.post_url


async def test_a_request_that_never_arrived_is_not_found_anywhere(sandbox, client):
    sandbox.state.queue_faults("tiktok", "504_before")
    request = video()
    await client.publish(request, read_timeout=5)
    assert (await client.status(request.request_id, Platform.TIKTOK)).outcome is Outcome.NOT_FOUND
    history = await client.find_in_history(request.request_id, Platform.TIKTOK)
    assert history.outcome is Outcome.NOT_FOUND


async def test_a_repeated_key_answers_with_the_first_jobs_request_id(sandbox, client):
    first = video(Platform.INSTAGRAM, async_upload=True, key="content-9:instagram:1")
    again = PublishRequest(**{**first.__dict__, "request_id": str(uuid.uuid4())})
    assert (await client.publish(first, 5)).request_id == first.request_id
    repeated = await client.publish(again, 5)
    assert repeated.outcome is Outcome.ACCEPTED
    assert repeated.request_id == first.request_id  # the job to poll is the first one


async def test_async_mode_is_accepted_then_polled_to_the_end(sandbox, client):
    request = video(Platform.INSTAGRAM, async_upload=True)
    assert (await client.publish(request, 5)).outcome is Outcome.ACCEPTED
    assert (await client.status(request.request_id, Platform.INSTAGRAM)).outcome is Outcome.PENDING
    await asyncio.sleep(0.4)  # real: the sandbox ends its async job (0.2 s) on its own clock
    done = await client.status(request.request_id, Platform.INSTAGRAM)
    assert done.outcome is Outcome.PUBLISHED
    history = await client.find_in_history(request.request_id, Platform.INSTAGRAM)
    assert history.outcome is Outcome.PUBLISHED


async def test_an_async_job_that_fails_says_so_and_ends_its_key(sandbox, client):
    sandbox.state.queue_faults("instagram", "async_fail")
    request = video(Platform.INSTAGRAM, async_upload=True)
    assert (await client.publish(request, 5)).outcome is Outcome.ACCEPTED
    await asyncio.sleep(0.4)  # real: the sandbox ends its async job (0.2 s) on its own clock
    done = await client.status(request.request_id, Platform.INSTAGRAM)
    assert done.outcome is Outcome.RETRYABLE
    assert done.job_ended


async def test_a_wrong_key_fails_at_once_without_showing_the_key(sandbox):
    wrong = UploadPostClient(sandbox.base_url, "not-the-key-s3cr3t")
    try:
        result = await wrong.publish(video(), 5)
    finally:
        await wrong.close()
    assert result.outcome is Outcome.FAILED
    assert result.http_status == 401
    assert "Invalid or expired token" in result.error
    assert "s3cr3t" not in result.error


async def test_an_unreachable_api_is_retryable_because_nothing_was_sent():
    with unanswered_address() as address:
        nowhere = UploadPostClient(f"http://{address}/api", KEY, connect_tries=2)
        try:
            result = await nowhere.publish(video(), 5)
        finally:
            await nowhere.close()
    assert result.outcome is Outcome.RETRYABLE
    assert "could not reach Upload-Post" in result.error
