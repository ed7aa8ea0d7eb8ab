"""The Uploader's domain objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from queuelabs.events import Cursor, EventType
from queuelabs.lifecycle import ContentState
from queuelabs.platforms import MediaType, Platform
from queuelabs.posts import MediaItem
from uploader.outcomes import Outcome


class AttemptKind(StrEnum):
    """What an attempt asks Upload-Post, as stored in `upload_attempts.kind`."""

    PUBLISH = "publish"  # the post itself
    RECONCILE = "reconcile"  # what became of an earlier publish (status, history)
    NOTICE = "notice"  # the same, answered by Upload-Post's webhook: no request sent


class Unanswered(StrEnum):
    """How an attempt ends with no answer to record: beside Upload-Post's `Outcome`s, the
    other values of `upload_attempts.outcome`."""

    LOST = "lost"  # its worker's lease expired mid-call (the rescuer closed it)
    INTERRUPTED = "interrupted"  # its worker shut down mid-call


# What a finished attempt's row says it came to (None while the call is in flight).
AttemptOutcome = Outcome | Unanswered


def attempt_outcome(stored: str) -> AttemptOutcome:
    """The stored `upload_attempts.outcome` as its enum."""
    unanswered = {u.value: u for u in Unanswered}
    return unanswered[stored] if stored in unanswered else Outcome(stored)


class RequestKind(StrEnum):
    """A request to Upload-Post as the shared budget counts it (`upload_post_requests.kind`)."""

    POST = "post"  # a publish: counted against its profile's posting rate too
    LOOK_UP = "look_up"  # a status or history look-up


@dataclass(frozen=True)
class Claimed:
    """A content this worker holds, as it stood when claimed."""

    content_id: UUID
    profile_id: UUID
    platform: Platform
    upload_post_user: str
    media_type: MediaType
    media_url: str  # the first item's URL ('' for text): all a row older than `media` holds
    title: str
    description: str
    platform_options: dict[str, Any]  # Upload-Post's wire form: a string, or a list to repeat
    scheduled_at: datetime
    previous_state: ContentState  # what it was before the claim
    retry_count: int
    generation: int
    upload_now: bool
    reason: str = ""  # why it stands where it stands (e.g. why it waits for a slot)
    next_retry_at: datetime | None = None  # as claimed (a claim to look up moves it on)
    media: tuple[MediaItem, ...] = ()  # the post's items in order; () for text (and old rows)
    first_comment: str = ""
    alt_text: str = ""

    @property
    def media_urls(self) -> tuple[str, ...]:
        """The URLs to send, in order: the items', else (a row from before media lists, whose
        `media` is empty) its one media_url; none for a text post."""
        if self.media_type is MediaType.TEXT:
            return ()
        if self.media:
            return tuple(item.url for item in self.media)
        return (self.media_url,) if self.media_url else ()

    @property
    def due_at(self) -> datetime:
        """When it fell due: its slot, or the time its retry, look-up or UploadNow asked for."""
        return self.scheduled_at if self.next_retry_at is None else self.next_retry_at

    @property
    def idempotency_key(self) -> str:
        """Stable per (content, platform); the generation moves on only after Upload-Post said
        the job under the current key ended without publishing."""
        return f"queuelabs:{self.content_id}:{self.platform.value}:{self.generation}"

    def log_context(self, worker: str, request_id: str | None = None) -> dict[str, str]:
        """The fields every log line about this content carries (see queuelabs/logs.py)."""
        context = {
            "content_id": str(self.content_id),
            "profile_id": str(self.profile_id),
            "platform": self.platform.value,
            "worker": worker,
        }
        if request_id:
            context["request_id"] = request_id
        return context

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Claimed:
        return cls(
            content_id=row["content_id"],
            profile_id=row["profile_id"],
            platform=Platform(row["platform"]),
            upload_post_user=row["upload_post_user"],
            media_type=MediaType(row["media_type"]),
            media_url=row["media_url"],
            title=row["title"],
            description=row["description"],
            platform_options=dict(row["platform_options"]),
            scheduled_at=row["scheduled_at"],
            previous_state=ContentState(row["previous_status"]),
            retry_count=row["retry_count"],
            generation=row["idempotency_generation"],
            upload_now=row["upload_now"],
            reason=row["status_reason"],
            next_retry_at=row["next_retry_at"],
            media=tuple(
                MediaItem(str(item["url"]), MediaType(item["type"]))
                for item in row.get("media") or ()
            ),
            first_comment=row.get("first_comment") or "",
            alt_text=row.get("alt_text") or "",
        )


@dataclass(frozen=True)
class Notice:
    """Upload-Post's word on one job: its `upload_completed` webhook."""

    job_id: str
    success: bool
    post_url: str
    platform_post_id: str
    error: str
    body: dict[str, Any]  # the payload as received, kept for an operator

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Notice:
        return cls(
            job_id=row["job_id"],
            success=row["success"],
            post_url=row["post_url"],
            platform_post_id=row["platform_post_id"],
            error=row["error"],
            body=dict(row["body"]),
        )


