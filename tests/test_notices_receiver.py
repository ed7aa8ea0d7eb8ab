"""The receiver of Upload-Post's webhooks (uploader/notices/receiver.py) over real HTTP, on the
test's database: only a delivery carrying the secret is heard, a body is bounded and must be a
JSON object, what we do not know is taken and left alone, and account news is kept in the order
of its own time, whatever order it comes in. Its settings refuse a receiver without a good
secret."""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from prometheus_client import REGISTRY

from queuelabs.env import ConfigError, Env
from queuelabs.lifecycle import Event
from tests.support.harness import Harness
from tests.support.processes import service_process, unanswered_address
from uploader.domain import AttemptKind
from uploader.notices.receiver import MAX_BODY, PATH, SECRET_HEADER, start_receiver
from uploader.outcomes import Outcome
from uploader.settings import NoticeSettings, UploaderSettings

SECRET = "s3cret-of-this-test-0123456789abcdef"
USER = "InfoKetua"


@dataclass
class Hearing:
    """A receiver on a loopback port the system picked, and what it did."""

    base: str
    client: httpx.AsyncClient
    wakes: list[None]

    async def post(
        self,
        body: Any = None,
        *,
        path: str = f"{PATH}/{SECRET}",
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        return await self.client.post(
            self.base + path, json=body, content=content, headers=headers or {}
        )


@pytest.fixture
async def hearing(harness: Harness) -> AsyncIterator[Hearing]:
    wakes: list[None] = []
    running = await start_receiver(
        NoticeSettings("127.0.0.1:0", SECRET),
        harness.store,
        harness.clock,
        lambda: wakes.append(None),
    )
    assert running is not None
    try:
        async with httpx.AsyncClient() as client:
            yield Hearing(f"http://127.0.0.1:{running.port}", client, wakes)
    finally:
        await running.stop()


def reauth(at: str = "2026-03-26T00:10:00Z", user: str = USER) -> dict[str, Any]:
    return {
        "event": "social_account_reauth_required",
        "profile_username": user,
        "platform": "tiktok",
        "reason": "TikTok access token expired",
        "created_at": at,
    }


def connected(at: str) -> dict[str, Any]:
    return {
        "event": "social_account_connected",
        "profile_username": USER,
        "platform": "tiktok",
        "created_at": at,
    }


async def accounts(harness: Harness) -> list[tuple[Any, ...]]:
    async with harness.pool.connection() as conn:
        cursor = await conn.execute(
            "select profile_id, platform, reconnect_since is not null, reconnect_reason"
            " from accounts order by profile_id"
        )
        return list(await cursor.fetchall())


async def rows(harness: Harness, table: str) -> int:
    async with harness.pool.connection() as conn:
        cursor = await conn.execute(f"select count(*) from {table}")  # a name of this file's
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def server_side(caplog: pytest.LogCaptureFixture) -> str:
    """What the server logged (aiohttp's loggers included), the test's own client's aside."""
    return "\n".join(
        f"{r.name} {r.getMessage()}"
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore"))
    )


def counted(event: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "queuelabs_upload_post_webhooks_total", {"event": event, "outcome": outcome}
    )
    return value or 0.0


# --- who is heard ------------------------------------------------------------------------------


async def test_a_delivery_with_the_secret_in_its_path_is_heard(harness, hearing, caplog):
    profile = await harness.profile(user=USER)
    before = counted("social_account_reauth_required", "account_marked")
    with caplog.at_level(logging.DEBUG):
        answer = await hearing.post(reauth())
    assert answer.status_code == 200, answer.text
    assert f"account {USER} on tiktok: account_marked, 1 profile(s)" in server_side(caplog)
    assert SECRET not in server_side(caplog)
    assert answer.json() == {"outcome": "account_marked"}
    assert await accounts(harness) == [(profile, "tiktok", True, "TikTok access token expired")]
    assert counted("social_account_reauth_required", "account_marked") == before + 1


async def test_a_delivery_with_the_secret_in_its_header_is_heard(harness, hearing):
    profile = await harness.profile(user=USER)
    answer = await hearing.post(reauth(), path=PATH, headers={SECRET_HEADER: SECRET})
    assert answer.status_code == 200, answer.text
    assert [a[:3] for a in await accounts(harness)] == [(profile, "tiktok", True)]


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (f"{PATH}/{SECRET[:-1]}x", {}),  # a wrong secret in the path
        (f"{PATH}/{SECRET}x", {}),  # the right one and more
        (PATH, {}),  # none at all
        (PATH, {SECRET_HEADER: "wrong"}),
        (PATH, {SECRET_HEADER: ""}),
        (f"{PATH}?secret={SECRET}", {}),  # a query string is no place for it
        (f"{PATH}/{SECRET[:-1]}x", {SECRET_HEADER: SECRET}),  # the path's word counts
    ],
    ids=["wrong", "longer", "none", "wrong-header", "empty-header", "query", "wrong-path-header"],
)
async def test_a_delivery_without_the_secret_is_refused_and_changes_nothing(
    harness, hearing, caplog, path, headers
):
    await harness.profile(user=USER)
    before = counted("other", "refused")
    with caplog.at_level(logging.INFO):
        answer = await hearing.post(reauth(), path=path, headers=headers)
    assert answer.status_code == 401
    assert await accounts(harness) == []
    assert counted("other", "refused") == before + 1
    served = server_side(caplog)
    assert "refused" in served
    assert SECRET not in served
    assert SECRET not in answer.text


