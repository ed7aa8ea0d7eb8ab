"""The endpoints of notifications and account health: the real API's registration
(`/api/uploadposts/users/notifications`), and the sandbox's own control endpoints that change an
account's state, list the accounts, and show (or hurry) what was delivered."""

from __future__ import annotations

import json
from dataclasses import asdict

from aiohttp import web

from sandbox.accounts import AccountState
from sandbox.handlers import authorized, refused
from sandbox.notifications import Registration
from sandbox.state import PLATFORMS, SandboxState


class NotificationHandlers:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    async def register(self, request: web.Request) -> web.Response:
        """POST /api/uploadposts/users/notifications: replaces the configuration."""
        if not authorized(request, self.state.api_key):
            return refused("Invalid or expired token", 401)
        try:
            self.state.registration = Registration.parse(await request.json())
        except json.JSONDecodeError:
            return refused("the body must be JSON", 400)
        except ValueError as bad:
            return refused(str(bad), 400)
        return web.json_response(
            {"success": True, "notifications": self.state.registration.as_json()}
        )

    async def registration(self, request: web.Request) -> web.Response:
        """GET /api/uploadposts/users/notifications: the configuration stored."""
        if not authorized(request, self.state.api_key):
            return refused("Invalid or expired token", 401)
        return web.json_response(
            {"success": True, "notifications": self.state.registration.as_json()}
        )

    async def deliveries(self, request: web.Request) -> web.Response:
        """GET /_sandbox/notifications: every delivery attempt, in the order sent."""
        return web.json_response(
            {"deliveries": [asdict(delivery) for delivery in self.state.sender.deliveries]}
        )

    async def flush(self, request: web.Request) -> web.Response:
        """POST /_sandbox/notifications/flush: the batch held for reordering goes now."""
        return web.json_response({"flushed": self.state.sender.flush()})

    async def set_account(self, request: web.Request) -> web.Response:
        """POST /_sandbox/accounts {"user", "platform", "state", "reason" (optional)}: sets a
        social account's state and tells the webhook."""
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        user, platform = body.get("user"), body.get("platform")
        state, reason = body.get("state"), body.get("reason")
        if not isinstance(user, str) or not user:
            error = "user must be a profile's name"
        elif not isinstance(platform, str) or platform not in PLATFORMS:
            error = f"platform must be one of {', '.join(sorted(PLATFORMS))}"
        elif not isinstance(state, str) or state not in {s.value for s in AccountState}:
            error = f"state must be one of {', '.join(AccountState)}"
        elif reason is not None and not isinstance(reason, str):
            error = "reason must be text"
        else:
            account = self.state.set_account(user, platform, AccountState(state), reason)
            return web.json_response(asdict(account))
        return web.json_response({"error": error}, status=400)

    async def accounts(self, request: web.Request) -> web.Response:
        """GET /_sandbox/accounts: every account set (any other is connected)."""
        return web.json_response(
            {"accounts": [asdict(account) for account in self.state.accounts.all()]}
        )
