"""What Upload-Post's notifications are, as data: the configuration an account registers (which
channels, which URL, which events) and the JSON body of each event, in the real API's shapes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sandbox.accounts import Account, AccountState

USER_EMAIL = "sandbox@localhost"  # the account the sandbox's one key belongs to

UPLOAD_COMPLETED = "upload_completed"
ACCOUNT_EVENT = {
    AccountState.CONNECTED: "social_account_connected",
    AccountState.DISCONNECTED: "social_account_disconnected",
    AccountState.REAUTH_REQUIRED: "social_account_reauth_required",
}
EVENTS = (UPLOAD_COMPLETED, *ACCOUNT_EVENT.values())
CHANNELS = ("webhook", "telegram")


def _every_event() -> dict[str, bool]:
    return dict.fromkeys(EVENTS, True)


@dataclass(frozen=True)
class Registration:
    """One account's notification settings. Before any registration nothing is sent."""

    channels: Mapping[str, bool] = field(default_factory=lambda: dict.fromkeys(CHANNELS, False))
    webhook_url: str | None = None
    events: Mapping[str, bool] = field(default_factory=_every_event)

    @classmethod
    def parse(cls, body: object) -> Registration:
        """The body of `POST /api/uploadposts/users/notifications`; ValueError says what is
        wrong (never echoing the URL, which may carry a secret). An event left out of
        `webhook_events` is on; a channel left out of `channels` is the default (webhook on)."""
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        channels = {"webhook": True, "telegram": False} | _flags(body, "channels", CHANNELS)
        events = _every_event() | _flags(body, "webhook_events", EVENTS)
        url = body.get("webhook_url")
        if url is None and channels["webhook"]:
            raise ValueError("webhook_url is required when the webhook channel is on")
        if url is not None:
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("webhook_url must be an http or https URL")
        return cls(channels, url, events)

    def wants(self, event: str) -> bool:
        return bool(self.channels.get("webhook") and self.webhook_url and self.events[event])

    def as_json(self) -> dict[str, Any]:
        return {
            "channels": dict(self.channels),
            "webhook_url": self.webhook_url,
            "webhook_events": dict(self.events),
        }


def _flags(body: dict[str, Any], name: str, known: tuple[str, ...]) -> dict[str, bool]:
    value = body.get(name, {})
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(f"{name}: unknown {', '.join(unknown)}; known: {', '.join(known)}")
    if not all(isinstance(flag, bool) for flag in value.values()):
        raise ValueError(f"{name}: each value must be true or false")
    return dict(value)


def iso(at: float) -> str:
    """An instant as the API writes it: UTC, microseconds, a Z."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def upload_completed(
    *,
    request_id: str,
    user: str,
    platform: str,
    media_type: str,
    title: str,
    caption: str,
    success: bool,
    url: str | None,
    post_id: str | None,
    error: str | None,
    ended_at: float,
) -> dict[str, Any]:
    """Sent when a job ends, published or failed, whether it was posted async or not."""
    return {
        "event": UPLOAD_COMPLETED,
        "job_id": request_id,
        "request_id": request_id,
        "user_email": USER_EMAIL,
        "profile_username": user,
        "platform": platform,
        "media_type": media_type,
        "title": title,
        "caption": caption,
        "result": {
            "success": success,
            "url": url,
            "publish_id": post_id,
            "post_id": post_id,
            "error": error,
        },
        "created_at": iso(ended_at),
    }


def account_changed(account: Account) -> dict[str, Any]:
    """Sent when a social account's state changes; `created_at` is when it changed, which is
    what a receiver orders by (deliveries may come out of order)."""
    payload: dict[str, Any] = {
        "event": ACCOUNT_EVENT[account.state],
        "user_email": USER_EMAIL,
        "profile_username": account.user,
        "platform": account.platform,
    }
    if account.state is not AccountState.CONNECTED:
        payload["reason"] = account.reason
    payload["created_at"] = iso(account.changed_at)
    return payload