async def test_another_path_or_method_is_not_found_or_not_allowed(hearing):
    assert (await hearing.post(reauth(), path=f"/hooks/{SECRET}")).status_code == 404
    got = await hearing.client.get(f"{hearing.base}{PATH}/{SECRET}")
    assert got.status_code == 405


async def test_the_secret_is_compared_in_constant_time(harness, hearing, monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    assert (await hearing.post({"event": "later"})).status_code == 200
    assert (await hearing.post({"event": "later"}, path=f"{PATH}/nope")).status_code == 401
    assert (
        await hearing.post({"event": "later"}, path=PATH, headers={SECRET_HEADER: SECRET})
    ).status_code == 200
    assert compared == [
        (SECRET.encode(), SECRET.encode()),
        (b"nope", SECRET.encode()),
        (SECRET.encode(), SECRET.encode()),
    ]


# --- what is read ------------------------------------------------------------------------------


def padded(size: int) -> bytes:
    """A JSON object of an event we do not know, exactly `size` bytes long."""
    head = b'{"event": "padding", "pad": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


async def test_a_body_over_64_kib_is_refused_with_413_and_one_of_64_kib_is_taken(hearing):
    before = counted("other", "too_large")
    said = await hearing.post(content=padded(MAX_BODY + 1))  # its length said up front
    assert said.status_code == 413

    async def chunks():  # no length said: the receiver stops reading past the bound
        for _ in range(MAX_BODY // 1024 + 1):
            yield b" " * 1024

    unsaid = await hearing.client.post(f"{hearing.base}{PATH}/{SECRET}", content=chunks())
    assert unsaid.status_code == 413
    assert counted("other", "too_large") == before + 2
    exact = await hearing.post(content=padded(MAX_BODY))
    assert exact.status_code == 200, exact.text
    assert exact.json() == {"outcome": "ignored"}


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"{not json", "the body must be a JSON object"),
        (b"[1, 2]", "the body must be a JSON object"),
        (b'"upload_completed"', "the body must be a JSON object"),
        (b"\xff\xfe{}", "the body must be a JSON object"),
        (b"", "the body must be a JSON object"),
        (b'{"event": "upload_completed", "result": {"success": true}}', "without a job_id"),
        (b'{"event": "upload_completed", "job_id": "j1"}', "without result.success"),
        (
            b'{"event": "upload_completed", "job_id": "j1", "result": {"success": "yes"}}',
            "without result.success",
        ),
        (b'{"event": "social_account_connected", "platform": "tiktok"}', "profile_username"),
        (b'{"event": "social_account_disconnected", "profile_username": "u"}', "a platform"),
    ],
)
async def test_a_body_that_is_not_a_delivery_we_can_read_is_refused_with_400(
    harness, hearing, content, error
):
    answer = await hearing.post(content=content, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert error in answer.json()["error"]
    assert await rows(harness, "upload_post_notices") == 0
    assert await rows(harness, "accounts") == 0


async def test_an_unknown_event_or_platform_is_taken_logged_and_changes_nothing(
    harness, hearing, caplog
):
    await harness.profile(user=USER)
    before = counted("other", "ignored")
    with caplog.at_level(logging.INFO, logger="uploader.notices.receiver"):
        first = await hearing.post({"event": "social_account_renamed", "profile_username": USER})
        nameless = await hearing.post({"profile_username": USER})
        elsewhere = await hearing.post({**reauth(), "platform": "myspace"})
    assert [a.status_code for a in (first, nameless, elsewhere)] == [200, 200, 200]
    assert {a.json()["outcome"] for a in (first, nameless, elsewhere)} == {"ignored"}
    assert "'social_account_renamed' (an event we do not know): ignored" in caplog.text
    assert "(a platform we do not publish to): ignored" in caplog.text
    assert counted("other", "ignored") == before + 2
    assert await accounts(harness) == []
    assert await rows(harness, "events") == 0
    assert hearing.wakes == []


async def test_the_end_of_a_job_of_no_content_of_ours_is_taken_logged_and_not_kept(
    harness, hearing, caplog
):
    job = {
        "event": "upload_completed",
        "job_id": "job-of-someone-else",
        "profile_username": USER,
        "platform": "instagram",
        "result": {"success": True, "url": "https://www.instagram.com/p/x", "error": None},
        "created_at": "2026-03-26T00:10:00Z",
    }
    with caplog.at_level(logging.INFO, logger="uploader.notices.receiver"):
        answer = await hearing.post(job)
    assert answer.status_code == 200
    assert answer.json() == {"outcome": "unknown_job"}
    assert "'upload_completed' job job-of-someone-else: unknown_job" in caplog.text
    assert await rows(harness, "upload_post_notices") == 0
    assert hearing.wakes == []


async def processing(harness: Harness, job: str) -> UUID:
    """A content whose publish call Upload-Post took as job `job` (async): it waits on it."""
    profile = await harness.profile(user=USER)
    [content] = await harness.assign(profile, 1)
    harness.clock.advance(timedelta(hours=1))
    [held] = await harness.claim()
    now = harness.clock.now()
    async with harness.store.transaction() as tx:
        number = await tx.start_attempt(
            content, AttemptKind.PUBLISH, job, held.idempotency_key, "w1", now
        )
        await tx.finish_attempt(content, number, Outcome.ACCEPTED, 200, "", now)
        assert await tx.settle(
            content,
            Event.AWAIT,
            worker="w1",
            now=now,
            retry_count=0,
            next_retry_at=now + timedelta(minutes=10),  # its next poll
            generation=held.generation,
            job=job,
        )
    return content


async def test_the_end_of_a_job_a_content_waits_on_is_kept_and_wakes_the_claimer(harness, hearing):
    content = await processing(harness, "job-1")
    end = {
        "event": "upload_completed",
        "job_id": "job-1",
        "profile_username": USER,
        "platform": "tiktok",
        "result": {"success": True, "url": "https://www.tiktok.com/p/1", "post_id": "1"},
        "created_at": "2026-03-26T01:00:00Z",
    }
    answer = await hearing.post(end)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"outcome": "settled_later"}
    assert hearing.wakes == [None]
    async with harness.pool.connection() as conn:
        cursor = await conn.execute(
            "select n.job_id, n.post_url, n.body = %s::jsonb, c.next_retry_at = %s"
            " from upload_post_notices n, contents c where c.content_id = %s",
            (json.dumps(end), harness.clock.now(), content),
        )
        assert await cursor.fetchall() == [("job-1", "https://www.tiktok.com/p/1", True, True)]