@dataclass(frozen=True)
class AttemptRecord:
    number: int
    kind: AttemptKind
    request_id: str
    upstream_request_id: str | None  # Upload-Post's id of the job, when not ours
    started_at: datetime
    finished_at: datetime | None
    outcome: AttemptOutcome | None  # None while the call is in flight
    http_status: int | None
    error: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AttemptRecord:
        return cls(
            number=row["number"],
            kind=AttemptKind(row["kind"]),
            request_id=row["request_id"],
            upstream_request_id=row["upstream_request_id"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            outcome=None if row["outcome"] is None else attempt_outcome(row["outcome"]),
            http_status=row["http_status"],
            error=row["error"],
        )


@dataclass(frozen=True)
class UploadView:
    """A content as an operator sees it: its state and every attempt."""

    content_id: UUID
    profile_id: UUID
    platform: Platform
    state: ContentState
    scheduled_at: datetime
    attempts: tuple[AttemptRecord, ...]
    failure_reason: str
    post_url: str
    retry_count: int
    next_retry_at: datetime | None
    reason: str = ""  # why it stands where it stands (a retry's failure, why it needs a slot)
    platform_post_id: str = ""  # the platform's own id of the post, once published

    @classmethod
    def from_row(cls, row: dict[str, Any], attempts: tuple[AttemptRecord, ...]) -> UploadView:
        state = ContentState(row["status"])
        return cls(
            content_id=row["content_id"],
            profile_id=row["profile_id"],
            platform=Platform(row["platform"]),
            state=state,
            scheduled_at=row["scheduled_at"],
            attempts=attempts,
            failure_reason=row["status_reason"] if state is ContentState.FAILED else "",
            post_url=row["post_url"],
            retry_count=row["retry_count"],
            next_retry_at=row["next_retry_at"],
            reason=row["status_reason"],
            platform_post_id=row.get("platform_post_id") or "",
        )


@dataclass(frozen=True)
class UploadQuery:
    profile_id: UUID | None  # None: every profile's
    platform: Platform | None
    states: frozenset[ContentState]
    page_size: int
    after: tuple[datetime, UUID] | None  # the page's keyset position
    changed_after: Cursor | None = None  # only contents with an event after this cursor
    changed_since: datetime | None = None  # only contents with an event at or after this

    @property
    def filters(self) -> list[object]:
        """What a page token is bound to: every filter, none of the paging. The changed-since
        filters join only when set, so tokens given out before they existed still hold."""
        filters: list[object] = [self.profile_id, self.platform, sorted(self.states)]
        if self.changed_after is not None or self.changed_since is not None:
            filters += [self.changed_after, self.changed_since]
        return filters


@dataclass(frozen=True)
class PauseState:
    profile_id: UUID
    platform: Platform
    paused_at: datetime | None
    paused_by: str = ""  # the caller's AUTH_TOKENS name ("" when auth is off)
    reason: str = ""


@dataclass(frozen=True)
class StoredEvent:
    """One row of the event log, as a watcher or a webhook delivery reads it."""

    cursor: Cursor
    event_id: UUID
    type: EventType
    occurred_at: datetime
    content_id: UUID | None
    profile_id: UUID | None
    platform: Platform | None  # None for an event of no platform (webhook.*)
    data: dict[str, Any]  # the type's fields, named as in the proto's message for it

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StoredEvent:
        return cls(
            cursor=Cursor(int(row["xid"]), row["seq"]),
            event_id=row["event_id"],
            type=EventType(row["type"]),
            occurred_at=row["occurred_at"],
            content_id=row["content_id"],
            profile_id=row["profile_id"],
            platform=None if row["platform"] is None else Platform(row["platform"]),
            data=dict(row["data"]),
        )
