"""The sandbox's own rules: faults are data, named exactly, and a wrong name is refused."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from queuelabs.env import ConfigError, Env
from sandbox.faults import EVERY_FAULT, FAULTS, Answer, Before, RandomFaults, Scripted
from sandbox.limits import Meter, SandboxLimits
from sandbox.server import start_sandbox
from sandbox.settings import SandboxSettings


def test_every_fault_name_parses_and_unknown_ones_do_not():
    for name in FAULTS:
        assert Scripted.parse(name).fault is FAULTS[name]
    assert Scripted.parse("429:7").argument == "7"
    with pytest.raises(ValueError, match="unknown fault 'boom'"):
        Scripted.parse("boom")
    with pytest.raises(ValueError, match="'soon' is not a number"):
        Scripted.parse("slow:soon")


def test_refusals_publish_nothing_and_the_after_faults_publish_first():
    for name, fault in FAULTS.items():
        if fault.before is not Before.TAKE:
            assert fault.answer is Answer.RESULT, name  # nothing happens after a refusal
    assert FAULTS["504_after"].before is Before.TAKE
    assert FAULTS["504_before"].status == 504


async def test_the_control_endpoint_queues_known_faults_and_refuses_unknown_ones():
    sandbox = await start_sandbox("127.0.0.1", 0, "key")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sandbox.port}") as http:
            ok = await http.post(
                "/_sandbox/faults", json={"platform": "tiktok", "faults": ["504_after", "429:2"]}
            )
            assert ok.json() == {"queued": ["504_after", "429:2"]}
            bad = await http.post("/_sandbox/faults", json={"platform": "tiktok", "faults": ["x"]})
            assert bad.status_code == 400
            assert "unknown fault 'x'" in bad.json()["error"]
    finally:
        await sandbox.stop()
    assert [s.name for s in sandbox.state.faults["tiktok"]] == ["504_after", "429:2"]


def test_the_plan_rate_counts_every_request_and_refuses_past_it():
    meter = Meter(SandboxLimits(requests_per_minute=3))
    assert [meter.take_request(now=100.0 + i) for i in range(3)] == [None, None, None]
    assert meter.headers(now=103.0)["X-RateLimit-Remaining"] == "0"
    assert meter.headers(now=103.0)["X-RateLimit-Reset"] == "160"  # when the first ages out
    refused = meter.take_request(now=103.0)
    assert refused is not None
    assert refused.body == {"success": False, "message": "Too many requests"}
    assert refused.retry_after == 57.0
    assert meter.take_request(now=160.5) is None  # the first has aged out


def test_each_profile_posts_at_its_rate_and_each_account_within_its_cap():
    meter = Meter(SandboxLimits(posts_per_minute_per_profile=2, daily_caps={"tiktok": 3}))
    assert meter.take_post("a", "tiktok", now=0.0) is None
    assert meter.take_post("a", "tiktok", now=1.0) is None
    assert meter.take_post("a", "tiktok", now=2.0) is not None  # a third in the minute
    assert meter.take_post("b", "tiktok", now=2.0) is None  # another profile is not held up
    for at in (0.0, 1.0, 70.0):
        meter.count_publication("a", "tiktok", now=at)
    capped = meter.take_post("a", "tiktok", now=200.0)
    assert capped is not None
    assert capped.body["violations"] == [
        {"platform": "tiktok", "type": "hard_cap", "used_last_24h": 3, "cap": 3}
    ]
    assert meter.take_post("a", "instagram", now=200.0) is None  # caps are per platform
    assert meter.take_post("a", "tiktok", now=86_400.5) is None  # the first has aged out


async def test_answers_carry_the_rate_limit_headers_and_a_429_past_the_plan():
    sandbox = await start_sandbox(
        "127.0.0.1", 0, "key", limits=SandboxLimits(requests_per_minute=2)
    )
    try:
        async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
            me = [
                await http.get("/uploadposts/me", headers={"Authorization": "Apikey key"})
                for _ in range(3)
            ]
    finally:
        await sandbox.stop()
    assert [r.status_code for r in me] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in me] == ["1", "0", "0"]
    assert int(me[2].headers["Retry-After"]) >= 1
    assert [entry.status for entry in sandbox.state.log] == [200, 200, 429]


def test_random_faults_hit_about_their_share_from_a_seed_and_repeat_with_it():
    def draws(seed: int) -> list[str]:
        faults = RandomFaults.parse(0.2, EVERY_FAULT, seed)
        return [faults.upload().name for _ in range(5_000)]

    first = draws(7)
    assert first == draws(7)  # a seed replays a run
    met = [name for name in first if name != "ok"]
    assert 800 < len(met) < 1_200  # a fifth, give or take what chance allows at p < 1e-9
    assert set(met) == set(EVERY_FAULT)  # every fault of the mix is drawn
    assert {RandomFaults.parse(0.0, EVERY_FAULT).upload().name for _ in range(100)} == {"ok"}
    with pytest.raises(ValueError, match="not between 0 and 1"):
        RandomFaults.parse(1.5, EVERY_FAULT)
    with pytest.raises(ValueError, match="unknown fault 'x'"):
        RandomFaults.parse(0.1, ["x"])


def test_the_random_faults_come_from_the_environment_and_bad_values_are_named():
    settings = SandboxSettings.from_env(
        Env(
            {
                "SANDBOX_FAULT_RATE": "0.2",
                "SANDBOX_FAULT_MIX": "500, slow:4",
                "SANDBOX_FAULT_SEED": "3",
            }
        )
    )
    faults = settings.random_faults
    assert (faults.rate, [s.name for s in faults.mix], faults.seed) == (0.2, ["500", "slow:4"], 3)
    assert [s.name for s in SandboxSettings.from_env(Env({})).random_faults.mix] == list(
        EVERY_FAULT
    )
    assert SandboxSettings.from_env(Env({})).random_faults.rate == 0
    with pytest.raises(ConfigError, match="SANDBOX_FAULT_RATE: 'half'"):
        SandboxSettings.from_env(Env({"SANDBOX_FAULT_RATE": "half"}))
    with pytest.raises(ConfigError, match="SANDBOX_FAULT_MIX: unknown fault 'boom'"):
        SandboxSettings.from_env(Env({"SANDBOX_FAULT_RATE": "0.1", "SANDBOX_FAULT_MIX": "boom"}))


async def test_a_status_unreadable_job_publishes_and_its_next_look_ups_cannot_be_read():
    sandbox = await start_sandbox("127.0.0.1", 0, "key", async_seconds=0)
    sandbox.state.queue_faults("instagram", "status_unreadable:2", "500")
    form = {"user": "u", "platform[]": "instagram", "video": "v", "async_upload": "true"}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{sandbox.port}", headers={"Authorization": "Apikey key"}
        ) as http:
            taken = await http.post("/api/upload", data=form, headers={"Idempotency-Key": "k1"})
            request_id = taken.json()["request_id"]
            refused = await http.post("/api/upload", data=form, headers={"Idempotency-Key": "k2"})
            assert refused.status_code == 500
            looks = [
                await http.get("/api/uploadposts/status", params={"request_id": request_id})
                for _ in range(3)
            ]
            log = (await http.get("/_sandbox/log")).json()["requests"]
    finally:
        await sandbox.stop()
    for unreadable in looks[:2]:
        assert unreadable.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            unreadable.json()
    assert looks[2].json()["status"] == "completed"
    assert len(sandbox.state.publications) == 1
    assert [(e["key"], e["fault"], e["status"]) for e in log] == [
        ("k1", "status_unreadable:2", 200),
        ("k2", "500", 500),
        ("k1", "status_unreadable", 200),
        ("k1", "status_unreadable", 200),
        ("k1", "", 200),
    ]


async def test_the_settings_endpoint_turns_random_faults_on_and_refuses_bad_ones():
    sandbox = await start_sandbox("127.0.0.1", 0, "key")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sandbox.port}") as http:
            on = await http.post(
                "/_sandbox/settings",
                json={"fault_rate": 1, "fault_mix": ["503"], "fault_seed": 5},
            )
            assert on.json()["fault_mix"] == ["503"]
            bad = await http.post("/_sandbox/settings", json={"fault_rate": 1, "fault_mix": []})
            assert bad.status_code == 400
            assert "needs faults" in bad.json()["error"]
            posted = await http.post(
                "/api/upload_text",
                data={"user": "u", "platform[]": "x", "title": "t"},
                headers={"Authorization": "Apikey key"},
            )
    finally:
        await sandbox.stop()
    assert posted.status_code == 503
    assert sandbox.state.publications == []


async def test_held_posting_requests_wait_unanswered_until_released():
    sandbox = await start_sandbox("127.0.0.1", 0, "key")
    text = {"user": "u", "platform[]": "x", "title": "t"}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{sandbox.port}", headers={"Authorization": "Apikey key"}
        ) as http:
            held = await http.post("/_sandbox/settings", json={"hold": True})
            assert held.json()["hold"] is True
            posting = asyncio.create_task(http.post("/api/upload_text", data=text))
            while not sandbox.state.requests:  # until it has arrived
                assert not posting.done()
                await asyncio.sleep(0.01)  # real: the sandbox is a real HTTP server
            await asyncio.sleep(0.1)  # real: a held request is still held a moment later
            assert not posting.done()  # it waits
            assert sandbox.state.publications == []
            bad = await http.post("/_sandbox/settings", json={"hold": "no"})
            assert (bad.status_code, bad.json()) == (400, {"error": "hold must be true or false"})
            released = await http.post("/_sandbox/settings", json={"hold": False})
            assert released.json()["hold"] is False
            posted = await posting
    finally:
        await sandbox.stop()
    assert posted.status_code == 200
    assert len(sandbox.state.publications) == 1
