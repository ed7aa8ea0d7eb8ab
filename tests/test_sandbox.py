"""The sandbox's own rules: faults are data, named exactly, and a wrong name is refused."""

from __future__ import annotations

import httpx
import pytest

from sandbox.faults import FAULTS, Answer, Before, Scripted
from sandbox.limits import Meter, SandboxLimits
from sandbox.server import start_sandbox


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
