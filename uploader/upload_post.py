"""The Upload-Post HTTP API as the publisher needs it (docs/upload-post.md says what we rely on).

Each call's answer is sorted into one Outcome. The line that matters most: a 504, a read
timeout or a connection dropped after the request went out is UNKNOWN (the post may exist),
never "failed"; only a failure to connect at all is safe to retry on the spot.
The API key travels in a header and appears in no message this module produces.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from opentelemetry.trace import SpanKind
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from queuelabs import tracing
from queuelabs.clock import Clock, SystemClock
from queuelabs.platforms import MediaType, Platform
from queuelabs.posts import RESERVED_KEYS, SCHEDULING_KEYS
from uploader.domain import Notice
from uploader.outcomes import CallResult, Outcome

_PATHS = {
    MediaType.VIDEO: "/upload",
    MediaType.PHOTO: "/upload_photos",
    MediaType.TEXT: "/upload_text",
}
_PENDING = {"pending", "queued", "processing", "in_progress"}

# A platform's error that means its social account must be reconnected: the account's token
# expired, revoked or invalid, a re-authentication asked for, the account to be reconnected or
# disconnected. Read only in a platform's own result (a 200's per-platform error, a job's status
# or history, a webhook): a 401 for the whole request is about our API key, not a social account.
# Narrow on purpose: a match stops the account until a person acts, so a passing error ("upload
# session expired", "reconnecting to storage failed", "pre-authorization failed") must not match.
_TOKEN = r"\b(?:access|refresh|oauth|auth)[ _-]?tokens?\b"
_SPOILT = r"\b(?:expired|revoked|invalid(?:ated)?)\b"
_NEAR = r"[^.;:]{0,40}?"  # the same clause, a few words apart
_DEAD_ACCOUNT = re.compile(
    "|".join(
        (
            _TOKEN + _NEAR + _SPOILT,
            _SPOILT + _NEAR + _TOKEN,
            r"\b(?:token|authori[sz]ation) (?:has been|was|is) revoked\b",
            r"\bre-?auth(?:enticat|ori[sz])",
            r"\breauth(?![a-z])",
            r"\breconnect (?:(?:the|your|this) (?:\w+ )?)?account\b",
            r"\breconnect it\b",
            r"\baccount (?:(?:is|was|has been) )?disconnected\b",
        )
    ),
    re.IGNORECASE,
)


# The fields the Uploader sets itself, and those that hand a post to Upload-Post's own scheduler
# (HTTP 202, posted later), are one list with the Allocator's, which refuses them: a row stored
# before it did is sent without them (queuelabs/posts.py).
_NEVER_SENT = RESERVED_KEYS | SCHEDULING_KEYS

# An option's stored value: Upload-Post's wire form, a string sent once or a list sent as the
# field repeated (one part per item, in order).
OptionValue = str | list[str]


def sendable(options: Mapping[str, object]) -> tuple[dict[str, OptionValue], list[str]]:
    """The options to send, in their wire form, and the names of those dropped (reserved or
    scheduling keys, which old rows may hold). A boolean becomes "true"/"false", any other
    scalar its text; an empty list or an empty name is dropped quietly (nothing to send)."""
    kept: dict[str, OptionValue] = {}
    dropped: list[str] = []
    for name, value in options.items():
        if name.lower() in _NEVER_SENT:
            dropped.append(name)
        elif isinstance(value, list | tuple):
            if value:
                kept[name] = [_wire(item) for item in value]
        elif name and value is not None:
            kept[name] = _wire(value)
    return kept, sorted(dropped)


def _wire(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class PublishRequest:
    user: str
    platform: Platform
    media_type: MediaType
    request_id: str
    idempotency_key: str
    async_upload: bool
    media: tuple[str, ...] = ()  # the items' URLs in order: a video's one, a post's photos
    title: str = ""
    description: str = ""
    options: Mapping[str, OptionValue] = field(default_factory=dict)  # as `sendable` left them
    first_comment: str = ""
    alt_text: str = ""

    def form(self) -> list[tuple[str, str]]:
        """The multipart fields in order: ours, the media (`video`, or `photos[]` once per item
        in order; none for text), first_comment and alt_text when set, then the options by
        name, a list as its field repeated. A reserved or scheduling option is never sent."""
        fields = [
            ("user", self.user),
            ("platform[]", self.platform.value),
            ("request_id", self.request_id),
            ("async_upload", "true" if self.async_upload else "false"),
        ]
        if self.title:
            fields.append(("title", self.title))
        if self.description:
            fields.append(("description", self.description))
        if self.media_type is MediaType.VIDEO and self.media:
            fields.append(("video", self.media[0]))
        elif self.media_type is MediaType.PHOTO:
            fields += [("photos[]", url) for url in self.media]
        if self.first_comment:
            fields.append(("first_comment", self.first_comment))
        if self.alt_text:
            fields.append(("alt_text", self.alt_text))
        options, _ = sendable(self.options)
        for name, value in sorted(options.items()):
            fields += (
                [(name, item) for item in value] if isinstance(value, list) else [(name, value)]
            )
        return fields


class _NotSent(Exception):
    """The connection could not be made: the request never left, so retrying is safe."""


class UploadPostClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout: float = 5.0,
        connect_tries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Apikey {api_key}"},
            timeout=httpx.Timeout(30.0, connect=connect_timeout),
            transport=transport,
        )
        self._connect_tries = connect_tries
        self._clock = clock or SystemClock()

    async def close(self) -> None:
        await self._http.aclose()

    async def publish(self, request: PublishRequest, read_timeout: float) -> CallResult:
        """POSTs one upload; the request_id and Idempotency-Key are the caller's, stored first."""
        try:
            response = await self._send(
                "POST",
                _PATHS[request.media_type],
                # Every field as a multipart part (filename None): the API reads form-data only.
                files=[(name, (None, value)) for name, value in request.form()],
                headers={"Idempotency-Key": request.idempotency_key},
                read_timeout=read_timeout,
                request_id=request.request_id,
            )
        except _NotSent as cause:
            return CallResult(Outcome.RETRYABLE, error=f"could not reach Upload-Post: {cause}")
        except httpx.TimeoutException:
            return CallResult(Outcome.UNKNOWN, error="no answer within the read timeout")
        except httpx.TransportError as cause:
            return CallResult(
                Outcome.UNKNOWN, error=f"connection lost after sending: {type(cause).__name__}"
            )
        return self._heeding(response, _publish_result(response, request.platform, self._now()))

    async def status(self, request_id: str, platform: Platform) -> CallResult:
        """What Upload-Post knows of one request, for one platform."""
        try:
            response = await self._send(
                "GET",
                "/uploadposts/status",
                params={"request_id": request_id},
                read_timeout=30,
                request_id=request_id,
            )
        except (_NotSent, httpx.TransportError) as cause:
            return CallResult(Outcome.UNKNOWN, error=f"status check failed: {type(cause).__name__}")
        return self._heeding(response, _status_result(response, platform))

    async def find_in_history(self, request_id: str, platform: Platform) -> CallResult:
        """Looks a request up in the upload history (when the status endpoint has no record)."""
        try:
            response = await self._send(
                "GET",
                "/uploadposts/history",
                params={"request_id": request_id, "platform": platform.value, "limit": 50},
                read_timeout=30,
                request_id=request_id,
            )
        except (_NotSent, httpx.TransportError) as cause:
            return CallResult(
                Outcome.UNKNOWN, error=f"history check failed: {type(cause).__name__}"
            )
        return self._heeding(response, _history_result(response, request_id, platform))

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _heeding(self, response: httpx.Response, result: CallResult) -> CallResult:
        """The result, with how long Upload-Post asks that nothing be sent, if it does."""
        pause = _pause_asked(response, self._now())
        return result if pause is None else replace(result, send_again_in=pause)

    async def _send(
        self, method: str, path: str, *, read_timeout: float, request_id: str, **kwargs: Any
    ) -> httpx.Response:
        with tracing.span(
            f"Upload-Post {method} {path}",
            SpanKind.CLIENT,
            {
                "http.request.method": method,
                "url.path": path,
                "upload_post.request_id": request_id,
            },
        ) as span:
            try:
                response = await self._send_now(method, path, read_timeout, **kwargs)
            except Exception as failure:
                tracing.failed(span, type(failure).__name__)
                raise
            if span is not None:
                span.set_attribute("http.response.status_code", response.status_code)
            return response

    async def _send_now(
        self, method: str, path: str, read_timeout: float, **kwargs: Any
    ) -> httpx.Response:
        timeout = httpx.Timeout(read_timeout, connect=self._http.timeout.connect)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(_NotSent),
            stop=stop_after_attempt(self._connect_tries),
            wait=wait_exponential(multiplier=0.2, max=2),
            sleep=self._clock.sleep,
            reraise=True,
        ):
            with attempt:
                try:
                    return await self._http.request(method, path, timeout=timeout, **kwargs)
                except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as cause:
                    raise _NotSent(type(cause).__name__) from None
        raise AssertionError("unreachable")


