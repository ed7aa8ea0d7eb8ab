"""The Allocator's rules: profiles, schedules, and putting contents into slots.

Every write for one (profile, platform) runs under three locks, outermost first: the in-process
stripe (waiters queue in memory), the PostgreSQL advisory lock of the key (replicas serialize),
and, as the last line of defence, the partial unique index `contents_one_active_per_slot`.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from uuid import UUID

from allocator.calendar import DEFAULT_WINDOW, MAX_WINDOW, Calendar, calendar_entries
from allocator.coalescing import Coalescer, Waiting
from allocator.domain import (
    Assignment,
    AssignmentPage,
    AssignmentQuery,
    BookedContent,
    ContentPatch,
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
    RevisionMismatch,
    ScheduleNotFound,
    SlotTaken,
    WrongState,
)
from allocator.locks import StripedLock
from allocator.placement import READ_AHEAD, Placement
from allocator.slots import SlotRule, slot_at, slot_id_for
from allocator.storage import AllocatorStore, Key, Transaction, advisory_key
from queuelabs import metrics, posts
from queuelabs.caps import DEFAULT_DAILY_CAPS, WINDOW, cap_variable, first_allowed
from queuelabs.clock import Clock
from queuelabs.errors import Conflict, Refusal
from queuelabs.lifecycle import (
    EDITABLE,
    SPENDS_SLOT,
    ContentState,
    Event,
    IllegalMove,
    needs_one_of,
    next_state,
    target,
)
from queuelabs.platforms import Platform

log = logging.getLogger(__name__)

# Free instants read for a key beyond one per content to place (a daily cap may pass some over;
# a placement that runs out reads more).
PREFILL_MARGIN = 4
# Attempts at one group before its requests are told to retry (only a content id taken by
# another key's transaction at that very moment, again and again, exhausts them).
GROUP_ATTEMPTS = 3
# What a replica logs each time the unique index refuses what it placed under its locks (the
# locks make that impossible; a line means one of them is missing). The chaos run counts them.
INDEX_REFUSED = "the unique index refused a slot taken under the locks"


@dataclass(frozen=True)
class AllocationPolicy:
    lead_time: timedelta = timedelta(seconds=60)  # no slot sooner than this from now
    horizon: timedelta = timedelta(days=365)  # how far a search for a free slot looks
    batch_limit: int = 100  # contents in one BatchAssign
    group_limit: int = 500  # contents served together in one transaction (see coalescing.py)
    groups_in_flight: int = 1  # groups of one replica running at once
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
        self._groups: Coalescer[_Ask, list[Assignment]] = Coalescer(
            self._serve_group, self._policy.group_limit, self._policy.groups_in_flight
        )

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
        async with self._serialized([(profile_id, platform)]) as tx:
            profile = await self._profile(tx, profile_id)
            await tx.replace_schedule(profile_id, platform, rules, now)
            await tx.restart_inventory(profile_id, platform, profile.timezone, now)
            if rules:
                key = KeyState(profile, platform, rules, now, profile.timezone)
                await (await self._placement(tx, key)).prepare()
        return Schedule(profile_id, platform, rules, now)

    async def get_schedule(self, profile_id: UUID, platform: Platform) -> Schedule:
        async with self._store.transaction() as tx:
            await self._profile(tx, profile_id)
            schedule = await tx.get_schedule(profile_id, platform)
        if schedule is None:
            raise _no_schedule(profile_id, platform)
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
        ask = _Ask(profile_id, platform, tuple(contents), self._search_start(not_before))
        return await self._groups.submit((profile_id, platform), len(contents), ask)

    async def _serve_group(self, group: Sequence[Waiting[_Ask, list[Assignment]]]) -> None:
        """Serves a group of waiting assignment requests in one transaction, each request as if
        alone, in arrival order; answers each. Should the unique index refuse what the inventory
        offered (it never should), nothing is written and the group is served again, with the
        inventory of its keys cleaned first."""
        metrics.GROUP_REQUESTS.observe(len(group))
        asks = [waiting.request for waiting in group]
        for attempt in range(1, GROUP_ATTEMPTS + 1):
            placed = await self._place_group(asks, clean=attempt > 1)
            if placed.outcome is not _Outcome.INDEX_REFUSED:
                for waiting, answer in zip(group, placed.answers, strict=True):
                    waiting.answer_with(answer)
                return
            metrics.INDEX_REFUSALS.inc()
            log.warning(
                "%s (attempt %d of %d at the group)", INDEX_REFUSED, attempt, GROUP_ATTEMPTS
            )
        raise Conflict("concurrent requests kept taking this request's content ids; retry")

    async def _place_group(self, asks: Sequence[_Ask], clean: bool) -> _GroupPlaced:
        """One attempt at a group, in one transaction holding all its keys: every request's
        answer, and whether they were written."""
        keys = sorted({ask.key for ask in asks}, key=lambda key: advisory_key(*key))
        async with self._serialized(keys) as tx:
            rows = await tx.get_contents([c.content_id for a in asks for c in a.contents])
            existing = {
                content_id: (Assignment.from_row(row), ContentSpec.from_row(row))
                for content_id, row in rows.items()
            }
            placements = await self._placements(tx, _wanted(asks, existing), clean)
            placed: dict[UUID, tuple[Assignment, ContentSpec]] = {}
            answers = [
                await self._answer(ask, placements.get(ask.key), existing, placed) for ask in asks
            ]
            fresh = [pair for pair in placed.values() if pair[0].content_id not in existing]
            if not fresh:  # refusals and repeats only: not even the inventory's growth is kept
                tx.roll_back()
                return _GroupPlaced(_Outcome.NOTHING_TO_WRITE, answers)
            taken = [
                instant
                for placement in placements.values()
                if isinstance(placement, Placement)
                for instant in placement.taken()
            ]
            inserted = await tx.take_and_insert(taken, fresh, self._clock.now())
            if len(inserted) != len(fresh):
                tx.roll_back()
                return _GroupPlaced(_Outcome.INDEX_REFUSED, answers)
        return _GroupPlaced(_Outcome.WRITTEN, answers)

    async def _answer(
        self,
        ask: _Ask,
        placement: Placement | Refusal | None,
        existing: Mapping[UUID, tuple[Assignment, ContentSpec]],
        placed: dict[UUID, tuple[Assignment, ContentSpec]],
    ) -> list[Assignment] | Refusal:
        """One request's answer within its group: its assignments, or its refusal (then it
        takes nothing, and the group goes on as if it had not come)."""
        profile_id, platform = ask.key
        mark = placement.mark() if isinstance(placement, Placement) else 0
        mine: list[tuple[Assignment, ContentSpec]] = []
        try:
            for content in ask.contents:
                # (a request never names one content twice: _check_batch refused that)
                earlier = placed.get(content.content_id) or existing.get(content.content_id)
                if earlier is not None:
                    mine.append((_repeated(*earlier, profile_id, platform, content), content))
                    continue
                assert placement is not None, "a key with new contents has a placement"
                if not isinstance(placement, Placement):
                    return placement  # why the key takes no contents
                scheduled_at, slot_id = await placement.take(ask.start)
                assignment = Assignment(
                    content.content_id,
                    profile_id,
                    platform,
                    slot_id,
                    scheduled_at,
                    ContentState.SCHEDULED,
                )
                mine.append((assignment, content))
        except Refusal as refusal:
            if isinstance(placement, Placement):
                placement.undo(mark)
            return refusal
        for assignment, content in mine:
            placed.setdefault(content.content_id, (assignment, content))
        return [assignment for assignment, _ in mine]

    async def _placements(
        self, tx: Transaction, wanted: Mapping[Key, _Wanted], clean: bool
    ) -> dict[Key, Placement | Refusal]:
        """A placement for each key with contents to place (or why there can be none), each
        knowing its first free instants and what its cap counts: three statements (states, free
        instants, counts) for all keys."""
        if not wanted:
            return {}
        states = await tx.key_states(list(wanted))
        placements: dict[Key, Placement | Refusal] = {}
        for key in wanted:
            try:
                placements[key] = await self._placement(tx, _usable(key, *states[key]))
            except Refusal as refusal:
                placements[key] = refusal
            if clean:
                await tx.drop_held_free_slots(*key)
        ready = [p for p in placements.values() if isinstance(p, Placement)]
        await _read_free(tx, ready, wanted)
        await _read_counted(tx, ready, wanted)
        return placements

    async def reschedule(
        self, content_id: UUID, not_before: datetime | None, reason: str
    ) -> Assignment:
        """Moves a content to the earliest free slot at or after not_before (and after now)."""
        start = self._search_start(not_before)
        profile_id, platform = await self._key_of(content_id)
        async with self._serialized([(profile_id, platform)]) as tx:
            row = await tx.get_content(content_id)
            assert row is not None  # contents are never deleted
            state = ContentState(row["status"])
            _check(state, Event.RESCHEDULE, content_id)
            key = _usable((profile_id, platform), *await tx.key_state(profile_id, platform))
            placement = await self._placement(tx, key, moving=content_id)
            if state in SPENDS_SLOT:
                await placement.put_back(row["scheduled_at"])
            while True:
                scheduled_at, slot_id = await placement.take(start)
                await placement.flush()
                moved = await tx.move_content(
                    content_id, scheduled_at, slot_id, reason, self._clock.now()
                )
                if moved is not None:
                    return moved
                # The inventory offered a held instant (it cannot, but the index says so): the
                # instant is gone from the inventory now; take the next.
                metrics.INDEX_REFUSALS.inc()
                log.warning("%s; moving the content to the next free slot", INDEX_REFUSED)

    async def release(
        self, content_id: UUID, reason: str, cancel: bool = False
    ) -> tuple[Assignment, datetime]:
        """Takes a content out of line for good and frees its slot. Repeating it is harmless
        (and tells nothing again). `cancel`: an upload cancelled (CancelUpload), told as such."""
        profile_id, platform = await self._key_of(content_id)
        async with self._serialized([(profile_id, platform)]) as tx:
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
            return await tx.remove_content(content_id, reason, self._clock.now(), cancel)

    async def move_content(self, content_id: UUID, to: datetime, reason: str) -> Assignment:
        """Moves a content to `to`, a free future slot instant of its own (profile, platform),
        under the key's locks like every assignment; the slot it leaves goes back to the
        inventory. Moving it to where it is changes nothing and tells nothing."""
        profile_id, platform = await self._key_of(content_id)
        async with self._serialized([(profile_id, platform)]) as tx:
            row = await tx.get_content(content_id)
            assert row is not None  # contents are never deleted
            state = ContentState(row["status"])
            _check(state, Event.RESCHEDULE, content_id)
            if row["scheduled_at"] == to:
                tx.roll_back()
                return Assignment.from_row(row)
            key = _usable((profile_id, platform), *await tx.key_state(profile_id, platform))
            slot_id = self._check_target(key, to)
            spenders = await tx.spenders_at(profile_id, platform, to, content_id)
            if spenders:
                holder, its_state = spenders[0]
                raise SlotTaken(
                    f"scheduled_at: {to.isoformat()} is held by content {holder} "
                    f"({its_state.value}); GetCalendar shows the free slots",
                    content_id=content_id,
                    holder=holder,
                    scheduled_at=to.isoformat(),
                )
            cap = self._policy.daily_caps.get(platform)
            if cap is not None:
                counted = await tx.counted_instants(
                    profile_id, platform, to - WINDOW, to + WINDOW, content_id
                )
                if first_allowed(counted, to, cap) != to:
                    raise OverDailyCap(
                        f"scheduled_at: {to.isoformat()} would put more than {cap} "
                        f"{platform.value} posts into 24 hours ({cap_variable(platform)})",
                        content_id=content_id,
                        platform=platform.value,
                        cap=cap,
                    )
            placement = await self._placement(tx, key, moving=content_id)
            if state in SPENDS_SLOT:
                await placement.put_back(row["scheduled_at"])
            await tx.take_free_slots([((profile_id, platform), to)])
            moved = await tx.move_content(content_id, to, slot_id, reason, self._clock.now())
            if moved is None:  # the locks make this impossible; a line means one is missing
                metrics.INDEX_REFUSALS.inc()
                log.warning("%s (MoveContent)", INDEX_REFUSED)
                tx.roll_back()
                raise SlotTaken(
                    f"scheduled_at: {to.isoformat()} is held by another content",
                    content_id=content_id,
                    scheduled_at=to.isoformat(),
                )
            return moved

    def _check_target(self, key: KeyState, to: datetime) -> UUID:
        """The slot `to` is an instant of, if a content may be moved there now."""
        now = self._clock.now()
        if to < now + self._policy.lead_time:
            raise InvalidArgument(
                "scheduled_at",
                f"{to.isoformat()} is less than {self._policy.lead_time.seconds} s ahead of now "
                f"({now.isoformat()})",
            )
        if to > now + self._policy.horizon:
            raise InvalidArgument(
                "scheduled_at",
                f"{to.isoformat()} is more than {self._policy.horizon.days} days ahead "
                "(the scheduling horizon)",
            )
        slot_id = slot_at(key.rules, key.profile.zone, to)
        if slot_id is None:
            raise InvalidArgument(
                "scheduled_at",
                f"{to.isoformat()} ({to.astimezone(key.profile.zone):%a %Y-%m-%d %H:%M} "
                f"{key.profile.timezone}) is no slot instant of profile "
                f"{key.profile.profile_id}'s {key.platform.value} schedule",
            )
        return slot_id

    async def get_calendar(
        self,
        profile_id: UUID,
        platform: Platform,
        start: datetime | None,
        end: datetime | None,
    ) -> Calendar:
        """Every slot instant of the key in [start, end) (default: now, 7 days), free or with
        its content, and the contents at instants that are no slot today."""
        start = start or self._clock.now()
        end = end or start + DEFAULT_WINDOW
        if end <= start:
            raise InvalidArgument("end_time", "must be after start_time")
        if end - start > MAX_WINDOW:
            raise InvalidArgument(
                "end_time", f"is more than {MAX_WINDOW.days} days after start_time"
            )
        async with self._store.transaction() as tx:
            profile = await self._profile(tx, profile_id)
            schedule = await tx.get_schedule(profile_id, platform)
            if schedule is None:
                raise _no_schedule(profile_id, platform)
            contents = await tx.calendar_contents(profile_id, platform, start, end)
        entries = calendar_entries(schedule.slots, profile.zone, start, end, contents)
        return Calendar(profile_id, platform, profile.timezone, entries)

    # A content's post: GetContent, UpdateContent

    async def get_content(self, content_id: UUID) -> BookedContent:
        async with self._store.transaction() as tx:
            row = await tx.get_content(content_id)
        if row is None:
            raise _no_content(content_id)
        return BookedContent.from_row(row)

    async def platform_of(self, content_id: UUID) -> Platform:
        """The platform a content is for (it never changes): what its post is checked against."""
        return (await self._key_of(content_id))[1]

    async def update_content(
        self, content_id: UUID, patch: ContentPatch, expected_revision: int
    ) -> BookedContent:
        """Changes a booked content's post without moving it. The result is checked as a whole
        for the content's platform. A change equal to what is stored answers the content as it
        is (no new revision, no event): a retried UpdateContent is harmless. Otherwise it needs
        the revision the caller expected (0: any) and an editable state; it is written one
        revision on, with its `content.updated` event, under the row's lock (see EDITABLE)."""
        outcome = "refused"
        try:
            async with self._store.transaction() as tx:
                row = await tx.lock_content(content_id)
                if row is None:
                    raise _no_content(content_id)
                stored = BookedContent.from_row(row)
                platform = stored.assignment.platform
                edited = patch.applied_to(stored.spec)
                options = patch.options or posts.options_of_wire(
                    platform, edited.platform_options, "content"
                )
                posts.check_post(platform, edited.post(options), "content")
                changed = patch.changed(stored.spec, edited)
                if not changed:
                    tx.roll_back()
                    outcome = "unchanged"
                    return stored
                revision = stored.spec.revision
                if expected_revision and expected_revision != revision:
                    raise RevisionMismatch(
                        f"content {content_id} is at revision {revision}, not "
                        f"{expected_revision}: it changed meanwhile; read it again (GetContent)",
                        content_id=content_id,
                        revision=revision,
                        expected_revision=expected_revision,
                    )
                state = stored.assignment.state
                if state not in EDITABLE:
                    raise WrongState(
                        needs_one_of(f"content {content_id}", state, "UpdateContent", EDITABLE)
                        + " (once an upload was tried, its post is what Upload-Post was sent)",
                        content_id=content_id,
                        state=state.value,
                    )
                written = await tx.update_content(edited, changed, self._clock.now())
                outcome = "updated"
            log.info(
                "content %s updated (%s), revision %d",
                content_id,
                ", ".join(changed),
                written["revision"],
                extra={"content_id": str(content_id), "fields": changed},
            )
            return BookedContent.from_row(written)
        finally:
            metrics.CONTENT_UPDATES.labels(outcome).inc()

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
    async def _serialized(self, keys: Sequence[Key]) -> AsyncIterator[Transaction]:
        """A transaction holding `keys`: their stripes in this process, then their advisory
        locks (each set in one fixed order, so no two holders wait on each other in a circle)."""
        waiting = time.perf_counter()
        async with AsyncExitStack() as held:
            for stripe in self._stripes.all_of(keys):
                await held.enter_async_context(stripe)
            tx = await held.enter_async_context(self._store.locked(keys))
            metrics.LOCK_WAIT_SECONDS.observe(time.perf_counter() - waiting)
            yield tx

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
                    f"hours ({cap_variable(platform)})",
                    platform=platform.value,
                    cap=cap,
                    slots=count,
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

    async def _key_of(self, content_id: UUID) -> tuple[UUID, Platform]:
        async with self._store.transaction() as tx:
            row = await tx.get_content(content_id)
        if row is None:
            raise _no_content(content_id)
        return row["profile_id"], Platform(row["platform"])


