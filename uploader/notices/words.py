"""What one of Upload-Post's webhook deliveries says, read into the Uploader's terms (pure): a
job's end (a `Notice`), news of a social account's connection (`AccountWord`), or something the
Uploader does not act on (`Unheeded`). A delivery Upload-Post could not have meant is refused with
`BadDelivery`, whose message is short and quotes nothing of the body."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from queuelabs.platforms import Platform
from uploader.domain import Notice

UPLOAD_COMPLETED = "upload_completed"
CONNECTED = "social_account_connected"
# The events that say an account must be connected again, each with what to say when the
# delivery gives no reason.
NEEDS_RECONNECTING = {
    "social_account_disconnected": "Upload-Post says the account was disconnected",
    "social_account_reauth_required": "Upload-Post says the account must be signed in again",
}
EVENTS = (UPLOAD_COMPLETED, CONNECTED, *NEEDS_RECONNECTING)


class BadDelivery(ValueError):
    """A known event without what it must carry; the message says what is missing."""


@dataclass(frozen=True)
class AccountWord:
    """A social account's connection changed, as of `word_at` (the delivery's own time:
    deliveries may come late or out of order, and the newer word wins)."""

    event: str
    upload_post_user: str
    platform: Platform
    reason: str  # why it needs reconnecting ("" when connected)
    word_at: datetime

    @property
    def connected(self) -> bool:
        return self.event == CONNECTED

    @property
    def source(self) -> str:
        """Who said so, as kept beside the account's state."""
        return f"Upload-Post webhook {self.event}"


@dataclass(frozen=True)
class Unheeded:
    """A delivery the Uploader takes (200) and does nothing with."""

    event: str  # as sent; "" when it names none
    why: str


Word = Notice | AccountWord | Unheeded


def read_delivery(payload: dict[str, Any], now: datetime) -> Word:
    """The delivery's meaning; `now` stands for a missing or unreadable `created_at`."""
    event = payload.get("event")
    if not isinstance(event, str) or event not in EVENTS:
        return Unheeded(event if isinstance(event, str) else "", "an event we do not know")
    if event == UPLOAD_COMPLETED:
        return _job_end(payload)
    user = payload.get("profile_username")
    if not isinstance(user, str) or not user:
        raise BadDelivery(f"{event} without a profile_username")
    platform = payload.get("platform")
    if not isinstance(platform, str) or not platform:
        raise BadDelivery(f"{event} without a platform")
    if platform not in {p.value for p in Platform}:
        return Unheeded(event, "a platform we do not publish to")
    reason = "" if event == CONNECTED else _text(payload.get("reason")) or NEEDS_RECONNECTING[event]
    return AccountWord(event, user, Platform(platform), reason, word_time(payload, now))


def _job_end(payload: dict[str, Any]) -> Notice:
    job_id = _text(payload.get("job_id")) or _text(payload.get("request_id"))
    if not job_id:
        raise BadDelivery("upload_completed without a job_id")
    result = payload.get("result")
    if not isinstance(result, dict) or not isinstance(result.get("success"), bool):
        raise BadDelivery("upload_completed without result.success (true or false)")
    return Notice(
        job_id=job_id,
        success=result["success"],
        post_url=_text(result.get("url")),
        platform_post_id=_text(result.get("post_id")) or _text(result.get("publish_id")),
        error=_text(result.get("error")),
        body=payload,
    )


def word_time(payload: dict[str, Any], now: datetime) -> datetime:
    """The delivery's `created_at` (ISO-8601; without an offset it is UTC), else `now`."""
    raw = payload.get("created_at")
    if not isinstance(raw, str):
        return now
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        return now
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _text(value: object) -> str:
    """A string field as text: None, absent or not a string is ""."""
    return value.strip() if isinstance(value, str) else ""