def _publish_result(response: httpx.Response, platform: Platform, now: float) -> CallResult:
    status = response.status_code
    if status == 200:
        body = _json(response)
        if not body:
            return CallResult(Outcome.UNKNOWN, 200, "a 200 without a readable body")
        result = (body.get("results") or {}).get(platform.value)
        if result is None and body.get("request_id"):  # handed to the background
            return CallResult(Outcome.ACCEPTED, 200, request_id=str(body["request_id"]))
        if result is None:
            return CallResult(Outcome.UNKNOWN, 200, f"no result for {platform.value} in the answer")
        if result.get("success") is True:
            return CallResult(
                Outcome.PUBLISHED,
                200,
                post_url=str(result.get("url") or ""),
                platform_post_id=str(result.get("post_id") or result.get("platform_post_id") or ""),
            )
        # A partial failure is still HTTP 200: this platform's own error says what went wrong.
        return _ended_unpublished(200, str(result.get("error") or "failed"))
    if status == 504:
        return CallResult(
            Outcome.UNKNOWN, 504, "504 Gateway Time-out: the upload may have happened"
        )
    if status == 429 and _cap_full(response, platform):
        # A daily cap per social account: this account waits, the plan does not.
        return CallResult(Outcome.CAPPED, 429, _message(response), retry_after=_wait(response, now))
    if status == 429:
        return CallResult(
            Outcome.RETRYABLE, 429, _message(response), retry_after=_wait(response, now)
        )
    if status >= 500 or status in (408, 425):  # 408, 425: not (fully) taken in; say again
        return CallResult(Outcome.RETRYABLE, status, _message(response))
    return CallResult(Outcome.FAILED, status, _message(response))