def _no_content(content_id: UUID) -> ContentNotFound:
    return ContentNotFound(f"no content {content_id}", content_id=content_id)


def _no_schedule(profile_id: UUID, platform: Platform) -> ScheduleNotFound:
    """GetSchedule's and GetCalendar's NOT_FOUND for a key with no schedule."""
    return ScheduleNotFound(
        f"profile {profile_id} has no {platform.value} schedule; set one with SetSchedule",
        profile_id=profile_id,
        platform=platform.value,
    )


def _no_profile(profile_id: UUID) -> ProfileNotFound:
    return ProfileNotFound(
        f"no profile {profile_id}; create it with UpsertProfile", profile_id=profile_id
    )


def _check(state: ContentState, event: Event, content_id: UUID) -> None:
    try:
        next_state(state, event)
    except IllegalMove as refused:
        raise WrongState(
            f"content {content_id}: {refused}", content_id=content_id, state=state.value
        ) from None


def _usable(key: Key, profile: Profile | None, state: KeyState | None) -> KeyState:
    """The key's state, if contents can be placed there."""
    profile_id, platform = key
    if profile is None:
        raise _no_profile(profile_id)
    if state is None or not state.rules:
        raise NoSchedule(
            f"profile {profile_id} has no {platform.value} slots; set them with SetSchedule",
            profile_id=profile_id,
            platform=platform.value,
        )
    return state


