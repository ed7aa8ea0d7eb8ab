"""The Allocator's rules: profiles, schedules, and putting contents into slots.

Every write for one (profile, platform) runs under three locks, outermost first: the in-process
stripe (waiters queue in memory), the PostgreSQL advisory lock of the key (replicas serialize),
and, as the last line of defence, the partial unique index `contents_one_active_per_slot`.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from allocator.domain import (
    Assignment,
    AssignmentPage,
    AssignmentQuery,
    ContentSpec,
    KeyState,
    Profile,
    Schedule,
    SlotSpec,
)
from allocator.errors import (
    ContentIdInUse,
    ContentNotFound,
    InvalidArgument,
    NoSchedule,
    OverDailyCap,
    ProfileNotFound,
    ScheduleNotFound,
    WrongState,
)
from allocator.locks import StripedLock
from allocator.placement import Placement
from allocator.slots import SlotRule, slot_id_for
from allocator.storage import AllocatorStore, Transaction
from queuelabs import metrics
from queuelabs.caps import DEFAULT_DAILY_CAPS, cap_variable
from queuelabs.clock import Clock
from queuelabs.errors import Refusal
from queuelabs.lifecycle import (
    SPENDS_SLOT,
    ContentState,
    Event,
    IllegalMove,
    next_state,
    target,
)
from queuelabs.platforms import Platform


@dataclass(frozen=True)
class AllocationPolicy:
    lead_time: timedelta = timedelta(seconds=60)  # no slot sooner than this from now
    horizon: timedelta = timedelta(days=365)  # how far a search for a free slot looks
    batch_limit: int = 100  # contents in one BatchAssign
    # posts of one (profile, platform) in any 24 h; a platform left out has no cap
    daily_caps: Mapping[Platform, int] = field(default_factory=lambda: dict(DEFAULT_DAILY_CAPS))


class AllocatorService:
    def __init__(
        self,
        store: AllocatorStore,
        clock: Clock,
        policy: AllocationPolicy | None = None,
        stripes: StripedLock | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy or AllocationPolicy()
        self._stripes = stripes or StripedLock()

    # Profiles and schedules

    async def upsert_profile(self, profile: Profile) -> Profile:
        # A changed timezone needs no lock here: each key notices under its own lock that its
        # inventory was computed in another timezone and rebuilds it (see Placement.open).
        async with self._store.transaction() as tx:
            return await tx.upsert_profile(profile, self._clock.now())

    async def set_schedule(
        self, profile_id: UUID, platform: Platform, slots: Sequence[SlotSpec]
    ) -> Schedule:
        rules = tuple(
            sorted(
                SlotRule(s.local_time, s.weekdays, slot_id_for(profile_id, platform, s.local_time))
                for s in slots
            )
        )
        self._check_daily_cap(platform, rules)
        now = self._clock.now()
        async with self._serialized(profile_id, platform) as tx:
            profile = await self._profile(tx, profile_id)
            await tx.replace_schedule(profile_id, platform, rules, now)
            await tx.restart_inventory(profile_id, platform, profile.timezone, now)
        return Schedule(profile_id, platform, rules, now)

    async def get_schedule(self, profile_id: UUID, platform: Platform) -> Schedule:
        async with self._store.transaction() as tx:
            await self._profile(tx, profile_id)
            schedule = await tx.get_schedule(profile_id, platform)
        if schedule is None:
            raise ScheduleNotFound(
                f"profile {profile_id} has no {platform.value} schedule; set one with SetSchedule"
            )
        return schedule

    # Assignments

    async def assign_next(
        self,
        profile_id: UUID,
        platform: Platform,
        content: ContentSpec,
        not_before: datetime | None,
    ) -> Assignment:
        [assignment] = await self._assign(profile_id, platform, [content], not_before, "AssignNext")
        return assignment

    async def batch_assign(
        self,
        profile_id: UUID,
        platform: Platform,
        contents: Sequence[ContentSpec],
        not_before: datetime | None,
    ) -> list[Assignment]:
        """Puts the contents into the earliest free slots, in order, all or nothing.

        A content whose id is already assigned (a client retry) keeps its assignment.
        """
        return await self._assign(profile_id, platform, contents, not_before, "BatchAssign")

    async def _assign(
        self,
        profile_id: UUID,
        platform: Platform,
        contents: Sequence[ContentSpec],
        not_before: datetime | None,
        rpc: str,
    ) -> list[Assignment]:
        started = time.perf_counter()
        try:
            assignments = await self._place_all(profile_id, platform, contents, not_before)
        except Refusal as refusal:
            metrics.ASSIGNMENTS.labels(type(refusal).__name__).inc(len(contents))
            raise
        finally:
            metrics.ASSIGNMENT_SECONDS.labels(rpc).observe(time.perf_counter() - started)
        metrics.ASSIGNMENTS.labels("assigned").inc(len(assignments))
        return assignments

    async def _place_all(
        self,
        profile_id: UUID,
        platform: Platform,
        contents: Sequence[ContentSpec],
        not_before: datetime | None,
    ) -> list[Assignment]:
        self._check_batch(contents)
        start = self._search_start(not_before)
        async with self._serialized(profile_id, platform) as tx:
            existing = await tx.get_contents([c.content_id for c in contents])
            placement: Placement | None = None
            assignments = []
            for content in contents:
                row = existing.get(content.content_id)
                if row is not None:
                    assignments.append(_repeated(row, profile_id, platform, content))
                    continue
                if placement is None:
                    key = await self._key_state(tx, profile_id, platform)
                    placement = await self._placement(tx, key)
                assignments.append(
                    await self._place(tx, placement, profile_id, platform, content, start)
                )
            return assignments

    async def reschedule(
        self, content_id: UUID, not_before: datetime | None, reason: str
    ) -> Assignment:
        """Moves a content to the earliest free slot at or after not_before (and after now)."""
        start = self._search_start(not_before)
        profile_id, platform = await self._key_of(content_id)
        async with self._serialized(profile_id, platform) as tx:
            row = await tx.get_content(content_id)
            assert row is not None  # contents are never deleted
            state = ContentState(row["status"])
            _check(state, Event.RESCHEDULE, content_id)
            key = await self._key_state(tx, profile_id, platform)
            placement = await self._placement(tx, key, moving=content_id)
            if state in SPENDS_SLOT:
                await placement.put_back(row["scheduled_at"])
            while True:
                scheduled_at, slot_id = await placement.take(start)
                moved = await tx.move_content(
                    content_id, scheduled_at, slot_id, reason, self._clock.now()
                )
                if moved is not None:
                    return moved
                # The inventory offered a held instant (it cannot, but the index says so): the
                # instant is gone from the inventory now; take the next.

    async def release(self, content_id: UUID, reason: str) -> tuple[Assignment, datetime]:
        """Takes a content out of line for good and frees its slot. Repeating it is harmless."""
        profile_id, platform = await self._key_of(content_id)
        async with self._serialized(profile_id, platform) as tx:
            row = await tx.get_content(content_id)
            assert row is not None
            state = ContentState(row["status"])
            if state is target(Event.RELEASE):  # released before: the same answer again
                return Assignment.from_row(row), row["removed_at"]
            _check(state, Event.RELEASE, content_id)
            if state in SPENDS_SLOT:
                _, key = await tx.key_state(profile_id, platform)
                if key is not None and key.rules:
                    placement = await Placement.open(tx, key, self._clock, self._policy.horizon)
                    await placement.put_back(row["scheduled_at"])
            return await tx.remove_content(content_id, reason, self._clock.now())

    async def list_assignments(self, query: AssignmentQuery) -> AssignmentPage:
        async with self._store.transaction() as tx:
            await self._profile(tx, query.profile_id)
            found = await tx.list_assignments(query)
        page = tuple(found[: query.page_size])
        more = len(found) > query.page_size
        last = page[-1] if page else None
        return AssignmentPage(page, (last.scheduled_at, last.content_id) if more and last else None)

    # Helpers

    async def _placement(
        self, tx: Transaction, key: KeyState, moving: UUID | None = None
    ) -> Placement:
        cap = self._policy.daily_caps.get(key.platform)
        return await Placement.open(tx, key, self._clock, self._policy.horizon, cap, moving)

    @asynccontextmanager
    async def _serialized(self, profile_id: UUID, platform: Platform) -> AsyncIterator[Transaction]:
        waiting = time.perf_counter()
        async with (
            self._stripes.of(profile_id, platform),
            self._store.locked(profile_id, platform) as tx,
        ):
            metrics.LOCK_WAIT_SECONDS.observe(time.perf_counter() - waiting)
            yield tx

    async def _place(
        self,
        tx: Transaction,
        placement: Placement,
        profile_id: UUID,
        platform: Platform,
        content: ContentSpec,
        start: datetime,
    ) -> Assignment:
        while True:
            scheduled_at, slot_id = await placement.take(start)
            inserted = await tx.insert_content(
                profile_id, platform, content, scheduled_at, slot_id, self._clock.now()
            )
            if inserted is not None:
                return inserted
            # Nothing inserted: either another key's transaction took this content id just
            # now, or the unique index found the instant held (the inventory was stale, and is
            # not any more). Only the first is the caller's business.
            row = await tx.get_content(content.content_id)
            if row is not None:
                return _repeated(row, profile_id, platform, content)

    def _search_start(self, not_before: datetime | None) -> datetime:
        now = self._clock.now()
        if not_before is not None and not_before > now + self._policy.horizon:
            raise InvalidArgument(
                "not_before",
                f"is more than {self._policy.horizon.days} days ahead (the scheduling horizon)",
            )
        earliest = now + self._policy.lead_time
        return max(earliest, not_before) if not_before is not None else earliest

    def _check_daily_cap(self, platform: Platform, rules: Sequence[SlotRule]) -> None:
        """Refuses a schedule with more slots on some day than Upload-Post lets it post."""
        cap = self._policy.daily_caps.get(platform)
        if cap is None:
            return
        for weekday in range(1, 8):
            count = sum(1 for r in rules if not r.weekdays or weekday in r.weekdays)
            if count > cap:
                raise OverDailyCap(
                    f"{count} {platform.value} slots on {calendar.day_name[weekday - 1]}s, but "
                    f"Upload-Post allows at most {cap} {platform.value} posts per account in 24 "
                    f"hours ({cap_variable(platform)})"
                )

    def check_batch_size(self, count: int) -> None:
        """Refuses an empty batch or one over the limit (the servicer asks before it validates
        every content of a huge batch)."""
        if count == 0:
            raise InvalidArgument("contents", "must hold at least one content")
        if count > self._policy.batch_limit:
            raise InvalidArgument(
                "contents", f"holds {count} contents; at most {self._policy.batch_limit} per batch"
            )

    def _check_batch(self, contents: Sequence[ContentSpec]) -> None:
        self.check_batch_size(len(contents))
        first_index: dict[UUID, int] = {}
        for i, content in enumerate(contents):
            if content.content_id in first_index:
                raise InvalidArgument(
                    f"contents[{i}].content_id",
                    f"repeats contents[{first_index[content.content_id]}].content_id",
                )
            first_index[content.content_id] = i

    async def _profile(self, tx: Transaction, profile_id: UUID) -> Profile:
        profile = await tx.get_profile(profile_id)
        if profile is None:
            raise _no_profile(profile_id)
        return profile

    async def _key_state(self, tx: Transaction, profile_id: UUID, platform: Platform) -> KeyState:
        profile, key = await tx.key_state(profile_id, platform)
        if profile is None:
            raise _no_profile(profile_id)
        if key is None or not key.rules:
            raise NoSchedule(
                f"profile {profile_id} has no {platform.value} slots; set them with SetSchedule"
            )
        return key

    async def _key_of(self, content_id: UUID) -> tuple[UUID, Platform]:
        async with self._store.transaction() as tx:
            row = await tx.get_content(content_id)
        if row is None:
            raise ContentNotFound(f"no content {content_id}")
        return row["profile_id"], Platform(row["platform"])


def _no_profile(profile_id: UUID) -> ProfileNotFound:
    return ProfileNotFound(f"no profile {profile_id}; create it with UpsertProfile")


def _check(state: ContentState, event: Event, content_id: UUID) -> None:
    try:
        next_state(state, event)
    except IllegalMove as refused:
        raise WrongState(f"content {content_id}: {refused}") from None


def _repeated(
    row: dict[str, Any], profile_id: UUID, platform: Platform, content: ContentSpec
) -> Assignment:
    """The answer to a request whose content id is already assigned: a retry, or a mistake."""
    existing = Assignment.from_row(row)
    if (existing.profile_id, existing.platform) != (profile_id, platform):
        raise ContentIdInUse(
            f"content_id {content.content_id} is already assigned to profile "
            f"{existing.profile_id} on {existing.platform.value}"
        )
    if ContentSpec.from_row(row) != content:
        raise ContentIdInUse(
            f"content_id {content.content_id} was assigned with other content; "
            "a retry must repeat the same content, new content needs a new id"
        )
    if existing.state is target(Event.RELEASE):
        raise WrongState(
            f"content {content.content_id} was {existing.state.value}; "
            "to queue it again use a new content_id"
        )
    return existing
