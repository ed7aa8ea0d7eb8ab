"""`queuelabs upload-post-webhook register|show`: tells Upload-Post where the Uploader hears its
webhooks (`POST /uploadposts/users/notifications`), or shows what Upload-Post has.

The registered URL is `<public URL>/upload-post/webhooks/<UPLOAD_POST_WEBHOOK_SECRET>`: Upload-Post
signs nothing, so the secret in the path is what proves a delivery (uploader/notices/). Neither
that secret nor the API key is ever printed: each is shown as its variable's name."""

from __future__ import annotations

import hmac
import json
import sys
from typing import Any
from urllib.parse import urlsplit

import httpx

from queuelabs.env import ConfigError, Env
from uploader.notices.receiver import PATH
from uploader.notices.words import EVENTS
from uploader.settings import REAL_UPLOAD_POST, webhook_secret

NOTIFICATIONS = "/uploadposts/users/notifications"
SECRET_SHOWN = "<secret>"
KEY_SHOWN = "<UPLOAD_POST_API_KEY>"
TIMEOUT = 10.0


class NotRegistered(Exception):
    """Upload-Post could not be reached or refused; the message is one line with no secret."""


def webhook_url(public_url: str, secret: str) -> str:
    """Where Upload-Post is to send: the receiver's path, with the secret, under `public_url`."""
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--public-url: {public_url!r} is not an http(s) URL like https://host")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ConfigError("--public-url: give only scheme, host, port and path, no user or query")
    return f"{public_url.rstrip('/')}{PATH}/{secret}"


def registration(url: str) -> dict[str, Any]:
    """The body Upload-Post takes: the webhook channel on, to `url`, for every event we hear."""
    return {
        "channels": {"webhook": True, "telegram": False},
        "webhook_url": url,
        "webhook_events": dict.fromkeys(EVENTS, True),
    }


async def register(base_url: str, api_key: str, url: str) -> dict[str, Any]:
    """Registers `url`; Upload-Post's `notifications` as it answered them."""
    return await _call("POST", base_url, api_key, registration(url), url)


async def registered(base_url: str, api_key: str) -> dict[str, Any]:
    """What Upload-Post has registered (its `notifications`)."""
    return await _call("GET", base_url, api_key, None, None)


async def _call(
    method: str, base_url: str, api_key: str, body: dict[str, Any] | None, url: str | None
) -> dict[str, Any]:
    hidden = [api_key, *([urlsplit(url).path.rsplit("/", 1)[1]] if url else [])]
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            answer = await client.request(
                method,
                base_url.rstrip("/") + NOTIFICATIONS,
                json=body,
                headers={"Authorization": f"Apikey {api_key}"},
            )
    except httpx.HTTPError as failed:
        raise NotRegistered(
            f"cannot reach Upload-Post at {base_url} ({type(failed).__name__})"
        ) from None
    try:
        said = answer.json()
    except ValueError:
        said = None
    notifications = said.get("notifications") if isinstance(said, dict) else None
    if answer.is_success and isinstance(notifications, dict):
        return notifications
    why = (said.get("message") or said.get("error")) if isinstance(said, dict) else None
    detail = str(why) if why else answer.text
    raise NotRegistered(
        f"Upload-Post answered {answer.status_code}: {_scrub(detail, hidden)[:200]}"
        if not answer.is_success
        else f"Upload-Post answered {answer.status_code} without its notifications"
    )


def _scrub(text: str, hidden: list[str]) -> str:
    """`text` on one line, with none of `hidden` in it (an answer may echo what it was sent)."""
    for secret in hidden:
        if secret:
            text = text.replace(secret, "<hidden>")
    return " ".join(text.split())


def masked(url: object) -> str:
    """A webhook URL as it may be printed: any path segment after the receiver's path hidden,
    and any query."""
    if not isinstance(url, str) or not url:
        return "(none)"
    parts = urlsplit(url)
    head, found, _ = parts.path.partition(PATH + "/")
    path = f"{head}{PATH}/{SECRET_SHOWN}" if found else parts.path
    query = "?<hidden>" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{path}{query}"


def describe(notifications: dict[str, Any]) -> str:
    """Upload-Post's `notifications`, on one line, the URL masked."""
    channels = notifications.get("channels") or {}
    events = notifications.get("webhook_events") or {}
    on = [name for name, flag in channels.items() if flag] if isinstance(channels, dict) else []
    heard = [name for name, flag in events.items() if flag] if isinstance(events, dict) else []
    return (
        f"webhook {masked(notifications.get('webhook_url'))}, channels "
        f"{', '.join(on) or 'none'}, events {', '.join(heard) or 'none'}"
    )


def upload_post(env: Env) -> tuple[str, str]:
    """UPLOAD_POST_BASE_URL and UPLOAD_POST_API_KEY, as the Uploader reads them."""
    key = env.text("UPLOAD_POST_API_KEY")
    if key is None:
        raise ConfigError("UPLOAD_POST_API_KEY: not set")
    base = env.text("UPLOAD_POST_BASE_URL", REAL_UPLOAD_POST) or REAL_UPLOAD_POST
    if not base.startswith(("https://", "http://")):
        raise ConfigError(f"UPLOAD_POST_BASE_URL: {base!r} is not an http(s) URL")
    return base, key


async def run_register(env: Env, public_url: str, dry_run: bool) -> int:
    url = webhook_url(public_url, webhook_secret(env))
    if urlsplit(url).scheme == "http" and urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
        print(
            "warning: an http:// URL carries the secret in the clear; use https:// beyond a test",
            file=sys.stderr,
        )
    if dry_run:
        base = env.text("UPLOAD_POST_BASE_URL", REAL_UPLOAD_POST) or REAL_UPLOAD_POST
        shown = registration(masked(url))
        print(f"POST {base.rstrip('/')}{NOTIFICATIONS}")
        print(f"Authorization: Apikey {KEY_SHOWN}")
        print(json.dumps(shown, indent=2))
        print("(dry run: nothing sent)")
        return 0
    base, key = upload_post(env)
    try:
        notifications = await register(base, key, url)
    except NotRegistered as problem:
        print(f"queuelabs upload-post-webhook register: {problem}", file=sys.stderr)
        return 1
    print(f"registered with Upload-Post ({base}): {describe(notifications)}")
    return 0


async def run_show(env: Env) -> int:
    base, key = upload_post(env)
    try:
        notifications = await registered(base, key)
    except NotRegistered as problem:
        print(f"queuelabs upload-post-webhook show: {problem}", file=sys.stderr)
        return 1
    print(f"Upload-Post ({base}) has: {describe(notifications)}{_whose(env, notifications)}")
    return 0


def _whose(env: Env, notifications: dict[str, Any]) -> str:
    """Whether the registered URL's secret is UPLOAD_POST_WEBHOOK_SECRET, when that is set."""
    url, ours = notifications.get("webhook_url"), env.text("UPLOAD_POST_WEBHOOK_SECRET")
    if not isinstance(url, str) or PATH + "/" not in url or ours is None:
        return ""
    given = urlsplit(url).path.partition(PATH + "/")[2]
    same = hmac.compare_digest(given.encode(), ours.encode())
    return f"; its secret {'is' if same else 'is not'} UPLOAD_POST_WEBHOOK_SECRET"
