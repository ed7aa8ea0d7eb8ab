"""The retry rule, alone."""

from __future__ import annotations

from queuelabs.platforms import Platform
from uploader.policies import DEFAULT_POLICIES, RetryPolicy, retry_delay


def test_instagram_follows_the_incident_plans_ladder_then_stops():
    instagram = DEFAULT_POLICIES[Platform.INSTAGRAM]
    assert [retry_delay(instagram, n, None) for n in range(4)] == [30, 60, 120, None]
    assert instagram.async_upload


def test_a_longer_wait_asked_by_the_server_wins_a_shorter_one_does_not():
    policy = RetryPolicy((10, 20), async_upload=False, read_timeout=5)
    assert retry_delay(policy, 0, 45.0) == 45.0
    assert retry_delay(policy, 1, 2.0) == 20
    assert retry_delay(policy, 2, 45.0) is None


def test_every_platform_has_a_policy():
    assert set(DEFAULT_POLICIES) == set(Platform)


def test_scaling_shrinks_every_wait():
    scaled = DEFAULT_POLICIES[Platform.INSTAGRAM].scaled(0.01)
    assert scaled.retry_delays == (0.3, 0.6, 1.2)
    assert scaled.poll_first == 0.05
