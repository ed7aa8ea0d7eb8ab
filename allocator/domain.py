"""The Allocator's domain objects: what the rest of the service speaks in (immutable values)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, time
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from allocator.slots import SlotRule
from queuelabs.lifecycle import ContentState
from queuelabs.platforms import MediaType, Platform


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
    """A content as a caller sends it. `content_id` is the caller's idempotency key."""

    content_id: UUID
    media_type: MediaType
    media_url: str = ""
    title: str = ""
    description: str = ""
    platform_options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ContentSpec:
        return cls(
            content_id=row["content_id"],
            media_type=MediaType(row["media_type"]),
            media_url=row["media_url"],
            title=row["title"],
            description=row["description"],
            platform_options=dict(row["platform_options"]),
        )


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
