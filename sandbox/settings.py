"""The sandbox's settings: SANDBOX_LISTEN, SANDBOX_API_KEY, SANDBOX_ASYNC_SECONDS."""

from __future__ import annotations

from dataclasses import dataclass, field

from queuelabs.env import Env


@dataclass(frozen=True)
class SandboxSettings:
    listen: str = "127.0.0.1:50053"
    api_key: str = field(default="sandbox", repr=False)
    async_seconds: float = 3.0  # how long an async job takes to finish

    @classmethod
    def from_env(cls, env: Env, *, listen: str | None = None) -> SandboxSettings:
        return cls(
            listen=listen or env.listen("SANDBOX_LISTEN", "127.0.0.1:50053"),
            api_key=env.text("SANDBOX_API_KEY", "sandbox") or "sandbox",
            async_seconds=env.seconds("SANDBOX_ASYNC_SECONDS", 3.0, 0, 600),
        )