def _status_result(response: httpx.Response, platform: Platform) -> CallResult:
    if response.status_code == 404:
        return CallResult(Outcome.NOT_FOUND, 404)
    if response.status_code != 200:
        return CallResult(
            Outcome.UNKNOWN, response.status_code, f"status check: {_message(response)}"
        )
    body = _readable(response)
    if body is None:
        return CallResult(Outcome.UNKNOWN, 200, "status check: a 200 whose body is not readable")
    state = str(body.get("status", "")).lower()
    for result in body.get("results") or []:
        if str(result.get("platform", "")).lower() != platform.value:
            continue
        if result.get("success") is True:
            return CallResult(
                Outcome.PUBLISHED,
                200,
                post_url=str(result.get("post_url") or ""),
                platform_post_id=str(result.get("platform_post_id") or result.get("post_id") or ""),
            )
        if str(result.get("status", "")).lower() in _PENDING:
            break
        return _ended_unpublished(200, str(result.get("error_message") or "failed"))
    if state == "failed":
        return CallResult(Outcome.RETRYABLE, 200, "the job failed", job_ended=True)
    return CallResult(Outcome.PENDING, 200)


def _history_result(response: httpx.Response, request_id: str, platform: Platform) -> CallResult:
    if response.status_code != 200:
        return CallResult(Outcome.UNKNOWN, response.status_code, _message(response))
    for item in _json(response).get("history") or []:
        if item.get("request_id") == request_id and item.get("platform") == platform.value:
            if item.get("success"):
                return CallResult(
                    Outcome.PUBLISHED,
                    200,
                    post_url=str(item.get("post_url") or ""),
                    platform_post_id=str(item.get("platform_post_id") or item.get("post_id") or ""),
                )
            return _ended_unpublished(200, str(item.get("error_message") or "failed"))
    return CallResult(Outcome.NOT_FOUND, 200)


