"""Reading Upload-Post's webhook deliveries (uploader/notices/words.py, pure): a job's end into a
Notice, account news into an AccountWord timed by its own `created_at`, what we do not know
into Unheeded, and a known event without its fields refused with a short reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from queuelabs.platforms import Platform
from uploader.domain import Notice
from uploader.notices.words import AccountWord, BadDelivery, Unheeded, read_delivery

NOW = datetime(2026, 3, 26, 12, 0, tzinfo=UTC)


def job_end(**result: Any) -> dict[str, Any]:
    return {
        "event": "upload_completed",
        "job_id": "job-1",
        "request_id": "job-1",
        "profile_username": "InfoKetua",
        "platform": "instagram",
        "media_type": "video",
        "title": "Hello",
        "caption": "",
        "result": {
            "success": True,
            "url": "https://www.instagram.com/p/abc",
            "publish_id": "abc",
            "post_id": "abc",
            "error": None,
            **result,
        },
        "created_at": "2026-03-26T11:59:00.123456Z",
    }


def test_a_published_job_is_read_into_a_notice_with_the_payload_kept():
    payload = job_end()
    assert read_delivery(payload, NOW) == Notice(
        job_id="job-1",
        success=True,
        post_url="https://www.instagram.com/p/abc",
        platform_post_id="abc",
        error="",
        body=payload,
    )


def test_a_failed_job_is_read_with_its_error_and_no_post():
    notice = read_delivery(job_end(success=False, url=None, post_id=None, error="too long"), NOW)
    assert isinstance(notice, Notice)
    assert (notice.success, notice.post_url, notice.error) == (False, "", "too long")
    assert notice.platform_post_id == "abc"  # publish_id when post_id is none


def test_a_job_end_without_its_job_id_names_it_by_its_request_id():
    payload = {k: v for k, v in job_end().items() if k != "job_id"}
    notice = read_delivery(payload, NOW)
    assert isinstance(notice, Notice)
    assert notice.job_id == "job-1"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"job_id": None, "request_id": None}, "without a job_id"),
        ({"job_id": "", "request_id": ""}, "without a job_id"),
        ({"result": None}, "without result.success"),
        ({"result": {"url": "u"}}, "without result.success"),
        ({"result": {"success": 1}}, "without result.success"),
    ],
)
def test_a_job_end_without_what_it_must_carry_is_a_bad_delivery(change, said):
    with pytest.raises(BadDelivery, match=said):
        read_delivery({**job_end(), **change}, NOW)


def account(event: str, **fields: Any) -> dict[str, Any]:
    return {
        "event": event,
        "profile_username": "InfoKetua",
        "platform": "tiktok",
        "reason": "TikTok access token expired",
        "created_at": "2026-03-26T11:00:00Z",
        **fields,
    }


@pytest.mark.parametrize("event", ["social_account_disconnected", "social_account_reauth_required"])
def test_an_account_to_reconnect_is_read_with_its_reason_and_its_own_time(event):
    assert read_delivery(account(event), NOW) == AccountWord(
        event,
        "InfoKetua",
        Platform.TIKTOK,
        "TikTok access token expired",
        datetime(2026, 3, 26, 11, 0, tzinfo=UTC),
    )


def test_an_account_to_reconnect_without_a_reason_gets_one_that_says_who_said_so():
    word = read_delivery(account("social_account_reauth_required", reason=None), NOW)
    assert isinstance(word, AccountWord)
    assert word.reason == "Upload-Post says the account must be signed in again"
    assert word.source == "Upload-Post webhook social_account_reauth_required"
    assert not word.connected


def test_a_connected_account_has_no_reason():
    word = read_delivery(account("social_account_connected"), NOW)
    assert isinstance(word, AccountWord)
    assert word.connected
    assert word.reason == ""


@pytest.mark.parametrize(
    ("created_at", "word_at"),
    [
        ("2026-03-26T11:00:00Z", datetime(2026, 3, 26, 11, 0, tzinfo=UTC)),
        ("2026-03-26T18:00:00+07:00", datetime(2026, 3, 26, 11, 0, tzinfo=UTC)),
        ("2026-03-26T11:00:00", datetime(2026, 3, 26, 11, 0, tzinfo=UTC)),  # naive: UTC
        ("2026-03-26T11:00:00.5Z", datetime(2026, 3, 26, 11, 0, 0, 500000, tzinfo=UTC)),
        ("last tuesday", NOW),
        ("", NOW),
        (1774522800, NOW),  # a number is no ISO-8601 time
        (None, NOW),
    ],
)
def test_account_news_is_timed_by_its_created_at_else_by_now(created_at, word_at):
    word = read_delivery(account("social_account_connected", created_at=created_at), NOW)
    assert isinstance(word, AccountWord)
    assert word.word_at == word_at
    assert word.word_at.utcoffset() is not None
    jakarta = timezone(timedelta(hours=7))
    assert word.word_at.astimezone(jakarta) == word_at  # the same instant, whatever its zone


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"profile_username": None}, "without a profile_username"),
        ({"profile_username": ""}, "without a profile_username"),
        ({"platform": None}, "without a platform"),
        ({"platform": 3}, "without a platform"),
    ],
)
def test_account_news_without_whose_account_is_a_bad_delivery(change, said):
    with pytest.raises(BadDelivery, match=said):
        read_delivery(account("social_account_disconnected", **change), NOW)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({"event": "social_account_renamed"}, "an event we do not know"),
        ({"event": 7}, "an event we do not know"),
        ({}, "an event we do not know"),
        (account("social_account_connected", platform="myspace"), "a platform we do not"),
    ],
)
def test_what_we_do_not_know_is_unheeded_not_refused(payload, why):
    word = read_delivery(payload, NOW)
    assert isinstance(word, Unheeded)
    assert why in word.why
