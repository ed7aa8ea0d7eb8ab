"""Which words of a platform's error mean "this social account must be reconnected": the one rule
in uploader/upload_post.py, table-tested. A match stops the account until a person acts, so a
passing error that only sounds like it (a session, a reconnection to storage) must not match."""

from __future__ import annotations

import pytest

from queuelabs.platforms import Platform
from sandbox.accounts import AccountState, refusal
from tests.test_upload_post_client import answer, publish
from uploader.domain import Notice
from uploader.outcomes import Outcome
from uploader.upload_post import notice_result

DEAD = [
    "TikTok access token expired",
    "Access token has expired",
    "The access token provided is invalid",
    "refresh_token revoked by the user",
    "Invalid OAuth token",
    "expired access token: sign in again",
    "OAuthToken invalidated",
    "auth token is invalid",
    "Error validating access token: the token has been revoked",
    "authorization was revoked by the user",
    "Re-authentication required",
    "The user must reauthenticate",
    "please re-authorize the app",
    "reauth required",
    "account needs reauth",
    "Please reconnect your account",
    "reconnect the Instagram account in Upload-Post",
    "reconnect it in Upload-Post",
    "Account disconnected",
    "the account has been disconnected from Upload-Post",
]

PASSING = [
    "upload session expired",
    "invalid session",
    "reconnecting to storage failed",
    "pre-authorization failed",
    "session token expired, retry the upload",
    "upload token invalid; request a new upload URL",
    "video too long",
    "the job failed",
    "rate limit: too many requests",
    "connection reset; reconnected after 2 tries",
    "invalid media: unsupported codec",
    "the platform revoked nothing: media processing expired",
    "server disconnected while uploading",
    "upload URL expired",
    "authorization header missing for the media host",
]


def ended_with(error: str) -> Outcome:
    """What a job that ended unpublished with `error` comes to (here: Upload-Post's webhook)."""
    notice = Notice(
        job_id="job-1", success=False, post_url="", platform_post_id="", error=error, body={}
    )
    return notice_result(notice).outcome


@pytest.mark.parametrize("error", DEAD)
def test_words_about_the_accounts_token_or_authorization_mean_reconnect(error):
    assert ended_with(error) is Outcome.RECONNECT


@pytest.mark.parametrize("error", PASSING)
def test_a_passing_error_that_only_sounds_like_it_is_retried(error):
    assert ended_with(error) is Outcome.RETRYABLE


@pytest.mark.parametrize("state", [AccountState.REAUTH_REQUIRED, AccountState.DISCONNECTED])
@pytest.mark.parametrize("platform", list(Platform))
def test_every_refusal_the_sandbox_words_means_reconnect(platform, state):
    words = refusal(platform.value, state)
    assert words is not None
    assert ended_with(words) is Outcome.RECONNECT


@pytest.mark.parametrize(
    ("error", "outcome"),
    [("reauth required", Outcome.RECONNECT), ("upload session expired", Outcome.RETRYABLE)],
)
async def test_a_posts_own_error_in_a_200_is_read_by_the_same_rule(error, outcome):
    results = {"tiktok": {"success": False, "error": error}}
    answered = await publish(answer(200, {"success": False, "results": results}))
    assert (answered.outcome, answered.error) == (outcome, error)
