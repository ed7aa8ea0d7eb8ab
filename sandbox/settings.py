"""The sandbox's settings: SANDBOX_LISTEN, SANDBOX_API_KEY, SANDBOX_ASYNC_SECONDS,
SANDBOX_UPLOAD_SECONDS, the faults it plays at random (SANDBOX_FAULT_RATE, SANDBOX_FAULT_MIX,
SANDBOX_FAULT_SEED), and the limits it enforces: SANDBOX_REQUESTS_PER_MINUTE and
SANDBOX_POSTS_PER_MINUTE_PER_PROFILE (each defaulting to the Uploader's UPLOAD_POST_* setting,
so one environment paces and enforces alike; 0 turns a limit off) and the daily caps
(UPLOAD_POST_DAILY_CAP_<PLATFORM>)."""

from __future__ import annotations

from dataclasses import dataclass, field

from queuelabs.env import ConfigError, Env
from sandbox.faults import EVERY_FAULT, RandomFaults
from sandbox.limits import SandboxLimits


@dataclass(frozen=True)
class SandboxSettings:
    listen: str = "127.0.0.1:50053"
    api_key: str = field(default="sandbox", repr=False)
    async_seconds: float = 3.0  # how long an async job takes to finish
    upload_seconds: float = 0.0  # how long a posting request takes to answer
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    random_faults: RandomFaults = field(default_factory=lambda: RandomFaults(0.0, ()))

    @classmethod
    def from_env(cls, env: Env, *, listen: str | None = None) -> SandboxSettings:
        return cls(
            listen=listen or env.listen("SANDBOX_LISTEN", "127.0.0.1:50053"),
            api_key=env.text("SANDBOX_API_KEY", "sandbox") or "sandbox",
            async_seconds=env.seconds("SANDBOX_ASYNC_SECONDS", 3.0, 0, 600),
            upload_seconds=env.seconds("SANDBOX_UPLOAD_SECONDS", 0.0, 0, 600),
            limits=limits_from_env(env),
            random_faults=random_faults_from_env(env),
        )


def random_faults_from_env(env: Env) -> RandomFaults:
    """SANDBOX_FAULT_RATE (a share of requests, 0 to 1; 0 by default), SANDBOX_FAULT_MIX (fault
    names, comma-separated; every documented way to fail by default), SANDBOX_FAULT_SEED."""
    raw = env.text("SANDBOX_FAULT_RATE", "0") or "0"
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    if not 0 <= rate <= 1:
        raise ConfigError(f"SANDBOX_FAULT_RATE: {raw!r} is not a share between 0 and 1")
    mix = env.text("SANDBOX_FAULT_MIX", ",".join(EVERY_FAULT)) or ""
    try:
        return RandomFaults.parse(
            rate,
            [name.strip() for name in mix.split(",") if name.strip()],
            env.integer("SANDBOX_FAULT_SEED", 0, 0, 2**31),
        )
    except ValueError as bad:
        raise ConfigError(f"SANDBOX_FAULT_MIX: {bad}") from None


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