def _repeated(
    existing: Assignment,
    spec: ContentSpec,
    profile_id: UUID,
    platform: Platform,
    content: ContentSpec,
) -> Assignment:
    """The answer to a request whose content id is already assigned: a retry, or a mistake."""
    if (existing.profile_id, existing.platform) != (profile_id, platform):
        raise ContentIdInUse(
            f"content_id {content.content_id} is already assigned to profile "
            f"{existing.profile_id} on {existing.platform.value}",
            content_id=content.content_id,
            profile_id=existing.profile_id,
            platform=existing.platform.value,
        )
    if spec != content:
        raise ContentIdInUse(
            f"content_id {content.content_id} was assigned with other content; "
            "a retry must repeat the same content, new content needs a new id",
            content_id=content.content_id,
        )
    if existing.state is target(Event.RELEASE):
        raise WrongState(
            f"content {content.content_id} was {existing.state.value}; "
            "to queue it again use a new content_id",
            content_id=content.content_id,
            state=existing.state.value,
        )
    return existing


@dataclass(frozen=True)
class _Ask:
    """An AssignNext or a BatchAssign waiting for its group: its contents, checked, and the
    instant its search for slots starts from."""

    profile_id: UUID
    platform: Platform
    contents: tuple[ContentSpec, ...]
    start: datetime

    @property
    def key(self) -> Key:
        return (self.profile_id, self.platform)


