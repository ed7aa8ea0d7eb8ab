"""The Allocator's domain objects: what the rest of the service speaks in (immutable values)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from allocator.slots import SlotRule
from queuelabs.lifecycle import ContentState
from queuelabs.platforms import MediaType, Platform
from queuelabs.posts import MediaItem, Options, Post


@dataclass(frozen=True)
class Profile:
    profile_id: UUID
    name: str
    upload_post_user: str
    timezone: str
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Profile:
        return cls(
            profile_id=row["profile_id"],
            name=row["name"],
            upload_post_user=row["upload_post_user"],
            timezone=row["timezone"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class SlotSpec:
    """A slot as a caller asks for it; the id is derived."""

    local_time: time
    weekdays: frozenset[int]


@dataclass(frozen=True)
class Schedule:
    profile_id: UUID
    platform: Platform
    slots: tuple[SlotRule, ...]
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ContentSpec:
    """A content as a caller sends it (checked for its platform: queuelabs/posts.py).
    `content_id` is the caller's idempotency key; `revision` and `updated_at` are the stored
    row's, and take no part in comparing two specs (a retried AssignNext repeats the content,
    not its revision)."""

    content_id: UUID
    media_type: MediaType
    media_url: str = ""  # the first item's url ('' for text), for readers that know only it
    title: str = ""
    description: str = ""
    # The options in Upload-Post's wire form, as stored and sent: {field: str | [str, ...]}.
    platform_options: dict[str, Any] = field(default_factory=dict)
    media: tuple[MediaItem, ...] = ()  # in the order the post shows them; () for text
    first_comment: str = ""
    alt_text: str = ""
    revision: int = field(default=1, compare=False)
    updated_at: datetime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # One media_url and no list is that one item: a row older than `media` (migration 0013
        # does not rewrite a long history), or a spec made in code the old way.
        if not self.media and self.media_url and self.media_type is not MediaType.TEXT:
            kind = MediaType.VIDEO if self.media_type is MediaType.VIDEO else MediaType.PHOTO
            object.__setattr__(self, "media", (MediaItem(self.media_url, kind),))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ContentSpec:
        return cls(
            content_id=row["content_id"],
            media_type=MediaType(row["media_type"]),
            media_url=row["media_url"],
            title=row["title"],
            description=row["description"],
            platform_options=dict(row["platform_options"]),
            media=tuple(MediaItem(item["url"], MediaType(item["type"])) for item in row["media"]),
            first_comment=row["first_comment"],
            alt_text=row["alt_text"],
            revision=row["revision"],
            updated_at=row["updated_at"],
        )

    def post(self, options: Options) -> Post:
        """The post as queuelabs/posts.py checks it, with its options as set."""
        return Post(
            self.media_type, self.media, self.title, self.first_comment, self.alt_text, options
        )

    def media_json(self) -> list[dict[str, str]]:
        """The media list as stored in `contents.media`."""
        return [{"url": item.url, "type": item.type.value} for item in self.media]


# What UpdateContent's field mask names, and the fields of a ContentSpec each path replaces.
UPDATABLE: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "description": ("description",),
    "media": ("media_type", "media", "media_url"),
    "first_comment": ("first_comment",),
    "alt_text": ("alt_text",),
    "options": ("platform_options",),
}


@dataclass(frozen=True)
class ContentPatch:
    """An UpdateContent's change: the paths it replaces, the new values of their fields (each
    checked on its own), and the options as set (their paths name the caller's fields in a
    refusal); the content as a whole is checked once the change is applied."""

    paths: tuple[str, ...]
    values: Mapping[str, Any]
    options: Options | None = None

    def applied_to(self, spec: ContentSpec) -> ContentSpec:
        return replace(spec, **self.values)

    def changed(self, before: ContentSpec, after: ContentSpec) -> list[str]:
        """The paths whose fields differ between the two, in mask order."""
        return [
            path
            for path in self.paths
            if any(getattr(before, name) != getattr(after, name) for name in UPDATABLE[path])
        ]


@dataclass(frozen=True)
class BookedContent:
    """A content as stored: where it is, and what it is."""

    assignment: Assignment
    spec: ContentSpec

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> BookedContent:
        return cls(Assignment.from_row(row), ContentSpec.from_row(row))


@dataclass(frozen=True)
class Assignment:
    """A content in a slot (or, once released or done, the slot it had)."""

    content_id: UUID
    profile_id: UUID
    platform: Platform
    slot_id: UUID
    scheduled_at: datetime
    state: ContentState

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Assignment:
        return cls(
            content_id=row["content_id"],
            profile_id=row["profile_id"],
            platform=Platform(row["platform"]),
            slot_id=row["slot_id"],
            scheduled_at=row["scheduled_at"],
            state=ContentState(row["status"]),
        )


@dataclass(frozen=True)
class KeyState:
    """What an assignment needs to know about its (profile, platform), read under its lock."""

    profile: Profile
    platform: Platform
    rules: tuple[SlotRule, ...]
    materialized_until: datetime  # free_slots is complete up to here...
    inventory_timezone: str | None  # ...for slot instants computed in this timezone

    def with_fresh_inventory(self, now: datetime) -> KeyState:
        return replace(self, materialized_until=now, inventory_timezone=self.profile.timezone)


@dataclass(frozen=True)
class AssignmentQuery:
    profile_id: UUID
    platform: Platform | None
    start_time: datetime | None
    end_time: datetime | None
    page_size: int
    after: tuple[datetime, UUID] | None  # keyset position from the page token


@dataclass(frozen=True)
class AssignmentPage:
    assignments: tuple[Assignment, ...]
    next_after: tuple[datetime, UUID] | None
