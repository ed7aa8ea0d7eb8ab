"""The sandbox's settings: SANDBOX_LISTEN, SANDBOX_API_KEY, SANDBOX_ASYNC_SECONDS,
SANDBOX_UPLOAD_SECONDS, and the limits it enforces: SANDBOX_REQUESTS_PER_MINUTE and
SANDBOX_POSTS_PER_MINUTE_PER_PROFILE (each defaulting to the Uploader's UPLOAD_POST_* setting,
so one environment paces and enforces alike; 0 turns a limit off) and the daily caps
(UPLOAD_POST_DAILY_CAP_<PLATFORM>)."""

from __future__ import annotations

from dataclasses import dataclass, field

from queuelabs.env import Env
from sandbox.limits import SandboxLimits


@dataclass(frozen=True)
class SandboxSettings:
    listen: str = "127.0.0.1:50053"
    api_key: str = field(default="sandbox", repr=False)
    async_seconds: float = 3.0  # how long an async job takes to finish
    upload_seconds: float = 0.0  # how long a posting request takes to answer
    limits: SandboxLimits = field(default_factory=SandboxLimits)

    @classmethod
    def from_env(cls, env: Env, *, listen: str | None = None) -> SandboxSettings:
        return cls(
            listen=listen or env.listen("SANDBOX_LISTEN", "127.0.0.1:50053"),
            api_key=env.text("SANDBOX_API_KEY", "sandbox") or "sandbox",
            async_seconds=env.seconds("SANDBOX_ASYNC_SECONDS", 3.0, 0, 600),
            upload_seconds=env.seconds("SANDBOX_UPLOAD_SECONDS", 0.0, 0, 600),
            limits=limits_from_env(env),
        )


def limits_from_env(env: Env) -> SandboxLimits:
    def rate(name: str, fallback: str, default: int) -> int | None:
        value = env.integer(name, env.integer(fallback, default, 1, 1_000_000), 0, 1_000_000)
        return value or None

    return SandboxLimits(
        requests_per_minute=rate(
            "SANDBOX_REQUESTS_PER_MINUTE", "UPLOAD_POST_REQUESTS_PER_MINUTE", 100
        ),
        posts_per_minute_per_profile=rate(
            "SANDBOX_POSTS_PER_MINUTE_PER_PROFILE", "UPLOAD_POST_POSTS_PER_MINUTE_PER_PROFILE", 2
        ),
        daily_caps={platform.value: cap for platform, cap in env.daily_caps().items()},
    )