@dataclass(frozen=True)
class _Wanted:
    """What a group asks of one key: how many new contents, and the earliest start of a search."""

    contents: int
    start: datetime


def _wanted(asks: Sequence[_Ask], existing: Mapping[UUID, object]) -> dict[Key, _Wanted]:
    """The keys a group places new contents on (a content already assigned takes nothing)."""
    wanted: dict[Key, _Wanted] = {}
    for ask in asks:
        new = sum(1 for c in ask.contents if c.content_id not in existing)
        if new:
            before = wanted.get(ask.key)
            wanted[ask.key] = (
                _Wanted(before.contents + new, min(before.start, ask.start))
                if before
                else _Wanted(new, ask.start)
            )
    return wanted


async def _read_free(
    tx: Transaction, placements: Sequence[Placement], wanted: Mapping[Key, _Wanted]
) -> None:
    """Hands each placement the first free instants of its key, enough for its contents and a
    margin, read for all keys in one statement."""
    asked = [
        (p.key, wanted[p.key].start, wanted[p.key].contents + PREFILL_MARGIN) for p in placements
    ]
    found = await tx.free_slots_from(asked)
    for placement, instants, (_, start, limit) in zip(placements, found, asked, strict=True):
        placement.knows_free(start, instants, limit)


@dataclass(frozen=True)
class _CapReach:
    """Where a key's daily cap could bind on the contents a group places on it: the span
    [start, until) to count, and how many counted instants make reading them worth it (fewer
    cannot let the cap bind)."""

    placement: Placement
    start: datetime
    until: datetime
    at_least: int


