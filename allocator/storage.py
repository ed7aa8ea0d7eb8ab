"""The Allocator's storage: the only code that runs its SQL (allocator/queries.sql, by name).

`AllocatorStore.locked(...)` opens a transaction that holds the advisory lock of one
(profile, platform); `AllocatorStore.transaction()` opens one that holds none.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, time
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from allocator.domain import (
    Assignment,
    AssignmentQuery,
    ContentSpec,
    KeyState,
    Profile,
    Schedule,
)
from allocator.errors import WrongState
from allocator.slots import SlotRule
from queuelabs.counting import counted_instants
from queuelabs.lifecycle import SLOT_HOLDING, SPENDS_SLOT, TRANSITIONS, ContentState, Event
from queuelabs.platforms import Platform
from queuelabs.sql import QueryRunner, load_queries, pooled_transaction

QUERIES = load_queries(Path(__file__).with_name("queries.sql"))
_HOLDING = [s.value for s in sorted(SLOT_HOLDING)]


def _values(states: Iterable[ContentState]) -> list[str]:
    return sorted(s.value for s in states)


def _changed_meanwhile(content_id: UUID) -> WrongState:
    # The row moved on (an uploader claimed it) between our read and our write.
    return WrongState(f"content {content_id} changed state meanwhile (an upload started); retry")


def advisory_key(profile_id: UUID, platform: Platform) -> int:
    """The 64-bit advisory lock key of a (profile, platform): stable across processes."""
    digest = hashlib.blake2b(f"{profile_id}/{platform.value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Transaction(QueryRunner):
    """One open transaction; each method is one named statement."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        super().__init__(conn, QUERIES)

    async def lock_key(self, profile_id: UUID, platform: Platform) -> None:
        await self._rows("lock_key", key=advisory_key(profile_id, platform))

    # Profiles and schedules

    async def get_profile(self, profile_id: UUID) -> Profile | None:
        row = await self._row("get_profile", profile_id=profile_id)
        return Profile.from_row(row) if row else None

    async def upsert_profile(self, profile: Profile, now: datetime) -> Profile:
        row = await self._row(
            "upsert_profile",
            profile_id=profile.profile_id,
            name=profile.name,
            upload_post_user=profile.upload_post_user,
            timezone=profile.timezone,
            now=now,
        )
        assert row is not None
        return Profile.from_row(row)

    async def get_schedule(self, profile_id: UUID, platform: Platform) -> Schedule | None:
        head = await self._row("get_schedule", profile_id=profile_id, platform=platform.value)
        if head is None:
            return None
        rules = await self._slot_rules(profile_id, platform)
        return Schedule(profile_id, platform, rules, head["updated_at"])

    async def _slot_rules(self, profile_id: UUID, platform: Platform) -> tuple[SlotRule, ...]:
        rows = await self._rows("get_slots", profile_id=profile_id, platform=platform.value)
        return tuple(
            SlotRule(r["local_time"], frozenset(r["weekdays"]), r["slot_id"]) for r in rows
        )

    async def key_state(
        self, profile_id: UUID, platform: Platform
    ) -> tuple[Profile | None, KeyState | None]:
        """The profile, and its slots and inventory mark on `platform` if it has a schedule."""
        row = await self._row("key_state", profile_id=profile_id, platform=platform.value)
        if row is None:
            return None, None
        profile = Profile.from_row(row)
        if not row["has_schedule"]:
            return profile, None
        rules = tuple(
            SlotRule(
                time.fromisoformat(s["local_time"]), frozenset(s["weekdays"]), UUID(s["slot_id"])
            )
            for s in row["slots"]
        )
        mark, timezone = row["materialized_until"], row["inventory_timezone"]
        return profile, KeyState(profile, platform, rules, mark, timezone)

    async def replace_schedule(
        self, profile_id: UUID, platform: Platform, rules: Sequence[SlotRule], now: datetime
    ) -> None:
        key = {"profile_id": profile_id, "platform": platform.value}
        await self._rows("upsert_schedule", **key, now=now)
        await self._rows("delete_slots", **key)
        async with self._conn.cursor() as cur:
            await cur.executemany(
                QUERIES["insert_slot"],
                [
                    {
                        **key,
                        "local_time": r.local_time,
                        "slot_id": r.slot_id,
                        "weekdays": sorted(r.weekdays),
                    }
                    for r in rules
                ],
            )

    async def restart_inventory(
        self, profile_id: UUID, platform: Platform, timezone: str, now: datetime
    ) -> None:
        """Drops the free-slot inventory; it is rebuilt from `now`, in `timezone`, when needed."""
        key = {"profile_id": profile_id, "platform": platform.value}
        await self._rows("clear_free_slots", **key)
        await self._rows("restart_inventory", **key, timezone=timezone, now=now)

    # The free-slot inventory

    async def take_free_slot(
        self, profile_id: UUID, platform: Platform, not_before: datetime, until: datetime
    ) -> tuple[datetime, UUID] | None:
        row = await self._row(
            "take_free_slot",
            profile_id=profile_id,
            platform=platform.value,
            not_before=not_before,
            until=until,
        )
        return (row["scheduled_at"], row["slot_id"]) if row else None

    async def counted_instants(
        self,
        profile_id: UUID,
        platform: Platform,
        start: datetime,
        until: datetime,
        moving: UUID | None,
    ) -> list[datetime]:
        """What a daily cap counts in [start, until), sorted (see queuelabs/caps.py)."""
        return await counted_instants(self._conn, profile_id, platform, start, until, moving)

    async def add_free_slots(
        self,
        profile_id: UUID,
        platform: Platform,
        instants: Iterable[tuple[datetime, UUID]],
        until: datetime,
        prune_before: datetime,
        moving: UUID | None = None,
    ) -> None:
        """Adds the free ones among `instants` and marks the inventory complete up to `until`;
        `moving` is a content about to leave its instant (not counted as spending it)."""
        key = {"profile_id": profile_id, "platform": platform.value}
        pairs = list(instants)
        await self._rows(
            "add_free_slots",
            **key,
            instants=[at for at, _ in pairs],
            slot_ids=[slot for _, slot in pairs],
            spent=[s.value for s in sorted(SPENDS_SLOT)],
            moving=moving,
        )
        await self._rows("set_materialized_until", **key, until=until)
        await self._rows("prune_free_slots", **key, before=prune_before)

    async def return_free_slot(
        self, profile_id: UUID, platform: Platform, scheduled_at: datetime, slot_id: UUID
    ) -> None:
        await self._rows(
            "return_free_slot",
            profile_id=profile_id,
            platform=platform.value,
            scheduled_at=scheduled_at,
            slot_id=slot_id,
        )

    # Contents

    async def get_content(self, content_id: UUID) -> dict[str, Any] | None:
        return await self._row("get_content", content_id=content_id)

    async def get_contents(self, content_ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
        rows = await self._rows("get_contents", content_ids=list(content_ids))
        return {r["content_id"]: r for r in rows}

    async def insert_content(
        self,
        profile_id: UUID,
        platform: Platform,
        content: ContentSpec,
        scheduled_at: datetime,
        slot_id: UUID,
        now: datetime,
    ) -> Assignment | None:
        """Inserts a scheduled content; None when its id or its slot is taken already."""
        row = await self._row(
            "insert_content",
            content_id=content.content_id,
            profile_id=profile_id,
            platform=platform.value,
            status=ContentState.SCHEDULED.value,
            slot_id=slot_id,
            scheduled_at=scheduled_at,
            media_type=content.media_type.value,
            media_url=content.media_url,
            title=content.title,
            description=content.description,
            platform_options=Jsonb(content.platform_options),
            now=now,
        )
        return Assignment.from_row(row) if row else None

    async def move_content(
        self, content_id: UUID, scheduled_at: datetime, slot_id: UUID, reason: str, now: datetime
    ) -> Assignment | None:
        """Moves a content to another slot; None when a content already holds that slot."""
        sources, target = TRANSITIONS[Event.RESCHEDULE]
        try:
            async with self._conn.transaction():  # a savepoint: a clash undoes only this
                row = await self._row(
                    "move_content",
                    content_id=content_id,
                    status=target.value,
                    allowed=_values(sources),
                    slot_id=slot_id,
                    scheduled_at=scheduled_at,
                    reason=reason,
                    now=now,
                )
        except psycopg.errors.UniqueViolation as clash:
            if clash.diag.constraint_name == "contents_one_active_per_slot":
                return None
            raise
        if row is None:
            raise _changed_meanwhile(content_id)
        return Assignment.from_row(row)

    async def remove_content(
        self, content_id: UUID, reason: str, now: datetime
    ) -> tuple[Assignment, datetime]:
        sources, target = TRANSITIONS[Event.RELEASE]
        row = await self._row(
            "remove_content",
            content_id=content_id,
            status=target.value,
            allowed=_values(sources),
            reason=reason,
            now=now,
        )
        if row is None:
            raise _changed_meanwhile(content_id)
        return Assignment.from_row(row), row["removed_at"]

    async def list_assignments(self, query: AssignmentQuery) -> list[Assignment]:
        rows = await self._rows(
            "list_assignments",
            profile_id=query.profile_id,
            platform=query.platform.value if query.platform else None,
            holding=_HOLDING,
            start_time=query.start_time,
            end_time=query.end_time,
            after_at=query.after[0] if query.after else None,
            after_id=query.after[1] if query.after else None,
            limit=query.page_size + 1,
        )
        return [Assignment.from_row(r) for r in rows]


class AllocatorStore:
    """Hands out transactions on a connection pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with pooled_transaction(self._pool) as conn:
            yield Transaction(conn)

    @asynccontextmanager
    async def locked(self, profile_id: UUID, platform: Platform) -> AsyncIterator[Transaction]:
        """A transaction holding the advisory lock of (profile, platform) until it ends."""
        async with self.transaction() as tx:
            await tx.lock_key(profile_id, platform)
            yield tx