async def test_a_delivery_the_database_cannot_take_is_503_not_a_refusal(harness, hearing, caplog):
    await harness.profile(user=USER)
    await harness.pool.close()  # the database is out of reach from here on
    with caplog.at_level(logging.INFO):
        answer = await hearing.post(reauth())
    assert answer.status_code == 503
    assert answer.json() == {"outcome": "failed", "error": "could not keep it now"}
    assert "account InfoKetua on tiktok: not kept" in server_side(caplog)
    assert SECRET not in server_side(caplog)


# --- account news: late, repeated, out of order -------------------------------------------------


async def test_account_news_is_kept_in_the_order_of_its_own_time_not_of_its_coming(
    harness, hearing
):
    first, second = await harness.profile(user=USER), await harness.profile(user=USER)
    await harness.profile(user="someone-else")
    marked = await hearing.post(reauth(at="2026-03-26T00:10:00Z"))
    assert marked.json() == {"outcome": "account_marked"}
    assert {(a[0], a[2]) for a in await accounts(harness)} == {(first, True), (second, True)}
    again = await hearing.post(reauth(at="2026-03-26T00:10:00Z"))  # a repeat
    assert again.json() == {"outcome": "unchanged"}
    late = await hearing.post(connected(at="2026-03-26T00:05:00Z"))  # older than the mark
    assert late.json() == {"outcome": "unchanged"}
    assert {a[2] for a in await accounts(harness)} == {True}
    # Naive: UTC, so this is after the mark.
    newer = await hearing.post(connected(at="2026-03-26T00:20:00"))
    assert newer.json() == {"outcome": "account_cleared"}
    assert {a[2] for a in await accounts(harness)} == {False}
    async with harness.pool.connection() as conn:
        cursor = await conn.execute("select type from events order by occurred_at, seq")
        types = [r[0] for r in await cursor.fetchall()]
    assert types == ["account.reconnect_required"] * 2 + ["account.reconnected"] * 2
    assert hearing.wakes == []