def notice_result(notice: Notice) -> CallResult:
    """What Upload-Post's webhook on a job (upload_completed) comes to, as a look-up of the job
    would have: no request was sent, so no HTTP status."""
    if notice.success:
        return CallResult(
            Outcome.PUBLISHED,
            post_url=notice.post_url,
            platform_post_id=notice.platform_post_id,
            request_id=notice.job_id,
        )
    ended = _ended_unpublished(0, notice.error or "the job failed (Upload-Post's webhook)")
    return replace(ended, request_id=notice.job_id)


def _ended_unpublished(status: int, error: str) -> CallResult:
    """A job that ended without publishing: its social account must be reconnected, or a try
    that may work again."""
    outcome = Outcome.RECONNECT if _DEAD_ACCOUNT.search(error) else Outcome.RETRYABLE
    return CallResult(outcome, status, error, job_ended=True)


def _cap_full(response: httpx.Response, platform: Platform) -> bool:
    """A 429 that names a daily cap of this platform among its violations."""
    for violation in _json(response).get("violations") or []:
        if (
            isinstance(violation, dict)
            and str(violation.get("platform", platform.value)).lower() == platform.value
            and "cap" in str(violation.get("type", "")).lower()
        ):
            return True
    return False


def _pause_asked(response: httpx.Response, now: float) -> float | None:
    """Seconds Upload-Post asks that nothing at all be sent: its window is used up
    (X-RateLimit-Remaining 0, until X-RateLimit-Reset), or a 429 for the plan's rate (not a
    daily cap, which names its violations and holds back one account only)."""
    if response.status_code == 429 and not _json(response).get("violations"):
        return _wait(response, now) or 60.0
    if response.headers.get("X-RateLimit-Remaining", "").strip() == "0":
        return _reset_in(response, now) or 60.0
    return None


def _json(response: httpx.Response) -> dict[str, Any]:
    return _readable(response) or {}


def _readable(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one (cut off, HTML, a list)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _message(response: httpx.Response) -> str:
    body = _json(response)
    text = body.get("message") or body.get("error") or response.reason_phrase or ""
    violations = body.get("violations")
    if violations:
        text = f"{text} {violations}"
    return f"HTTP {response.status_code}: {str(text)[:500]}"


def _wait(response: httpx.Response, now: float) -> float | None:
    """Seconds to wait from Retry-After (seconds or a date) or X-RateLimit-Reset (epoch), as
    of `now` (epoch seconds)."""
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        if retry_after.strip().isdigit():
            return float(retry_after)
        try:
            when = email.utils.parsedate_to_datetime(retry_after)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - now)
    return _reset_in(response, now)


def _reset_in(response: httpx.Response, now: float) -> float | None:
    """Seconds until X-RateLimit-Reset (an epoch timestamp, or as some APIs send, seconds)."""
    reset = response.headers.get("X-RateLimit-Reset")
    if reset and reset.strip().replace(".", "", 1).isdigit():
        value = float(reset)
        return max(0.0, value - now) if value > 1e9 else value
    return None