async def _read_counted(
    tx: Transaction, placements: Sequence[Placement], wanted: Mapping[Key, _Wanted]
) -> None:
    """Hands each capped placement what its cap counts around its first free instants, read for
    all keys in one statement."""
    reaches = []
    for placement in placements:
        if placement.cap is None:
            continue
        want = wanted[placement.key]
        first, last = placement.free_span(want.start)
        at_least = placement.cap - want.contents + 1
        reaches.append(_CapReach(placement, first - WINDOW, last + WINDOW + READ_AHEAD, at_least))
    if not reaches:
        return
    counted = await tx.counted_instants_of(
        [(*r.placement.key, r.start, r.until) for r in reaches], [r.at_least for r in reaches]
    )
    for reach, (count, instants) in zip(reaches, counted, strict=True):
        reach.placement.knows_counted(reach.start, reach.until, instants, count)


class _Outcome(Enum):
    """What one attempt at a group came to."""

    WRITTEN = "written"  # committed: the answers stand
    NOTHING_TO_WRITE = "nothing to write"  # refusals and repeats only: rolled back, answers stand
    INDEX_REFUSED = "index refused"  # rolled back; the answers do not stand: place again


@dataclass(frozen=True)
class _GroupPlaced:
    """One attempt at a group: its outcome, and each request's answer in arrival order."""

    outcome: _Outcome
    answers: list[list[Assignment] | Refusal]
