"""The Allocator's storage: the only code that runs its SQL (allocator/queries.sql, by name, and
the inventory's pruning, whose one statement is `queuelabs prune`'s in queuelabs/retention.sql).

`AllocatorStore.locked(...)` opens a transaction that holds the advisory locks of some
(profile, platform) keys; `AllocatorStore.transaction()` opens one that holds none. Either
commits when its block ends, or rolls back if told to (`Transaction.roll_back`) or on an error.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
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
from queuelabs import retention
from queuelabs.counting import Reach, counted_instants, counted_instants_of
from queuelabs.events import EventType
from queuelabs.lifecycle import SLOT_HOLDING, SPENDS_SLOT, ContentState, Event
from queuelabs.platforms import Platform
from queuelabs.sql import QueryRunner, by_event, load_queries, pooled_transaction

QUERIES = load_queries(
    Path(__file__).with_name("queries.sql"),
    {
        "spends_slot": SPENDS_SLOT,
        "slot_holding": SLOT_HOLDING,
        "scheduled": ContentState.SCHEDULED,
        # A content's first slot is no lifecycle move: its event type is named here.
        "assigned": EventType.CONTENT_ASSIGNED,
        # A release CancelUpload asked for is told as the upload cancelled, not as a release.
        "cancelled": EventType.UPLOAD_CANCELLED,
        # An edit of a content's post is no lifecycle move either.
        "updated": EventType.CONTENT_UPDATED,
    },
) | {"prune_free_slots": retention.QUERIES["prune_free_slots"]}  # one rule, `queuelabs prune`'s
# What a calendar reads (GetCalendar).
QUERIES |= load_queries(
    Path(__file__).with_name("calendar.sql"),
    {"spends_slot": SPENDS_SLOT, "slot_holding": SLOT_HOLDING},
)


def _changed_meanwhile(content_id: UUID) -> WrongState:
    # The row moved on (an uploader claimed it) between our read and our write.
    return WrongState(f"content {content_id} changed state meanwhile (an upload started); retry")


# One (profile, platform): the unit every lock, inventory and daily cap is kept for.
Key = tuple[UUID, Platform]


class SlotsSeen:
    """The slots of the schedules this process has read, by key, with their version: a group
    reads a schedule's slots again only when SetSchedule changed them. Bounded (least recently
    used out)."""

    def __init__(self, size: int = 65_536) -> None:
        self._size = size
        self._seen: OrderedDict[Key, tuple[int, tuple[SlotRule, ...]]] = OrderedDict()

    def get(self, key: Key, version: int) -> tuple[SlotRule, ...] | None:
        seen = self._seen.get(key)
        if seen is None or seen[0] != version:
            return None
        self._seen.move_to_end(key)
        return seen[1]

    def put(self, key: Key, version: int, rules: tuple[SlotRule, ...]) -> None:
        self._seen[key] = (version, rules)
        self._seen.move_to_end(key)
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)


@functools.lru_cache(maxsize=65_536)
def advisory_key(profile_id: UUID, platform: Platform) -> int:
    """The 64-bit advisory lock key of a (profile, platform): stable across processes."""
    digest = hashlib.blake2b(f"{profile_id}/{platform.value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Transaction(QueryRunner):
    """One open transaction; each method is one named statement."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], seen: SlotsSeen | None = None) -> None:
        super().__init__(conn, QUERIES)
        self._seen = seen or SlotsSeen(size=64)
        self.rolled_back = False

    def roll_back(self) -> None:
        """Ends this transaction with a rollback instead of a commit, when its block ends."""
        self.rolled_back = True

    async def lock_keys(self, keys: Iterable[Key]) -> None:
        """Takes the advisory locks of `keys`, in one fixed order (see `lock_keys` in SQL)."""
        await self._rows("lock_keys", keys=sorted({advisory_key(*key) for key in keys}))

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
        [rules] = await self._slot_rules([(profile_id, platform)])
        return Schedule(profile_id, platform, rules, head["updated_at"])

    async def _slot_rules(self, keys: Sequence[Key]) -> list[tuple[SlotRule, ...]]:
        """Each key's slots, ordered by local time; one round trip for all."""
        found: list[list[SlotRule]] = [[] for _ in keys]
        for i, local_time, weekdays, slot_id in await self._tuples(
            "slots_of_keys",
            profile_ids=[profile_id for profile_id, _ in keys],
            platforms=[platform.value for _, platform in keys],
        ):
            found[i - 1].append(SlotRule(local_time, frozenset(weekdays), slot_id))
        return [tuple(rules) for rules in found]

    async def key_states(
        self, keys: Sequence[Key]
    ) -> dict[Key, tuple[Profile | None, KeyState | None]]:
        """For each key: the profile, and its slots and inventory mark on the key's platform if
        it has a schedule there (None where there is none)."""
        rows = await self._rows(
            "key_states",
            profile_ids=[profile_id for profile_id, _ in keys],
            platforms=[platform.value for _, platform in keys],
        )
        rows_by_key = {(r["asked_profile_id"], Platform(r["asked_platform"])): r for r in rows}
        rules: dict[Key, tuple[SlotRule, ...]] = {}
        unseen = []
        for key, r in rows_by_key.items():
            if r["slots_version"] is not None:
                seen = self._seen.get(key, r["slots_version"])
                if seen is None:
                    unseen.append(key)
                else:
                    rules[key] = seen
        if unseen:
            for key, read in zip(unseen, await self._slot_rules(unseen), strict=True):
                rules[key] = read
                self._seen.put(key, rows_by_key[key]["slots_version"], read)
        states: dict[Key, tuple[Profile | None, KeyState | None]] = {}
        for key, r in rows_by_key.items():
            profile = Profile.from_row(r) if r["profile_id"] is not None else None
            state = None
            if profile is not None and key in rules:
                mark, timezone = r["materialized_until"], r["inventory_timezone"]
                state = KeyState(profile, key[1], rules[key], mark, timezone)
            states[key] = (profile, state)
        return states

    async def key_state(
        self, profile_id: UUID, platform: Platform
    ) -> tuple[Profile | None, KeyState | None]:
        return (await self.key_states([(profile_id, platform)]))[(profile_id, platform)]

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

    async def free_slots_from(
        self, asks: Sequence[tuple[Key, datetime, int]]
    ) -> list[list[tuple[datetime, UUID]]]:
        """For each (key, start, limit): the key's earliest free instants from `start` on, at
        most `limit` of them, in order."""
        rows = await self._tuples(
            "free_slots_from",
            profile_ids=[key[0] for key, _, _ in asks],
            platforms=[key[1].value for key, _, _ in asks],
            starts=[start for _, start, _ in asks],
            limits=[limit for _, _, limit in asks],
        )
        found: list[list[tuple[datetime, UUID]]] = [[] for _ in asks]
        for key, scheduled_at, slot_id in rows:
            found[key - 1].append((scheduled_at, slot_id))
        return found

    async def take_free_slots(self, taken: Sequence[tuple[Key, datetime]]) -> None:
        """Takes these instants out of the inventory."""
        if taken:
            await self.take_and_insert(taken, [], now=None)

    async def drop_held_free_slots(self, profile_id: UUID, platform: Platform) -> None:
        await self._rows("drop_held_free_slots", profile_id=profile_id, platform=platform.value)

    async def counted_instants_of(
        self, reaches: Sequence[Reach], at_least: Sequence[int]
    ) -> list[tuple[int, list[datetime] | None]]:
        """What a daily cap counts over each reach (see queuelabs/caps.py): how many, and the
        instants where there are at least `at_least`; one round trip for all."""
        return await counted_instants_of(self._conn, reaches, at_least=at_least)

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
            moving=moving,
        )
        await self._rows("set_materialized_until", **key, until=until)
        await self._prune_free_slots(profile_id, platform, prune_before)

    async def _prune_free_slots(
        self, profile_id: UUID, platform: Platform, before: datetime
    ) -> None:
        """Drops the key's instants before `before` (no search starts there), batch by batch."""
        key = {"profile_id": profile_id, "platform": platform.value}
        while True:
            pruned = await self._rows(
                "prune_free_slots", **key, before=before, batch=retention.PRUNE_BATCH
            )
            if len(pruned) < retention.PRUNE_BATCH:
                return

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

    async def take_and_insert(
        self,
        taken: Sequence[tuple[Key, datetime]],
        placed: Sequence[tuple[Assignment, ContentSpec]],
        now: datetime | None,
    ) -> set[UUID]:
        """Takes instants out of the inventory and inserts scheduled contents with their
        `content.assigned` events, in one statement; returns the ids inserted (one whose id or
        slot is taken already is left out)."""
        rows = await self._tuples(
            "take_and_insert",
            taken_profile_ids=[key[0] for key, _ in taken],
            taken_platforms=[key[1].value for key, _ in taken],
            taken_instants=[at for _, at in taken],
            content_ids=[a.content_id for a, _ in placed],
            profile_ids=[a.profile_id for a, _ in placed],
            platforms=[a.platform.value for a, _ in placed],
            slot_ids=[a.slot_id for a, _ in placed],
            instants=[a.scheduled_at for a, _ in placed],
            media_types=[c.media_type.value for _, c in placed],
            media_urls=[c.media_url for _, c in placed],
            titles=[c.title for _, c in placed],
            descriptions=[c.description for _, c in placed],
            options=[Jsonb(c.platform_options) for _, c in placed],
            media=[Jsonb(c.media_json()) for _, c in placed],
            first_comments=[c.first_comment for _, c in placed],
            alt_texts=[c.alt_text for _, c in placed],
            now=now,
        )
        return {content_id for (content_id,) in rows}

    async def move_content(
        self, content_id: UUID, scheduled_at: datetime, slot_id: UUID, reason: str, now: datetime
    ) -> Assignment | None:
        """Moves a content to another slot, with its `content.moved` event; None when a content
        already holds that slot (the savepoint takes the event back too)."""
        try:
            async with self._conn.transaction():  # a savepoint: a clash undoes only this
                row = await self._row(
                    by_event("move_content", Event.RESCHEDULE),
                    content_id=content_id,
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
        self, content_id: UUID, reason: str, now: datetime, cancel: bool = False
    ) -> tuple[Assignment, datetime]:
        """Takes a content out of line; `cancel`: CancelUpload asked (told as upload.cancelled,
        not content.released)."""
        row = await self._row(
            by_event("remove_content", Event.RELEASE),
            content_id=content_id,
            reason=reason,
            now=now,
            cancel=cancel,
        )
        if row is None:
            raise _changed_meanwhile(content_id)
        return Assignment.from_row(row), row["removed_at"]

    # GetContent and UpdateContent

    async def lock_content(self, content_id: UUID) -> dict[str, Any] | None:
        """The content's row, locked until this transaction ends (see lock_content in SQL)."""
        return await self._row("lock_content", content_id=content_id)

    async def update_content(
        self, spec: ContentSpec, fields: Sequence[str], now: datetime
    ) -> dict[str, Any]:
        """Writes a locked content's edited post, one revision on, with its `content.updated`
        event naming `fields`; the row as written."""
        row = await self._row(
            "update_content",
            content_id=spec.content_id,
            media_type=spec.media_type.value,
            media_url=spec.media_url,
            media=Jsonb(spec.media_json()),
            title=spec.title,
            description=spec.description,
            first_comment=spec.first_comment,
            alt_text=spec.alt_text,
            options=Jsonb(spec.platform_options),
            fields=Jsonb(list(fields)),
            now=now,
        )
        assert row is not None, "the row is locked: it cannot have gone"
        return row

    async def list_assignments(self, query: AssignmentQuery) -> list[Assignment]:
        rows = await self._rows(
            "list_assignments",
            profile_id=query.profile_id,
            platform=query.platform.value if query.platform else None,
            start_time=query.start_time,
            end_time=query.end_time,
            after_at=query.after[0] if query.after else None,
            after_id=query.after[1] if query.after else None,
            limit=query.page_size + 1,
        )
        return [Assignment.from_row(r) for r in rows]

    # MoveContent and GetCalendar

    async def spenders_at(
        self, profile_id: UUID, platform: Platform, scheduled_at: datetime, moving: UUID
    ) -> list[tuple[UUID, ContentState]]:
        """The contents but `moving` that hold or have spent this instant, the holder first."""
        rows = await self._tuples(
            "spenders_at",
            profile_id=profile_id,
            platform=platform.value,
            scheduled_at=scheduled_at,
            moving=moving,
        )
        return [(content_id, ContentState(status)) for content_id, status in rows]

    async def calendar_contents(
        self, profile_id: UUID, platform: Platform, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """The contents in [start, end) that hold or have spent their instant, in time order."""
        return await self._rows(
            "calendar_contents",
            profile_id=profile_id,
            platform=platform.value,
            start=start,
            end=end,
        )


class AllocatorStore:
    """Hands out transactions on a connection pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._seen = SlotsSeen()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A transaction, committed when its block ends, unless told to roll back."""
        async with pooled_transaction(self._pool) as conn:
            tx = Transaction(conn, self._seen)
            yield tx
            if tx.rolled_back:
                raise psycopg.Rollback  # psycopg's transaction block rolls back and goes on

    @asynccontextmanager
    async def locked(self, keys: Sequence[Key]) -> AsyncIterator[Transaction]:
        """A transaction holding the advisory locks of `keys` until it ends."""
        async with self.transaction() as tx:
            await tx.lock_keys(keys)
            yield tx
