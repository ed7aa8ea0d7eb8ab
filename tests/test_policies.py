"""The retry rule, and each platform's policy held to the specification: every expected value is
a literal copied from the documented "Retry policies per platform" table (Instagram's ladder is
the incident plan's), never read from the module under test, so a ladder changed in the code
alone fails here."""

from __future__ import annotations

import pytest

from queuelabs.env import Env
from queuelabs.platforms import Platform
from uploader.policies import DEFAULT_POLICIES, RetryPolicy, WhenExhausted, retry_delay
from uploader.settings import UploaderSettings

# The documented table, by hand: (waits before retries 1, 2, 3; async mode; read timeout s; when
# retries run out).
SPECIFIED = {
    Platform.INSTAGRAM: ((30, 60, 120), True, 60, "reschedule"),
    Platform.YOUTUBE: ((30, 120, 300), True, 60, "reschedule"),
    Platform.TIKTOK: ((15, 60, 240), False, 90, "reschedule"),
    Platform.FACEBOOK: ((15, 60, 240), False, 60, "reschedule"),
    Platform.LINKEDIN: ((15, 60, 240), False, 60, "reschedule"),
    Platform.X: ((15, 60, 240), False, 60, "reschedule"),
    Platform.THREADS: ((15, 60, 240), False, 60, "reschedule"),
    Platform.PINTEREST: ((15, 60, 240), False, 60, "reschedule"),
    Platform.REDDIT: ((15, 60, 240), False, 60, "reschedule"),
    Platform.BLUESKY: ((15, 60, 240), False, 60, "reschedule"),
}


def running_policies() -> dict[Platform, RetryPolicy]:
    """The policies an Uploader started with none of the UPLOADER_* tuning variables runs."""
    env = Env(
        {
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
            "ALLOCATOR_ADDR": "127.0.0.1:1",
            "UPLOAD_POST_API_KEY": "key",
        }
    )
    return dict(UploaderSettings.from_env(env).policies)


@pytest.mark.parametrize(
    ("platform", "specified"), SPECIFIED.items(), ids=[p.value for p in SPECIFIED]
)
def test_each_platform_retries_on_its_documented_ladder_then_stops(platform, specified):
    ladder, _, _, _ = specified
    expected = [*ladder, None]  # a wait before each retry, then no more retries
    for policy in (DEFAULT_POLICIES[platform], running_policies()[platform]):
        assert [retry_delay(policy, n, None) for n in range(len(ladder) + 1)] == expected
        assert retry_delay(policy, len(ladder) + 5, None) is None


@pytest.mark.parametrize(
    ("platform", "specified"), SPECIFIED.items(), ids=[p.value for p in SPECIFIED]
)
def test_each_platform_has_its_documented_mode_read_timeout_and_end(platform, specified):
    _, async_mode, read_timeout, exhausted = specified
    for policy in (DEFAULT_POLICIES[platform], running_policies()[platform]):
        assert policy.async_upload is async_mode
        assert policy.read_timeout == read_timeout
        assert policy.when_exhausted == WhenExhausted(exhausted)
        # docs/how-it-works.md: a job's status is polled first after ~5 s, then every ~10 s.
        assert (policy.poll_first, policy.poll_every) == (5, 10)


def test_instagram_follows_the_incident_plans_ladder_in_async_mode():
    instagram = running_policies()[Platform.INSTAGRAM]
    assert [retry_delay(instagram, n, None) for n in range(4)] == [30, 60, 120, None]
    assert instagram.async_upload


def test_a_longer_wait_asked_by_the_server_wins_a_shorter_one_does_not():
    policy = RetryPolicy((10, 20), async_upload=False, read_timeout=5)
    assert retry_delay(policy, 0, 45.0) == 45.0
    assert retry_delay(policy, 1, 2.0) == 20
    assert retry_delay(policy, 2, 45.0) is None


def test_every_platform_has_a_policy():
    assert set(DEFAULT_POLICIES) == set(Platform)
    assert set(SPECIFIED) == set(Platform)  # and a documented row here


def test_scaling_shrinks_every_wait():
    scaled = RetryPolicy((30, 60, 120), async_upload=True, read_timeout=60).scaled(0.01)
    assert scaled.retry_delays == (0.3, 0.6, 1.2)
    assert (scaled.poll_first, scaled.poll_every, scaled.poll_give_up) == (0.05, 0.1, 18.0)
    assert scaled.read_timeout == 60  # a timeout is not a wait
