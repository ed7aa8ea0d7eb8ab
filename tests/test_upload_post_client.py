"""The Upload-Post adapter over httpx.MockTransport: every answer the API documents (and the 504
it does not), every rate-limit header, every transport failure, and what each one means. No
server and no wall clock: the clock is injected for the headers that name an instant."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from queuelabs.clock import FakeClock
from queuelabs.platforms import MediaType, Platform
from uploader.outcomes import CallResult, Outcome
from uploader.upload_post import PublishRequest, UploadPostClient

KEY = "secret-api-key-123"
NOW = datetime(2026, 3, 26, 6, 0, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, *, tries: int = 3, clock: FakeClock | None = None) -> UploadPostClient:
    return UploadPostClient(
        "https://upload-post.test/api",
        KEY,
        transport=httpx.MockTransport(handler),
        clock=clock or FakeClock(NOW),
        connect_tries=tries,
    )


REQUEST = PublishRequest(
    user="InfoKetua",
    platform=Platform.TIKTOK,
    media_type=MediaType.VIDEO,
    request_id="req-1",
    idempotency_key="queuelabs:c:tiktok:1",
    async_upload=False,
    media=("https://cdn.example.com/clip.mp4",),
    title="Hello",
    options={"privacy_level": "SELF_ONLY"},
)


def answer(status: int, body: object = None, **headers: str) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status, headers=headers)
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handle


async def publish(handler: Handler, clock: FakeClock | None = None) -> CallResult:
    """Publishes once; the pauses between connection tries pass on the fake clock at once."""
    clock = clock or FakeClock(NOW)
    up = client(handler, clock=clock)
    try:
        return await clock.skip_waits(up.publish(REQUEST, read_timeout=5))
    finally:
        await up.close()


async def test_the_request_carries_the_key_the_idempotency_key_and_the_form():
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True, "results": {"tiktok": {"success": True}}})

    await publish(handle)
    [request] = seen
    assert (request.method, request.url.path) == ("POST", "/api/upload")
    assert request.headers["Authorization"] == f"Apikey {KEY}"
    assert request.headers["Idempotency-Key"] == "queuelabs:c:tiktok:1"
    body = request.read().decode()
    for name, value in REQUEST.form():
        assert f'name="{name}"\r\n\r\n{value}\r\n' in body
    assert request.headers["content-type"].startswith("multipart/form-data")


@pytest.mark.parametrize(
    ("media_type", "path"),
    [
        (MediaType.VIDEO, "/api/upload"),
        (MediaType.PHOTO, "/api/upload_photos"),
        (MediaType.TEXT, "/api/upload_text"),
    ],
)
async def test_each_media_type_posts_to_its_endpoint(media_type, path):
    paths = []

    def handle(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json={"success": True, "results": {"tiktok": {"success": True}}})

    up = client(handle)
    await up.publish(PublishRequest("u", Platform.TIKTOK, media_type, "r", "k", False), 5)
    await up.close()
    assert paths == [path]


SYNC_OK = {
    "success": True,
    "results": {"tiktok": {"success": True, "url": "https://tiktok.com/p/1", "post_id": "1"}},
    "usage": {"count": 12, "limit": 100},
}
PARTIAL = {
    "success": True,
    "results": {
        "tiktok": {"success": False, "error": "video too long"},
        "instagram": {"success": True, "url": "https://instagram.com/p/2"},
    },
}
ASYNC = {
    "success": True,
    "message": "Upload initiated successfully in background.",
    "request_id": "upstream-9",
    "total_platforms": 1,
}


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (
            answer(200, SYNC_OK),
            CallResult(
                Outcome.PUBLISHED, 200, post_url="https://tiktok.com/p/1", platform_post_id="1"
            ),
        ),
        (
            answer(200, PARTIAL),
            CallResult(Outcome.RETRYABLE, 200, "video too long", job_ended=True),
        ),
        (answer(200, ASYNC), CallResult(Outcome.ACCEPTED, 200, request_id="upstream-9")),
        (
            answer(200, "<html>oops</html>"),
            CallResult(Outcome.UNKNOWN, 200, "a 200 without a readable body"),
        ),
        (
            answer(200, {"success": True, "results": {"x": {"success": True}}}),
            CallResult(Outcome.UNKNOWN, 200, "no result for tiktok in the answer"),
        ),
        (
            answer(400, {"success": False, "message": "Username required in form data"}),
            CallResult(Outcome.FAILED, 400, "HTTP 400: Username required in form data"),
        ),
        (
            answer(401, {"success": False, "message": "Invalid or expired token"}),
            CallResult(Outcome.FAILED, 401, "HTTP 401: Invalid or expired token"),
        ),
        (
            answer(403, {"success": False, "message": "Plan does not allow it"}),
            CallResult(Outcome.FAILED, 403, "HTTP 403: Plan does not allow it"),
        ),
        (
            answer(404, {"success": False, "message": "User not found"}),
            CallResult(Outcome.FAILED, 404, "HTTP 404: User not found"),
        ),
        (answer(408), CallResult(Outcome.RETRYABLE, 408, "HTTP 408: Request Timeout")),
        (answer(425), CallResult(Outcome.RETRYABLE, 425, "HTTP 425: Too Early")),
        (
            answer(500, {"success": False, "error": "database down"}),
            CallResult(Outcome.RETRYABLE, 500, "HTTP 500: database down"),
        ),
        (answer(502), CallResult(Outcome.RETRYABLE, 502, "HTTP 502: Bad Gateway")),
        (answer(503), CallResult(Outcome.RETRYABLE, 503, "HTTP 503: Service Unavailable")),
        (
            answer(504, "<html><h1>504 Gateway Time-out</h1></html>"),
            CallResult(Outcome.UNKNOWN, 504, "504 Gateway Time-out: the upload may have happened"),
        ),
    ],
)
async def test_each_answer_means_what_the_api_says(handler, expected):
    assert await publish(handler) == expected


def http_date(instant: datetime) -> str:
    return email.utils.format_datetime(instant, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": http_date(NOW + timedelta(seconds=90))}, 90.0),
        ({"Retry-After": http_date(NOW - timedelta(seconds=90))}, 0.0),  # already past
        ({"Retry-After": "soon"}, None),
        ({"X-RateLimit-Reset": str(int((NOW + timedelta(seconds=42)).timestamp()))}, 42.0),
        ({"X-RateLimit-Reset": "30"}, 30.0),  # some APIs send seconds from now
        ({"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0"}, None),
        ({}, None),
    ],
)
async def test_a_429_says_how_long_to_wait(headers, wait):
    body = {"success": False, "message": "Too many requests"}
    result = await publish(answer(429, body, **headers))
    assert (result.outcome, result.http_status, result.retry_after) == (
        Outcome.RETRYABLE,
        429,
        wait,
    )


async def test_a_daily_cap_429_names_the_violation():
    body = {
        "success": False,
        "message": "Post verification failed",
        "violations": [{"platform": "tiktok", "type": "hard_cap", "used_last_24h": 15, "cap": 15}],
    }
    result = await publish(answer(429, body))
    assert "Post verification failed" in result.error
    assert "hard_cap" in result.error


def raising(error: Exception, *, then: Handler | None = None, count: list[int]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        count.append(1)
        if then is not None and len(count) > 1:
            return then(request)
        raise error

    return handle


async def test_a_connection_that_never_opened_is_retried_on_the_spot_then_called_retryable():
    tries: list[int] = []
    clock = FakeClock(NOW)
    result = await publish(raising(httpx.ConnectError("refused"), count=tries), clock)
    assert result.outcome is Outcome.RETRYABLE
    assert "could not reach Upload-Post" in result.error
    assert len(tries) == 3
    assert clock.now() - NOW == timedelta(seconds=0.2 + 0.4)  # the back-off, on the clock


async def test_a_connection_that_opens_on_the_second_try_publishes():
    tries: list[int] = []
    handler = raising(httpx.ConnectError("refused"), then=answer(200, SYNC_OK), count=tries)
    assert (await publish(handler)).outcome is Outcome.PUBLISHED
    assert len(tries) == 2


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("peer closed"),
        httpx.ReadError("reset"),
        httpx.WriteError("broken pipe"),
    ],
)
async def test_a_call_lost_after_it_was_sent_is_unknown_and_not_retried(error):
    tries: list[int] = []
    result = await publish(raising(error, count=tries))
    assert result.outcome is Outcome.UNKNOWN
    assert len(tries) == 1  # never sent again blindly


STATUS = "/api/uploadposts/status"


def status_body(state: str, results: list[dict]) -> dict:
    return {"request_id": "r", "status": state, "completed": 1, "total": 1, "results": results}


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (
            answer(404, {"success": False, "status": "not_found"}),
            CallResult(Outcome.NOT_FOUND, 404),
        ),
        (
            answer(
                200,
                status_body(
                    "completed",
                    [
                        {
                            "platform": "tiktok",
                            "success": True,
                            "status": "completed",
                            "post_url": "https://tiktok.com/p/1",
                            "platform_post_id": "1",
                        }
                    ],
                ),
            ),
            CallResult(
                Outcome.PUBLISHED, 200, post_url="https://tiktok.com/p/1", platform_post_id="1"
            ),
        ),
        (
            answer(
                200,
                status_body(
                    "completed",
                    [
                        {"platform": "instagram", "success": True, "status": "completed"},
                        {
                            "platform": "tiktok",
                            "success": False,
                            "status": "failed",
                            "error_message": "rejected",
                        },
                    ],
                ),
            ),
            CallResult(Outcome.RETRYABLE, 200, "rejected", job_ended=True),
        ),
        *[
            (
                answer(
                    200,
                    status_body(state, [{"platform": "tiktok", "success": False, "status": state}]),
                ),
                CallResult(Outcome.PENDING, 200),
            )
            for state in ("pending", "queued", "processing", "in_progress")
        ],
        (answer(200, status_body("in_progress", [])), CallResult(Outcome.PENDING, 200)),
        (
            answer(200, status_body("failed", [])),
            CallResult(Outcome.RETRYABLE, 200, "the job failed", job_ended=True),
        ),
        (
            answer(500, {"success": False, "error": "oops"}),
            CallResult(Outcome.UNKNOWN, 500, "status check: HTTP 500: oops"),
        ),
        *[
            (
                answer(200, body),
                CallResult(Outcome.UNKNOWN, 200, "status check: a 200 whose body is not readable"),
            )
            for body in ('{"request_id": "r", "status": "comp', "<html>ok</html>", "[]")
        ],
    ],
)
async def test_a_status_answer_means_what_the_api_says(handler, expected):
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    up = client(recording)
    assert await up.status("req-1", Platform.TIKTOK) == expected
    await up.close()
    assert seen[0].url.path == STATUS
    assert seen[0].url.params["request_id"] == "req-1"


async def test_a_status_check_that_cannot_be_made_is_unknown():
    up = client(raising(httpx.ReadTimeout("slow"), count=[]))
    result = await up.status("req-1", Platform.TIKTOK)
    await up.close()
    assert result.outcome is Outcome.UNKNOWN


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (
            [{"request_id": "req-1", "platform": "tiktok", "success": True, "post_url": "u"}],
            CallResult(Outcome.PUBLISHED, 200, post_url="u"),
        ),
        (
            [
                {
                    "request_id": "req-1",
                    "platform": "tiktok",
                    "success": True,
                    "post_url": "u",
                    "platform_post_id": "739",
                }
            ],
            CallResult(Outcome.PUBLISHED, 200, post_url="u", platform_post_id="739"),
        ),
        (
            [
                {
                    "request_id": "req-1",
                    "platform": "tiktok",
                    "success": False,
                    "error_message": "no",
                }
            ],
            CallResult(Outcome.RETRYABLE, 200, "no", job_ended=True),
        ),
        (
            [{"request_id": "req-1", "platform": "instagram", "success": True}],
            CallResult(Outcome.NOT_FOUND, 200),
        ),
        ([], CallResult(Outcome.NOT_FOUND, 200)),
    ],
)
async def test_the_history_is_read_for_our_request_and_platform_only(items, expected):
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True, "history": items})

    up = client(handle)
    assert await up.find_in_history("req-1", Platform.TIKTOK) == expected
    await up.close()
    assert seen[0].url.path == "/api/uploadposts/history"
    assert dict(seen[0].url.params) == {"request_id": "req-1", "platform": "tiktok", "limit": "50"}


async def test_an_unreadable_history_is_unknown():
    up = client(answer(503))
    result = await up.find_in_history("req-1", Platform.TIKTOK)
    await up.close()
    assert (result.outcome, result.http_status) == (Outcome.UNKNOWN, 503)


async def test_the_api_key_appears_in_no_result():
    handlers = [
        answer(401, {"message": "Invalid or expired token"}),
        answer(500),
        raising(httpx.ConnectError(f"refused Apikey {KEY}"), count=[]),
    ]
    for handler in handlers:
        result = await publish(handler)
        assert KEY not in json.dumps(result.__dict__)


@pytest.mark.parametrize(
    ("status", "body", "headers", "pause"),
    [
        (200, SYNC_OK, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "30"}, 30.0),
        (
            200,
            SYNC_OK,
            {
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int((NOW + timedelta(seconds=45)).timestamp())),
            },
            45.0,
        ),
        (200, SYNC_OK, {"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "30"}, None),
        (429, {"success": False, "message": "Too many requests"}, {"Retry-After": "12"}, 12.0),
        (  # a daily cap holds back one account, not the key
            429,
            {"success": False, "violations": [{"type": "hard_cap"}]},
            {"Retry-After": "12"},
            None,
        ),
    ],
)
async def test_upload_post_saying_stop_is_passed_on_for_every_replica(status, body, headers, pause):
    result = await publish(answer(status, body, **headers))
    assert result.send_again_in == pause


async def test_a_status_look_up_passes_on_a_used_up_window_too():
    up = client(answer(404, {"status": "not_found"}, **{"X-RateLimit-Remaining": "0"}))
    result = await up.status("req-1", Platform.TIKTOK)
    await up.close()
    assert (result.outcome, result.send_again_in) == (Outcome.NOT_FOUND, 60.0)
