"""Upload-Post's documented limits are what every part runs with when nothing is configured: the
expected values are literals from the specification (the plan's 100 requests a minute, 2 posts
a minute per profile, each platform's daily cap), never read from the code under test."""

from __future__ import annotations

import pytest

from allocator.settings import AllocatorSettings
from queuelabs.env import Env
from queuelabs.platforms import Platform
from sandbox.settings import SandboxSettings
from uploader.settings import UploaderSettings

# Posts per social account in any rolling 24 hours, as documented for
# UPLOAD_POST_DAILY_CAP_<PLATFORM>.
DAILY_CAPS = {
    Platform.INSTAGRAM: 50,
    Platform.TIKTOK: 15,
    Platform.YOUTUBE: 10,
    Platform.FACEBOOK: 25,
    Platform.LINKEDIN: 150,
    Platform.X: 50,
    Platform.THREADS: 50,
    Platform.PINTEREST: 20,
    Platform.REDDIT: 40,
    Platform.BLUESKY: 50,  # Upload-Post documents none: ours, as X's and Threads'
}
REQUESTS_PER_MINUTE = 100  # the plan's rate, every replica together
POSTS_PER_MINUTE_PER_PROFILE = 2

# What each command needs to start, and nothing about limits.
REQUIRED = {
    "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    "ALLOCATOR_ADDR": "127.0.0.1:1",
    "UPLOAD_POST_API_KEY": "key",
}


def uploader() -> UploaderSettings:
    return UploaderSettings.from_env(Env(REQUIRED))


def test_the_uploader_paces_to_the_plans_rate_and_each_profiles_rate():
    limits = uploader().limits
    assert limits.requests_per_minute == REQUESTS_PER_MINUTE
    assert limits.posts_per_minute_per_profile == POSTS_PER_MINUTE_PER_PROFILE


def test_the_sandbox_enforces_the_same_limits():
    limits = SandboxSettings.from_env(Env({})).limits
    assert limits.requests_per_minute == REQUESTS_PER_MINUTE
    assert limits.posts_per_minute_per_profile == POSTS_PER_MINUTE_PER_PROFILE
    assert limits.daily_caps == {platform.value: cap for platform, cap in DAILY_CAPS.items()}


@pytest.mark.parametrize(("platform", "cap"), DAILY_CAPS.items(), ids=[p.value for p in DAILY_CAPS])
def test_both_services_keep_each_platforms_daily_cap(platform, cap):
    assert AllocatorSettings.from_env(Env(REQUIRED)).daily_caps[platform] == cap
    assert uploader().daily_caps[platform] == cap


def test_every_platform_has_a_documented_cap():
    assert set(DAILY_CAPS) == set(Platform)