async def test_account_news_without_a_time_of_its_own_counts_as_of_its_coming(harness, hearing):
    await harness.profile(user=USER)
    undated = {k: v for k, v in reauth().items() if k != "created_at"}
    assert (await hearing.post(undated)).json() == {"outcome": "account_marked"}
    harness.clock.advance(timedelta(minutes=1))
    garbled = {**connected(at="yesterday-ish")}
    assert (await hearing.post(garbled)).json() == {"outcome": "account_cleared"}


# --- settings ----------------------------------------------------------------------------------

BASE = {
    "DATABASE_URL": "postgresql://u@h/db",
    "ALLOCATOR_ADDR": "127.0.0.1:1",
    "UPLOAD_POST_API_KEY": "k",
}


def test_the_receiver_is_off_unless_its_listen_is_set():
    assert UploaderSettings.from_env(Env(BASE)).notices == NoticeSettings()
    assert NoticeSettings.from_env(Env({"UPLOAD_POST_WEBHOOK_LISTEN": " "})).listen is None
    on = NoticeSettings.from_env(
        Env({"UPLOAD_POST_WEBHOOK_LISTEN": "0.0.0.0:8080", "UPLOAD_POST_WEBHOOK_SECRET": SECRET})
    )
    assert on == NoticeSettings("0.0.0.0:8080", SECRET)
    assert SECRET not in repr(on)
    assert SECRET not in repr(UploaderSettings.from_env(Env({**BASE, **as_env(on)})))


