"""The sandbox tells a registered webhook what Upload-Post tells one (a job's end, a social
account's change) in the real API's shapes, and can deliver as a bad day does: late, repeated, out
of order, or not at all. A post to an account that is not connected fails as a dead token does."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiohttp import web

from sandbox.accounts import AccountState
from sandbox.deliveries import DeliveryFaults
from sandbox.limits import DAY, SandboxLimits
from sandbox.notifications import Registration
from sandbox.server import RunningSandbox, start_sandbox

KEY = "key"
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
REAUTH = (
    "TikTok access token expired or revoked: re-authentication required "
    "(reconnect the account in Upload-Post)"
)
DISCONNECTED = (
    "Instagram access token revoked: account is disconnected: reconnect it in Upload-Post"
)


@dataclass
class Receiver:
    """A webhook endpoint on a port of its own: keeps every body it is sent, in order."""

    url: str = ""
    got: list[dict[str, Any]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    status: int = 200  # what it answers

    async def take(self, request: web.Request) -> web.Response:
        self.content_types.append(request.content_type)
        self.got.append(await request.json())
        return web.Response(status=self.status)

    async def until(self, count: int) -> list[dict[str, Any]]:
        """The bodies, once `count` have come (bounded: the test fails rather than hangs)."""
        for _ in range(1_000):
            if len(self.got) >= count:
                return self.got
            await asyncio.sleep(0.01)  # real: the sandbox delivers over real HTTP, in background
        raise AssertionError(f"{len(self.got)} deliveries came, not {count}")

    async def until_from(self, user: str) -> list[dict[str, Any]]:
        """The bodies, once one about `user` has come: a barrier, as the sandbox sends in order."""
        for _ in range(1_000):
            if any(body["profile_username"] == user for body in self.got):
                return self.got
            await asyncio.sleep(0.01)  # real: the sandbox delivers over real HTTP, in background
        raise AssertionError(f"nothing about {user} came")


@dataclass
class World:
    sandbox: RunningSandbox
    http: httpx.AsyncClient
    receiver: Receiver

    async def register(self, url: str | None = None, **events: bool) -> httpx.Response:
        return await self.http.post(
            "/api/uploadposts/users/notifications",
            json={
                "channels": {"webhook": True, "telegram": False},
                "webhook_url": url or self.receiver.url,
                "webhook_events": events,
            },
        )

    async def faults(self, **notifications: object) -> httpx.Response:
        return await self.http.post("/_sandbox/settings", json={"notifications": notifications})

    async def account(self, user: str, platform: str, state: str, **extra: str) -> httpx.Response:
        body = {"user": user, "platform": platform, "state": state, **extra}
        return await self.http.post("/_sandbox/accounts", json=body)

    async def post(self, path: str = "/api/upload", **form: str) -> httpx.Response:
        """A post (by default a video: every platform takes one)."""
        media = {"video": "https://cdn.example.com/v.mp4"} if path == "/api/upload" else {}
        fields = {"user": "ana", "platform[]": "tiktok", "title": "t", **media, **form}
        return await self.http.post(path, data=fields)

    async def deliveries(self) -> list[dict[str, Any]]:
        return (await self.http.get("/_sandbox/notifications")).json()["deliveries"]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.take)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}/hook?token=s3cret"
    sandbox = await start_sandbox("127.0.0.1", 0, KEY, async_seconds=0)
    http = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{sandbox.port}", headers={"Authorization": f"Apikey {KEY}"}
    )
    try:
        yield World(sandbox, http, receiver)
    finally:
        await http.aclose()
        await sandbox.stop()
        await runner.cleanup()


def instant(text: str) -> float:
    assert ISO.fullmatch(text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


# --- registration ------------------------------------------------------------------------------


async def test_the_registration_is_stored_and_an_event_left_out_is_on(world):
    before = (await world.http.get("/api/uploadposts/users/notifications")).json()
    assert before["notifications"]["channels"] == {"webhook": False, "telegram": False}
    answer = await world.register(upload_completed=True, social_account_connected=False)
    stored = {
        "channels": {"webhook": True, "telegram": False},
        "webhook_url": world.receiver.url,
        "webhook_events": {
            "upload_completed": True,
            "social_account_connected": False,
            "social_account_disconnected": True,
            "social_account_reauth_required": True,
        },
    }
    assert (answer.status_code, answer.json()) == (200, {"success": True, "notifications": stored})
    again = await world.http.get("/api/uploadposts/users/notifications")
    assert again.json() == {"success": True, "notifications": stored}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"webhook_events": {}}, "webhook_url is required"),
        ({"webhook_url": "ftp://example.com/s3cret"}, "must be an http or https URL"),
        ({"webhook_url": "no url s3cret"}, "must be an http or https URL"),
        ({"webhook_url": 42}, "must be an http or https URL"),
        ({"webhook_url": "https://example.com/s3cret", "webhook_events": []}, "must be an object"),
        ({"webhook_url": "https://e.com/s3cret", "webhook_events": {"x": True}}, "unknown x"),
        ({"webhook_url": "https://e.com/s3cret", "channels": {"webhook": "yes"}}, "true or false"),
    ],
)
async def test_a_bad_registration_is_refused_in_the_real_shape_without_echoing_the_url(
    world, body, message
):
    answer = await world.http.post("/api/uploadposts/users/notifications", json=body)
    assert answer.status_code == 400
    assert answer.json()["success"] is False
    assert message in answer.json()["message"]
    assert "s3cret" not in answer.text


async def test_the_registration_needs_the_key_and_counts_as_a_request(world):
    answer = await world.http.post(
        "/api/uploadposts/users/notifications",
        json={"webhook_url": world.receiver.url},
        headers={"Authorization": "Bearer key"},
    )
    assert (answer.status_code, answer.json()["success"]) == (401, False)
    assert "X-RateLimit-Remaining" in answer.headers
    assert (await world.http.get("/api/uploadposts/users/notifications")).json()["notifications"][
        "webhook_url"
    ] is None


# --- what is sent ------------------------------------------------------------------------------


async def test_a_sync_publish_sends_upload_completed_with_its_result(world):
    await world.register()
    started = time.time()
    answer = await world.post(
        "/api/upload",
        video="https://cdn/v.mp4",
        **{"platform[]": "instagram", "request_id": "r-1", "description": "the caption"},
    )
    ended = time.time()
    result = answer.json()["results"]["instagram"]
    [body] = await world.receiver.until(1)
    assert started <= instant(body.pop("created_at")) <= ended
    assert body == {
        "event": "upload_completed",
        "job_id": "r-1",
        "request_id": "r-1",
        "user_email": "sandbox@localhost",
        "profile_username": "ana",
        "platform": "instagram",
        "media_type": "video",
        "title": "t",
        "caption": "the caption",
        "result": {
            "success": True,
            "url": result["url"],
            "publish_id": result["post_id"],
            "post_id": result["post_id"],
            "error": None,
        },
    }
    assert world.receiver.content_types == ["application/json"]
    [delivery] = await world.deliveries()
    assert {k: v for k, v in delivery.items() if k != "at"} == {
        "event": "upload_completed",
        "job_id": "r-1",
        "profile_username": "ana",
        "platform": "instagram",
        "status": 200,
        "error": None,
    }


async def test_an_async_publish_sends_upload_completed_when_the_job_ends(world):
    await world.register()
    answer = await world.post(
        "/api/upload_photos", **{"platform[]": "x", "photos[]": "p", "async_upload": "true"}
    )
    request_id = answer.json()["request_id"]
    [body] = await world.receiver.until(1)
    status = await world.http.get("/api/uploadposts/status", params={"request_id": request_id})
    [result] = status.json()["results"]
    assert (body["job_id"], body["request_id"]) == (request_id, request_id)
    assert (body["platform"], body["media_type"]) == ("x", "photo")
    assert body["result"] == {
        "success": True,
        "url": result["post_url"],
        "publish_id": result["platform_post_id"],
        "post_id": result["platform_post_id"],
        "error": None,
    }


@pytest.mark.parametrize(
    ("fault", "form"), [("partial", {}), ("async_fail", {"async_upload": "true"})]
)
async def test_a_failed_job_sends_upload_completed_with_its_error(world, fault, form):
    await world.register()
    world.sandbox.state.queue_faults("tiktok", fault)
    await world.post(**form)
    [body] = await world.receiver.until(1)
    assert body["media_type"] == "video"
    assert body["result"] == {
        "success": False,
        "url": None,
        "publish_id": None,
        "post_id": None,
        "error": f"sandbox fault {fault}: the platform refused the post",
    }
    assert world.sandbox.state.publications == []


async def test_each_account_change_sends_its_event_stamped_when_it_changed(world):
    await world.register()
    changes = [
        ("disconnected", {"reason": "the user removed the app"}),
        ("reauth_required", {}),
        ("connected", {}),
    ]
    answers = [
        (await world.account("ana", "tiktok", state, **extra)).json() for state, extra in changes
    ]
    bodies = await world.receiver.until(3)
    assert [{k: v for k, v in b.items() if k != "created_at"} for b in bodies] == [
        {
            "event": "social_account_disconnected",
            "user_email": "sandbox@localhost",
            "profile_username": "ana",
            "platform": "tiktok",
            "reason": "the user removed the app",
        },
        {
            "event": "social_account_reauth_required",
            "user_email": "sandbox@localhost",
            "profile_username": "ana",
            "platform": "tiktok",
            "reason": "the platform revoked the access token",
        },
        {
            "event": "social_account_connected",
            "user_email": "sandbox@localhost",
            "profile_username": "ana",
            "platform": "tiktok",
        },
    ]
    assert [instant(b["created_at"]) for b in bodies] == [
        pytest.approx(a["changed_at"], abs=2e-6) for a in answers
    ]
    listed = (await world.http.get("/_sandbox/accounts")).json()["accounts"]
    assert [(a["user"], a["platform"], a["state"]) for a in listed] == [
        ("ana", "tiktok", "connected")
    ]
    assert [d["job_id"] for d in await world.deliveries()] == ["", "", ""]


@pytest.mark.parametrize(
    "body",
    [
        {"user": "", "platform": "tiktok", "state": "connected"},
        {"user": "ana", "platform": "myspace", "state": "connected"},
        {"user": "ana", "platform": ["tiktok"], "state": "connected"},
        {"user": "ana", "platform": "tiktok", "state": "gone"},
        {"user": "ana", "platform": "tiktok", "state": "disconnected", "reason": 7},
    ],
)
async def test_a_bad_account_change_is_refused_and_sends_nothing(world, body):
    await world.register()
    answer = await world.http.post("/_sandbox/accounts", json=body)
    assert answer.status_code == 400
    assert world.sandbox.state.accounts.all() == []
    assert await world.deliveries() == []


async def test_a_disabled_event_is_not_sent(world):
    await world.register(upload_completed=False, social_account_disconnected=False)
    await world.post()
    await world.account("ana", "tiktok", "disconnected")
    await world.account("ana", "tiktok", "connected")  # on: it follows the two in the one queue
    [body] = await world.receiver.until(1)
    assert body["event"] == "social_account_connected"
    assert [d["event"] for d in await world.deliveries()] == ["social_account_connected"]


async def test_nothing_is_sent_before_a_registration_or_with_the_webhook_channel_off(world):
    await world.post()
    off = {"channels": {"webhook": False}, "webhook_url": world.receiver.url}
    await world.http.post("/api/uploadposts/users/notifications", json=off)
    await world.post()
    await world.register()
    await world.account("ana", "tiktok", "connected")
    [body] = await world.receiver.until(1)
    assert body["event"] == "social_account_connected"
    assert len(world.sandbox.state.publications) == 2


async def test_a_failed_delivery_is_recorded_once_and_not_retried(world):
    world.receiver.status = 500
    await world.register()
    await world.account("ana", "tiktok", "connected")
    await world.receiver.until(1)
    await world.register("http://127.0.0.1:1/hook")  # nothing listens there
    await world.account("ana", "tiktok", "connected")
    await world.register()
    world.receiver.status = 200
    await world.account("ana", "tiktok", "connected")
    await world.receiver.until(2)
    deliveries = await world.deliveries()
    assert [(d["status"], bool(d["error"])) for d in deliveries] == [
        (500, True),
        (0, True),
        (200, False),
    ]
    assert "127.0.0.1:1" not in str(deliveries)  # the error names the failure, not the URL
    assert len(world.receiver.got) == 2


# --- delivery faults ---------------------------------------------------------------------------


async def test_the_delivery_faults_are_echoed_and_bad_values_refused(world):
    answer = await world.faults(delay=0.5, repeat=2, reorder=True, drop=0.25, seed=9)
    assert answer.json()["notifications"] == {
        "delay": 0.5,
        "repeat": 2,
        "reorder": True,
        "reorder_seconds": 1.0,
        "drop": 0.25,
        "seed": 9,
    }
    for bad in (
        {"delay": -1},
        {"delay": "soon"},
        {"repeat": 0},
        {"repeat": 1.5},
        {"repeat": True},
        {"reorder": "yes"},
        {"drop": 2},
        {"seed": "x"},
        {"retries": 3},
    ):
        refused = await world.faults(**bad)
        assert refused.status_code == 400, bad
        assert "notifications" in refused.json()["error"]
    not_an_object = await world.http.post("/_sandbox/settings", json={"notifications": [1]})
    assert not_an_object.status_code == 400
    assert world.sandbox.state.sender.faults.seed == 9  # a refused change changes nothing


async def test_repeat_sends_each_delivery_that_many_times(world):
    await world.register()
    await world.faults(repeat=3)
    await world.post(request_id="r-1")
    bodies = await world.receiver.until(3)
    assert [b["job_id"] for b in bodies] == ["r-1"] * 3
    assert bodies[0] == bodies[1] == bodies[2]
    assert [d["job_id"] for d in await world.deliveries()] == ["r-1"] * 3


async def test_delay_sends_each_delivery_that_much_later(world):
    await world.register()
    await world.faults(delay=0.3)
    await world.account("ana", "tiktok", "connected")
    [body] = await world.receiver.until(1)
    [delivery] = await world.deliveries()
    assert delivery["at"] - instant(body["created_at"]) >= 0.3 - 0.001  # clocks' rounding


async def test_reorder_sends_a_held_batch_newest_first_and_created_at_restores_the_order(world):
    await world.register()
    await world.faults(reorder=True, reorder_seconds=600)  # held until flushed
    for state in ("disconnected", "reauth_required", "connected"):
        await world.account("ana", "tiktok", state)
    assert await world.deliveries() == []  # held
    flushed = await world.http.post("/_sandbox/notifications/flush")
    assert flushed.json() == {"flushed": 3}
    bodies = await world.receiver.until(3)
    assert [b["event"] for b in bodies] == [
        "social_account_connected",
        "social_account_reauth_required",
        "social_account_disconnected",
    ]
    latest = max(bodies, key=lambda b: instant(b["created_at"]))
    assert latest["event"] == "social_account_connected"  # what a receiver must keep


async def test_a_held_batch_goes_by_itself_when_its_time_is_up(world):
    await world.register()
    await world.faults(reorder=True, reorder_seconds=0.05)
    for state in ("disconnected", "connected"):
        await world.account("ana", "tiktok", state)
    assert len(await world.receiver.until(2)) == 2


async def test_drop_loses_its_share_from_a_seed_and_the_seed_replays_it(world):
    await world.register()

    async def run(barrier: str) -> list[int]:
        """Twenty deliveries at a drop of one half, then one without faults: their statuses."""
        await world.faults(drop=0.5, seed=7)
        for _ in range(20):
            await world.account("ana", "tiktok", "connected")
        await world.faults()
        await world.account(barrier, "tiktok", "connected")
        await world.receiver.until_from(barrier)
        return [d["status"] for d in await world.deliveries()][-21:-1]

    first = await run("bo")
    assert 0 < first.count(0) < 20  # some lost, some not
    assert set(first) == {0, 200}
    assert len(world.receiver.got) == first.count(200) + 1  # the lost never came
    assert await run("cy") == first  # the seed replays it
    await world.faults(drop=1)
    await world.account("ana", "tiktok", "connected")
    await world.faults()
    await world.account("di", "tiktok", "connected")
    await world.receiver.until_from("di")
    assert len(world.receiver.got) == 2 * (first.count(200) + 1) + 1
    dropped = (await world.deliveries())[-2]
    assert (dropped["status"], dropped["error"]) == (0, "dropped by the sandbox's drop fault")


async def test_stopping_the_sandbox_cancels_what_is_still_to_deliver():
    sandbox = await start_sandbox("127.0.0.1", 0, KEY)
    sandbox.state.registration = Registration.parse({"webhook_url": "http://127.0.0.1:1/hook"})
    sandbox.state.sender.set_faults(DeliveryFaults(delay=600))
    before = asyncio.all_tasks()
    sandbox.state.set_account("ana", "tiktok", AccountState.CONNECTED)
    started = asyncio.all_tasks() - before
    assert started  # the sender's worker, waiting out the delay
    # Bounded: a stop that waited out the delay instead of cancelling fails here, not hangs.
    await asyncio.wait_for(sandbox.stop(), 60)
    assert all(task.done() for task in started)
    assert sandbox.state.sender.deliveries == []


# --- accounts that are not connected -----------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "platform", "message"),
    [("reauth_required", "tiktok", REAUTH), ("disconnected", "instagram", DISCONNECTED)],
)
async def test_a_post_to_a_dead_account_is_a_200_partial_failure_that_publishes_nothing(
    world, state, platform, message
):
    await world.register()
    await world.account("ana", platform, state)
    answer = await world.post(**{"platform[]": platform, "request_id": "r-1"})
    assert answer.status_code == 200
    assert "X-RateLimit-Remaining" in answer.headers
    assert answer.json()["success"] is True
    assert answer.json()["results"] == {platform: {"success": False, "error": message}}
    assert world.sandbox.state.publications == []
    assert [e.path for e in world.sandbox.state.log][-1] == "/api/upload"
    bodies = await world.receiver.until(2)
    assert bodies[1]["result"]["error"] == message
    other = await world.post(**{"platform[]": "x"})  # the profile's other accounts still work
    assert other.json()["results"]["x"]["success"] is True


async def test_an_async_post_to_a_dead_account_is_accepted_then_fails(world):
    await world.register(social_account_reauth_required=False)
    await world.account("ana", "tiktok", "reauth_required")
    answer = await world.post(async_upload="true")
    request_id = answer.json()["request_id"]
    [body] = await world.receiver.until(1)
    assert body["result"]["error"] == REAUTH
    status = await world.http.get("/api/uploadposts/status", params={"request_id": request_id})
    assert status.json()["status"] == "failed"
    assert status.json()["results"][0]["error_message"] == REAUTH
    assert world.sandbox.state.publications == []


async def test_a_reconnected_account_publishes_again(world):
    await world.account("ana", "tiktok", "reauth_required")
    await world.account("ana", "tiktok", "connected")
    answer = await world.post()
    assert answer.json()["results"]["tiktok"]["success"] is True
    assert len(world.sandbox.state.publications) == 1


# --- status and limits -------------------------------------------------------------------------


async def test_status_takes_the_job_id_as_well_as_the_request_id(world):
    answer = await world.post(async_upload="true", request_id="r-9")
    assert answer.json()["request_id"] == "r-9"
    by_job = await world.http.get("/api/uploadposts/status", params={"job_id": "r-9"})
    by_request = await world.http.get("/api/uploadposts/status", params={"request_id": "r-9"})
    assert by_job.status_code == 200
    assert by_job.json()["request_id"] == "r-9"
    assert by_job.json()["results"] == by_request.json()["results"]
    missing = await world.http.get("/api/uploadposts/status", params={"job_id": "nope"})
    assert missing.status_code == 404


async def test_the_daily_caps_429_waits_until_the_oldest_publication_turns_a_day_old():
    now = 1_800_000_000.0
    sandbox = await start_sandbox(
        "127.0.0.1", 0, KEY, limits=SandboxLimits(daily_caps={"tiktok": 2})
    )
    sandbox.state.meter.clock = lambda: now  # fixed: the wait is exact
    for age in (DAY - 99.25, 10.0):  # the oldest ages out in 99.25 s
        sandbox.state.meter.count_publication("ana", "tiktok", now=now - age)
    try:
        async with httpx.AsyncClient(
            base_url=sandbox.base_url, headers={"Authorization": f"Apikey {KEY}"}
        ) as http:
            capped = await http.post(
                "/upload",
                data={"user": "ana", "platform[]": "tiktok", "video": "https://cdn/v.mp4"},
            )
    finally:
        await sandbox.stop()
    assert capped.status_code == 429
    assert capped.headers["Retry-After"] == str(math.ceil(99.25)) == "100"
    assert capped.json() == {
        "success": False,
        "message": "Post verification failed",
        "violations": [{"platform": "tiktok", "type": "hard_cap", "used_last_24h": 2, "cap": 2}],
    }
    assert sandbox.state.publications == []
