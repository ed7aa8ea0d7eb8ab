"""The health of each social account (a profile's link to one platform) as the sandbox plays it:
connected unless a test says otherwise, and what a post to a dead account is answered with."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum


class AccountState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    REAUTH_REQUIRED = "reauth_required"


# The platform names the messages use where capitalising the API's name is not enough.
_SPELLED = {"tiktok": "TikTok", "youtube": "YouTube", "linkedin": "LinkedIn"}

# Why an account changed, when the test that changed it gave no reason.
DEFAULT_REASON = {
    AccountState.DISCONNECTED: "the account was disconnected from Upload-Post",
    AccountState.REAUTH_REQUIRED: "the platform revoked the access token",
}


def spelled(platform: str) -> str:
    return _SPELLED.get(platform, platform.capitalize())


def refusal(platform: str, state: AccountState) -> str | None:
    """The platform's error for a post to an account in `state`, as the real API words a dead
    token (None: connected, the post goes through). The Uploader knows a dead account by the
    words "token" and "re-authentication" or "reconnect"."""
    match state:
        case AccountState.REAUTH_REQUIRED:
            return (
                f"{spelled(platform)} access token expired or revoked: re-authentication "
                "required (reconnect the account in Upload-Post)"
            )
        case AccountState.DISCONNECTED:
            return (
                f"{spelled(platform)} access token revoked: account is disconnected: "
                "reconnect it in Upload-Post"
            )
    return None


@dataclass(frozen=True)
class Account:
    user: str
    platform: str
    state: AccountState
    reason: str | None
    changed_at: float


class Accounts:
    """Every account a test has set; any other is connected."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], Account] = {}

    def set(
        self, user: str, platform: str, state: AccountState, reason: str | None = None
    ) -> Account:
        if state is not AccountState.CONNECTED:
            reason = reason or DEFAULT_REASON[state]
        account = Account(user, platform, state, reason, time.time())
        self._by_key[(user, platform)] = account
        return account

    def state(self, user: str, platform: str) -> AccountState:
        account = self._by_key.get((user, platform))
        return account.state if account else AccountState.CONNECTED

    def refusal(self, user: str, platform: str) -> str | None:
        return refusal(platform, self.state(user, platform))

    def all(self) -> list[Account]:
        return list(self._by_key.values())