def as_env(settings: NoticeSettings) -> dict[str, str]:
    return {
        "UPLOAD_POST_WEBHOOK_LISTEN": settings.listen or "",
        "UPLOAD_POST_WEBHOOK_SECRET": settings.secret,
    }


@pytest.mark.parametrize(
    ("secret", "said"),
    [
        (None, "UPLOAD_POST_WEBHOOK_SECRET: not set"),
        ("short-but-path-safe-1234", None),  # 24: just enough
        ("short-but-path-safe-123", "at least 24 characters"),
        ("has a space in it, and it is long enough", "only letters, digits"),
        ("has/a/slash/in/it/and/is/long/enough", "only letters, digits"),
    ],
)
def test_a_receiver_without_a_good_secret_is_a_configuration_error_naming_the_variable(
    secret, said
):
    env = {**BASE, "UPLOAD_POST_WEBHOOK_LISTEN": "127.0.0.1:0"}
    if secret is not None:
        env["UPLOAD_POST_WEBHOOK_SECRET"] = secret
    if said is None:
        assert UploaderSettings.from_env(Env(env)).notices.secret == secret
        return
    with pytest.raises(ConfigError) as refused:
        UploaderSettings.from_env(Env(env))
    assert str(refused.value).startswith("UPLOAD_POST_WEBHOOK_SECRET: ")
    assert said in str(refused.value)
    assert secret is None or secret not in str(refused.value)


def test_a_bad_listen_is_a_configuration_error_naming_the_variable():
    env = {**BASE, "UPLOAD_POST_WEBHOOK_LISTEN": "nowhere", "UPLOAD_POST_WEBHOOK_SECRET": SECRET}
    with pytest.raises(ConfigError, match="UPLOAD_POST_WEBHOOK_LISTEN: 'nowhere' is not HOST:PORT"):
        UploaderSettings.from_env(Env(env))


async def test_a_taken_port_is_an_error_naming_the_setting(harness, hearing):
    taken = hearing.base.rpartition(":")[2]
    with pytest.raises(OSError, match=f"UPLOAD_POST_WEBHOOK_LISTEN 127.0.0.1:{taken}: "):
        await start_receiver(
            NoticeSettings(f"127.0.0.1:{taken}", SECRET), harness.store, harness.clock, lambda: None
        )


# --- on a real Uploader process -----------------------------------------------------------------

HEARING_LINE = re.compile(r"hearing Upload-Post's webhooks on \S+ \(port (\d+)\)")


async def test_an_uploader_process_hears_an_account_to_reconnect_and_marks_it(
    harness, database_url
):
    profile = await harness.profile(user=USER)
    with (
        unanswered_address() as nowhere,
        service_process(
            "uploader",
            "UPLOADER_LISTEN",
            DATABASE_URL=database_url,
            ALLOCATOR_ADDR=nowhere,  # never called here
            UPLOAD_POST_API_KEY="k",
            UPLOAD_POST_BASE_URL=f"http://{nowhere}/api",
            UPLOAD_POST_WEBHOOK_LISTEN="127.0.0.1:0",
            UPLOAD_POST_WEBHOOK_SECRET=SECRET,
        ) as uploader,
    ):
        said = HEARING_LINE.search(uploader.log.read_text())
        assert said, uploader.log.read_text()  # logged before the process serves
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                f"http://127.0.0.1:{said.group(1)}{PATH}/{SECRET}", json=reauth()
            )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"outcome": "account_marked"}
        log = uploader.log.read_text()
    assert [a[:3] for a in await accounts(harness)] == [(profile, "tiktok", True)]
    async with harness.pool.connection() as conn:
        cursor = await conn.execute("select type, profile_id, platform, data from events")
        [(kind, whose, platform, data)] = await cursor.fetchall()
    assert (kind, whose, platform) == ("account.reconnect_required", profile, "tiktok")
    assert data["source"] == "Upload-Post webhook social_account_reauth_required"
    assert "social_account_reauth_required' account InfoKetua on tiktok: account_marked" in log
    assert SECRET not in log
