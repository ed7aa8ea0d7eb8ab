"""Serves the sandbox's endpoints over HTTP (aiohttp) on a given host and port (0: any free one)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from sandbox.faults import RandomFaults
from sandbox.handlers import MEDIA_FIELD, Handlers
from sandbox.limits import Meter, SandboxLimits
from sandbox.notification_handlers import NotificationHandlers
from sandbox.state import SandboxState


def build_app(state: SandboxState) -> web.Application:
    handlers = Handlers(state)
    notifications = NotificationHandlers(state)
    app = web.Application(middlewares=[handlers.metered])
    for path in MEDIA_FIELD:
        app.router.add_post(path, handlers.upload)
    app.router.add_get("/api/uploadposts/status", handlers.status)
    app.router.add_get("/api/uploadposts/history", handlers.history)
    app.router.add_get("/api/uploadposts/me", handlers.me)
    app.router.add_post("/api/uploadposts/users/notifications", notifications.register)
    app.router.add_get("/api/uploadposts/users/notifications", notifications.registration)
    app.router.add_post("/_sandbox/faults", handlers.queue_faults)
    app.router.add_post("/_sandbox/settings", handlers.settings)
    app.router.add_get("/_sandbox/publications", handlers.publications)
    app.router.add_get("/_sandbox/log", handlers.log)
    app.router.add_get("/_sandbox/received", handlers.received)
    app.router.add_get("/_sandbox/notifications", notifications.deliveries)
    app.router.add_post("/_sandbox/notifications/flush", notifications.flush)
    app.router.add_post("/_sandbox/accounts", notifications.set_account)
    app.router.add_get("/_sandbox/accounts", notifications.accounts)
    return app


@dataclass
class RunningSandbox:
    runner: web.AppRunner
    state: SandboxState
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.state.sender.stop()  # what is still to deliver is dropped


async def start_sandbox(
    host: str,
    port: int,
    api_key: str,
    async_seconds: float = 1.0,
    *,
    limits: SandboxLimits | None = None,
    upload_seconds: float = 0.0,
    random_faults: RandomFaults | None = None,
) -> RunningSandbox:
    """The sandbox on `host:port`; `limits` off unless given (tests that are not about them
    run on fake time, which a real-time limit would not follow)."""
    state = SandboxState(
        api_key=api_key,
        async_seconds=async_seconds,
        upload_seconds=upload_seconds,
        meter=Meter(limits or SandboxLimits()),
    )
    if random_faults is not None:
        state.random_faults = random_faults
    runner = web.AppRunner(build_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return RunningSandbox(runner, state, int(bound))
